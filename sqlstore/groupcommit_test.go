package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestGroupCommitOutlivesACancelledCaller: a caller whose context ends
// while its write runs must not undo the writes of the others in its
// group (SQLite rolls back the whole transaction of an interrupted write).
func TestGroupCommitOutlivesACancelledCaller(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "group.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	s, err := New(Dialect{Name: "sqlite", SingleWriter: true}, Database{Write: db}, Options{WithoutAuditChain: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := db.Exec(`CREATE TABLE t (caller TEXT NOT NULL, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	insert := func(caller string, rows int) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT ?, n FROM c`, rows, caller)
			return err
		}
	}
	const slowRows = 20_000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	group := []*writeReq{
		{ctx: context.Background(), fn: insert("other", 1), done: make(chan error, 1)},
		{ctx: ctx, fn: func(ctx context.Context, tx *sql.Tx) error {
			time.AfterFunc(2*time.Millisecond, cancel) // the caller goes away mid-statement
			return insert("slow", slowRows)(ctx, tx)
		}, done: make(chan error, 1)},
	}
	s.group.commit(group)
	if err := <-group[0].done; err != nil {
		t.Fatalf("the other caller of the group failed: %v", err)
	}
	slowErr := <-group[1].done
	count := func(caller string) (n int) {
		if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE caller = ?`, caller).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("other"); n != 1 {
		t.Fatalf("the other caller's acknowledged write left %d rows, want 1", n)
	}
	// The cancelled caller is told the truth: written in full, or not at all.
	if n, want := count("slow"), map[bool]int{true: slowRows, false: 0}[slowErr == nil]; n != want {
		t.Fatalf("cancelled caller: %d rows stored, error %v", n, slowErr)
	}
}
