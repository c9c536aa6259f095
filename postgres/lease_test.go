package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
)

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJobLeaseOneHolder runs job leases against a real PostgreSQL: of two
// instances on one schema exactly one holds the lease, another schema's
// instance holds its own, and the standby takes over when the holder
// closes and again when the holder's connection is killed, which the old
// holder notices.
func TestJobLeaseOneHolder(t *testing.T) {
	ctx := context.Background()
	url := testdb.PostgresSchemaURL(t)
	o := postgres.JobLeaseOptions{Retry: 50 * time.Millisecond}
	open := func(url string) *postgres.JobLease {
		l, err := postgres.NewJobLease(ctx, url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a, b := open(url), open(url)
	if !a.Held() {
		t.Fatal("the first instance does not hold the lease")
	}
	// The standby keeps trying and keeps failing.
	time.Sleep(200 * time.Millisecond)
	if b.Held() {
		t.Fatal("both instances hold the lease")
	}
	if other := open(testdb.PostgresSchemaURL(t)); !other.Held() {
		t.Fatal("another schema's instance does not hold its own lease")
	}

	a.Close()
	// The lock is free as soon as Close returns.
	next := open(url)
	if !next.Held() && !b.Held() {
		// Unless the standby took it first, the next instance does.
		t.Fatal("the lock is not free when Close returns")
	}
	next.Close()
	waitFor(t, "the standby takes over after a close", b.Held)
	c := open(url)
	time.Sleep(200 * time.Millisecond)
	if c.Held() || a.Held() {
		t.Fatalf("held after the takeover: closed %v, new %v", a.Held(), c.Held())
	}

	// The holder's connection dies: the server releases its lock, the
	// standby takes it, and the old holder stops believing it holds it.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var key, killed int64
	if err := db.QueryRowContext(ctx, `SELECT hashtextextended('custodian.jobs:' || current_schema(), 0)`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	err = db.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("killed %d holders: %v", killed, err)
	}
	waitFor(t, "the old holder notices its lost connection", func() bool { return !b.Held() })
	waitFor(t, "the standby takes over after the holder's connection died", c.Held)
}
