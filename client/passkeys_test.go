package client_test

import (
	"context"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/client"
	"github.com/custodian-crm/custodian/internal/softkey"
)

// passkeyOrigin is the origin the test server's passkeys are for.
const passkeyOrigin = "https://localhost"

// passkeyFlows walks the passkey operations on s with a software
// authenticator: register from a session, list, sign in username-less and
// as a second factor, rename, remove, and an administrator's reset.
func passkeyFlows(t *testing.T, s *server, admin *client.Client) {
	t.Helper()
	ctx := context.Background()
	s.token(custodian.RoleAgent, "keys@example.com")
	b := s.browser()
	must[*client.User](t)(b.Login(ctx, client.LoginInput{Email: "keys@example.com", Password: testPassword}))
	c := must[*client.PasskeyCeremony](t)(b.BeginPasskeyRegistration(ctx, testPassword))
	key, cred, err := softkey.Register(c.Options, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	k := must[*client.NewPasskey](t)(b.RegisterPasskey(ctx, client.PasskeyRegistration{Ceremony: c.Ceremony, Credential: cred, Name: "Laptop"}))
	if k.Name != "Laptop" || len(k.RecoveryCodes) != 10 {
		t.Fatalf("registered %+v", k)
	}
	if keys := must[[]client.Passkey](t)(b.Passkeys(ctx)); len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("passkeys %+v", keys)
	}

	other := s.browser()
	c = must[*client.PasskeyCeremony](t)(other.PasskeyChallenge(ctx, false))
	if cred, err = key.Assert(c.Options); err != nil {
		t.Fatal(err)
	}
	me := must[*client.User](t)(other.PasskeyLogin(ctx, client.PasskeyAnswer{Ceremony: c.Ceremony, Credential: cred}))
	if me.Email != "keys@example.com" {
		t.Fatalf("signed in as %+v", me)
	}
	third := s.browser()
	c = must[*client.PasskeyCeremony](t)(third.PasskeyChallenge(ctx, true))
	if cred, err = key.Assert(c.Options); err != nil {
		t.Fatal(err)
	}
	must[*client.User](t)(third.Login(ctx, client.LoginInput{Email: "keys@example.com", Password: testPassword, PasskeyCeremony: c.Ceremony, PasskeyCredential: cred}))

	if r := must[*client.Passkey](t)(b.RenamePasskey(ctx, k.ID, "Phone")); r.Name != "Phone" {
		t.Fatalf("renamed %+v", r)
	}
	if err := b.RemovePasskey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, b.RemovePasskey(ctx, k.ID), 404, client.CodeNotFound)
	if err := admin.ResetUserPasskeys(ctx, me.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.Session(ctx)
	wantError(t, err, 401, client.CodeUnauthorized)
}
