package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/custodian-crm/custodian/hashchain"
)

// This file is what backups need of a store: a consistent read-only view,
// the list of the store's own tables in an order that respects their
// foreign keys, their rows as the driver returns them, and, for a
// restore, one write transaction that loads rows and in which the other
// methods (AuditChain, KeyUsage, EraseCustomer, Audited) run.

// Table is one of the store's tables as a backup copies it.
type Table struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

// excludedTables are never part of a backup: the migration bookkeeping
// (a restore recreates it by migrating to the backup's schema version)
// and the shred key store's table, which a PostgreSQL customer database
// may hold and which must never travel with the customers' ciphertext.
var excludedTables = []string{"goose_db_version", "shred_keys"}

// querier is what reads need: a pool, a transaction or a connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// snapshotKey carries a ReadSnapshot's connection in a context.
type snapshotKey struct{}

type snapshotValue struct {
	s *Store
	q querier
}

// reader returns what a read made with ctx goes through: the store's
// transaction ctx carries (InTx, Audited), its read-only snapshot
// (ReadSnapshot), or the read pool.
func (s *Store) reader(ctx context.Context) querier {
	if tx := s.txFrom(ctx); tx != nil {
		return tx
	}
	if v, ok := ctx.Value(snapshotKey{}).(snapshotValue); ok && v.s == s {
		return v.q
	}
	return s.read
}

// ReadSnapshot runs fn with a context whose reads of this store (Tables,
// CountRows, ScanTable, AuditHead, AuditChain, KeyUsage, SchemaVersionAt)
// all see one consistent state of the database, while others go on
// writing: a REPEATABLE READ, READ ONLY transaction on PostgreSQL, a read
// transaction on SQLite's write-ahead log.
func (s *Store) ReadSnapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.dialect.Numbered {
		tx, err := s.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return internal("begin snapshot", err)
		}
		defer func() { _ = tx.Rollback() }()
		// Reading a big table takes longer than the pool's statement
		// timeout allows an ordinary query.
		if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return internal("begin snapshot", err)
		}
		return fn(context.WithValue(ctx, snapshotKey{}, snapshotValue{s: s, q: tx}))
	}
	// SQLite: database/sql's transactions would begin IMMEDIATE (the
	// connection string asks so, for writers) and take the write lock; a
	// deferred transaction on one read connection takes none.
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return internal("begin snapshot", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return internal("begin snapshot", err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`) }()
	// The read transaction starts at its first read: read now, so that
	// everything fn reads is of this instant.
	var n int64
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_head`).Scan(&n); err != nil {
		return internal("begin snapshot", err)
	}
	return fn(context.WithValue(ctx, snapshotKey{}, snapshotValue{s: s, q: conn}))
}

// InTx runs fn with a context carrying one write transaction of the
// store: the store's writes made with it (LoadRows, EraseCustomer,
// Audited, ...) join it and its reads see it. It commits when fn returns
// nil and rolls back otherwise, so that a restore writes all or nothing.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return internal("begin", err)
	}
	if s.dialect.Numbered {
		// A restore's statements (clearing, loading, verifying) may run
		// longer than the pool's statement timeout allows a request's.
		if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			_ = tx.Rollback()
			return internal("begin", err)
		}
	}
	if err := fn(s.withTx(ctx, tx)); err != nil {
		_ = tx.Rollback()
		return err
	}
	return internal("commit", tx.Commit())
}

// quoteIdent quotes a table or column name read from the database's own
// catalogue.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Tables lists the store's own tables with their columns, every table
// after the tables its foreign keys reference, without the migration
// bookkeeping and the shred key store.
func (s *Store) Tables(ctx context.Context) ([]Table, error) {
	q := s.reader(ctx)
	var namesQ, colsQ, depsQ string
	if s.dialect.Numbered {
		namesQ = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
		colsQ = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
		depsQ = `SELECT DISTINCT r.relname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
			WHERE c.contype = 'f' AND t.relname = $1 AND t.relnamespace = current_schema()::regnamespace`
	} else {
		namesQ = `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
		colsQ = `SELECT name FROM pragma_table_info(?) ORDER BY cid`
		depsQ = `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`
	}
	names, err := strings1(ctx, q, namesQ)
	if err != nil {
		return nil, internal("list tables", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(excludedTables, n) })
	tables := map[string]Table{}
	deps := map[string][]string{}
	for _, n := range names {
		cols, err := strings1(ctx, q, colsQ, n)
		if err != nil {
			return nil, internal("list columns", err)
		}
		tables[n] = Table{Name: n, Columns: cols}
		if deps[n], err = strings1(ctx, q, depsQ, n); err != nil {
			return nil, internal("list foreign keys", err)
		}
	}
	// Depth-first: a table comes after what it references.
	var out []Table
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string)
	visit = func(n string) {
		if state[n] != 0 {
			return
		}
		state[n] = 1
		for _, d := range deps[n] {
			if _, ours := tables[d]; ours && d != n {
				visit(d)
			}
		}
		state[n] = 2
		out = append(out, tables[n])
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}

// strings1 returns the first column of the rows of query.
func strings1(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CountRows returns how many rows table holds.
func (s *Store) CountRows(ctx context.Context, table string) (int64, error) {
	var n int64
	err := s.reader(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(table)).Scan(&n)
	return n, internal("count "+table, err)
}

// SchemaVersionAt returns the schema version the database is at, read as
// ctx reads (inside ReadSnapshot, at the snapshot's instant); 0 when it
// was never migrated.
func (s *Store) SchemaVersionAt(ctx context.Context) (int64, error) {
	exists := `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'goose_db_version'`
	if s.dialect.Numbered {
		exists = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'goose_db_version'`
	}
	var n int64
	if err := s.reader(ctx).QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return 0, internal("schema version", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	err := s.reader(ctx).QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&v)
	return v.Int64, internal("schema version", err)
}

// ScanTable calls fn with every row of t, its values in t's column order
// as the driver returns them (int64, string, []byte, bool, time.Time or
// nil). values is reused between calls.
func (s *Store) ScanTable(ctx context.Context, t Table, fn func(values []any) error) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c)
	}
	rows, err := s.reader(ctx).QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoteIdent(t.Name))
	if err != nil {
		return internal("read "+t.Name, err)
	}
	defer rows.Close()
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return internal("read "+t.Name, err)
		}
		if err := fn(values); err != nil {
			return err
		}
	}
	return internal("read "+t.Name, rows.Err())
}

// Empty reports whether the database holds no data: its audit trail is
// empty (every change is recorded on it) and it has no customer, tombstone
// or user. Rows that migrations seed (the audit head, probes) do not
// count.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	head, err := s.AuditHead(ctx)
	if err != nil {
		return false, err
	}
	if head.Seq > 0 {
		return false, nil
	}
	for _, t := range []string{"customers", "customer_tombstones", "users"} {
		var one int
		err := s.reader(ctx).QueryRowContext(ctx, `SELECT 1 FROM `+quoteIdent(t)+` LIMIT 1`).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return false, internal("read "+t, err)
		default:
			return false, nil
		}
	}
	return true, nil
}

// ClearTables deletes every row of the store's tables, the append-only
// ones included, inside InTx: for a restore over existing data, which
// commits or rolls back with the rows it loads.
func (s *Store) ClearTables(ctx context.Context, tables []Table) error {
	tx := s.txFrom(ctx)
	if tx == nil {
		return errors.New("sqlstore: ClearTables outside InTx")
	}
	guarded := []string{"audit_events", "consent_events"}
	for _, g := range guarded {
		if !slices.ContainsFunc(tables, func(t Table) bool { return t.Name == g }) {
			continue
		}
		if s.dialect.Numbered {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quoteIdent(g)+` DISABLE TRIGGER USER`); err != nil {
				return internal("clear "+g, err)
			}
			defer tx.ExecContext(ctx, `ALTER TABLE `+quoteIdent(g)+` ENABLE TRIGGER USER`) //nolint:errcheck // the transaction's outcome reports it
		}
	}
	if !s.dialect.Numbered {
		// SQLite's triggers cannot be disabled: drop and recreate them.
		trig, err := s.guardTriggers(ctx, tx, guarded)
		if err != nil {
			return err
		}
		for name := range trig {
			if _, err := tx.ExecContext(ctx, `DROP TRIGGER `+quoteIdent(name)); err != nil {
				return internal("clear", err)
			}
		}
		defer func() {
			for _, sqlText := range trig {
				_, _ = tx.ExecContext(ctx, sqlText)
			}
		}()
	}
	for _, t := range slices.Backward(tables) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(t.Name)); err != nil {
			return internal("clear "+t.Name, err)
		}
	}
	return nil
}

// guardTriggers returns the SQLite triggers on tables, by name, with the
// statements that create them.
func (s *Store) guardTriggers(ctx context.Context, tx *sql.Tx, tables []string) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range tables {
		rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?`, t)
		if err != nil {
			return nil, internal("list triggers", err)
		}
		for rows.Next() {
			var name, text string
			if err := rows.Scan(&name, &text); err != nil {
				rows.Close()
				return nil, internal("list triggers", err)
			}
			out[name] = text
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, internal("list triggers", err)
		}
	}
	return out, nil
}

// LoadRows inserts into t the rows next returns, until it returns nil
// values, inside InTx. Values are as ScanTable gave them. It returns how
// many rows it inserted. Identity columns take the values given; call
// ResetIdentities once every table is loaded.
func (s *Store) LoadRows(ctx context.Context, t Table, next func() ([]any, error)) (int64, error) {
	tx := s.txFrom(ctx)
	if tx == nil {
		return 0, errors.New("sqlstore: LoadRows outside InTx")
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c)
	}
	perRow := "(?" + strings.Repeat(",?", len(cols)-1) + ")"
	batch := max(1, min(500, 30000/len(cols)))
	head := `INSERT INTO ` + quoteIdent(t.Name) + ` (` + strings.Join(cols, ", ") + `)`
	if s.dialect.Numbered {
		head += ` OVERRIDING SYSTEM VALUE`
	}
	head += ` VALUES `
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	var n int64
	args := make([]any, 0, batch*len(cols))
	flush := func() error {
		rows := len(args) / len(cols)
		if rows == 0 {
			return nil
		}
		st, ok := stmts[rows]
		if !ok {
			var err error
			if st, err = tx.PrepareContext(ctx, s.q(head+perRow+strings.Repeat(","+perRow, rows-1))); err != nil {
				return internal("load "+t.Name, err)
			}
			stmts[rows] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return internal("load "+t.Name, err)
		}
		n += int64(rows)
		args = args[:0]
		return nil
	}
	for {
		values, err := next()
		if err != nil {
			return n, err
		}
		if values == nil {
			return n, flush()
		}
		if len(values) != len(cols) {
			return n, fmt.Errorf("load %s: a row has %d values for %d columns", t.Name, len(values), len(cols))
		}
		args = append(args, values...)
		if len(args) == batch*len(cols) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
}

// ResetIdentities moves every identity column's sequence past the values
// loaded, inside InTx (PostgreSQL; SQLite's row ids need nothing).
func (s *Store) ResetIdentities(ctx context.Context) error {
	if !s.dialect.Numbered {
		return nil
	}
	tx := s.txFrom(ctx)
	if tx == nil {
		return errors.New("sqlstore: ResetIdentities outside InTx")
	}
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return internal("list identities", err)
	}
	var pairs [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return internal("list identities", err)
		}
		pairs = append(pairs, [2]string{t, c})
	}
	rows.Close()
	for _, p := range pairs {
		t, c := quoteIdent(p[0]), quoteIdent(p[1])
		if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(`+c+`) FROM `+t+`), 0) + 1, false)`, t, p[1]); err != nil {
			return internal("reset identity of "+p[0], err)
		}
	}
	return nil
}

// CustomerKeys returns the wrapped data keys of the customers after the
// id after, in id order, at most limit of them: a walk over every
// customer in pages.
func (s *Store) CustomerKeys(ctx context.Context, after string, limit int) ([]CustomerKey, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, s.q(`SELECT id, key_id, data_key FROM customers WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, internal("list customers", err)
	}
	defer rows.Close()
	var out []CustomerKey
	for rows.Next() {
		var k CustomerKey
		if err := rows.Scan(&k.CustomerID, &k.KeyID, &k.Wrapped); err != nil {
			return nil, internal("list customers", err)
		}
		out = append(out, k)
	}
	return out, internal("list customers", rows.Err())
}

// CustomerKey is one customer's wrapped data key, as CustomerKeys and
// DataKeySample read it.
type CustomerKey struct {
	CustomerID string
	KeyID      string // the master key it is wrapped under
	Wrapped    []byte
}

// DataKeySample returns up to n customers' wrapped data keys (id, master
// key id, wrapped key), the oldest and the newest, for a check that a
// keyring opens them.
func (s *Store) DataKeySample(ctx context.Context, n int) ([]CustomerKey, error) {
	var out []CustomerKey
	for _, order := range []string{"ASC", "DESC"} {
		rows, err := s.reader(ctx).QueryContext(ctx, s.q(`SELECT id, key_id, data_key FROM customers ORDER BY seq `+order+` LIMIT ?`), max(1, n/2))
		if err != nil {
			return nil, internal("sample data keys", err)
		}
		for rows.Next() {
			var k CustomerKey
			if err := rows.Scan(&k.CustomerID, &k.KeyID, &k.Wrapped); err != nil {
				rows.Close()
				return nil, internal("sample data keys", err)
			}
			if !slices.ContainsFunc(out, func(o CustomerKey) bool { return o.CustomerID == k.CustomerID }) {
				out = append(out, k)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, internal("sample data keys", err)
		}
	}
	return out, nil
}

// AuditEventOf is the audit event of a row of audit_events as ScanTable
// returns it (columns named by columns), as the chain verifier reads it:
// a backup's trail is verified before anything of it is written.
func AuditEventOf(columns []string, values []any) (hashchain.Event, error) {
	want := strings.Split(auditColumns, ", ")
	ordered := make([]any, len(want))
	for i, name := range want {
		j := slices.Index(columns, name)
		if j < 0 {
			return hashchain.Event{}, fmt.Errorf("audit_events has no column %s", name)
		}
		ordered[i] = values[j]
	}
	e, err := scanAudit(valueScanner(ordered))
	if err != nil {
		return hashchain.Event{}, err
	}
	return chainEvent(e), nil
}

// valueScanner scans values already read, as a row would.
type valueScanner []any

// Scan assigns the values to dest: *int64, *string and *[]byte.
func (v valueScanner) Scan(dest ...any) error {
	if len(dest) != len(v) {
		return fmt.Errorf("scan: %d values into %d destinations", len(v), len(dest))
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *int64:
			n, ok := v[i].(int64)
			if !ok {
				return fmt.Errorf("scan: value %d is %T, not an integer", i, v[i])
			}
			*d = n
		case *string:
			switch s := v[i].(type) {
			case string:
				*d = s
			case []byte:
				*d = string(s)
			default:
				return fmt.Errorf("scan: value %d is %T, not text", i, v[i])
			}
		case *[]byte:
			switch b := v[i].(type) {
			case []byte:
				*d = b
			case nil:
				*d = nil
			default:
				return fmt.Errorf("scan: value %d is %T, not bytes", i, v[i])
			}
		default:
			return fmt.Errorf("scan: cannot scan into %T", d)
		}
	}
	return nil
}
