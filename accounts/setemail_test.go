package accounts_test

import (
	"context"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testdb"
)

// TestSetEmail: the operator's address change, on SQLite and PostgreSQL,
// moves the sign-in address, ends the user's sessions, revokes the link of
// a pending change (which would move the address again) and records one
// user.email event under the operator's actor, naming no address. A taken,
// invalid or unchanged address changes nothing and records nothing.
func TestSetEmail(t *testing.T) {
	backends := map[string]func(t *testing.T) custodian.AccountRepository{
		"SQLite":     func(t *testing.T) custodian.AccountRepository { s, _ := testdb.SQLite(t); return s },
		"PostgreSQL": func(t *testing.T) custodian.AccountRepository { return testdb.Postgres(t) },
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			e := mailingEnv(t, open(t))
			ctx := context.Background()
			cli := custodian.WithActor(ctx, custodian.ActorCLI)
			u, err := e.svc.CreateUser(cli, "ann@example.com", "Ann Example", custodian.RoleAgent, pw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.CreateUser(cli, "bob@example.com", "Bob Example", custodian.RoleAgent, pw); err != nil {
				t.Fatal(err)
			}
			tok, _, err := e.svc.SignIn(ctx, custodian.SignInRequest{Email: "ann@example.com", Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.svc.Authenticate(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.RequestEmailChange(custodian.WithPrincipal(ctx, p), p, pw, "ann.pending@example.com"); err != nil {
				t.Fatal(err)
			}
			link := mailedToken(t, e.box, "ann.pending@example.com")
			tr := &trail{t: t, repo: e.repo}
			tr.since()

			for _, c := range []struct{ email, code string }{
				{"bob@example.com", custodian.ECONFLICT},
				{"BOB@example.com ", custodian.ECONFLICT},
				{"not an address", custodian.EINVALID},
				{"Ann@Example.com", custodian.EINVALID},
			} {
				if _, err := e.svc.SetEmail(cli, u.ID, c.email); custodian.ErrorCode(err) != c.code || len(custodian.ErrorFields(err)) != 1 {
					t.Fatalf("SetEmail(%q) = %v, want %s with a field error", c.email, err, c.code)
				}
			}
			tr.none("refused changes")
			if _, err := e.svc.Authenticate(ctx, tok); err != nil {
				t.Fatalf("a refused change ended the session: %v", err)
			}

			changed, err := e.svc.SetEmail(cli, u.ID, "Ann.New@Example.com")
			if err != nil || changed.Email != "ann.new@example.com" {
				t.Fatalf("SetEmail = %+v, %v", changed, err)
			}
			ev := tr.next(custodian.ActionEmailChange, u.ID, custodian.ActorCLI, "email")
			if d := data(t, ev); d["via"] != "operator" || d["revoked_link"] != true || strings.Contains(string(ev.Data), "@") {
				t.Fatalf("user.email data = %s", ev.Data)
			}
			if _, err := e.svc.Authenticate(ctx, tok); err == nil {
				t.Fatal("the user's session outlived the change")
			}
			if _, err := e.svc.ConfirmEmailChange(ctx, nil, link); err == nil {
				t.Fatal("the pending change's link still works")
			}
			if got, err := e.svc.UserByEmail(ctx, "ann.new@example.com"); err != nil || got.ID != u.ID {
				t.Fatalf("by the new address: %+v, %v", got, err)
			}
			if _, err := e.svc.UserByEmail(ctx, "ann@example.com"); custodian.ErrorCode(err) != custodian.ENOTFOUND {
				t.Fatalf("by the old address: %v", err)
			}
		})
	}
}
