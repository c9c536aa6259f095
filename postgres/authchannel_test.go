package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
)

// uniqueName returns prefix and random hex, for channels and connection
// names no other test uses.
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// withAppName returns the database URL u with the connection's
// application_name set, so that a test can find its backend.
func withAppName(t *testing.T, u, name string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set("application_name", name)
	q.Set("pool_max_conns", "4") // a pool setting, which the listening connection must ignore
	p.RawQuery = q.Encode()
	return p.String()
}

// terminate ends the server side of every connection named name, as a
// network failure or a database restart would.
func terminate(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, name).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listening connections (%v), want 1", n, err)
	}
}

// next returns the next invalidation received, failing after a deadline.
func next(t *testing.T, got <-chan custodian.AuthInvalidation) custodian.AuthInvalidation {
	t.Helper()
	select {
	case inv := <-got:
		return inv
	case <-time.After(10 * time.Second):
		t.Fatal("no invalidation within 10 s")
		return custodian.AuthInvalidation{}
	}
}

func TestAuthChannelCarriesInvalidationsAcrossAReconnection(t *testing.T) {
	base := testdb.PostgresSchemaURL(t)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	app := uniqueName(t, "custodian_listen_")
	ch, err := postgres.NewAuthChannel(withAppName(t, base, app), db, postgres.AuthChannelOptions{
		Channel: uniqueName(t, "custodian_auth_"), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		// Silent for 5 ms is enough to be checked with a ping: the checks
		// must neither lose notifications nor break the connection.
		PingInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan custodian.AuthInvalidation, 16)
	done := make(chan error, 1)
	go func() { done <- ch.Listen(ctx, func(inv custodian.AuthInvalidation) { got <- inv }) }()

	if inv := next(t, got); !inv.All() {
		t.Fatalf("listening began with %+v, want everything dropped", inv)
	}
	for _, inv := range []custodian.AuthInvalidation{{UserID: "usr_a"}, {}, {Keyring: true}, {UserID: "usr_b"}} {
		if err := ch.Publish(ctx, inv); err != nil {
			t.Fatal(err)
		}
		if r := next(t, got); r != inv {
			t.Fatalf("received %+v, want %+v", r, inv)
		}
	}

	// The connection is lost: everything is dropped at once, and again
	// when listening resumes, since what was published in between is lost.
	terminate(t, db, app)
	for _, when := range []string{"the connection was lost", "listening resumed"} {
		if inv := next(t, got); !inv.All() {
			t.Fatalf("after %s: %+v, want everything dropped", when, inv)
		}
	}
	if err := ch.Publish(ctx, custodian.AuthInvalidation{UserID: "usr_c"}); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r.UserID != "usr_c" {
		t.Fatalf("after reconnecting: %+v", r)
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Listen returned %v after its context ended", err)
	}
}

func TestAuthChannelKeepsTryingWhileTheDatabaseIsUnreachable(t *testing.T) {
	const unreachable = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	db, err := sql.Open("pgx", unreachable)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logs := &syncbuf.Buffer{}
	ch, err := postgres.NewAuthChannel(unreachable, db, postgres.AuthChannelOptions{
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ch.Listen(ctx, func(inv custodian.AuthInvalidation) { t.Errorf("invalidation %+v without a connection", inv) })
	}()
	for deadline := time.Now().Add(10 * time.Second); strings.Count(logs.String(), "cannot listen") < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 attempts within 10 s:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := ch.Publish(ctx, custodian.AuthInvalidation{UserID: "usr_a"}); err == nil {
		t.Fatal("publishing to an unreachable database succeeded")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Listen returned %v", err)
	}
	if _, err := postgres.NewAuthChannel("postgres://%zz", db, postgres.AuthChannelOptions{}); err == nil {
		t.Fatal("a malformed URL was accepted")
	}
}
