package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// RunAccounts runs the account repository contract against repositories
// made by open.
func RunAccounts(t *testing.T, open func(t *testing.T) custodian.AccountRepository) {
	runTests(t, func(t *testing.T) *accountsEnv { return newAccountsEnv(open(t)) }, []contractTest[*accountsEnv]{
		{"UsersAreUniqueByEmail", testUsersAreUniqueByEmail},
		{"UpdateUserIsAllOrNothing", testUpdateUser},
		{"UserLocalePreferencesAreStored", testUserLocale},
		{"OneTimeTokensAreSingleUseAndAtomic", testOneTimeTokens},
		{"PasswordResetIsAtomic", testPasswordReset},
		{"EmailTokensRedeemedOnceAndReplaced", testEmailTokens},
		{"InvitationsListedWithStateAndRevocable", testInvitations},
		{"SessionsEndOneOrAllButOne", testSessions},
		{"SessionsAreListedPerUser", testListSessions},
		{"APITokensAreRevokedByTheirOwner", testAPITokens},
		{"SignInFailuresPerAccountAndSource", testSignInFailures},
	})
}

// accountsEnv is one account contract case: the repository under test
// and the time the case's records are made at.
type accountsEnv struct {
	repo custodian.AccountRepository
	ctx  context.Context
	now  time.Time
}

// newAccountsEnv returns the environment of an account contract case over
// repo.
func newAccountsEnv(repo custodian.AccountRepository) *accountsEnv {
	return &accountsEnv{repo: repo, ctx: context.Background(), now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

// user returns an active agent with email, made now, not yet stored.
func (e *accountsEnv) user(email string) *custodian.UserRecord {
	return &custodian.UserRecord{User: custodian.User{ID: custodian.NewUserID(), Email: email, Name: "N", Role: custodian.RoleAgent, Active: true, CreatedAt: e.now, UpdatedAt: e.now, Version: 1}, PasswordHash: "$argon2id$x"}
}

// addUser stores an active agent with email and returns it.
func (e *accountsEnv) addUser(t *testing.T, email string) *custodian.UserRecord {
	t.Helper()
	u := e.user(email)
	if err := e.repo.CreateUser(e.ctx, u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func testUsersAreUniqueByEmail(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	u := e.addUser(t, "a@example.com")
	wantCode(t, r.CreateUser(ctx, e.user("a@example.com")), custodian.ECONFLICT)
	got, err := r.UserByEmail(ctx, "a@example.com")
	if err != nil || got.ID != u.ID || !got.Active || got.Role != custodian.RoleAgent || !got.CreatedAt.Equal(e.now) {
		t.Fatalf("UserByEmail = %+v, %v", got, err)
	}
	if n, _ := r.CountUsers(ctx); n != 1 {
		t.Fatalf("CountUsers = %d", n)
	}
	_, err = r.UserByEmail(ctx, "nobody@example.com")
	wantCode(t, err, custodian.ENOTFOUND)
}

func testUpdateUser(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	u := e.addUser(t, "a@example.com")
	err := r.UpdateUser(ctx, u.ID, func(x *custodian.UserRecord) error {
		x.FailedSignins, x.LastFailedAt, x.Role = 3, now, custodian.RoleViewer
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.UserByID(ctx, u.ID)
	if got.FailedSignins != 3 || !got.LastFailedAt.Equal(now) || got.Role != custodian.RoleViewer {
		t.Fatalf("after update %+v", got)
	}
	// An error inside the update changes nothing.
	r.UpdateUser(ctx, u.ID, func(x *custodian.UserRecord) error {
		x.Role = custodian.RoleAdmin
		return custodian.Errorf(custodian.EINVALID, "no")
	})
	if got, _ := r.UserByID(ctx, u.ID); got.Role != custodian.RoleViewer {
		t.Fatal("a failed update was stored")
	}
}

// testUserLocale checks a user's language and time zone: empty on a new
// user, stored by an update, read back by id, by email, in the list and
// with a session, and cleared again.
func testUserLocale(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	u := e.user("a@example.com")
	u.Language = "fr"
	if err := r.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.UserByID(ctx, u.ID); got.Language != "fr" || got.TimeZone != "" {
		t.Fatalf("created with language fr: got %q, %q", got.Language, got.TimeZone)
	}
	err := r.UpdateUser(ctx, u.ID, func(x *custodian.UserRecord) error {
		x.Language, x.TimeZone = "de", "Europe/Berlin"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.UserByEmail(ctx, "a@example.com"); got.Language != "de" || got.TimeZone != "Europe/Berlin" {
		t.Fatalf("UserByEmail after update: %q, %q", got.Language, got.TimeZone)
	}
	list, err := r.ListUsers(ctx)
	if err != nil || len(list) != 1 || list[0].Language != "de" || list[0].TimeZone != "Europe/Berlin" {
		t.Fatalf("ListUsers = %+v, %v", list, err)
	}
	hash := bytes.Repeat([]byte{7}, 32)
	if err := r.CreateSession(ctx, custodian.Session{TokenHash: hash, UserID: u.ID, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: e.now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, su, err := r.SessionByHash(ctx, hash)
	if err != nil || su.Language != "de" || su.TimeZone != "Europe/Berlin" {
		t.Fatalf("session user = %+v, %v", su, err)
	}
	// A failed update keeps the stored preferences.
	r.UpdateUser(ctx, u.ID, func(x *custodian.UserRecord) error {
		x.Language = "fr"
		return custodian.Errorf(custodian.EINVALID, "no")
	})
	err = r.UpdateUser(ctx, u.ID, func(x *custodian.UserRecord) error {
		if x.Language != "de" {
			t.Errorf("a failed update was stored: %q", x.Language)
		}
		x.Language, x.TimeZone = "", ""
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.UserByID(ctx, u.ID); got.Language != "" || got.TimeZone != "" {
		t.Fatalf("cleared: got %q, %q", got.Language, got.TimeZone)
	}
}

func testOneTimeTokens(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	hash := bytes.Repeat([]byte{1}, 32)
	tok := custodian.OneTimeToken{Hash: hash, Purpose: custodian.PurposeInvite, Email: "b@example.com", Role: custodian.RoleViewer, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := r.CreateOneTimeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PeekToken(ctx, hash, custodian.PurposeSetup, now); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatal("a token answered for another purpose")
	}
	if _, err := r.PeekToken(ctx, hash, custodian.PurposeInvite, now.Add(2*time.Hour)); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatal("an expired token answered")
	}
	e.addUser(t, "taken@example.com")
	// Redeeming for a user that cannot be stored leaves the token unused.
	wantCode(t, r.RedeemForUser(ctx, hash, custodian.PurposeInvite, now, e.user("taken@example.com")), custodian.ECONFLICT)
	if _, err := r.PeekToken(ctx, hash, custodian.PurposeInvite, now); err != nil {
		t.Fatalf("failed redemption consumed the token: %v", err)
	}
	if err := r.RedeemForUser(ctx, hash, custodian.PurposeInvite, now, e.user("b@example.com")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.RedeemForUser(ctx, hash, custodian.PurposeInvite, now, e.user("c@example.com")), custodian.ENOTFOUND)
	if _, err := r.UserByEmail(ctx, "c@example.com"); err == nil {
		t.Fatal("a used token created a user")
	}
}

func testInvitations(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	mk := func(b byte, email string, ttl time.Duration) []byte {
		t.Helper()
		h := bytes.Repeat([]byte{b}, 32)
		if err := r.CreateOneTimeToken(ctx, custodian.OneTimeToken{Hash: h, Purpose: custodian.PurposeInvite, Email: email, Role: custodian.RoleAgent,
			CreatedAt: now.Add(time.Duration(b) * time.Second), ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	pending, expired, accepted, revoked := mk(0x11, "p@example.com", time.Hour), mk(0x12, "e@example.com", time.Second), mk(0x13, "a@example.com", time.Hour), mk(0x14, "r@example.com", time.Hour)
	// A reset token is no invitation.
	if err := r.CreateOneTimeToken(ctx, custodian.OneTimeToken{Hash: bytes.Repeat([]byte{0x15}, 32), Purpose: custodian.PurposeReset, UserID: "usr_x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	if err := r.RedeemForUser(ctx, accepted, custodian.PurposeInvite, later, e.user("a@example.com")); err != nil {
		t.Fatal(err)
	}
	inv, err := r.RevokeInvitation(ctx, custodian.InvitationID(revoked), later)
	if err != nil || inv.State != custodian.InvitationRevoked || inv.Email != "r@example.com" {
		t.Fatalf("revoke: %+v %v", inv, err)
	}
	wantCode(t, func() error { _, err := r.RevokeInvitation(ctx, custodian.InvitationID(revoked), later); return err }(), custodian.ENOTFOUND)
	wantCode(t, func() error { _, err := r.RevokeInvitation(ctx, custodian.InvitationID(accepted), later); return err }(), custodian.ENOTFOUND)
	wantCode(t, func() error { _, err := r.RevokeInvitation(ctx, custodian.InvitationID(expired), later); return err }(), custodian.ENOTFOUND)
	if _, err := r.PeekToken(ctx, revoked, custodian.PurposeInvite, later); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatal("a revoked invitation answered")
	}
	wantCode(t, r.RedeemForUser(ctx, revoked, custodian.PurposeInvite, later, e.user("r@example.com")), custodian.ENOTFOUND)
	list, err := r.ListInvitations(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{custodian.InvitationID(revoked): custodian.InvitationRevoked, custodian.InvitationID(accepted): custodian.InvitationAccepted,
		custodian.InvitationID(expired): custodian.InvitationExpired, custodian.InvitationID(pending): custodian.InvitationPending}
	if len(list) != 4 || list[0].ID != custodian.InvitationID(revoked) {
		t.Fatalf("invitations (newest first): %+v", list)
	}
	for _, inv := range list {
		if want[inv.ID] != inv.State {
			t.Fatalf("invitation %s is %s, want %s", inv.Email, inv.State, want[inv.ID])
		}
	}
}

func testPasswordReset(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	u := e.user("reset@example.com")
	u.FailedSignins, u.LastFailedAt = 4, now
	r.CreateUser(ctx, u)
	r.CreateSession(ctx, custodian.Session{TokenHash: bytes.Repeat([]byte{9}, 32), UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	good, orphan := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{8}, 32)
	r.CreateOneTimeToken(ctx, custodian.OneTimeToken{Hash: good, Purpose: custodian.PurposeReset, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	r.CreateOneTimeToken(ctx, custodian.OneTimeToken{Hash: orphan, Purpose: custodian.PurposeReset, UserID: custodian.NewUserID(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	// A token whose user is gone fails and stays unused: nothing half-done.
	wantCode(t, r.ResetPassword(ctx, orphan, now, "$argon2id$new"), custodian.ENOTFOUND)
	if _, err := r.PeekToken(ctx, orphan, custodian.PurposeReset, now); err != nil {
		t.Fatalf("a failed reset consumed its token: %v", err)
	}
	if err := r.ResetPassword(ctx, good, now, "$argon2id$new"); err != nil {
		t.Fatal(err)
	}
	got, _ := r.UserByID(ctx, u.ID)
	if got.PasswordHash != "$argon2id$new" || got.FailedSignins != 0 || !got.LastFailedAt.IsZero() || got.Version != u.Version+1 {
		t.Fatalf("after reset %+v", got)
	}
	if _, _, err := r.SessionByHash(ctx, bytes.Repeat([]byte{9}, 32)); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatal("a reset kept a session")
	}
	wantCode(t, r.ResetPassword(ctx, good, now, "$argon2id$again"), custodian.ENOTFOUND)
}

func testSessions(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	u := e.addUser(t, "s@example.com")
	h1, h2 := bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	for _, h := range [][]byte{h1, h2} {
		if err := r.CreateSession(ctx, custodian.Session{TokenHash: h, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), ClientAddr: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	se, su, err := r.SessionByHash(ctx, h1)
	if err != nil || su.ID != u.ID || !se.ExpiresAt.Equal(now.Add(time.Hour)) || se.ClientAddr != "192.0.2.1" {
		t.Fatalf("SessionByHash = %+v %v", se, err)
	}
	r.TouchSession(ctx, h1, now.Add(time.Minute))
	if se, _, _ := r.SessionByHash(ctx, h1); !se.LastSeenAt.Equal(now.Add(time.Minute)) {
		t.Fatal("TouchSession did not record")
	}
	if err := r.DeleteUserSessions(ctx, u.ID, h1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.SessionByHash(ctx, h2); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatal("DeleteUserSessions kept another session")
	}
	if _, _, err := r.SessionByHash(ctx, h1); err != nil {
		t.Fatal("DeleteUserSessions ended the session it had to keep")
	}
	r.DeleteSession(ctx, h1)
	if _, _, err := r.SessionByHash(ctx, h1); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatal("DeleteSession kept the session")
	}
}

func testListSessions(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	a, b := e.addUser(t, "one@example.com"), e.addUser(t, "two@example.com")
	for i, se := range []custodian.Session{
		{TokenHash: bytes.Repeat([]byte{0x21}, 32), UserID: a.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), ClientAddr: "192.0.2.1", UserAgent: "Old"},
		{TokenHash: bytes.Repeat([]byte{0x22}, 32), UserID: a.ID, CreatedAt: now.Add(time.Minute), LastSeenAt: now.Add(2 * time.Minute), ExpiresAt: now.Add(time.Hour), ClientAddr: "192.0.2.2", UserAgent: "New", Passkey: true},
		{TokenHash: bytes.Repeat([]byte{0x23}, 32), UserID: b.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := r.CreateSession(ctx, se); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	list, err := r.ListSessions(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].UserAgent != "New" || list[0].ClientAddr != "192.0.2.2" || !list[0].Passkey || list[1].UserAgent != "Old" ||
		!list[0].LastSeenAt.Equal(now.Add(2*time.Minute)) || !bytes.Equal(list[1].TokenHash, bytes.Repeat([]byte{0x21}, 32)) {
		t.Fatalf("sessions of one user (newest first): %+v", list)
	}
	if list, err := r.ListSessions(ctx, "usr_nobody"); err != nil || len(list) != 0 {
		t.Fatalf("sessions of nobody: %+v %v", list, err)
	}
}

func testAPITokens(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	u := e.addUser(t, "s@example.com")
	th := bytes.Repeat([]byte{4}, 32)
	if err := r.CreateAPIToken(ctx, custodian.APIToken{ID: "tok_1", Name: "ci", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}, th); err != nil {
		t.Fatal(err)
	}
	tok, tu, err := r.APITokenByHash(ctx, th)
	if err != nil || tu.ID != u.ID || tok.Name != "ci" || !tok.RevokedAt.IsZero() {
		t.Fatalf("APITokenByHash = %+v %v", tok, err)
	}
	wantCode(t, r.RevokeAPIToken(ctx, u.ID, "tok_nope", now), custodian.ENOTFOUND)
	other := e.addUser(t, "o@example.com")
	wantCode(t, r.RevokeAPIToken(ctx, other.ID, "tok_1", now), custodian.ENOTFOUND) // not theirs
	if err := r.RevokeAPIToken(ctx, u.ID, "tok_1", now); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := r.APITokenByHash(ctx, th); !tok.RevokedAt.Equal(now) {
		t.Fatal("token not revoked")
	}
	if list, _ := r.ListAPITokens(ctx, u.ID); len(list) != 1 || list[0].ID != "tok_1" {
		t.Fatalf("ListAPITokens = %+v", list)
	}
}

// testSignInFailures checks the sign-in failure counts: per account and
// per account and source, recorded together, a source's count reset when
// it has aged out (the account's never), a reset after a success clearing
// the account's and that source's counts only, an unlock clearing all, and
// a failure that rolls back with its transaction leaving nothing.
func testSignInFailures(t *testing.T, e *accountsEnv) {
	acct, other := []byte("account-1"), []byte("account-2")
	a, b := []byte("source-a"), []byte("source-b")
	ctx := e.ctx
	at := func(i int) time.Time { return e.now.Add(time.Duration(i) * time.Minute) }
	never := func(custodian.FailureCount) bool { return false }
	for i := range 3 {
		if _, _, err := e.repo.RecordSignInFailure(ctx, acct, a, at(i), never); err != nil {
			t.Fatal(err)
		}
	}
	ac, sc, err := e.repo.RecordSignInFailure(ctx, acct, b, at(3), never)
	if err != nil || ac.Failures != 4 || sc.Failures != 1 || !ac.LastFailedAt.Equal(at(3)) {
		t.Fatalf("after 4 failures: %+v %+v %v", ac, sc, err)
	}
	ac, sc, err = e.repo.SignInFailures(ctx, acct, a)
	if err != nil || ac.Failures != 4 || sc.Failures != 3 || !sc.LastFailedAt.Equal(at(2)) {
		t.Fatalf("counts: %+v %+v %v", ac, sc, err)
	}
	if ac, sc, _ := e.repo.SignInFailures(ctx, other, a); ac.Failures != 0 || sc.Failures != 0 {
		t.Fatalf("another account has counts: %+v %+v", ac, sc)
	}
	// An aged-out source count starts again; the account's goes on.
	ac, sc, err = e.repo.RecordSignInFailure(ctx, acct, a, at(10), func(c custodian.FailureCount) bool { return c.Failures == 3 })
	if err != nil || ac.Failures != 5 || sc.Failures != 1 {
		t.Fatalf("aged out: %+v %+v %v", ac, sc, err)
	}
	// A success from b resets the account's count and b's, not a's.
	if err := e.repo.ResetSignInFailures(ctx, acct, b); err != nil {
		t.Fatal(err)
	}
	if ac, sc, _ := e.repo.SignInFailures(ctx, acct, a); ac.Failures != 0 || sc.Failures != 1 {
		t.Fatalf("after a success from b, a: %+v %+v", ac, sc)
	}
	if _, sc, _ := e.repo.SignInFailures(ctx, acct, b); sc.Failures != 0 {
		t.Fatalf("after a success from b, b: %+v", sc)
	}
	// Inside an audited write that fails, nothing is counted.
	boom := errors.New("boom")
	err = e.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if _, _, err := e.repo.RecordSignInFailure(ctx, other, a, at(11), never); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Audited = %v", err)
	}
	if ac, _, _ := e.repo.SignInFailures(ctx, other, a); ac.Failures != 0 {
		t.Fatalf("a rolled-back failure was counted: %+v", ac)
	}
	// An unlock clears every count of the account.
	if err := e.repo.ClearSignInFailures(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if ac, sc, _ := e.repo.SignInFailures(ctx, acct, a); ac.Failures != 0 || sc.Failures != 0 {
		t.Fatalf("after unlock: %+v %+v", ac, sc)
	}
}

// testEmailTokens stores address confirmation tokens (the purpose
// migration 00058 allows), redeems one once and only before it expires,
// and revokes a user's pending ones, leaving others' and other purposes'.
func testEmailTokens(t *testing.T, e *accountsEnv) {
	r, ctx, now := e.repo, e.ctx, e.now
	u, other := e.addUser(t, "mover@example.com"), e.addUser(t, "other@example.com")
	mk := func(b byte, userID, purpose string, ttl time.Duration) []byte {
		t.Helper()
		h := bytes.Repeat([]byte{b}, 32)
		if err := r.CreateOneTimeToken(ctx, custodian.OneTimeToken{Hash: h, Purpose: purpose, Email: "new@example.com", UserID: userID, CreatedBy: userID, CreatedAt: now, ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatalf("CreateOneTimeToken(%s): %v", purpose, err)
		}
		return h
	}
	first := mk(0x21, u.ID, custodian.PurposeEmail, 30*time.Minute)
	expired := mk(0x22, u.ID, custodian.PurposeEmail, time.Minute)
	othersTok := mk(0x23, other.ID, custodian.PurposeEmail, 30*time.Minute)
	reset := mk(0x24, u.ID, custodian.PurposeReset, 30*time.Minute)

	later := now.Add(2 * time.Minute)
	n, err := r.RevokeUserTokens(ctx, u.ID, custodian.PurposeEmail, later)
	if err != nil || n != 1 {
		t.Fatalf("RevokeUserTokens = %d, %v; want the one pending", n, err)
	}
	for name, h := range map[string][]byte{"revoked": first, "expired": expired} {
		if _, err := r.RedeemToken(ctx, h, custodian.PurposeEmail, later); custodian.ErrorCode(err) != custodian.ENOTFOUND {
			t.Fatalf("the %s token redeemed: %v", name, err)
		}
	}
	if _, err := r.PeekToken(ctx, reset, custodian.PurposeReset, later); err != nil {
		t.Fatalf("revoking address links revoked a reset link: %v", err)
	}
	if _, err := r.RedeemToken(ctx, othersTok, custodian.PurposeReset, later); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("a token redeemed for another purpose: %v", err)
	}
	got, err := r.RedeemToken(ctx, othersTok, custodian.PurposeEmail, later)
	if err != nil || got.UserID != other.ID || got.Email != "new@example.com" || !got.ExpiresAt.Equal(now.Add(30*time.Minute)) {
		t.Fatalf("RedeemToken = %+v, %v", got, err)
	}
	if _, err := r.RedeemToken(ctx, othersTok, custodian.PurposeEmail, later); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("a token redeemed twice: %v", err)
	}
	if invs, err := r.ListInvitations(ctx, later); err != nil || len(invs) != 0 {
		t.Fatalf("address links listed as invitations: %+v %v", invs, err)
	}
}
