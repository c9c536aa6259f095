package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFileName is the name of the lock file a server holds in its data
// directory.
const LockFileName = "custodian.lock"

// ErrDirLocked is returned, wrapped, by LockDir when another server
// holds the data directory.
var ErrDirLocked = errors.New("the data directory is in use by another custodian server")

// DirLock is a server's exclusive hold on its data directory: an advisory
// lock (flock) on the lock file, which the kernel releases when the
// process ends, however it ends. It is also the SQLite backend's job lease
// (custodian.JobLease): the one server of the directory runs the jobs.
type DirLock struct {
	f *os.File
}

// LockDir takes the exclusive lock on dir's lock file, creating the
// directory (mode 0700) and the file (mode 0600) when needed, and writes
// the process id into it for the message a second server shows. It does
// not wait: when another process (or another open of the file in this
// one) holds the lock it returns ErrDirLocked, naming the holder's process
// id when the file says it.
func LockDir(dir string) (*DirLock, error) {
	if dir == "" {
		return nil, errors.New("sqlite: no data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the operator names the data directory
	if err != nil {
		return nil, fmt.Errorf("sqlite: open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil { // #nosec G304 -- as above
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (process %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w%s: %s is locked; stop that server first, or give this one another --data-dir", ErrDirLocked, holder, path)
		}
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f}, nil
}

// Held reports true: the holder of the data directory's lock is the only
// server of its database, so it always holds the job lease.
func (l *DirLock) Held() bool { return true }

// Close releases the lock. The file stays, empty, for the next server.
func (l *DirLock) Close() error {
	_ = l.f.Truncate(0)
	// Closing the file releases the flock.
	return l.f.Close()
}
