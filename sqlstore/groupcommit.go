package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/custodian-crm/custodian"
)

// maxGroup bounds how many waiting inserts one transaction takes.
const maxGroup = 128

// errClosed is returned for inserts after Close.
var errClosed = errors.New("store is closed")

// insertReq is one caller's insert waiting for a group commit.
type insertReq struct {
	ctx  context.Context
	recs []*custodian.CustomerRecord
	done chan error
}

// groupCommitter gives a single-writer database (SQLite) the throughput of
// many writers: inserts that arrive while a transaction is being written
// wait, and the next transaction takes all of them, each inside its own
// savepoint so that one caller's failure rolls back only that caller's
// records. Every caller learns its own outcome only after the commit.
type groupCommitter struct {
	s    *Store
	reqs chan *insertReq
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newGroupCommitter(s *Store) *groupCommitter {
	g := &groupCommitter{s: s, reqs: make(chan *insertReq), quit: make(chan struct{})}
	g.wg.Add(1)
	go g.loop()
	return g
}

// insert queues recs and waits for the transaction that writes them.
func (g *groupCommitter) insert(ctx context.Context, recs []*custodian.CustomerRecord) error {
	r := &insertReq{ctx: ctx, recs: recs, done: make(chan error, 1)}
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
		var first *insertReq
		select {
		case first = <-g.reqs:
		case <-g.quit:
			return
		}
		group := []*insertReq{first}
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
// before the transaction began is skipped.
func (g *groupCommitter) commit(group []*insertReq) {
	results := make([]error, len(group))
	ctx := context.Background() // the transaction serves several callers
	err := g.s.inTx(ctx, "insert customers", func(tx *sql.Tx) error {
		if len(group) == 1 {
			// Alone in its transaction: no savepoint is needed, and
			// none is paid for (SQLite journals every page a savepoint
			// touches, which is costly for large imports).
			if err := group[0].ctx.Err(); err != nil {
				results[0] = err
				return nil
			}
			return g.s.insertRecords(ctx, tx, group[0].recs)
		}
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			sp := fmt.Sprintf("insert_%d", i)
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
				return err
			}
			if err := g.s.insertRecords(ctx, tx, r.recs); err != nil {
				results[i] = internal("insert customers", err)
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
