package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultLeaseRetry is how often a JobLease that does not hold the lock
// tries to take it, and how often the holder checks that its connection
// (and so its lock) is still alive.
const DefaultLeaseRetry = 10 * time.Second

// leaseKey is the advisory lock's key: one per schema, so that
// deployments sharing a database in schemas of their own do not keep each
// other's jobs from running.
const leaseKey = `hashtextextended('custodian.jobs:' || current_schema(), 0)`

// JobLeaseOptions tune a JobLease. Zero fields take the defaults.
type JobLeaseOptions struct {
	// Retry is how often the lease is tried or checked
	// (DefaultLeaseRetry).
	Retry time.Duration
	// Logger reports taking and losing the lease; nil discards.
	Logger *slog.Logger
}

// JobLease is the custodian.JobLease of the instances sharing a
// PostgreSQL database: a session-level advisory lock held on a dedicated
// connection. The holder checks its connection every Retry; the others
// try the lock every Retry, so when the holder stops, or its connection
// dies (the server then releases its lock), a standby takes over within
// about Retry. Safe for concurrent use.
type JobLease struct {
	cfg    *pgx.ConnConfig
	o      JobLeaseOptions
	held   atomic.Bool
	conn   *pgx.Conn // the loop's own
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

var _ custodian.JobLease = (*JobLease)(nil)

// NewJobLease starts competing for the job lease of the database at url
// (the one the store was opened with): it tries once before it returns,
// so an instance alone on its database holds the lease at once, then
// every o.Retry until Close.
func NewJobLease(ctx context.Context, url string, o JobLeaseOptions) (*JobLease, error) {
	pool, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the URL, password included: say less.
		return nil, errors.New("postgres: the database URL is not valid")
	}
	cfg := pool.ConnConfig
	cfg.RuntimeParams["application_name"] = "custodian-jobs"
	if o.Retry <= 0 {
		o.Retry = DefaultLeaseRetry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &JobLease{cfg: cfg, o: o, done: make(chan struct{})}
	l.attempt(ctx)
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go l.loop(ctx)
	return l, nil
}

// Held reports whether this instance holds the advisory lock, as of the
// last attempt or check.
func (l *JobLease) Held() bool { return l.held.Load() }

// Close stops competing and releases the lock, before it returns.
func (l *JobLease) Close() error {
	l.once.Do(func() {
		l.cancel()
		<-l.done
		if l.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if l.held.Load() {
				// Unlock before closing: the server drops a closed
				// session's locks only when its backend has exited, a
				// moment after the close, and whoever tries next (a
				// restore, a standby) must find the lock free.
				_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+leaseKey+`)`)
			}
			_ = l.conn.Close(ctx)
			l.conn = nil
		}
		l.held.Store(false)
	})
	return nil
}

func (l *JobLease) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.o.Retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.attempt(ctx)
		}
	}
}

// attempt takes the lock when it is not held, or checks the connection
// holding it when it is.
func (l *JobLease) attempt(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(l.o.Retry, 5*time.Second))
	defer cancel()
	if l.conn == nil {
		c, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			l.o.Logger.Warn("job lease: cannot connect; retrying", "err", err)
			return
		}
		l.conn = c
	}
	if l.held.Load() {
		if err := l.conn.Ping(ctx); err != nil {
			l.drop()
			l.o.Logger.Error("job lease lost: its connection failed; the background jobs stop here until it is taken again", "err", err)
		}
		return
	}
	var got bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+leaseKey+`)`).Scan(&got); err != nil {
		l.drop()
		l.o.Logger.Warn("job lease: cannot try the lock; retrying", "err", err)
		return
	}
	if got {
		l.held.Store(true)
		l.o.Logger.Info("job lease taken: this instance runs the background jobs")
	}
}

// drop forgets the connection (and the lock with it).
func (l *JobLease) drop() {
	l.held.Store(false)
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.conn.Close(ctx)
		l.conn = nil
	}
}
