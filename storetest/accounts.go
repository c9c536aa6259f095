package storetest

import (
	"bytes"
	"context"
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
		{"OneTimeTokensAreSingleUseAndAtomic", testOneTimeTokens},
		{"PasswordResetIsAtomic", testPasswordReset},
		{"SessionsEndOneOrAllButOne", testSessions},
		{"APITokensAreRevokedByTheirOwner", testAPITokens},
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
