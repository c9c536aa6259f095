package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/internal/testdb"
	otptotp "github.com/pquerna/otp/totp"
)

// trail reads the events appended since the last call.
type trail struct {
	t    *testing.T
	repo custodian.AccountRepository
	seen int64
}

// next returns the one event appended since the last call, failing the
// test unless there is exactly one, with the action, subject, actor and
// changed fields given.
func (tr *trail) next(action, subject, actor string, fields ...string) custodian.AuditEvent {
	tr.t.Helper()
	evs := tr.since()
	if len(evs) != 1 {
		tr.t.Fatalf("want one %s event, got %d: %+v", action, len(evs), evs)
	}
	e := evs[0]
	if e.Action != action || e.Subject != subject || e.Actor != actor || !slices.Equal(e.Fields, fields) {
		tr.t.Fatalf("event = %s subject %q actor %q fields %v; want %s subject %q actor %q fields %v",
			e.Action, e.Subject, e.Actor, e.Fields, action, subject, actor, fields)
	}
	return e
}

// none fails the test if any event was appended since the last call.
func (tr *trail) none(why string) {
	tr.t.Helper()
	if evs := tr.since(); len(evs) != 0 {
		tr.t.Fatalf("%s: recorded %+v", why, evs)
	}
}

func (tr *trail) since() []custodian.AuditEvent {
	tr.t.Helper()
	evs, err := tr.repo.AuditEvents(context.Background(), custodian.AuditQuery{})
	if err != nil {
		tr.t.Fatal(err)
	}
	var out []custodian.AuditEvent
	for _, e := range slices.Backward(evs) {
		if e.Seq > tr.seen {
			out = append(out, e)
			tr.seen = e.Seq
		}
	}
	return out
}

func data(t *testing.T, e custodian.AuditEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &m); err != nil {
			t.Fatalf("data of %s: %v", e.Action, err)
		}
	}
	return m
}

// TestEveryAccountChangeIsAudited performs each account action on SQLite
// and PostgreSQL and checks that each records exactly its event, with the
// actor, the origin and the changed fields, and no personal value.
func TestEveryAccountChangeIsAudited(t *testing.T) {
	backends := map[string]func(t *testing.T) custodian.AccountRepository{
		"SQLite":     func(t *testing.T) custodian.AccountRepository { s, _ := testdb.SQLite(t); return s },
		"PostgreSQL": func(t *testing.T) custodian.AccountRepository { return testdb.Postgres(t) },
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			e := mailingEnv(t, open(t))
			tr := &trail{t: t, repo: e.repo}
			origin := custodian.Origin{ClientAddr: "203.0.113.5", RequestID: "req-1"}
			admin := custodian.WithOrigin(custodian.WithActor(context.Background(), "usr_admin"), origin)
			anon := custodian.WithOrigin(context.Background(), origin)

			u, err := e.svc.CreateUser(admin, "ann@example.com", "Ann Example", custodian.RoleAgent, pw)
			if err != nil {
				t.Fatal(err)
			}
			ev := tr.next(custodian.ActionUserCreate, u.ID, "usr_admin", "email", "name", "role", "password")
			if ev.ClientAddr != origin.ClientAddr || ev.RequestID != origin.RequestID || data(t, ev)["role"] != "agent" {
				t.Fatalf("user.create = %+v", ev)
			}

			// Failed sign-ins: the counter and the event together.
			_, _, err = e.svc.SignIn(anon, custodian.SignInRequest{Email: "ann@example.com", Password: "wrong password entirely"})
			var se *custodian.SignInError
			if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED || !errors.As(err, &se) || se.Account != u.ID {
				t.Fatalf("wrong password: %v", err)
			}
			ev = tr.next(custodian.ActionSignInFailed, u.ID, custodian.Anonymous)
			if data(t, ev)["reason"] != "bad_password" || ev.ClientAddr != origin.ClientAddr {
				t.Fatalf("signin_failed = %+v", ev)
			}
			if acct, src := accounts.Failures(e.svc, u.ID, "", ""); acct != 1 || src != 1 {
				t.Fatalf("failed sign-ins = %d, from the source %d", acct, src)
			}
			// An address without an account: no subject, no address, a
			// keyed token that is the same on every attempt.
			_, _, err = e.svc.SignIn(anon, custodian.SignInRequest{Email: "Nobody@Example.com", Password: "wrong password entirely"})
			if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED || !errors.As(err, &se) || !strings.HasPrefix(se.Account, "unknown:") {
				t.Fatalf("unknown email: %v", err)
			}
			ev = tr.next(custodian.ActionSignInFailed, "", custodian.Anonymous)
			d := data(t, ev)
			if d["reason"] != "unknown_account" || d["account"] != se.Account {
				t.Fatalf("unknown-account event data = %v", d)
			}
			first := se.Account
			_, _, err = e.svc.SignIn(anon, custodian.SignInRequest{Email: "nobody@example.com", Password: "another wrong password"})
			if !errors.As(err, &se) || se.Account != first {
				t.Fatalf("the unknown address's token changed: %s then %v", first, err)
			}
			if raw, _ := json.Marshal(tr.since()); strings.Contains(strings.ToLower(string(raw)), "nobody") {
				t.Fatalf("the attempted address is in the trail: %s", raw)
			}

			e.clock.Advance(time.Minute) // past the delay after a failure
			tok, _, err := e.svc.SignIn(anon, custodian.SignInRequest{Email: "ann@example.com", Password: pw, ClientAddr: origin.ClientAddr})
			if err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionSignIn, u.ID, u.ID)
			if data(t, ev)["method"] != "password" {
				t.Fatalf("signin data = %s", ev.Data)
			}
			if r, _ := e.repo.UserByID(context.Background(), u.ID); r.FailedSignins != 0 {
				t.Fatalf("failed sign-ins after success = %d", r.FailedSignins)
			}
			p, err := e.svc.Authenticate(anon, tok)
			if err != nil {
				t.Fatal(err)
			}
			self := custodian.WithPrincipal(anon, p)
			tr.none("authenticating a session")

			if err := e.svc.Unlock(admin, u.ID); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionUserUnlock, u.ID, "usr_admin")

			if _, err := e.svc.SetRole(admin, u.ID, custodian.RoleManager); err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionUserRole, u.ID, "usr_admin", "role")
			if d := data(t, ev); d["from"] != "agent" || d["to"] != "manager" {
				t.Fatalf("role data = %v", d)
			}
			if _, err := e.svc.SetActive(admin, u.ID, false); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionUserDeactivate, u.ID, "usr_admin", "active")
			if _, err := e.svc.SetActive(admin, u.ID, true); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionUserActivate, u.ID, "usr_admin", "active")

			_, at, err := e.svc.CreateAPIToken(self, u.ID, "laptop", 0)
			if err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionTokenIssue, u.ID, u.ID, "name")
			if data(t, ev)["token_id"] != at.ID {
				t.Fatalf("token.issue data = %s", ev.Data)
			}
			if err := e.svc.RevokeAPIToken(self, u.ID, at.ID); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionTokenRevoke, u.ID, u.ID)

			// Own account changes. Sign in again: the role change ended
			// the session.
			tok, _, err = e.svc.SignIn(anon, custodian.SignInRequest{Email: "ann@example.com", Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionSignIn, u.ID, u.ID)
			p, _ = e.svc.Authenticate(anon, tok)
			self = custodian.WithPrincipal(anon, p)
			const pw2 = "another long passphrase for ann"
			if err := e.svc.ChangePassword(self, p, pw, pw2, true); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionPasswordChange, u.ID, u.ID, "password")
			if _, err := e.svc.RequestEmailChange(self, p, pw2, "ann.new@example.com"); err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionEmailRequest, u.ID, u.ID)
			if strings.Contains(string(ev.Data), "ann") {
				t.Fatalf("the address is in the event: %s", ev.Data)
			}
			if _, err := e.svc.ConfirmEmailChange(self, p, mailedToken(t, e.box, "ann.new@example.com")); err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionEmailChange, u.ID, u.ID, "email")
			if strings.Contains(string(ev.Data), "ann") {
				t.Fatalf("the address is in the event: %s", ev.Data)
			}

			enrol, err := e.svc.BeginTOTP(self, p, pw2)
			if err != nil {
				t.Fatal(err)
			}
			tr.none("starting enrolment")
			e.clock.Advance(30 * time.Second)
			code, _ := otptotp.GenerateCode(enrol.Secret, e.clock.Now())
			if _, err := e.svc.EnableTOTP(self, p, code); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionTOTPEnable, u.ID, u.ID, "totp")
			e.clock.Advance(30 * time.Second)
			code, _ = otptotp.GenerateCode(enrol.Secret, e.clock.Now())
			if err := e.svc.DisableTOTP(self, p, pw2, code); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionTOTPDisable, u.ID, u.ID, "totp")
			if err := e.svc.ResetTOTP(admin, u.ID); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionTOTPReset, u.ID, "usr_admin", "totp")

			if err := e.svc.SignOut(self, tok); err != nil {
				t.Fatal(err)
			}
			tr.none("signing out of a session the 2FA reset ended")

			// Links.
			reset, _, err := e.svc.ResetLink(admin, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionUserResetLink, u.ID, "usr_admin")
			if err := e.svc.CompleteReset(anon, reset, "a third passphrase for ann here"); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionPasswordReset, u.ID, custodian.Anonymous, "password")
			inv, _, err := e.svc.Invite(admin, "bob@example.com", custodian.RoleViewer)
			if err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionUserInvite, "", "usr_admin", "email", "role")
			if strings.Contains(string(ev.Data), "bob") {
				t.Fatalf("the invitee's address is in the event: %s", ev.Data)
			}
			bob, err := e.svc.Register(anon, inv, "Bob Example", pw)
			if err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionUserCreate, bob.ID, bob.ID, "email", "name", "role", "password")
			if d := data(t, ev); d["via"] != "invite" || d["role"] != "viewer" {
				t.Fatalf("register data = %v", d)
			}

			tok, _, err = e.svc.SignIn(anon, custodian.SignInRequest{Email: "bob@example.com", Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionSignIn, bob.ID, bob.ID)
			if err := e.svc.SignOut(anon, tok); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionSignOut, bob.ID, custodian.Anonymous)

			if err := e.svc.SetRequiredTOTPRoles(admin, []custodian.Role{custodian.RoleAdmin}); err != nil {
				t.Fatal(err)
			}
			ev = tr.next(custodian.ActionSettingChange, accounts.SettingRequireTOTP, "usr_admin", accounts.SettingRequireTOTP)
			if data(t, ev)["value"] != "admin" {
				t.Fatalf("setting data = %s", ev.Data)
			}

			// A change that fails records nothing.
			if _, err := e.svc.SetRole(admin, "usr_missing", custodian.RoleAdmin); custodian.ErrorCode(err) != custodian.ENOTFOUND {
				t.Fatalf("role of a missing user: %v", err)
			}
			if err := e.svc.RevokeAPIToken(admin, bob.ID, "tok_missing"); custodian.ErrorCode(err) != custodian.ENOTFOUND {
				t.Fatalf("revoking a missing token: %v", err)
			}
			tr.none("failed changes")
		})
	}
}

// TestLockedSignInIsAudited checks that attempts refused by the lockout
// are recorded too, and answer ETOOMANY.
func TestLockedSignInIsAudited(t *testing.T) {
	e := newEnv(t)
	tr := &trail{t: t, repo: e.repo}
	ctx := context.Background()
	u, _ := e.svc.CreateUser(ctx, "lock@example.com", "Lock", custodian.RoleAgent, pw)
	tr.since()
	for range 5 {
		e.signIn("lock@example.com", "wrong password entirely", "")
	}
	if n := len(tr.since()); n != 5 {
		t.Fatalf("%d events for 5 failures", n)
	}
	_, err := e.signIn("lock@example.com", pw, "")
	if custodian.ErrorCode(err) != custodian.ETOOMANY {
		t.Fatalf("locked account: %v", err)
	}
	ev := tr.next(custodian.ActionSignInFailed, u.ID, custodian.Anonymous)
	if data(t, ev)["reason"] != "locked" {
		t.Fatalf("reason = %s", ev.Data)
	}
}
