package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

var _ custodian.JobLease = (*DirLock)(nil)

// TestLockDir checks that a data directory has one holder at a time, that
// a second lock fails at once naming the holder, and that closing the
// first lets the next one in.
func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Held() {
		t.Fatal("the lock holder does not hold the job lease")
	}
	info, err := os.Stat(filepath.Join(dir, LockFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", info, err)
	}
	for range 2 {
		_, err := LockDir(dir)
		if !errors.Is(err, ErrDirLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
			t.Fatalf("second lock: %v", err)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := LockDir(dir)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	second.Close()
}
