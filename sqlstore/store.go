// Package sqlstore implements Custodian's repositories over database/sql,
// once, for every supported SQL dialect. The sqlite and postgres packages
// open their database, tune it, and hand it to New with their dialect,
// embedded migrations and migration lock, together with the caller's
// Options (the audit chain); the SQL here is written so that it runs
// unchanged on both, apart from placeholders.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect describes what differs between SQL databases.
type Dialect struct {
	// Name is the database's name, for messages and metrics.
	Name string
	// Goose is the migration dialect.
	Goose goose.Dialect
	// Numbered placeholders ($1, $2, ...) instead of "?".
	Numbered bool
	// ForUpdate is appended to a SELECT to lock the rows it reads for
	// the rest of the transaction, where the database supports it.
	ForUpdate string
	// SingleWriter marks a database that allows one writing transaction
	// at a time (SQLite): inserts are then group-committed.
	SingleWriter bool
	// CacheStatements keeps prepared statements for reads. Right for a
	// database/sql pool that keeps its connections (SQLite); pgx already
	// caches statements per connection, under a pool that does not.
	CacheStatements bool
	// ChainedWrites marks a database that runs several writes as one
	// statement (data-modifying WITH clauses, arrays as parameters:
	// PostgreSQL), so that a write of several tables costs one round
	// trip rather than one per table.
	ChainedWrites bool
	// FlushBarrier, when set, is a statement that commits on its own
	// and returns once the database's log is on disk up to its commit,
	// and so up to every commit before it. Shared audit appends then
	// commit without waiting for the disk while they hold the chain's
	// head, and wait with this statement after releasing it (see
	// auditAppender.commit).
	FlushBarrier string
}

// Store implements custodian.CustomerRepository. Writes go through write
// and reads through read; they are the same pool where the database allows
// concurrent writers, and separate where it has a single writer (SQLite).
// Everything it needs is given to New: nothing is set on it afterwards.
type Store struct {
	dialect       Dialect
	write         *sql.DB
	read          *sql.DB
	migrations    fs.FS
	migrationLock lock.SessionLocker
	closers       []func()
	stmts         sync.Map // query text -> *sql.Stmt on the read pool
	group         *groupCommitter
	chain         *hashchain.Chain
	appender      *auditAppender
	reads         *readLog
	readLogSchema []string
	replica       *replica // nil without a read replica
}

// Database is what a backend hands New: its connection pools, its embedded
// migrations, how concurrent migrations are kept apart, and what else to
// close with the store.
type Database struct {
	// Write is the pool writes go through.
	Write *sql.DB
	// Read is the pool reads go through; nil means Write.
	Read *sql.DB
	// Migrations are the backend's schema migrations.
	Migrations fs.FS
	// MigrationLock, when set, is held while migrations run, so that
	// processes starting together against one database migrate it one
	// at a time (PostgreSQL's session-level advisory lock, a locked file
	// beside SQLite's database). Nil: no lock.
	MigrationLock lock.SessionLocker
	// Closers run after the pools are closed (such as the driver's own
	// pool).
	Closers []func()
	// ReadLog, when set, is the read log's own database (SQLite: a file
	// of its own, so that recording reads never writes the customer
	// database); nil keeps the read log in Write's database, whose
	// migrations create its tables.
	ReadLog *sql.DB
	// ReadLogSchema are the statements Migrate runs on ReadLog to create
	// the read log's tables when they do not exist.
	ReadLogSchema []string
	// Replica, when set, is a read replica of Write's database: lists,
	// searches and exports of customers go to it, except for a user who
	// wrote within Options.ReplicaFreshFor, whose reads stay on the
	// primary so that they see their own writes.
	Replica *sql.DB
}

// Options are what the caller of a backend's Open decides about the store.
type Options struct {
	// AuditChain seals the events the store appends to the audit trail.
	// Servers and commands use the keyring's keyed chain (HMAC), which
	// makes the trail impossible to rewrite without the key; tests may
	// use the plain SHA-256 chain of hashchain.NewChain(nil). Required
	// unless WithoutAuditChain is set.
	AuditChain *hashchain.Chain
	// WithoutAuditChain opens a store that never appends to the audit
	// trail, such as one opened only to migrate, and so needs no keys: it
	// refuses every append. It must not be combined with AuditChain.
	WithoutAuditChain bool
	// ReadLog says how often recorded reads are written and sealed.
	ReadLog ReadLogOptions
	// ReplicaFreshFor is how long after a user's write their lists and
	// searches stay on the primary rather than the replica; zero means
	// DefaultReplicaFreshFor. It should exceed the replica's usual lag.
	ReplicaFreshFor time.Duration
}

// ErrNoAuditChain is returned, wrapped, by New (and so by the backends'
// Open) for Options that give no audit chain without saying that the
// store never appends: events sealed with the wrong chain would later read
// as tampering, so the mistake must show when the store is opened.
var ErrNoAuditChain = errors.New("sqlstore: no audit chain: give Options.AuditChain, or WithoutAuditChain for a store that never appends to the trail")

// check reports Options that cannot make a store.
func (o Options) check() error {
	switch {
	case o.AuditChain == nil && !o.WithoutAuditChain:
		return ErrNoAuditChain
	case o.AuditChain != nil && o.WithoutAuditChain:
		return errors.New("sqlstore: Options give an audit chain and WithoutAuditChain together")
	}
	return nil
}

// New returns a store over db, sealing its audit trail as o says. It does
// not migrate: call Migrate. Close closes the pools, then calls db's
// closers. On error nothing of db is closed: the caller still owns it.
func New(d Dialect, db Database, o Options) (*Store, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	read := db.Read
	if read == nil {
		read = db.Write
	}
	s := &Store{dialect: d, write: db.Write, read: read, migrations: db.Migrations, migrationLock: db.MigrationLock, closers: db.Closers, chain: o.AuditChain}
	if d.SingleWriter {
		s.group = newGroupCommitter(s)
	}
	s.appender = newAuditAppender(s)
	readDB, own := db.ReadLog, db.ReadLog != nil
	if !own {
		readDB = db.Write
	}
	s.reads = newReadLog(s, readDB, own, o.ReadLog)
	s.readLogSchema = db.ReadLogSchema
	s.replica = newReplica(db.Replica, o.ReplicaFreshFor)
	return s, nil
}

// Close closes the pools.
func (s *Store) Close() error {
	s.reads.close()    // writes and seals the queued reads, through the trail
	s.appender.close() // before the group committer it may still use
	if s.group != nil {
		s.group.close()
	}
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if s.reads.own {
		err = errors.Join(err, s.reads.db.Close())
	}
	if s.replica != nil {
		err = errors.Join(err, s.replica.db.Close())
	}
	for _, c := range s.closers {
		c()
	}
	return err
}

// DB returns the writing pool, for pool statistics.
func (s *Store) DB() *sql.DB { return s.write }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "The database is unreachable.", Err: err}
	}
	return nil
}

// provider returns the migration provider over the write pool, holding the
// migration lock while it migrates when the backend gave one.
func (s *Store) provider() (*goose.Provider, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.migrationLock != nil {
		opts = append(opts, goose.WithSessionLocker(s.migrationLock))
	}
	return goose.NewProvider(s.dialect.Goose, s.write, s.migrations, opts...)
}

// Migrate applies every pending migration and returns the schema version.
// Concurrent starts are safe when the backend gave a migration lock, which
// both do: migrations hold it.
func (s *Store) Migrate(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if err := s.PrepareReadLog(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// PrepareReadLog creates the read log's tables in its own database when
// they do not exist yet (a read log kept in the main database gets them
// from its migrations). The backends call it when they open a store, so
// that a store opened on copied files, such as a backup, records reads
// without being migrated.
func (s *Store) PrepareReadLog(ctx context.Context) error {
	if !s.reads.own {
		return nil
	}
	for _, q := range s.readLogSchema {
		if _, err := s.reads.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
	}
	return nil
}

// MigrateTo applies the pending migrations up to version and no further,
// and returns the schema version: a restore loads a backup's rows into
// the schema they were taken from, then migrates the rest of the way.
func (s *Store) MigrateTo(ctx context.Context, version int64) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// SchemaVersion returns the version the database is at and the newest
// version this binary knows.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, src := range p.ListSources() {
		latest = max(latest, src.Version)
	}
	return current, latest, nil
}

// Rebind rewrites a query's "?" placeholders for the store's dialect, for
// tools and tests that run their own SQL.
func (s *Store) Rebind(query string) string { return s.q(query) }

// q rewrites "?" placeholders for the store's dialect.
func (s *Store) q(query string) string { return s.dialect.q(query) }

// q rewrites "?" placeholders for the dialect.
func (d Dialect) q(query string) string {
	if !d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// internal wraps a database failure as an internal error, keeping the cause
// for logs and errors.Is.
func internal(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *custodian.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "The database did not answer in time.", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return &custodian.Error{Code: custodian.EINTERNAL, Message: "A database error occurred.", Err: fmt.Errorf("%s: %w", op, err)}
}

// inTx runs fn in a write transaction, committing when it returns nil.
// When ctx carries one of this store's transactions (inside Audited), fn
// runs in it instead, and the caller of Audited commits.
func (s *Store) inTx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	if tx := s.txFrom(ctx); tx != nil {
		return internal(op, fn(tx))
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return internal(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return internal(op, err)
	}
	return internal(op, tx.Commit())
}

// query runs a read on the read pool, through a cached prepared statement
// where the dialect wants it. Queries are built from a fixed set of shapes,
// so the cache stays small.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = s.q(query)
	if !s.dialect.CacheStatements {
		return s.read.QueryContext(ctx, query, args...)
	}
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for a single row.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = s.q(query)
	if !s.dialect.CacheStatements {
		return s.read.QueryRowContext(ctx, query, args...)
	}
	st, err := s.stmt(ctx, query)
	if err != nil {
		return s.read.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// sealedUnits are the personal units (custodian.PersonalUnits), each
// sealed in the column <unit>_ct. Like the column lists below, it is
// computed once from the field table and never written.
var sealedUnits = custodian.PersonalUnits()

// sealedColumns lists the columns of the sealed units, each between prefix
// and suffix: sealedColumns("c.", "") is "c.name_ct, c.email_ct, ...".
func sealedColumns(prefix, suffix string) string {
	cols := make([]string, len(sealedUnits))
	for i, u := range sealedUnits {
		cols[i] = prefix + u.Column() + suffix
	}
	return strings.Join(cols, ", ")
}

// recordColumns are the columns scanRecord reads.
var recordColumns = `c.id, c.status, c.tags, c.created_us, c.updated_us, c.created_by, c.updated_by, c.version,
	c.key_id, c.data_key, ` + sealedColumns("c.", "") + `,
	c.activity_us, c.legal_hold_us, c.legal_hold_by, c.legal_hold_reason`

// insertRecord and updateRecord write a record's columns; sealedArgs gives
// their sealed values.
var (
	insertRecord = `INSERT INTO customers (id, status, tags, created_us, updated_us, created_by, updated_by, version,
			key_id, data_key, ` + sealedColumns("", "") + `, activity_us)
			VALUES (?` + strings.Repeat(", ?", 10+len(sealedUnits)) + `) RETURNING seq`
	updateRecord = `UPDATE customers SET status = ?, tags = ?, updated_us = ?, updated_by = ?, version = ?,
			key_id = ?, data_key = ?, ` + sealedColumns("", " = ?") + `, activity_us = ?
			WHERE seq = ?`
)

// sealedArgs returns the sealed units of r in column order. A unit r lacks
// is NULL, which only a column added since the record was sealed accepts.
func sealedArgs(r *custodian.CustomerRecord) []any {
	out := make([]any, len(sealedUnits))
	for i, u := range sealedUnits {
		out[i] = r.Sealed[u.Name]
	}
	return out
}

type scanner interface{ Scan(dest ...any) error }

// scanRecord scans recordColumns, then any extra destinations. A sealed
// column that is NULL (added since the record was last written) leaves its
// unit out of r.Sealed.
func scanRecord(row scanner, extra ...any) (*custodian.CustomerRecord, error) {
	var r custodian.CustomerRecord
	var tags string
	var created, updated, activity, hold int64
	var holdBy, holdReason string
	sealed := make([]sql.Null[[]byte], len(sealedUnits))
	dest := []any{&r.ID, &r.Status, &tags, &created, &updated, &r.CreatedBy, &r.UpdatedBy, &r.Version, &r.KeyID, &r.DataKey}
	for i := range sealed {
		dest = append(dest, &sealed[i])
	}
	dest = append(dest, &activity, &hold, &holdBy, &holdReason)
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	r.Sealed = make(custodian.SealedFields, len(sealedUnits))
	for i, u := range sealedUnits {
		if sealed[i].Valid {
			r.Sealed[u.Name] = sealed[i].V
		}
	}
	r.CreatedAt, r.UpdatedAt, r.ActivityAt = fromMicros(created), fromMicros(updated), fromMicros(activity)
	if hold != 0 {
		r.LegalHold = &custodian.LegalHold{Since: fromMicros(hold), By: holdBy, Reason: holdReason}
	}
	if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
		return nil, fmt.Errorf("customer %s: tags: %w", r.ID, err)
	}
	return &r, nil
}

// InsertCustomers stores new records, with their tags and tokens, in one
// transaction: all of them or none. On a single-writer database the
// transaction may be shared with other callers' inserts (group commit),
// each isolated in its own savepoint.
func (s *Store) InsertCustomers(ctx context.Context, recs ...*custodian.CustomerRecord) error {
	if s.group != nil && s.txFrom(ctx) == nil {
		return s.group.insert(ctx, recs)
	}
	return s.inTx(ctx, "insert customers", func(tx *sql.Tx) error { return s.insertRecords(ctx, tx, recs) })
}

// insertRecords inserts records within tx. Where the database chains
// writes in one statement (Dialect.ChainedWrites), each record travels with
// its tags and tokens in one round trip; elsewhere the insert is a
// statement prepared once for the batch, then the index rows follow.
func (s *Store) insertRecords(ctx context.Context, tx *sql.Tx, recs []*custodian.CustomerRecord) error {
	insert := func(args ...any) *sql.Row { return tx.QueryRowContext(ctx, s.q(insertRecord), args...) }
	if s.dialect.CacheStatements {
		// A prepared statement costs nothing to make here; on a
		// networked database it would cost a round trip to prepare and
		// one to close, where the driver's statement cache costs none.
		stmt, err := tx.PrepareContext(ctx, s.q(insertRecord))
		if err != nil {
			return err
		}
		defer stmt.Close()
		insert = func(args ...any) *sql.Row { return stmt.QueryRowContext(ctx, args...) }
	}
	for _, r := range recs {
		tags, err := json.Marshal(nonNil(r.Tags))
		if err != nil {
			return err
		}
		args := append([]any{r.ID, string(r.Status), string(tags), micros(r.CreatedAt), micros(r.UpdatedAt), r.CreatedBy, r.UpdatedBy, r.Version,
			r.KeyID, r.DataKey}, sealedArgs(r)...)
		args = append(args, micros(activityOf(r)))
		if s.dialect.ChainedWrites {
			if _, err := tx.ExecContext(ctx, s.q(insertRecordChained), append(args, nonNil(r.Tags), micros(r.CreatedAt), nonNilTokens(r.Tokens))...); err != nil {
				return err
			}
			continue
		}
		var seq int64
		if err := insert(args...).Scan(&seq); err != nil {
			return err
		}
		if err := s.insertIndex(ctx, tx, seq, r); err != nil {
			return err
		}
	}
	return nil
}

// insertRecordChained is insertRecord with the record's tags and tokens
// inserted by the same statement, from two array parameters, for a
// database with Dialect.ChainedWrites.
var insertRecordChained = `WITH c AS (` + insertRecord + `),
	g AS (INSERT INTO customer_tags (tag, customer_seq) SELECT t.tag, c.seq FROM c, unnest(CAST(? AS TEXT[])) AS t(tag))
	INSERT INTO customer_tokens (token, customer_seq, created_us) SELECT k.token, c.seq, CAST(? AS BIGINT) FROM c, unnest(CAST(? AS BIGINT[])) AS k(token)`

func nonNilTokens(t []int64) []int64 {
	if t == nil {
		return []int64{}
	}
	return t
}

// activityOf is a record's last activity: its ActivityAt, or else its
// last update.
func activityOf(r *custodian.CustomerRecord) time.Time {
	if r.ActivityAt.IsZero() {
		return r.UpdatedAt
	}
	return r.ActivityAt
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// insertIndex writes a record's tags and tokens, a few hundred rows per
// statement.
func (s *Store) insertIndex(ctx context.Context, tx *sql.Tx, seq int64, r *custodian.CustomerRecord) error {
	if err := insertRows(ctx, tx, s, "customer_tags (tag, customer_seq)", r.Tags, seq); err != nil {
		return err
	}
	return insertRows(ctx, tx, s, "customer_tokens (token, customer_seq, created_us)", r.Tokens, seq, micros(r.CreatedAt))
}

// inList returns the parenthesized placeholders of an IN list of values,
// one per value, and the values as arguments. values must not be empty.
func inList[T any](values []T) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return "(?" + strings.Repeat(",?", len(values)-1) + ")", args
}

// insertRows inserts one row per value: the value followed by rest.
func insertRows[T any](ctx context.Context, tx *sql.Tx, s *Store, table string, values []T, rest ...any) error {
	const batch = 200
	row := "(?" + strings.Repeat(", ?", len(rest)) + ")"
	for len(values) > 0 {
		n := min(len(values), batch)
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " VALUES ")
		args := make([]any, 0, (1+len(rest))*n)
		for i, v := range values[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
			args = append(append(args, v), rest...)
		}
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return err
		}
		values = values[n:]
	}
	return nil
}

// CustomerRecord returns the record with id, or ENOTFOUND.
func (s *Store) CustomerRecord(ctx context.Context, id string) (*custodian.CustomerRecord, error) {
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordColumns+` FROM customers c WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "Customer not found.")
	}
	return r, internal("get customer", err)
}

// CustomerRecords returns the records with the given ids that exist, in the
// order of ids.
func (s *Store) CustomerRecords(ctx context.Context, ids []string) ([]*custodian.CustomerRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	in, args := inList(ids)
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+recordColumns+` FROM customers c WHERE c.id IN `+in), args...)
	if err != nil {
		return nil, internal("get customers", err)
	}
	byID, err := collect(rows)
	if err != nil {
		return nil, internal("get customers", err)
	}
	index := make(map[string]*custodian.CustomerRecord, len(byID))
	for _, r := range byID {
		index[r.ID] = r
	}
	out := make([]*custodian.CustomerRecord, 0, len(ids))
	for _, id := range ids {
		if r := index[id]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// CustomerIDsByTokens returns the ids of the customers that carry any of
// the tokens, each once.
func (s *Store) CustomerIDsByTokens(ctx context.Context, tokens []int64) ([]string, error) {
	tokens = slices.Clone(tokens)
	slices.Sort(tokens)
	tokens = slices.Compact(tokens)
	var out []string
	seen := map[string]bool{}
	// At most 500 tokens a query, well under every backend's limit on
	// parameters.
	for len(tokens) > 0 {
		n := min(len(tokens), 500)
		in, args := inList(tokens[:n])
		tokens = tokens[n:]
		err := func() error {
			rows, err := s.read.QueryContext(ctx, s.q(`SELECT DISTINCT c.id FROM customer_tokens t JOIN customers c ON c.seq = t.customer_seq WHERE t.token IN `+in), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				if !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, internal("find customers by token", err)
		}
	}
	return out, nil
}

func collect(rows *sql.Rows) ([]*custodian.CustomerRecord, error) {
	defer rows.Close()
	var out []*custodian.CustomerRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// lockRecord reads the customer's record and its row key inside tx,
// locking the row where the database has row locks (SQLite's immediate
// transactions already exclude other writers).
func (s *Store) lockRecord(ctx context.Context, tx *sql.Tx, id string) (*custodian.CustomerRecord, int64, error) {
	var seq int64
	cur, err := scanRecord(tx.QueryRowContext(ctx, s.q(`SELECT `+recordColumns+`, c.seq FROM customers c WHERE c.id = ?`+s.dialect.ForUpdate), id), &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, custodian.Errorf(custodian.ENOTFOUND, "Customer not found.")
	}
	return cur, seq, err
}

// UpdateCustomer runs fn on the current record, locked (lockRecord),
// inside a write transaction and stores its result, rewriting tags and
// tokens.
func (s *Store) UpdateCustomer(ctx context.Context, id string, fn func(cur *custodian.CustomerRecord) (*custodian.CustomerRecord, error)) error {
	return s.inTx(ctx, "update customer", func(tx *sql.Tx) error {
		cur, seq, err := s.lockRecord(ctx, tx, id)
		if err != nil {
			return err
		}
		r, err := fn(cur)
		if err != nil {
			return err
		}
		tags, err := json.Marshal(nonNil(r.Tags))
		if err != nil {
			return err
		}
		args := append([]any{string(r.Status), string(tags), micros(r.UpdatedAt), r.UpdatedBy, r.Version, r.KeyID, r.DataKey}, sealedArgs(r)...)
		_, err = tx.ExecContext(ctx, s.q(updateRecord), append(args, micros(activityOf(r)), seq)...)
		if err != nil {
			return err
		}
		for _, table := range []string{"customer_tags", "customer_tokens"} {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE customer_seq = ?`), seq); err != nil {
				return err
			}
		}
		return s.insertIndex(ctx, tx, seq, r)
	})
}

// missOrStale explains why a conditional write matched no row.
func (s *Store) missOrStale(ctx context.Context, tx *sql.Tx, id string) error {
	var hold int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT legal_hold_us FROM customers WHERE id = ?`), id).Scan(&hold)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return custodian.Errorf(custodian.ENOTFOUND, "Customer not found.")
	case err != nil:
		return err
	case hold != 0:
		return custodian.Errorf(custodian.ECONFLICT, "The customer is under a legal hold and cannot be deleted or erased until it is lifted.")
	}
	return custodian.Errorf(custodian.EPRECONDITION, "The customer was changed by someone else; reload it and try again.")
}

// DeleteCustomer removes the record, its tags, its tokens, its logged
// activities and its tasks when its version equals ifVersion (any version when ifVersion
// is 0) and no legal hold is on it (ECONFLICT).
func (s *Store) DeleteCustomer(ctx context.Context, id string, ifVersion int64) error {
	return s.inTx(ctx, "delete customer", func(tx *sql.Tx) error {
		// Explicitly, not only by cascade: the activities' texts are
		// personal, whatever the connection's foreign-key setting.
		for _, table := range []string{"customer_activities", "customer_tasks"} {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE customer_seq IN
				(SELECT seq FROM customers WHERE id = ? AND (? = 0 OR version = ?) AND legal_hold_us = 0)`), id, ifVersion, ifVersion); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM customers WHERE id = ? AND (? = 0 OR version = ?) AND legal_hold_us = 0`), id, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return s.missOrStale(ctx, tx, id)
		}
		return nil
	})
}

// from builds the FROM and WHERE clauses shared by lists and name entries.
// When tokens are given, the matching customers are computed first, in a
// materialized common table expression: the index on (token, customer_seq)
// answers it directly, and the planner cannot choose instead to walk the
// whole table in sort order looking for rare matches.
func from(q custodian.RecordQuery) (string, []any) {
	var b strings.Builder
	var args []any
	if len(q.Tokens) > 0 {
		b.WriteString("WITH m AS MATERIALIZED (")
		for i, t := range q.Tokens {
			if i > 0 {
				b.WriteString(" INTERSECT ")
			}
			b.WriteString("SELECT customer_seq FROM customer_tokens WHERE token = ?")
			args = append(args, t)
		}
		b.WriteString(") ")
	}
	b.WriteString("%s FROM customers c")
	if len(q.Tokens) > 0 {
		b.WriteString(" JOIN m ON m.customer_seq = c.seq")
	}
	b.WriteString(" WHERE 1 = 1")
	args = filters(&b, q, args)
	return b.String(), args
}

// filters appends to b the conditions on customers c for q's status, tag
// and consent, and returns args with their arguments.
func filters(b *strings.Builder, q custodian.RecordQuery, args []any) []any {
	if q.Status != "" {
		b.WriteString(" AND c.status = ?")
		args = append(args, string(q.Status))
	}
	if q.Tag != "" {
		b.WriteString(" AND EXISTS (SELECT 1 FROM customer_tags g WHERE g.tag = ? AND g.customer_seq = c.seq)")
		args = append(args, q.Tag)
	}
	if q.Consent != "" {
		// The current state, which every consent change updates in the
		// same transaction as the history.
		b.WriteString(" AND EXISTS (SELECT 1 FROM customer_consents k WHERE k.customer_seq = c.seq AND k.purpose = ? AND k.given = 1)")
		args = append(args, q.Consent)
	}
	return args
}

// ListCustomerRecords returns the records q selects, in q's order.
func (s *Store) ListCustomerRecords(ctx context.Context, q custodian.RecordQuery) ([]*custodian.CustomerRecord, error) {
	col := "c.created_us"
	switch q.SortKey {
	case "created_at", "":
	case "updated_at":
		col = "c.updated_us"
	default:
		return nil, internal("list customers", fmt.Errorf("unsupported sort key %q", q.SortKey))
	}
	dir, cmp := "ASC", ">"
	if q.Descending {
		dir, cmp = "DESC", "<"
	}
	if len(q.Tokens) > 0 && col == "c.created_us" {
		return s.listByToken(ctx, q, dir, cmp)
	}
	query, args := from(q)
	query = fmt.Sprintf(query, "SELECT "+recordColumns)
	if q.After != nil {
		query += " AND (" + col + ", c.id) " + cmp + " (?, ?)"
		args = append(args, micros(q.After.Time), q.After.ID)
	}
	query += ` ORDER BY ` + col + ` ` + dir + `, c.id ` + dir
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := s.queryLagging(ctx, query, args...)
	if err != nil {
		return nil, internal("list customers", err)
	}
	recs, err := collect(rows)
	return recs, internal("list customers", err)
}

// CountCustomerRecords counts the records q selects, stopping at limit:
// the database counts at most limit index entries.
func (s *Store) CountCustomerRecords(ctx context.Context, q custodian.RecordQuery, limit int) (int, error) {
	query, args := from(q)
	query = `SELECT COUNT(*) FROM (` + fmt.Sprintf(query, "SELECT 1") + ` LIMIT ?) x`
	args = append(args, limit)
	rows, err := s.queryLagging(ctx, query, args...)
	if err != nil {
		return 0, internal("count customers", err)
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		err = rows.Scan(&n)
	}
	if err == nil {
		err = rows.Err()
	}
	return n, internal("count customers", err)
}

// listByToken answers a search in creation order by walking the first
// token's index entries in order, so a page costs the same whether a search
// matches ten customers or ten thousand. The caller puts the most selective
// token first; the others are checked per row.
func (s *Store) listByToken(ctx context.Context, q custodian.RecordQuery, dir, cmp string) ([]*custodian.CustomerRecord, error) {
	var b strings.Builder
	args := []any{q.Tokens[0]}
	b.WriteString("SELECT " + recordColumns + " FROM customer_tokens t JOIN customers c ON c.seq = t.customer_seq WHERE t.token = ?")
	for _, tok := range q.Tokens[1:] {
		b.WriteString(" AND EXISTS (SELECT 1 FROM customer_tokens t2 WHERE t2.customer_seq = c.seq AND t2.token = ?)")
		args = append(args, tok)
	}
	args = filters(&b, q, args)
	if q.After != nil {
		// The first condition bounds the index range; the second breaks ties.
		b.WriteString(" AND t.created_us " + cmp + "= ? AND (t.created_us " + cmp + " ? OR c.id " + cmp + " ?)")
		us := micros(q.After.Time)
		args = append(args, us, us, q.After.ID)
	}
	b.WriteString(" ORDER BY t.created_us " + dir + ", c.id " + dir)
	if q.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	}
	rows, err := s.queryLagging(ctx, b.String(), args...)
	if err != nil {
		return nil, internal("search customers", err)
	}
	recs, err := collect(rows)
	return recs, internal("search customers", err)
}

// CustomerNameEntries returns the name entries of every record q selects.
func (s *Store) CustomerNameEntries(ctx context.Context, q custodian.RecordQuery) ([]custodian.NameEntry, error) {
	query, args := from(q)
	rows, err := s.queryLagging(ctx, fmt.Sprintf(query, "SELECT c.id, c.version, c.key_id, c.data_key, c.name_ct"), args...)
	if err != nil {
		return nil, internal("list customer names", err)
	}
	defer rows.Close()
	var out []custodian.NameEntry
	for rows.Next() {
		var e custodian.NameEntry
		if err := rows.Scan(&e.ID, &e.Version, &e.KeyID, &e.DataKey, &e.Name); err != nil {
			return nil, internal("list customer names", err)
		}
		out = append(out, e)
	}
	return out, internal("list customer names", rows.Err())
}

var _ custodian.CustomerRepository = (*Store)(nil)

// ProbeWrite reports whether the database takes a write now: it updates
// the one row of the health_probe table in a write transaction of its
// own, through the writing pool (on SQLite, behind the single writer).
func (s *Store) ProbeWrite(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, s.q(`UPDATE health_probe SET probe_us = ? WHERE id = 1`), time.Now().UnixMicro()); err != nil {
		return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "The database cannot take a write.", Err: err}
	}
	return nil
}
