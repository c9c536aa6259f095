package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/custodian-crm/custodian/postgres"
)

// opsFlags are serve's settings for running in production: the job
// lease between instances.
type opsFlags struct {
	leaseInterval *time.Duration
}

// addOpsFlags defines the operations flags on fs.
func addOpsFlags(fs *flag.FlagSet) *opsFlags {
	return &opsFlags{
		leaseInterval: fs.Duration("job-lease-interval", postgres.DefaultLeaseRetry, "with PostgreSQL, how often an instance that does not run the background jobs tries to take them over, and the holder checks it still holds them (env CUSTODIAN_JOB_LEASE_INTERVAL)"),
	}
}

// resolve validates the operations flags.
func (o *opsFlags) resolve() error {
	if *o.leaseInterval < 10*time.Millisecond || *o.leaseInterval > 10*time.Minute {
		return fmt.Errorf("%w: --job-lease-interval must be between 10ms and 10m", ErrConfig)
	}
	return nil
}
