package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// DefaultReplicaFreshFor is how long after a user's own write their lists
// and searches stay on the primary, when Options.ReplicaFreshFor is zero.
const DefaultReplicaFreshFor = 10 * time.Second

// maxRecentWriters bounds the users remembered as having just written.
const maxRecentWriters = 10000

// replica sends the reads that can bear a little lag (lists, searches and
// exports of customers) to a read replica, except for a user who wrote
// within freshFor: they read their own writes from the primary.
type replica struct {
	db       *sql.DB
	freshFor time.Duration

	mu      sync.Mutex
	writers map[string]time.Time // actor → time of their last write
}

func newReplica(db *sql.DB, freshFor time.Duration) *replica {
	if db == nil {
		return nil
	}
	if freshFor <= 0 {
		freshFor = DefaultReplicaFreshFor
	}
	return &replica{db: db, freshFor: freshFor, writers: make(map[string]time.Time)}
}

// wrote notes that ctx's actor has just written.
func (r *replica) wrote(ctx context.Context) {
	if r == nil {
		return
	}
	actor := custodian.ActorFrom(ctx)
	if actor == "" {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.writers) >= maxRecentWriters {
		for a, t := range r.writers {
			if now.Sub(t) > r.freshFor {
				delete(r.writers, a)
			}
		}
		if len(r.writers) >= maxRecentWriters {
			// Every one of them wrote just now: the primary for all,
			// rather than a lagging read for anyone.
			clear(r.writers)
		}
	}
	r.writers[actor] = now
}

// pool returns the pool ctx's read should go to: the replica, unless the
// actor wrote within freshFor or is unknown (a system job).
func (r *replica) pool(ctx context.Context) *sql.DB {
	if r == nil {
		return nil
	}
	actor := custodian.ActorFrom(ctx)
	if actor == "" {
		return nil
	}
	r.mu.Lock()
	t, ok := r.writers[actor]
	r.mu.Unlock()
	if ok && time.Since(t) < r.freshFor {
		return nil
	}
	return r.db
}

// queryLagging runs a read that may be answered by the replica: lists,
// searches and exports, never a read that decides a write.
func (s *Store) queryLagging(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if db := s.replica.pool(ctx); db != nil {
		return db.QueryContext(ctx, s.q(query), args...)
	}
	return s.query(ctx, query, args...)
}
