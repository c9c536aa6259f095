package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// RunPasskeys runs the passkey repository contract against repositories
// made by open.
func RunPasskeys(t *testing.T, open func(t *testing.T) custodian.AccountRepository) {
	runTests(t, func(t *testing.T) *accountsEnv { return newAccountsEnv(open(t)) }, []contractTest[*accountsEnv]{
		{"PasskeysRoundTripAndAreUniqueByCredential", testPasskeysRoundTrip},
		{"PasskeyUseIsCompareAndSetOnTheCounter", testPasskeyUse},
		{"PasskeysAreRenamedAndRemovedByTheirOwner", testPasskeyOwner},
		{"CeremoniesAnswerOnceAndExpire", testCeremonies},
		{"SessionsRememberAPasskey", testSessionPasskey},
	})
}

// passkey returns a passkey of u with the credential id, made now, not yet
// stored.
func (e *accountsEnv) passkey(u *custodian.UserRecord, credID string) *custodian.Passkey {
	return &custodian.Passkey{ID: custodian.NewPasskeyID(), UserID: u.ID, Name: "Laptop", CredentialID: []byte(credID),
		PublicKey: []byte{0xa5, 1, 2, 3}, SignCount: 7, AAGUID: "01020304-0506-0708-090a-0b0c0d0e0f10",
		Transports: []string{"internal", "hybrid"}, AttestationType: "none", AttestationFormat: "none",
		UserVerified: true, BackupEligible: true, BackedUp: true, CreatedAt: e.now}
}

func testPasskeysRoundTrip(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	u := e.addUser(t, "a@example.com")
	k := e.passkey(u, "cred-1")
	if err := r.CreatePasskey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := r.PasskeyByCredentialID(ctx, []byte("cred-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.UserID != u.ID || got.Name != "Laptop" || !bytes.Equal(got.PublicKey, k.PublicKey) || got.SignCount != 7 ||
		got.AAGUID != k.AAGUID || !slices.Equal(got.Transports, k.Transports) || got.AttestationType != "none" || got.AttestationFormat != "none" ||
		!got.UserVerified || !got.BackupEligible || !got.BackedUp || !got.CreatedAt.Equal(e.now) || !got.LastUsedAt.IsZero() {
		t.Fatalf("PasskeyByCredentialID = %+v", got)
	}
	// The same credential cannot be registered twice, even to another user.
	other := e.addUser(t, "b@example.com")
	wantCode(t, r.CreatePasskey(ctx, e.passkey(other, "cred-1")), custodian.ECONFLICT)
	// A passkey of a user that does not exist is refused.
	ghost := e.user("ghost@example.com")
	wantCode(t, r.CreatePasskey(ctx, e.passkey(ghost, "cred-2")), custodian.ENOTFOUND)
	_, err = r.PasskeyByCredentialID(ctx, []byte("cred-2"))
	wantCode(t, err, custodian.ENOTFOUND)

	later := e.passkey(u, "cred-3")
	later.CreatedAt, later.Transports = e.now.Add(time.Minute), nil
	if err := r.CreatePasskey(ctx, later); err != nil {
		t.Fatal(err)
	}
	list, err := r.ListPasskeys(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].ID != k.ID || list[1].ID != later.ID || len(list[1].Transports) != 0 {
		t.Fatalf("ListPasskeys = %+v, %v", list, err)
	}
	if list, err := r.ListPasskeys(ctx, other.ID); err != nil || len(list) != 0 {
		t.Fatalf("ListPasskeys(other) = %+v, %v", list, err)
	}
}

func testPasskeyUse(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	u := e.addUser(t, "a@example.com")
	k := e.passkey(u, "cred-1")
	if err := r.CreatePasskey(ctx, k); err != nil {
		t.Fatal(err)
	}
	at := e.now.Add(time.Hour)
	if err := r.RecordPasskeyUse(ctx, k.ID, 7, 9, false, at); err != nil {
		t.Fatal(err)
	}
	// A second answer that read the counter before the first was stored
	// (a clone racing the original) is refused and changes nothing.
	wantCode(t, r.RecordPasskeyUse(ctx, k.ID, 7, 8, true, at.Add(time.Minute)), custodian.ECONFLICT)
	got, err := r.PasskeyByCredentialID(ctx, k.CredentialID)
	if err != nil || got.SignCount != 9 || got.BackedUp || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after use: %+v, %v", got, err)
	}
	wantCode(t, r.RecordPasskeyUse(ctx, custodian.NewPasskeyID(), 0, 1, false, at), custodian.ENOTFOUND)
}

func testPasskeyOwner(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	u, other := e.addUser(t, "a@example.com"), e.addUser(t, "b@example.com")
	k, k2 := e.passkey(u, "cred-1"), e.passkey(u, "cred-2")
	for _, p := range []*custodian.Passkey{k, k2} {
		if err := r.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, r.RenamePasskey(ctx, other.ID, k.ID, "Mine now"), custodian.ENOTFOUND)
	wantCode(t, r.DeletePasskey(ctx, other.ID, k.ID), custodian.ENOTFOUND)
	if err := r.RenamePasskey(ctx, u.ID, k.ID, "Phone"); err != nil {
		t.Fatal(err)
	}
	if err := r.DeletePasskey(ctx, u.ID, k2.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, r.DeletePasskey(ctx, u.ID, k2.ID), custodian.ENOTFOUND)
	list, err := r.ListPasskeys(ctx, u.ID)
	if err != nil || len(list) != 1 || list[0].Name != "Phone" {
		t.Fatalf("ListPasskeys = %+v, %v", list, err)
	}
	// All of them at once (an administrator's reset).
	if err := r.DeletePasskey(ctx, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	if list, err := r.ListPasskeys(ctx, u.ID); err != nil || len(list) != 0 {
		t.Fatalf("after removing all: %+v, %v", list, err)
	}
}

func testCeremonies(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	c := custodian.Ceremony{Hash: []byte("hash-1"), Purpose: custodian.CeremonyRegister, UserID: "usr_x", Data: []byte(`{"challenge":"c"}`),
		CreatedAt: e.now, ExpiresAt: e.now.Add(5 * time.Minute)}
	if err := r.CreateCeremony(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Another purpose does not find it, nor consume it.
	_, err := r.TakeCeremony(ctx, c.Hash, custodian.CeremonySignIn, e.now)
	wantCode(t, err, custodian.ENOTFOUND)
	got, err := r.TakeCeremony(ctx, c.Hash, custodian.CeremonyRegister, e.now.Add(time.Minute))
	if err != nil || got.UserID != "usr_x" || string(got.Data) != string(c.Data) || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("TakeCeremony = %+v, %v", got, err)
	}
	_, err = r.TakeCeremony(ctx, c.Hash, custodian.CeremonyRegister, e.now.Add(time.Minute))
	wantCode(t, err, custodian.ENOTFOUND)

	// An expired ceremony does not answer.
	old := c
	old.Hash, old.Purpose, old.UserID = []byte("hash-2"), custodian.CeremonySignIn, ""
	if err := r.CreateCeremony(ctx, old); err != nil {
		t.Fatal(err)
	}
	_, err = r.TakeCeremony(ctx, old.Hash, custodian.CeremonySignIn, c.ExpiresAt)
	wantCode(t, err, custodian.ENOTFOUND)

	// Creating one drops those expired by then.
	stale := c
	stale.Hash = []byte("hash-3")
	if err := r.CreateCeremony(ctx, stale); err != nil {
		t.Fatal(err)
	}
	fresh := c
	fresh.Hash, fresh.CreatedAt, fresh.ExpiresAt = []byte("hash-4"), c.ExpiresAt, c.ExpiresAt.Add(5*time.Minute)
	if err := r.CreateCeremony(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	_, err = r.TakeCeremony(ctx, stale.Hash, custodian.CeremonyRegister, e.now)
	wantCode(t, err, custodian.ENOTFOUND)
}

func testSessionPasskey(t *testing.T, e *accountsEnv) {
	r, ctx := e.repo, e.ctx
	u := e.addUser(t, "a@example.com")
	for _, se := range []custodian.Session{
		{TokenHash: []byte("s-password"), UserID: u.ID, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: e.now.Add(time.Hour)},
		{TokenHash: []byte("s-passkey"), UserID: u.ID, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: e.now.Add(time.Hour), Passkey: true},
	} {
		if err := r.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	for hash, want := range map[string]bool{"s-password": false, "s-passkey": true} {
		se, _, err := r.SessionByHash(ctx, []byte(hash))
		if err != nil || se.Passkey != want {
			t.Fatalf("SessionByHash(%s) = %+v, %v; want Passkey %v", hash, se, err, want)
		}
	}
	if err := r.MarkSessionPasskey(ctx, []byte("s-password")); err != nil {
		t.Fatal(err)
	}
	if se, _, err := r.SessionByHash(ctx, []byte("s-password")); err != nil || !se.Passkey {
		t.Fatalf("after MarkSessionPasskey: %+v, %v", se, err)
	}
}
