package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// MigrationLockFileName is the name of the file, beside the database, that
// migrations lock.
const MigrationLockFileName = "migrate.lock"

// migrationLock keeps migrations of one database apart, between processes
// and between stores of one process: the one writer SQLite allows at a time
// does not, as two migrations can both read the schema version before
// either applies a migration. It holds an exclusive lock (flock) on a file
// beside the database, which the system releases if the process dies.
type migrationLock struct {
	path string
	// held is the locked file while migrations run; a channel of one, so
	// that migrations of one store wait for each other as well.
	held chan *os.File
}

func newMigrationLock(path string) *migrationLock {
	return &migrationLock{path: path, held: make(chan *os.File, 1)}
}

// SessionLock waits, until ctx ends, for the lock on the file.
func (l *migrationLock) SessionLock(ctx context.Context, _ *sql.Conn) error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- beside the database, in the operator's data directory
	if err != nil {
		return fmt.Errorf("sqlite: migration lock: %w", err)
	}
	select {
	case l.held <- f:
	case <-ctx.Done():
		f.Close()
		return fmt.Errorf("sqlite: migration lock: %w", ctx.Err())
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) // #nosec G115 -- a file descriptor fits in an int
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			<-l.held
			f.Close()
			return fmt.Errorf("sqlite: migration lock: %w", err)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			<-l.held
			f.Close()
			return fmt.Errorf("sqlite: migration lock: %w", ctx.Err())
		}
	}
}

// SessionUnlock releases the lock: closing the file drops it.
func (l *migrationLock) SessionUnlock(context.Context, *sql.Conn) error {
	f := <-l.held
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: migration unlock: %w", err)
	}
	return nil
}
