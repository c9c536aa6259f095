package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/custodian-crm/custodian/postgres"
)

// opsFlags are serve's settings for running in production: the job
// lease between instances and the free disk space readiness requires.
type opsFlags struct {
	leaseInterval *time.Duration
	minFreeDiskMB *uint64
}

// addOpsFlags defines the operations flags on fs.
func addOpsFlags(fs *flag.FlagSet) *opsFlags {
	return &opsFlags{
		minFreeDiskMB: fs.Uint64("min-free-disk-mb", 100, "/readyz fails when the disk holding the data directory (SQLite), the shred store or the anchor file has less free space than this many MiB (env CUSTODIAN_MIN_FREE_DISK_MB)"),
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
