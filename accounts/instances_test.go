package accounts_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlstore"
)

// instance is one server instance's account service, with a store (and
// pool) of its own on the shared PostgreSQL database, listening for the
// other instances' changes as serve does.
type instance struct {
	*env
	store    *sqlstore.Store
	listener string // the application_name of its listening connection
}

// randomName returns prefix and random hex.
func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// startInstance opens an instance on the database at dbURL, publishing
// and listening on channel, and returns once it listens. Its cache is
// trusted for an hour: within the test only an invalidation can make it
// read the database again.
func startInstance(t *testing.T, dbURL, channel string) *instance {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.Open(ctx, dbURL, sqlstore.Options{AuditChain: testdb.PlainChain()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	in := &instance{store: store, listener: randomName(t, "custodian_listen_")}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", in.listener)
	u.RawQuery = q.Encode()
	ch, err := postgres.NewAuthChannel(u.String(), store.DB(), postgres.AuthChannelOptions{Channel: channel, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	in.env = envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL, c.Publisher = time.Hour, ch })
	lctx, cancel := context.WithCancel(ctx)
	listening := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ch.Listen(lctx, func(inv custodian.AuthInvalidation) {
			in.svc.Forget(inv)
			if inv.All() {
				select {
				case listening <- struct{}{}:
				default:
				}
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("the instance did not start listening within 10 s")
	}
	return in
}

// eventually polls cond until it holds, failing the test after 5 s, and
// returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestChangesReachOtherInstances runs two instances on one PostgreSQL
// database: what one revokes or changes, the other, which had it cached,
// refuses or sees within moments; and when its listening connection is
// lost, it drops its whole cache, since changes may have been missed.
func TestChangesReachOtherInstances(t *testing.T) {
	ctx := context.Background()
	dbURL := testdb.PostgresSchemaURL(t)
	channel := randomName(t, "custodian_auth_")
	a, b := startInstance(t, dbURL, channel), startInstance(t, dbURL, channel)

	u, err := a.svc.CreateUser(ctx, "shared@example.com", "Shared", custodian.RoleAgent, pw)
	if err != nil {
		t.Fatal(err)
	}
	token := func() (string, string) {
		t.Helper()
		pat, tok, err := a.svc.CreateAPIToken(ctx, u.ID, "script", 0)
		if err != nil {
			t.Fatal(err)
		}
		b.accepted(t, "token on the other instance", pat, true)
		return pat, tok.ID
	}
	refusedBy := func(in *instance, pat string) func() bool {
		return func() bool {
			_, err := in.svc.AuthenticateToken(ctx, pat)
			return custodian.ErrorCode(err) == custodian.EUNAUTHORIZED
		}
	}

	pat, id := token()
	if err := a.svc.RevokeAPIToken(ctx, u.ID, id); err != nil {
		t.Fatal(err)
	}
	_, err = a.svc.AuthenticateToken(ctx, pat)
	refused(t, "the revoked token on the instance that revoked it", err)
	took := eventually(t, "the other instance refusing the revoked token", refusedBy(b, pat))
	t.Logf("a revocation reached the other instance in %v", took)

	session := a.session(t, u.ID)
	b.accepted(t, "session on the other instance", session, false)
	pat, _ = token()
	if _, err := a.svc.SetRole(ctx, u.ID, custodian.RoleViewer); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other instance ending the session after a role change", func() bool {
		_, err := b.svc.Authenticate(ctx, session)
		return custodian.ErrorCode(err) == custodian.EUNAUTHORIZED
	})
	eventually(t, "the other instance seeing the new role", func() bool {
		p, err := b.svc.AuthenticateToken(ctx, pat)
		return err == nil && p.User.Role == custodian.RoleViewer
	})

	if err := a.svc.SetRequiredTOTPRoles(ctx, []custodian.Role{custodian.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other instance requiring two-factor enrolment", func() bool {
		p, err := b.svc.AuthenticateToken(ctx, pat)
		return err == nil && p.MustEnrollTOTP
	})

	// A change nobody announces (made in the database directly) stays
	// unseen while the cache is trusted...
	pat, id = token()
	if err := a.store.RevokeAPIToken(ctx, u.ID, id, a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	b.accepted(t, "a token revoked without an announcement", pat, true)
	// ...until the listening connection is lost, which drops everything.
	admin, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, b.listener).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listening connections (%v), want 1", n, err)
	}
	eventually(t, "the other instance dropping its cache after losing its connection", refusedBy(b, pat))
}
