package accounts_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/internal/softkey"
	"github.com/custodian-crm/custodian/internal/testdb"
	otptotp "github.com/pquerna/otp/totp"
)

const rpOrigin = "https://crm.example.com"

// passkeyEnv returns an env whose service is the relying party
// crm.example.com.
func passkeyEnv(t *testing.T, store custodian.AccountRepository) *env {
	t.Helper()
	return envWith(t, store, func(c *accounts.Config) {
		c.Passkeys = accounts.PasskeyConfig{RPID: "crm.example.com", Origins: []string{rpOrigin}}
	})
}

// userSession creates a user with the role, signs in with the password
// and returns the user and the session's principal.
func (e *env) userSession(t *testing.T, email string, role custodian.Role) (*custodian.User, *custodian.Principal) {
	t.Helper()
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, email, "Pat Example", role, pw)
	if err != nil {
		t.Fatal(err)
	}
	return u, e.principal(t, e.mustSignIn(t, email))
}

func (e *env) mustSignIn(t *testing.T, email string) string {
	t.Helper()
	tok, err := e.signIn(email, pw, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) principal(t *testing.T, tok string) *custodian.Principal {
	t.Helper()
	p, err := e.svc.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// register adds a passkey made by a software authenticator at origin to
// p's account.
func (e *env) register(t *testing.T, p *custodian.Principal, name, origin string) (*softkey.Key, *custodian.Passkey, []string, error) {
	t.Helper()
	ctx := context.Background()
	c, err := e.svc.BeginPasskeyRegistration(ctx, p, pw)
	if err != nil {
		t.Fatal(err)
	}
	key, answer, err := softkey.Register(publicKey(t, c), origin)
	if err != nil {
		t.Fatal(err)
	}
	k, codes, err := e.svc.FinishPasskeyRegistration(ctx, p, c.Token, name, answer)
	return key, k, codes, err
}

// publicKey returns the options of a ceremony for the browser's
// navigator.credentials call, as the page's script passes them.
func publicKey(t *testing.T, c *custodian.PasskeyCeremony) []byte {
	t.Helper()
	if len(c.Options) == 0 || c.Token == "" {
		t.Fatalf("ceremony = %+v", c)
	}
	return c.Options
}

// passkeySignIn signs in with key, username-less.
func (e *env) passkeySignIn(t *testing.T, key *softkey.Key) (string, error) {
	t.Helper()
	ctx := context.Background()
	c, err := e.svc.BeginPasskeySignIn(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := key.Assert(publicKey(t, c))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.svc.SignInWithPasskey(ctx, custodian.PasskeySignInRequest{Ceremony: c.Token, Credential: answer})
	return tok, err
}

// TestPasskeyLifecycle registers a passkey, signs in with it without an
// email address, refuses a replayed ceremony and a clone whose signature
// counter lags, uses the passkey as a password's second factor, and
// renames and removes it, on both backends, with the audit trail of each
// step.
func TestPasskeyLifecycle(t *testing.T) {
	backends := map[string]func(t *testing.T) custodian.AccountRepository{
		"SQLite":     func(t *testing.T) custodian.AccountRepository { s, _ := testdb.SQLite(t); return s },
		"PostgreSQL": func(t *testing.T) custodian.AccountRepository { return testdb.Postgres(t) },
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			e := passkeyEnv(t, open(t))
			ctx := context.Background()
			u, p := e.userSession(t, "pat@example.com", custodian.RoleAgent)
			tr := &trail{t: t, repo: e.repo}
			tr.since()

			key, k, codes, err := e.register(t, p, "  Laptop ", rpOrigin)
			if err != nil {
				t.Fatal(err)
			}
			if k.Name != "Laptop" || k.UserID != u.ID || len(codes) != 10 || !slices.Equal(k.Transports, []string{"internal"}) {
				t.Fatalf("registered %+v with %d recovery codes", k, len(codes))
			}
			ev := tr.next(custodian.ActionPasskeyRegister, u.ID, "anonymous", "passkeys")
			if d := data(t, ev); d["passkey"] != k.ID || d["recovery_codes"] != true {
				t.Fatalf("passkey.registered data = %v", d)
			}

			// Username-less sign-in, recorded with its method.
			tok, err := e.passkeySignIn(t, key)
			if err != nil {
				t.Fatal(err)
			}
			if p := e.principal(t, tok); p.User.ID != u.ID {
				t.Fatalf("signed in as %s", p.User.ID)
			}
			ev = tr.next(custodian.ActionSignIn, u.ID, u.ID)
			if d := data(t, ev); d["method"] != "passkey" || d["passkey"] != k.ID {
				t.Fatalf("auth.signin data = %v", d)
			}
			list, err := e.svc.ListPasskeys(ctx, u.ID)
			if err != nil || len(list) != 1 || list[0].LastUsedAt.IsZero() || list[0].SignCount != key.Counter {
				t.Fatalf("after sign-in: %+v, %v", list, err)
			}

			// A ceremony answers once.
			c, _ := e.svc.BeginPasskeySignIn(ctx, false)
			answer, _ := key.Assert(c.Options)
			if _, _, err := e.svc.SignInWithPasskey(ctx, custodian.PasskeySignInRequest{Ceremony: c.Token, Credential: answer}); err != nil {
				t.Fatal(err)
			}
			tr.since()
			if _, _, err := e.svc.SignInWithPasskey(ctx, custodian.PasskeySignInRequest{Ceremony: c.Token, Credential: answer}); custodian.ErrorCode(err) != custodian.EINVALID {
				t.Fatalf("replayed ceremony: %v", err)
			}

			// A copy of the credential taken now is refused once the
			// original has signed in again: its counter lags.
			clone := key.Clone()
			if _, err := e.passkeySignIn(t, key); err != nil {
				t.Fatal(err)
			}
			tr.since()
			_, err = e.passkeySignIn(t, clone)
			if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
				t.Fatalf("clone with a stale counter signed in: %v", err)
			}
			ev = tr.next(custodian.ActionSignInFailed, u.ID, "anonymous")
			if d := data(t, ev); d["reason"] != "cloned_passkey" || d["method"] != "passkey" {
				t.Fatalf("clone's failure data = %v", d)
			}
			if se, ok := errors.AsType[*custodian.SignInError](err); !ok || se.Account != u.ID {
				t.Fatalf("clone's refusal %T %v does not name the account for the attack detector", err, err)
			}
			// The clone did not move the counter: the original still
			// signs in.
			if _, err := e.passkeySignIn(t, key); err != nil {
				t.Fatalf("original after the clone: %v", err)
			}

			// The password now asks for a second factor: the passkey, or
			// a recovery code.
			if _, err := e.signIn("pat@example.com", pw, ""); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED || len(custodian.ErrorFields(err)) != 1 || custodian.ErrorFields(err)[0].Field != "otp" {
				t.Fatalf("password alone: %v", err)
			}
			tr.since()
			c, _ = e.svc.BeginPasskeySignIn(ctx, true)
			answer, _ = key.Assert(c.Options)
			_, _, err = e.svc.SignIn(ctx, custodian.SignInRequest{Email: "pat@example.com", Password: pw, PasskeyCeremony: c.Token, PasskeyCredential: answer})
			if err != nil {
				t.Fatal(err)
			}
			if d := data(t, tr.next(custodian.ActionSignIn, u.ID, u.ID)); d["method"] != "password+passkey" {
				t.Fatalf("second factor method = %v", d)
			}
			if _, err := e.signIn("pat@example.com", pw, codes[0]); err != nil {
				t.Fatalf("recovery code: %v", err)
			}

			// Another account's passkey is no second factor.
			_, other := e.userSession(t, "sam@example.com", custodian.RoleAgent)
			otherKey, _, _, err := e.register(t, other, "Phone", rpOrigin)
			if err != nil {
				t.Fatal(err)
			}
			c, _ = e.svc.BeginPasskeySignIn(ctx, true)
			answer, _ = otherKey.Assert(c.Options)
			if _, _, err := e.svc.SignIn(ctx, custodian.SignInRequest{Email: "pat@example.com", Password: pw, PasskeyCeremony: c.Token, PasskeyCredential: answer}); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
				t.Fatalf("another account's passkey as second factor: %v", err)
			}

			// Rename and remove, by the owner only.
			tr.since()
			if _, err := e.svc.RenamePasskey(ctx, other, k.ID, "Mine"); custodian.ErrorCode(err) != custodian.ENOTFOUND {
				t.Fatalf("rename by another user: %v", err)
			}
			if err := e.svc.RemovePasskey(ctx, other, k.ID); custodian.ErrorCode(err) != custodian.ENOTFOUND {
				t.Fatalf("remove by another user: %v", err)
			}
			if _, err := e.svc.RenamePasskey(ctx, p, k.ID, "<b>"); custodian.ErrorCode(err) != custodian.EINVALID {
				t.Fatalf("rename to markup: %v", err)
			}
			tr.none("refused renames and removals")
			if got, err := e.svc.RenamePasskey(ctx, p, k.ID, "Work laptop"); err != nil || got.Name != "Work laptop" {
				t.Fatalf("rename = %+v, %v", got, err)
			}
			tr.next(custodian.ActionPasskeyRename, u.ID, "anonymous", "name")
			if err := e.svc.RemovePasskey(ctx, p, k.ID); err != nil {
				t.Fatal(err)
			}
			tr.next(custodian.ActionPasskeyRemove, u.ID, "anonymous", "passkeys")
			if _, err := e.passkeySignIn(t, key); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
				t.Fatalf("removed passkey signed in: %v", err)
			}
		})
	}
}

// TestPasskeyRegistrationIsBoundToTheSite refuses a passkey made for
// another origin (a phishing site relaying the ceremony), a registration
// without the current password or with an access token, and an answer to
// another user's ceremony.
func TestPasskeyRegistrationIsBoundToTheSite(t *testing.T) {
	store, _ := testdb.SQLite(t)
	e := passkeyEnv(t, store)
	ctx := context.Background()
	_, p := e.userSession(t, "pat@example.com", custodian.RoleAgent)
	if _, _, _, err := e.register(t, p, "Phished", "https://crm.example.com.evil.test"); custodian.ErrorCode(err) != custodian.EINVALID {
		t.Fatalf("passkey for another origin: %v", err)
	}
	_, other := e.userSession(t, "sam@example.com", custodian.RoleAgent)
	if _, err := e.svc.BeginPasskeyRegistration(ctx, p, "not the password at all"); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("registration with a wrong password: %v", err)
	}
	tok, _, err := e.svc.CreateAPIToken(ctx, p.User.ID, "script", 0)
	if err != nil {
		t.Fatal(err)
	}
	bearer, err := e.svc.AuthenticateToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BeginPasskeyRegistration(ctx, bearer, pw); custodian.ErrorCode(err) != custodian.EFORBIDDEN {
		t.Fatalf("registration with an access token: %v", err)
	}
	c, err := e.svc.BeginPasskeyRegistration(ctx, p, pw)
	if err != nil {
		t.Fatal(err)
	}
	_, answer, _ := softkey.Register(c.Options, rpOrigin)
	if _, _, err := e.svc.FinishPasskeyRegistration(ctx, bearer, c.Token, "Laptop", answer); custodian.ErrorCode(err) != custodian.EFORBIDDEN {
		t.Fatalf("finishing with an access token: %v", err)
	}
	if _, _, err := e.svc.FinishPasskeyRegistration(ctx, other, c.Token, "Laptop", answer); custodian.ErrorCode(err) != custodian.EINVALID {
		t.Fatalf("another user's ceremony: %v", err)
	}
	if list, _ := e.svc.ListPasskeys(ctx, other.User.ID); len(list) != 0 {
		t.Fatalf("stored %+v", list)
	}
}

// TestPasskeysRequiredForRole confines users of a role that requires
// passkeys to their account until they register one or sign in with one.
func TestPasskeysRequiredForRole(t *testing.T) {
	store, _ := testdb.SQLite(t)
	e := passkeyEnv(t, store)
	ctx := context.Background()
	if err := e.svc.SetRequiredPasskeyRoles(ctx, []custodian.Role{custodian.RoleManager}); err != nil {
		t.Fatal(err)
	}
	if roles, err := e.svc.RequiredPasskeyRoles(ctx); err != nil || !slices.Equal(roles, []custodian.Role{custodian.RoleManager}) {
		t.Fatalf("RequiredPasskeyRoles = %v, %v", roles, err)
	}
	if err := e.svc.SetRequiredPasskeyRoles(ctx, []custodian.Role{"owner"}); custodian.ErrorCode(err) != custodian.EINVALID || custodian.ErrorFields(err)[0].Field != "require_passkey_roles" {
		t.Fatalf("unknown role: %v", err)
	}
	_, agent := e.userSession(t, "agent@example.com", custodian.RoleAgent)
	if agent.MustUsePasskey {
		t.Fatal("an agent must not need a passkey")
	}
	u, p := e.userSession(t, "mgr@example.com", custodian.RoleManager)
	if !p.MustUsePasskey {
		t.Fatal("a manager signed in with a password is not confined")
	}
	tok, _, err := e.svc.CreateAPIToken(ctx, u.ID, "script", 0)
	if err != nil {
		t.Fatal(err)
	}
	if tp, err := e.svc.AuthenticateToken(ctx, tok); err != nil || !tp.MustUsePasskey {
		t.Fatalf("token of a manager without a passkey: %+v, %v", tp, err)
	}
	// Registering the first passkey lifts this session's confinement.
	key, _, codes, err := e.register(t, p, "Laptop", rpOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if p2 := e.principal(t, mustToken(t, e, "mgr@example.com", codes[0])); !p2.MustUsePasskey {
		t.Fatal("a password and recovery code session is not confined")
	} else {
		// ... and cannot add a passkey of its own, or remove one.
		if _, err := e.svc.BeginPasskeyRegistration(ctx, p2, pw); custodian.ErrorCode(err) != custodian.EFORBIDDEN {
			t.Fatalf("confined session adds a passkey: %v", err)
		}
		list, _ := e.svc.ListPasskeys(ctx, u.ID)
		if err := e.svc.RemovePasskey(ctx, p2, list[0].ID); custodian.ErrorCode(err) != custodian.EFORBIDDEN {
			t.Fatalf("confined session removes a passkey: %v", err)
		}
	}
	if tp, err := e.svc.AuthenticateToken(ctx, tok); err != nil || tp.MustUsePasskey {
		t.Fatalf("token of a manager with a passkey: %+v, %v", tp, err)
	}
	ptok, err := e.passkeySignIn(t, key)
	if err != nil {
		t.Fatal(err)
	}
	pp := e.principal(t, ptok)
	if pp.MustUsePasskey {
		t.Fatal("a passkey session is confined")
	}
	list, _ := e.svc.ListPasskeys(ctx, u.ID)
	if err := e.svc.RemovePasskey(ctx, pp, list[0].ID); custodian.ErrorCode(err) != custodian.EFORBIDDEN {
		t.Fatalf("removing the last passkey of a manager: %v", err)
	}
	// An administrator's reset removes them all and ends the sessions.
	if err := e.svc.ResetPasskeys(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, ptok); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("session after the reset: %v", err)
	}
	if _, err := e.passkeySignIn(t, key); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("passkey after the reset: %v", err)
	}
}

func mustToken(t *testing.T, e *env, email, otp string) string {
	t.Helper()
	tok, err := e.signIn(email, pw, otp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestPasskeysNeedARelyingParty: without a public address passkeys are
// off, and the public address decides the relying party.
func TestPasskeysNeedARelyingParty(t *testing.T) {
	store, _ := testdb.SQLite(t)
	e := newEnv(t)
	_ = store
	ctx := context.Background()
	if e.svc.PasskeysEnabled() {
		t.Fatal("passkeys on without a relying party")
	}
	if _, err := e.svc.BeginPasskeySignIn(ctx, false); custodian.ErrorCode(err) != custodian.EUNAVAILABLE {
		t.Fatalf("BeginPasskeySignIn = %v", err)
	}
	tests := []struct {
		url     string
		hosts   []string
		rpid    string
		origins []string
		bad     bool
	}{
		{"", nil, "", nil, false},
		{"", []string{".example.com"}, "", nil, false},
		{"", []string{".example.com", "crm.example.com"}, "crm.example.com", []string{"https://crm.example.com"}, false},
		{"https://crm.example.com:8443", []string{"other.example"}, "crm.example.com", []string{"https://crm.example.com:8443"}, false},
		{"https://crm.example.com/", nil, "crm.example.com", []string{"https://crm.example.com"}, false},
		{"http://localhost:8080", nil, "localhost", []string{"http://localhost:8080"}, false},
		{"http://crm.example.com", nil, "", nil, true},
		{"https://crm.example.com/app", nil, "", nil, true},
		{"crm.example.com", nil, "", nil, true},
	}
	for _, tt := range tests {
		c, err := accounts.PasskeyConfigFor(tt.url, tt.hosts)
		if (err != nil) != tt.bad || c.RPID != tt.rpid || !slices.Equal(c.Origins, tt.origins) {
			t.Errorf("PasskeyConfigFor(%q, %v) = %+v, %v", tt.url, tt.hosts, c, err)
		}
	}
}

// TestRecoveryCodesStandInForPasskeys: turning two-factor authentication
// off keeps the recovery codes of an account that has a passkey, and
// removing the last passkey of an account without two-factor
// authentication drops them.
func TestRecoveryCodesStandInForPasskeys(t *testing.T) {
	store, _ := testdb.SQLite(t)
	e := passkeyEnv(t, store)
	ctx := context.Background()
	u, p := e.userSession(t, "pat@example.com", custodian.RoleAgent)
	enrol, err := e.svc.BeginTOTP(ctx, p, pw)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := otptotp.GenerateCode(enrol.Secret, e.clock.Now())
	codes, err := e.svc.EnableTOTP(ctx, p, code)
	if err != nil {
		t.Fatal(err)
	}
	_, k, more, err := e.register(t, p, "Laptop", rpOrigin)
	if err != nil || more != nil {
		t.Fatalf("a passkey with TOTP on: %v, codes %v", err, more)
	}
	if err := e.svc.ResetTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.signIn("pat@example.com", pw, codes[0]); err != nil {
		t.Fatalf("recovery code after TOTP was reset, with a passkey left: %v", err)
	}
	p = e.principal(t, mustToken(t, e, "pat@example.com", codes[1]))
	if err := e.svc.RemovePasskey(ctx, p, k.ID); err != nil {
		t.Fatal(err)
	}
	if left, err := e.repo.RecoveryCodes(ctx, u.ID); err != nil || len(left) != 0 {
		t.Fatalf("recovery codes without a second factor: %d, %v", len(left), err)
	}
}

// BenchmarkPasskeySignIn measures a whole username-less sign-in on
// SQLite: the challenge (a ceremony stored), the authenticator's
// signature (software, P-256), and the verification that takes the
// ceremony, checks the signature, moves the counter and starts a session
// with its audit event. No password is hashed.
func BenchmarkPasskeySignIn(b *testing.B) {
	store, _ := testdb.SQLite(b)
	e := envWith(b, store, func(c *accounts.Config) {
		c.Passkeys = accounts.PasskeyConfig{RPID: "crm.example.com", Origins: []string{rpOrigin}}
	})
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, "pat@example.com", "Pat", custodian.RoleAgent, pw); err != nil {
		b.Fatal(err)
	}
	tok, _, err := e.svc.SignIn(ctx, custodian.SignInRequest{Email: "pat@example.com", Password: pw})
	if err != nil {
		b.Fatal(err)
	}
	p, err := e.svc.Authenticate(ctx, tok)
	if err != nil {
		b.Fatal(err)
	}
	c, err := e.svc.BeginPasskeyRegistration(ctx, p, pw)
	if err != nil {
		b.Fatal(err)
	}
	key, answer, err := softkey.Register(c.Options, rpOrigin)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.svc.FinishPasskeyRegistration(ctx, p, c.Token, "Laptop", answer); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c, err := e.svc.BeginPasskeySignIn(ctx, false)
		if err != nil {
			b.Fatal(err)
		}
		answer, err := key.Assert(c.Options)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := e.svc.SignInWithPasskey(ctx, custodian.PasskeySignInRequest{Ceremony: c.Token, Credential: answer}); err != nil {
			b.Fatal(err)
		}
	}
}
