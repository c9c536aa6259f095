package accounts_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/token"
	otptotp "github.com/pquerna/otp/totp"
)

// refused fails the test unless err is the refusal of a credential.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("%s: %v, want it refused", what, err)
	}
}

// accepted returns the principal of a session (or, with bearer, of an
// access token), failing the test when it is refused.
func (e *env) accepted(t *testing.T, what, credential string, bearer bool) *custodian.Principal {
	t.Helper()
	var p *custodian.Principal
	var err error
	if bearer {
		p, err = e.svc.AuthenticateToken(context.Background(), credential)
	} else {
		p, err = e.svc.Authenticate(context.Background(), credential)
	}
	if err != nil {
		t.Fatalf("%s refused: %v", what, err)
	}
	return p
}

// authenticatedUser is a user whose credentials have all authenticated
// once, so that the cache holds them: two sessions and an access token.
type authenticatedUser struct {
	user         *custodian.User
	session      string
	p            *custodian.Principal // the principal of session
	other        string               // another session of the same user
	pat, patID   string
	patPrincipal *custodian.Principal
	recovery     []string // recovery codes, when enrolled
}

// authenticate creates a user of role and authenticates its sessions and
// token, which the cache then holds. With totp the user enrols first. The
// sessions are stored directly rather than signed in, sparing the
// password hashing a sign-in costs.
func authenticate(t *testing.T, e *env, email string, role custodian.Role, totp bool) *authenticatedUser {
	t.Helper()
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, email, "Cached User", role, pw)
	if err != nil {
		t.Fatal(err)
	}
	a := &authenticatedUser{user: u, session: e.session(t, u.ID), other: e.session(t, u.ID)}
	if totp {
		a.recovery = enrol(t, e, e.accepted(t, "session", a.session, false))
	}
	var tok *custodian.APIToken
	if a.pat, tok, err = e.svc.CreateAPIToken(ctx, u.ID, "script", 0); err != nil {
		t.Fatal(err)
	}
	a.patID = tok.ID
	a.p = e.accepted(t, "session", a.session, false)
	e.accepted(t, "other session", a.other, false)
	a.patPrincipal = e.accepted(t, "access token", a.pat, true)
	return a
}

// session stores a new session of the user, as a sign-in would, and
// returns its token.
func (e *env) session(t *testing.T, userID string) string {
	t.Helper()
	plain, hash, err := token.New(token.PrefixSession)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.repo.CreateSession(context.Background(), custodian.Session{TokenHash: hash, UserID: userID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return plain
}

// enrol turns two-factor authentication on for p's user and returns its
// recovery codes.
func enrol(t *testing.T, e *env, p *custodian.Principal) []string {
	t.Helper()
	ctx := context.Background()
	en, err := e.svc.BeginTOTP(ctx, p, pw)
	if err != nil {
		t.Fatal(err)
	}
	code, err := otptotp.GenerateCode(en.Secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.svc.EnableTOTP(ctx, p, code)
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

// TestChangesTakeEffectOnTheNextRequest makes every change that ends or
// alters a user's access while the user's sessions and token are cached,
// and authenticates again at once, in the same instant: the cache must
// never answer with what the change ended.
func TestChangesTakeEffectOnTheNextRequest(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		role   custodian.Role
		totp   bool
		change func(t *testing.T, e *env, a *authenticatedUser)
		check  func(t *testing.T, e *env, a *authenticatedUser)
	}{
		{"revoking an access token", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if err := e.svc.RevokeAPIToken(ctx, a.user.ID, a.patID); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.AuthenticateToken(ctx, a.pat)
				refused(t, "revoked token", err)
				e.accepted(t, "session", a.session, false)
			}},
		{"deactivating the user", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if _, err := e.svc.SetActive(ctx, a.user.ID, false); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.AuthenticateToken(ctx, a.pat)
				refused(t, "token of a deactivated user", err)
				_, err = e.svc.Authenticate(ctx, a.session)
				refused(t, "session of a deactivated user", err)
				_, err = e.svc.Authenticate(ctx, a.other)
				refused(t, "other session of a deactivated user", err)
			}},
		{"reactivating the user", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if _, err := e.svc.SetActive(ctx, a.user.ID, false); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.SetActive(ctx, a.user.ID, true); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				// What deactivation ended stays ended; a new sign-in works
				// at once.
				_, err := e.svc.AuthenticateToken(ctx, a.pat)
				refused(t, "token revoked by the deactivation", err)
				_, err = e.svc.Authenticate(ctx, a.session)
				refused(t, "session ended by the deactivation", err)
				tok, err := e.signIn(a.user.Email, pw, "")
				if err != nil {
					t.Fatal(err)
				}
				if p := e.accepted(t, "new session", tok, false); !p.User.Active {
					t.Fatal("reactivated user shown inactive")
				}
			}},
		{"changing the role", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if _, err := e.svc.SetRole(ctx, a.user.ID, custodian.RoleViewer); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.Authenticate(ctx, a.session)
				refused(t, "session after a role change", err)
				_, err = e.svc.Authenticate(ctx, a.other)
				refused(t, "other session after a role change", err)
				if p := e.accepted(t, "token", a.pat, true); p.User.Role != custodian.RoleViewer {
					t.Fatalf("token still acts as %s after the role change", p.User.Role)
				}
			}},
		{"an administrator resetting two-factor authentication", custodian.RoleManager, true,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if err := e.svc.SetRequiredTOTPRoles(ctx, []custodian.Role{custodian.RoleManager}); err != nil {
					t.Fatal(err)
				}
				if p := e.accepted(t, "token", a.pat, true); p.MustEnrollTOTP {
					t.Fatal("an enrolled user is asked to enrol")
				}
				if err := e.svc.ResetTOTP(ctx, a.user.ID); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.Authenticate(ctx, a.session)
				refused(t, "session after a 2FA reset", err)
				if p := e.accepted(t, "token", a.pat, true); p.User.TOTPEnabled || !p.MustEnrollTOTP {
					t.Fatalf("token after a 2FA reset: enabled %v, must enrol %v", p.User.TOTPEnabled, p.MustEnrollTOTP)
				}
			}},
		{"turning one's two-factor authentication off", custodian.RoleAgent, true,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if err := e.svc.DisableTOTP(ctx, a.p, pw, a.recovery[0]); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				if p := e.accepted(t, "session", a.session, false); p.User.TOTPEnabled {
					t.Fatal("session still shows two-factor authentication on")
				}
				if p := e.accepted(t, "token", a.pat, true); p.User.TOTPEnabled {
					t.Fatal("token still shows two-factor authentication on")
				}
			}},
		{"enrolling in a required two-factor authentication", custodian.RoleManager, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if err := e.svc.SetRequiredTOTPRoles(ctx, []custodian.Role{custodian.RoleManager}); err != nil {
					t.Fatal(err)
				}
				if p := e.accepted(t, "session", a.session, false); !p.MustEnrollTOTP {
					t.Fatal("the requirement is not in force")
				}
				enrol(t, e, a.p)
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				if p := e.accepted(t, "session", a.session, false); p.MustEnrollTOTP || !p.User.TOTPEnabled {
					t.Fatalf("after enrolling: must enrol %v, enabled %v", p.MustEnrollTOTP, p.User.TOTPEnabled)
				}
			}},
		{"changing the password and ending the other sessions", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if err := e.svc.ChangePassword(ctx, a.p, pw, "a different passphrase of several words", true); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.Authenticate(ctx, a.other)
				refused(t, "other session after a password change", err)
				e.accepted(t, "the session that changed the password", a.session, false)
				e.accepted(t, "token", a.pat, true)
			}},
		{"changing the email and ending the other sessions", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				changeEmail(t, e, a.p, "moved@example.com")
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.Authenticate(ctx, a.other)
				refused(t, "other session after an email change", err)
				if p := e.accepted(t, "token", a.pat, true); p.User.Email != "moved@example.com" {
					t.Fatalf("token still shows %s", p.User.Email)
				}
			}},
		{"signing out", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if err := e.svc.SignOut(ctx, a.other); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.Authenticate(ctx, a.other)
				refused(t, "signed-out session", err)
				e.accepted(t, "the other session", a.session, false)
			}},
		{"a password reset", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				link, _, err := e.svc.ResetLink(ctx, a.user.ID)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.svc.CompleteReset(ctx, link, "a different passphrase of several words"); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				_, err := e.svc.Authenticate(ctx, a.session)
				refused(t, "session after a password reset", err)
				_, err = e.svc.Authenticate(ctx, a.other)
				refused(t, "other session after a password reset", err)
			}},
		{"requiring two-factor authentication of the role", custodian.RoleAgent, false,
			func(t *testing.T, e *env, a *authenticatedUser) {
				if a.patPrincipal.MustEnrollTOTP {
					t.Fatal("required before the setting")
				}
				if err := e.svc.SetRequiredTOTPRoles(ctx, []custodian.Role{custodian.RoleAgent}); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, e *env, a *authenticatedUser) {
				if p := e.accepted(t, "token", a.pat, true); !p.MustEnrollTOTP {
					t.Fatal("the token is not confined to enrolment")
				}
				if p := e.accepted(t, "session", a.session, false); !p.MustEnrollTOTP {
					t.Fatal("the session is not confined to enrolment")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, _ := testdb.SQLite(t)
			box := &mailbox{}
			e := envWith(t, store, func(c *accounts.Config) {
				c.AuthCacheTTL = time.Hour
				c.Notifier, c.PublicURL = box, "https://crm.example.test/"
			})
			e.box = box
			a := authenticate(t, e, "cached@example.com", tt.role, tt.totp)
			tt.change(t, e, a)
			tt.check(t, e, a)
		})
	}
}

// TestCachedAuthenticationNeedsNoDatabase shows that a cached token is
// answered from memory, and that the cache's TTL bounds how long a change
// made behind its back (another process writing the database) goes
// unseen.
func TestCachedAuthenticationNeedsNoDatabase(t *testing.T) {
	ctx := context.Background()
	for _, ttl := range []time.Duration{10 * time.Second, -1} {
		store, _ := testdb.SQLite(t)
		e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL = ttl })
		a := authenticate(t, e, "a@example.com", custodian.RoleAgent, false)
		// Revoked in the database directly, as a command run against the
		// same file would: this service is not told.
		if err := store.RevokeAPIToken(ctx, a.user.ID, a.patID, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if ttl < 0 {
			_, err := e.svc.AuthenticateToken(ctx, a.pat)
			refused(t, "without a cache, a token revoked in the database", err)
			continue
		}
		e.clock.Advance(ttl - time.Millisecond)
		e.accepted(t, "cached token, within the TTL", a.pat, true)
		e.clock.Advance(time.Millisecond)
		_, err := e.svc.AuthenticateToken(ctx, a.pat)
		refused(t, "a token revoked in the database, once the TTL has passed", err)
	}
}

// TestCachedSessionsEndOnTime checks a session's idle and absolute limits,
// and a token's expiry, on every use of a cached entry: a cache trusted
// longer than those limits must still end them to the second.
func TestCachedSessionsEndOnTime(t *testing.T) {
	ctx := context.Background()
	t.Run("idle", func(t *testing.T) {
		store, _ := testdb.SQLite(t)
		e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL = 24 * time.Hour })
		a := authenticate(t, e, "a@example.com", custodian.RoleAgent, false)
		e.clock.Advance(30 * time.Minute)
		e.accepted(t, "session idle for exactly the limit", a.session, false)
		accounts.WaitTouches(e.svc)
		e.clock.Advance(30*time.Minute + time.Second)
		_, err := e.svc.Authenticate(ctx, a.session)
		refused(t, "session idle for longer than the limit", err)
		if _, _, err := store.SessionByHash(ctx, a.p.SessionHash); custodian.ErrorCode(err) != custodian.ENOTFOUND {
			t.Fatalf("the idle session was not ended in the database: %v", err)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		store, _ := testdb.SQLite(t)
		e := envWith(t, store, func(c *accounts.Config) {
			c.AuthCacheTTL, c.IdleTimeout, c.AbsoluteTimeout = 24*time.Hour, 24*time.Hour, 12*time.Hour
		})
		a := authenticate(t, e, "a@example.com", custodian.RoleAgent, false)
		e.clock.Advance(12 * time.Hour)
		e.accepted(t, "session at its absolute limit", a.session, false)
		accounts.WaitTouches(e.svc)
		e.clock.Advance(time.Second)
		_, err := e.svc.Authenticate(ctx, a.session)
		refused(t, "session past its absolute limit", err)
	})
	t.Run("token expiry", func(t *testing.T) {
		store, _ := testdb.SQLite(t)
		e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL = 24 * time.Hour })
		u, _ := e.svc.CreateUser(ctx, "b@example.com", "B", custodian.RoleAgent, pw)
		pat, _, err := e.svc.CreateAPIToken(ctx, u.ID, "short", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.accepted(t, "new token", pat, true)
		e.clock.Advance(time.Hour)
		e.accepted(t, "token at its expiry", pat, true)
		accounts.WaitTouches(e.svc)
		e.clock.Advance(time.Second)
		_, err = e.svc.AuthenticateToken(ctx, pat)
		refused(t, "expired token", err)
	})
}

// TestCachedUseIsRecordedOnceAMinute checks that the last-used time of a
// cached token is still written, in the background, at most once a minute.
func TestCachedUseIsRecordedOnceAMinute(t *testing.T) {
	ctx := context.Background()
	store, _ := testdb.SQLite(t)
	e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL = time.Hour })
	a := authenticate(t, e, "a@example.com", custodian.RoleAgent, false)
	lastUsed := func() time.Time {
		t.Helper()
		accounts.WaitTouches(e.svc)
		toks, err := e.svc.ListAPITokens(ctx, a.user.ID)
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens: %v %v", toks, err)
		}
		return toks[0].LastUsedAt
	}
	first := lastUsed()
	if !first.Equal(e.clock.Now()) {
		t.Fatalf("first use recorded as %v, want %v", first, e.clock.Now())
	}
	e.clock.Advance(50 * time.Second)
	e.accepted(t, "token", a.pat, true)
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("a use within the minute was written: %v", got)
	}
	e.clock.Advance(20 * time.Second)
	e.accepted(t, "token", a.pat, true)
	if got := lastUsed(); !got.Equal(e.clock.Now()) {
		t.Fatalf("a cached use after a minute recorded as %v, want %v", got, e.clock.Now())
	}
	// The session's last-seen time too, which the idle limit counts from.
	e.clock.Advance(2 * time.Minute)
	e.accepted(t, "session", a.session, false)
	accounts.WaitTouches(e.svc)
	se, _, err := store.SessionByHash(ctx, a.p.SessionHash)
	if err != nil || !se.LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("session last seen %v (%v), want %v", se, err, e.clock.Now())
	}
}

// TestCacheIsBounded shows that the least recently used entry leaves a
// full cache: it is read from the database again on its next use.
func TestCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	store, _ := testdb.SQLite(t)
	e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL, c.AuthCacheSize = time.Hour, 2 })
	u, _ := e.svc.CreateUser(ctx, "a@example.com", "A", custodian.RoleAgent, pw)
	var pats, ids []string
	for range 3 {
		pat, tok, err := e.svc.CreateAPIToken(ctx, u.ID, "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		e.accepted(t, "token", pat, true)
		pats, ids = append(pats, pat), append(ids, tok.ID)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if err := store.RevokeAPIToken(ctx, u.ID, id, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.AuthenticateToken(ctx, pats[0])
	refused(t, "the token pushed out of the cache, revoked in the database", err)
	e.accepted(t, "the newest token, still cached", pats[2], true)
}

// TestRevocationWinsOverAConcurrentRead revokes tokens while other
// requests keep reading them from the database into the cache: a read
// that began before the revocation committed must not be cached after
// the revocation returned, neither for the next request nor later.
func TestRevocationWinsOverAConcurrentRead(t *testing.T) {
	ctx := context.Background()
	store, _ := testdb.SQLite(t)
	e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL = time.Hour })
	u, _ := e.svc.CreateUser(ctx, "a@example.com", "A", custodian.RoleAgent, pw)
	for range 40 {
		pat, tok, err := e.svc.CreateAPIToken(ctx, u.ID, "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					// Each round reads the database again, as after
					// invalidations from other instances.
					e.svc.Forget(custodian.AuthInvalidation{})
					_, _ = e.svc.AuthenticateToken(ctx, pat)
				}
			})
		}
		if err := e.svc.RevokeAPIToken(ctx, u.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		_, next := e.svc.AuthenticateToken(ctx, pat)
		stop.Store(true)
		wg.Wait() // the reads under way have stored what they read
		_, later := e.svc.AuthenticateToken(ctx, pat)
		refused(t, "the request after the revocation", next)
		refused(t, "a request once the concurrent reads are done", later)
	}
}

// BenchmarkAuthenticateToken measures authenticating an access token on
// SQLite, answered from the cache and read from the database every time,
// from one goroutine and from as many as GOMAXPROCS.
func BenchmarkAuthenticateToken(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Hour}, {"uncached", -1}} {
		store, _ := testdb.SQLite(b)
		e := envWith(b, store, func(c *accounts.Config) { c.AuthCacheTTL, c.Now = bc.ttl, time.Now })
		ctx := context.Background()
		u, err := e.svc.CreateUser(ctx, "bench@example.com", "Bench", custodian.RoleAgent, pw)
		if err != nil {
			b.Fatal(err)
		}
		pat, _, err := e.svc.CreateAPIToken(ctx, u.ID, "bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.AuthenticateToken(ctx, pat); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.svc.AuthenticateToken(ctx, pat); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.svc.AuthenticateToken(ctx, pat); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestKeyringNoticeKeepsTheCache shows that the notice that the keyring
// changed, which travels on the same channel as account changes, drops
// nothing from the authentication cache, while a notice about every user
// drops everything: a rotation must not send every instance's requests
// to the database at once.
func TestKeyringNoticeKeepsTheCache(t *testing.T) {
	ctx := context.Background()
	store, _ := testdb.SQLite(t)
	e := envWith(t, store, func(c *accounts.Config) { c.AuthCacheTTL = time.Hour })
	a := authenticate(t, e, "a@example.com", custodian.RoleAgent, false)
	// Revoked behind the cache's back: only a dropped entry shows it.
	if err := store.RevokeAPIToken(ctx, a.user.ID, a.patID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	keyring := custodian.AuthInvalidation{Keyring: true}
	if keyring.All() {
		t.Fatal("a keyring notice concerns every user")
	}
	e.svc.Forget(keyring)
	e.accepted(t, "a cached token after a keyring notice", a.pat, true)
	e.svc.Forget(custodian.AuthInvalidation{})
	_, err := e.svc.AuthenticateToken(ctx, a.pat)
	refused(t, "a token revoked in the database, after a notice about every user", err)
}
