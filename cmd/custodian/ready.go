package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
	"golang.org/x/sys/unix"
)

// keyUsageTTL is how long readiness trusts its full check of the keyring
// against the data (and the list of master keys the data is under) before
// running it again.
const keyUsageTTL = 30 * time.Second

// readiness is what /readyz asks (as its custodian.Pinger): whether the
// database takes a write, whether the disks the server writes to have
// room, and whether the keyring opens the data (every master key the
// customers are under, and the audit trail's seal). Its error says which
// and why, for the log; the answer itself says none of it.
type readiness struct {
	a       *app
	dirs    []string // directories whose free space is checked
	minFree uint64   // bytes
	mu      sync.Mutex
	checked time.Time // when the full check last ran
	full    error     // its verdict
	inUse   []string  // master key ids the customers are under, as of checked
}

var _ custodian.Pinger = (*readiness)(nil)

// newReadiness returns the readiness of a, whose server writes to dirs
// (those that do not exist are not checked), each of which needs minFree
// bytes free.
func newReadiness(a *app, minFree uint64, dirs ...string) *readiness {
	return &readiness{a: a, dirs: dirs, minFree: minFree}
}

// Ping reports the first reason the server is not ready, or nil.
func (r *readiness) Ping(ctx context.Context) error {
	if err := r.a.store.Ping(ctx); err != nil {
		return err
	}
	if err := r.a.store.ProbeWrite(ctx); err != nil {
		return err
	}
	for _, dir := range r.dirs {
		if err := checkFreeSpace(dir, r.minFree); err != nil {
			return err
		}
	}
	return r.keyringOpensData(ctx)
}

// checkFreeSpace fails when the file system holding dir has less than
// minFree bytes available to the server; a dir that does not exist passes.
func checkFreeSpace(dir string, minFree uint64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("free space of %s: %w", dir, err)
	}
	free := st.Bavail * uint64(st.Bsize) // #nosec G115 -- a block size is positive
	if free < minFree {
		return fmt.Errorf("the disk holding %s is full: %d MiB free, below --min-free-disk-mb %d", dir, free>>20, minFree>>20)
	}
	return nil
}

// keyringOpensData fails when the keyring does not open the data: at
// most every keyUsageTTL it runs serve's start check again
// (checkKeyringOpensData: every master key the customers are under, a
// sample of data keys, the newest audit event's seal), and on every call
// it checks that the keys the customers are under are still in the
// sealer, which a reloaded keyring may have dropped.
func (r *readiness) keyringOpensData(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= keyUsageTTL {
		usage, err := r.a.store.KeyUsage(ctx)
		if err != nil {
			return err
		}
		r.inUse = slices.Sorted(maps.Keys(usage))
		r.full = checkKeyringOpens(ctx, r.a, usage)
		r.checked = time.Now()
	}
	if r.full != nil {
		return r.full
	}
	var missing []string
	for _, id := range r.inUse {
		if !r.a.sealer.HasMasterKey(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the keyring lacks master keys the customers are under: %s", strings.Join(missing, ", "))
	}
	return nil
}

// dirsWritten are the directories serve writes to, whose free space
// readiness checks: the data directory with SQLite (the database, the
// shred store by default, the ACME cache), a shred store file's, and the
// anchor file's.
func dirsWritten(s *serveSettings) []string {
	var dirs []string
	if *s.storage.databaseURL == "" {
		dirs = append(dirs, *s.storage.dataDir)
	}
	if st := *s.storage.shredStore; st != "" && !strings.Contains(st, "://") {
		dirs = append(dirs, filepath.Dir(st))
	}
	if *s.ops.anchorFile != "" {
		dirs = append(dirs, filepath.Dir(*s.ops.anchorFile))
	}
	return dirs
}
