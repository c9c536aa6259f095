package main

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"golang.org/x/sys/unix"
)

// keyUsageTTL is how long readiness trusts the list of master keys the
// data is under before reading it again.
const keyUsageTTL = 30 * time.Second

// readiness is what /readyz asks (as its custodian.Pinger): whether the
// database takes a write, whether the disks the server writes to have
// room, and whether the keyring opens the data (every master key the
// customers are under, and the audit trail's seal). Its error says which
// and why, for the log; the answer itself says none of it.
type readiness struct {
	a        *app
	dirs     []string // directories whose free space is checked
	minFree  uint64   // bytes
	mu       sync.Mutex
	keysRead time.Time
	inUse    []string // master key ids the customers are under
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

// keyringOpensData fails when customers are under master keys the keyring
// lacks, or when the newest audit event is not sealed by the keyring's
// chain key.
func (r *readiness) keyringOpensData(ctx context.Context) error {
	inUse, err := r.keysInUse(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for _, id := range inUse {
		if !r.a.sealer.HasMasterKey(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the keyring lacks master keys the customers are under: %s", strings.Join(missing, ", "))
	}
	head, err := r.a.store.AuditHead(ctx)
	if err != nil || head.Seq == 0 {
		return err
	}
	for e, err := range r.a.store.AuditChain(ctx, head.Seq-1) {
		if err != nil {
			return err
		}
		if !chainSealed(r.a.chain, e) {
			return fmt.Errorf("the newest audit event (seq %d) is not sealed by this keyring's chain key: the keyring is not the one the data was written with", e.Seq)
		}
		break
	}
	return nil
}

// chainSealed reports whether chain sealed e.
func chainSealed(chain *hashchain.Chain, e hashchain.Event) bool {
	return hmac.Equal(chain.Sum(e.PrevHash, &e), e.Hash)
}

// keysInUse returns the master key ids the customers are under, read again
// when the last reading is older than keyUsageTTL.
func (r *readiness) keysInUse(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.keysRead) < keyUsageTTL {
		return r.inUse, nil
	}
	usage, err := r.a.store.KeyUsage(ctx)
	if err != nil {
		return nil, err
	}
	r.inUse, r.keysRead = slices.Sorted(maps.Keys(usage)), time.Now()
	return r.inUse, nil
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
