package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/custodian-crm/custodian"
)

// maxGroup bounds how many waiting writes one transaction takes.
const maxGroup = 128

// errClosed is returned for inserts after Close.
var errClosed = errors.New("store is closed")

// writeReq is one caller's write waiting for a group commit: fn runs in
// the shared transaction.
type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// groupCommitter gives a single-writer database (SQLite) the throughput of
// many writers: writes that arrive while a transaction is being written
// wait, and the next transaction takes all of them, each inside its own
// savepoint so that one caller's failure rolls back only that caller's
// changes. Every caller learns its own outcome only after the commit.
type groupCommitter struct {
	s    *Store
	reqs chan *writeReq
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newGroupCommitter(s *Store) *groupCommitter {
	g := &groupCommitter{s: s, reqs: make(chan *writeReq), quit: make(chan struct{})}
	g.wg.Add(1)
	go g.loop()
	return g
}

// insert queues recs and waits for the transaction that writes them.
func (g *groupCommitter) insert(ctx context.Context, recs []*custodian.CustomerRecord) error {
	return g.run(ctx, func(ctx context.Context, tx *sql.Tx) error { return g.s.insertRecords(ctx, tx, recs) })
}

// run queues fn and waits for the transaction it runs in to commit. fn
// runs on the committer's goroutine, with ctx carrying the transaction.
func (g *groupCommitter) run(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.quit:
		return errClosed
	}
	// Once queued, wait for the outcome even if ctx ends: the records may
	// already be committed, and the caller must not be told otherwise.
	return <-r.done
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.quit) })
	g.wg.Wait()
}

func (g *groupCommitter) loop() {
	defer g.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-g.reqs:
		case <-g.quit:
			return
		}
		group := []*writeReq{first}
	gather:
		for len(group) < maxGroup {
			select {
			case r := <-g.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		g.commit(group)
	}
}

// commit writes a group in one transaction. A caller whose context ended
// before the transaction began is skipped. In a shared transaction each
// caller's work runs without its context's cancellation: SQLite answers an
// interrupted write by rolling back the whole transaction, which would
// fail every other caller of the group. A caller whose context ends
// meanwhile still learns the outcome, as run promises.
func (g *groupCommitter) commit(group []*writeReq) {
	results := make([]error, len(group))
	ctx := context.Background() // the transaction serves several callers
	err := g.s.inTx(ctx, "group commit", func(tx *sql.Tx) error {
		if len(group) == 1 {
			// Alone in its transaction: no savepoint is needed, and
			// none is paid for (SQLite journals every page a savepoint
			// touches, which is costly for large imports).
			if err := group[0].ctx.Err(); err != nil {
				results[0] = err
				return nil
			}
			return group[0].fn(g.s.withTx(group[0].ctx, tx), tx)
		}
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			sp := fmt.Sprintf("write_%d", i)
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
				return err
			}
			if err := r.fn(g.s.withTx(context.WithoutCancel(r.ctx), tx), tx); err != nil {
				results[i] = internal("write", err)
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO "+sp); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE "+sp); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range group {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		r.done <- results[i]
	}
}
