package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/postgres"
)

// opsFlags are serve's settings for running in production: the job
// lease between instances, the free disk space readiness requires, and
// where the audit trail's anchors are published.
type opsFlags struct {
	leaseInterval  *time.Duration
	minFreeDiskMB  *uint64
	anchorInterval *time.Duration
	anchorFile     *string
}

// addOpsFlags defines the operations flags on fs.
func addOpsFlags(fs *flag.FlagSet) *opsFlags {
	return &opsFlags{
		minFreeDiskMB:  fs.Uint64("min-free-disk-mb", 100, "/readyz fails when the disk holding the data directory (SQLite), the shred store or the anchor file has less free space than this many MiB (env CUSTODIAN_MIN_FREE_DISK_MB)"),
		anchorInterval: fs.Duration("anchor-interval", 10*time.Minute, "how often the audit trail's head is published outside the database (the log, --anchor-file, the alert webhook), when it moved; 0 turns anchors off (env CUSTODIAN_ANCHOR_INTERVAL)"),
		anchorFile:     stringFlag(fs, "anchor-file", "", "append-only file, outside --data-dir, that receives every published audit anchor as a JSON line (fsync'd); give it to custodian audit verify --anchor-file"),
		leaseInterval:  fs.Duration("job-lease-interval", postgres.DefaultLeaseRetry, "with PostgreSQL, how often an instance that does not run the background jobs tries to take them over, and the holder checks it still holds them (env CUSTODIAN_JOB_LEASE_INTERVAL)"),
	}
}

// resolve validates the operations flags; dataDir is --data-dir.
func (o *opsFlags) resolve(dataDir string) error {
	if *o.anchorInterval < 0 {
		return fmt.Errorf("%w: --anchor-interval must not be negative", ErrConfig)
	}
	if *o.anchorFile != "" {
		inside, err := within(*o.anchorFile, dataDir)
		if err != nil {
			return fmt.Errorf("--anchor-file: %w", err)
		}
		if inside {
			return fmt.Errorf("%w: --anchor-file must be outside --data-dir: a copy of the data directory must not carry the anchors it is checked against", ErrConfig)
		}
	}
	if *o.leaseInterval < 10*time.Millisecond || *o.leaseInterval > 10*time.Minute {
		return fmt.Errorf("%w: --job-lease-interval must be between 10ms and 10m", ErrConfig)
	}
	return nil
}

// within reports whether path is dir or inside it, comparing absolute,
// cleaned paths.
func within(path, dir string) (bool, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}
