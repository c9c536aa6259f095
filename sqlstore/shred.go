package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// ShredStore implements custodian.ShredKeyStore: one random secret per
// customer, kept in a database of its own so that copies and backups of the
// customer database never hold them. Destroying a customer's secret makes
// their data key, and so their data, unreadable in every copy of the
// customer database.
//
// New secrets are written by one goroutine that takes every PutShredKeys
// call waiting at the time into one transaction: on SQLite, whose shred
// store syncs every commit to disk (synchronous=FULL), concurrent creates
// then share one sync instead of paying one each, with the same
// durability: each caller returns only once its secrets are committed.
type ShredStore struct {
	dialect Dialect
	db      *sql.DB
	closers []func()
	puts    chan *shredPut
	quit    chan struct{}
	done    sync.WaitGroup
	once    sync.Once
}

// shredPut is one PutShredKeys call waiting for its transaction.
type shredPut struct {
	secrets map[string][]byte
	result  chan error
}

// maxShredGroup bounds how many waiting calls one transaction takes.
const maxShredGroup = 256

// NewShredStore returns a shred store over db. Call Init before use.
func NewShredStore(d Dialect, db *sql.DB, closers ...func()) *ShredStore {
	s := &ShredStore{dialect: d, db: db, closers: closers, puts: make(chan *shredPut), quit: make(chan struct{})}
	s.done.Add(1)
	go s.writeLoop()
	return s
}

// Init creates the store's one table when it does not exist. The store has
// no migrations of its own: its schema is this table.
func (s *ShredStore) Init(ctx context.Context) error {
	blob := "BLOB"
	if s.dialect.Numbered {
		blob = "BYTEA"
	}
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS shred_keys (
		customer_id TEXT   NOT NULL PRIMARY KEY,
		secret      `+blob+` NOT NULL,
		created_us  BIGINT NOT NULL
	)`)
	return internal("shred store", err)
}

// Close stops the writer, once the calls it holds are answered, and closes
// the store's database.
func (s *ShredStore) Close() error {
	s.once.Do(func() { close(s.quit) })
	s.done.Wait()
	err := s.db.Close()
	for _, c := range s.closers {
		c()
	}
	return err
}

// PutShredKeys stores new customers' secrets, all or none, and returns
// once they are committed. Calls made at the same time share one
// transaction; a call whose secrets cannot be stored fails alone.
func (s *ShredStore) PutShredKeys(ctx context.Context, secrets map[string][]byte) error {
	if len(secrets) == 0 {
		return nil
	}
	p := &shredPut{secrets: secrets, result: make(chan error, 1)}
	select {
	case s.puts <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return unavailable("store shred keys", errClosed)
	}
	// Once taken, the outcome is awaited even if ctx ends: the secrets
	// may already be committed.
	return <-p.result
}

// writeLoop writes waiting calls, as many at a time as are waiting.
func (s *ShredStore) writeLoop() {
	defer s.done.Done()
	for {
		var group []*shredPut
		select {
		case p := <-s.puts:
			group = append(group, p)
		case <-s.quit:
			return
		}
	gather:
		for len(group) < maxShredGroup {
			select {
			case p := <-s.puts:
				group = append(group, p)
			default:
				break gather
			}
		}
		err := s.insert(group)
		if err != nil && len(group) > 1 {
			// One call's failure (a clash of ids) must not fail the
			// others: write each in a transaction of its own.
			for _, p := range group {
				p.result <- s.insert([]*shredPut{p})
			}
			continue
		}
		for _, p := range group {
			p.result <- err
		}
	}
}

// insert writes the secrets of group, all or none. Up to maxShredRows
// secrets are one multi-row INSERT, atomic without a transaction around
// it: one round trip where a transaction would cost three. More take a
// transaction of such statements.
func (s *ShredStore) insert(group []*shredPut) error {
	ctx := context.Background() // the statement serves several callers
	now := micros(time.Now())
	var rows [][3]any
	for _, p := range group {
		for id, secret := range p.secrets {
			rows = append(rows, [3]any{id, secret, now})
		}
	}
	if len(rows) <= maxShredRows {
		return unavailable("store shred keys", s.insertRows(ctx, s.db, rows))
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("store shred keys", err)
	}
	defer func() { _ = tx.Rollback() }()
	for len(rows) > 0 {
		n := min(len(rows), maxShredRows)
		if err := s.insertRows(ctx, tx, rows[:n]); err != nil {
			return unavailable("store shred keys", err)
		}
		rows = rows[n:]
	}
	return unavailable("store shred keys", tx.Commit())
}

// maxShredRows bounds the secrets one INSERT writes (3 parameters each).
const maxShredRows = 500

// insertRows writes rows of (customer id, secret, creation time) with one
// statement on e, a pool or a transaction.
func (s *ShredStore) insertRows(ctx context.Context, e interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, rows [][3]any) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO shred_keys (customer_id, secret, created_us) VALUES `)
	args := make([]any, 0, 3*len(rows))
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, r[:]...)
	}
	_, err := e.ExecContext(ctx, s.dialect.q(b.String()), args...)
	return err
}

// ShredKeys returns the secrets of the customers that have one.
func (s *ShredStore) ShredKeys(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	const batch = 500
	for len(ids) > 0 {
		n := min(len(ids), batch)
		in, args := inList(ids[:n])
		rows, err := s.db.QueryContext(ctx, s.dialect.q(`SELECT customer_id, secret FROM shred_keys WHERE customer_id IN `+in), args...)
		if err != nil {
			return nil, unavailable("read shred keys", err)
		}
		for rows.Next() {
			var id string
			var secret []byte
			if err := rows.Scan(&id, &secret); err != nil {
				rows.Close()
				return nil, unavailable("read shred keys", err)
			}
			out[id] = secret
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, unavailable("read shred keys", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// DestroyShredKey deletes a customer's secret. On SQLite the store runs
// with secure_delete, so the freed bytes are overwritten with zeros, and
// the write-ahead log is checkpointed and truncated afterwards, so no copy
// of the secret stays in either file.
func (s *ShredStore) DestroyShredKey(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.dialect.q(`DELETE FROM shred_keys WHERE customer_id = ?`), id); err != nil {
		return unavailable("destroy shred key", err)
	}
	if !s.dialect.Numbered {
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return unavailable("destroy shred key", err)
		}
	}
	return nil
}

// unavailable wraps a key store failure: without the store no customer can
// be created or opened, which callers report as a dependency being down.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *custodian.Error
	if errors.As(err, &e) {
		return err
	}
	return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "The key store is unavailable.", Err: fmt.Errorf("%s: %w", op, err)}
}

var _ custodian.ShredKeyStore = (*ShredStore)(nil)
