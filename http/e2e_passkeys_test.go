package http

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
)

// newPasskeyE2E is newE2E for passkeys: the server is the relying party
// localhost (WebAuthn refuses IP addresses), reached by the browser at
// https://localhost:port, and the tab has the DevTools protocol's
// WebAuthn domain enabled, so that virtual authenticators answer.
func newPasskeyE2E(t *testing.T) (*e2e, *testServer) {
	t.Helper()
	chromium := chromiumPath(t)
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	base := "https://localhost:" + port
	acfg := testAccountsConfig()
	acfg.Passkeys.Origins = []string{base}
	s, d := newUserlessServerWith(t, ratelimit.Limit{Rate: 5, Burst: 20}, acfg)
	h.Store(&s.h)
	e := openBrowser(t, chromium, base, d.Customers)
	if _, err := chromedp.Call(e.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	return e, s
}

// authenticator adds a virtual platform authenticator (CTAP2, resident
// keys, user verification, presence confirmed at once) to the tab.
func (e *e2e) authenticator() webauthn.AuthenticatorID {
	e.t.Helper()
	r, err := chromedp.Call(e.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		e.t.Fatalf("add a virtual authenticator: %v", err)
	}
	return r.AuthenticatorID
}

func (e *e2e) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	e.t.Helper()
	r, err := chromedp.Call(e.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		e.t.Fatalf("get the authenticator's credentials: %v", err)
	}
	return r.Credentials
}

// passkeySignIn signs out (when signed in) and clicks "Sign in with a
// passkey" on the sign-in page, waiting for the page it leads to.
func (e *e2e) passkeySignIn() {
	e.t.Helper()
	e.open("/login")
	if !strings.HasPrefix(e.location(), "/login") {
		e.submit("sign out", ".who button")
	}
	e.do("passkey button", chromedp.WaitVisible(chromedp.CSS("#passkey-signin")))
	e.do("sign in with a passkey", chromedp.Click(chromedp.CSS("#passkey-signin"), chromedp.NodeVisible))
	// Signed in (the header names the user), or refused (a message).
	e.do("the page after", chromedp.WaitVisible(chromedp.CSS("header .who, main .error-summary[role=alert]:not([hidden])")))
}

// TestBrowserPasskeys registers a passkey with headless Chromium's virtual
// authenticator, signs out and signs in with it without typing an email
// address, uses it as the password's second factor, and then refuses a
// copy of the credential, exported from the authenticator and added to
// another one, whose signature counter lags behind the original's.
func TestBrowserPasskeys(t *testing.T) {
	e, s := newPasskeyE2E(t)
	ctx := context.Background()
	u, err := s.acc.CreateUser(ctx, "pia.passkey@example.com", "Pia Passkey", custodian.RoleAgent, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	original := e.authenticator()

	// Sign in with the password, add a passkey on the account page.
	e.open("/login")
	e.fill("#email", u.Email, "#password", testPassword)
	e.submit("sign in", "button[type=submit]")
	e.open("/account")
	e.do("passkey form", chromedp.WaitVisible(chromedp.CSS("#passkey-add")))
	e.fill("#passkey_name", "Work laptop", "#passkey_password", testPassword)
	e.do("add a passkey", chromedp.Click(chromedp.CSS("#passkey-add"), chromedp.NodeVisible))
	e.do("recovery codes", chromedp.WaitVisible(chromedp.CSS("#passkey-recovery-codes")))
	if got := e.text("#passkey-list"); !strings.Contains(got, "Work laptop") || !strings.Contains(got, "never") {
		t.Fatalf("passkey list: %q", got)
	}
	e.screenshot("account-passkeys")
	creds := e.credentials(original)
	if len(creds) != 1 || !creds[0].IsResidentCredential || string(creds[0].UserHandle) != u.ID {
		t.Fatalf("the authenticator holds %+v", creds)
	}

	// Signed out, sign in with the passkey alone.
	e.passkeySignIn()
	if loc := e.location(); loc != "/customers" || !strings.Contains(e.text(".who .name"), "Pia Passkey") {
		t.Fatalf("after passkey sign-in: %q: %s", loc, e.text("main"))
	}
	// A copy of the credential as it is now.
	clone := *e.credentials(original)[0]

	// The password now asks for a second step, which the passkey answers.
	e.submit("sign out", ".who button")
	e.fill("#email", u.Email, "#password", testPassword)
	e.submit("sign in, step 1", "button[type=submit]")
	e.do("second step", chromedp.WaitVisible(chromedp.CSS("#passkey-second-factor")))
	e.screenshot("login-second-factor")
	e.do("use the passkey", chromedp.Click(chromedp.CSS("#passkey-second-factor"), chromedp.NodeVisible))
	e.do("signed in", chromedp.WaitVisible(chromedp.CSS(".who .name")))
	if loc := e.location(); loc != "/customers" {
		t.Fatalf("after password and passkey: %q", loc)
	}

	// The clone, in another authenticator: its counter is behind the
	// original's, which has signed in since it was copied.
	if _, err := chromedp.Call(e.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: original}); err != nil {
		t.Fatal(err)
	}
	thief := e.authenticator()
	// Sent without the CMTG members, which this authenticator does not
	// support and the generated parameters always carry.
	addCredential := cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}
	if _, err := chromedp.Call(e.ctx, addCredential, map[string]any{"authenticatorId": thief, "credential": map[string]any{
		"credentialId": clone.CredentialID, "isResidentCredential": true, "rpId": clone.RpID, "privateKey": clone.PrivateKey,
		"userHandle": clone.UserHandle, "signCount": clone.SignCount,
	}}); err != nil {
		t.Fatalf("add the cloned credential: %v", err)
	}
	e.passkeySignIn()
	if loc := e.location(); !strings.HasPrefix(loc, "/login") || e.text("[role=alert]") != "That passkey could not sign you in." {
		t.Fatalf("the clone: %q, %q", loc, e.text("main"))
	}
	evs, err := s.store.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionSignInFailed})
	if err != nil || len(evs) == 0 {
		t.Fatalf("failed sign-ins: %v, %v", evs, err)
	}
	var data map[string]any
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || data["reason"] != "cloned_passkey" || evs[0].Subject != u.ID {
		t.Fatalf("the clone's refusal is recorded as %s %s", evs[0].Subject, evs[0].Data)
	}
	e.checkClean()
}
