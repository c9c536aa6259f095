package http

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/softkey"
)

// TestUIPasskeyForms posts the passkey forms of /account and /login as
// the page's script does, with a software authenticator's answers: each
// is refused without its CSRF token and changes nothing, and works with
// it.
func TestUIPasskeyForms(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	w := s.web()
	u := w.signIn("forms@example.com", custodian.RoleAgent)
	if page := w.get("/account"); !strings.Contains(page.body, `data-passkey="create"`) || !strings.Contains(page.body, "passkeys.") {
		t.Fatalf("the account page offers no passkey: %s", page.body)
	}
	p, err := s.acc.Authenticate(ctx, w.cookies[SessionCookie].Value)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.acc.BeginPasskeyRegistration(ctx, p, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	key, cred, err := softkey.Register(c.Options, testPasskeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"ceremony": {c.Token}, "name": {"Laptop"}, "credential": {string(cred)}}
	if page := w.do("POST", "/account/passkeys", form); page.code != 403 {
		t.Fatalf("without a CSRF token: %d", page.code)
	}
	if keys, _ := s.acc.ListPasskeys(ctx, u.ID); len(keys) != 0 {
		t.Fatalf("a refused form stored %+v", keys)
	}
	page := w.post("/account", "/account/passkeys", form)
	if page.code != 201 || !strings.Contains(page.body, `id="passkey-recovery-codes"`) || !strings.Contains(page.body, "Laptop") {
		t.Fatalf("add: %d %s", page.code, page.body)
	}
	keys, err := s.acc.ListPasskeys(ctx, u.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("passkeys %+v, %v", keys, err)
	}
	id := keys[0].ID
	if page := w.post("/account", "/account/passkeys/"+id+"/rename", url.Values{"name": {"<b>"}}); page.code != 400 || !strings.Contains(page.body, "without &lt; or &gt;") {
		t.Fatalf("rename to markup: %d %s", page.code, page.body)
	}
	if page := w.post("/account", "/account/passkeys/"+id+"/rename", url.Values{"name": {"Phone"}}); page.code != 303 || page.loc != "/account" {
		t.Fatalf("rename: %d %s", page.code, page.body)
	}
	if page := w.get("/account"); !strings.Contains(page.body, "Passkey renamed.") || !strings.Contains(page.body, "Phone") {
		t.Fatalf("after renaming: %s", page.body)
	}

	// Signing in with the passkey from the sign-in page.
	b := s.web()
	b.addr = "192.0.2.77"
	if page := b.get("/login"); !strings.Contains(page.body, `id="passkey-signin"`) {
		t.Fatalf("the sign-in page offers no passkey: %s", page.body)
	}
	c, err = s.acc.BeginPasskeySignIn(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	cred, err = key.Assert(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	form = url.Values{"ceremony": {c.Token}, "credential": {string(cred)}, "next": {"/account"}}
	if page := b.do("POST", "/login/passkey", form); page.code != 403 || b.cookies[SessionCookie] != nil {
		t.Fatalf("without a CSRF token: %d", page.code)
	}
	if page := b.post("/login", "/login/passkey", form); page.code != 303 || page.loc != "/account" || b.cookies[SessionCookie] == nil {
		t.Fatalf("passkey sign-in: %d %s", page.code, page.body)
	}
	replay := s.web()
	replay.addr = "192.0.2.78"
	if page := replay.post("/login", "/login/passkey", form); page.code != 400 || replay.cookies[SessionCookie] != nil {
		t.Fatalf("the same answer again: %d", page.code)
	}

	// Removal.
	if page := w.do("POST", "/account/passkeys/"+id+"/remove", url.Values{}); page.code != 403 {
		t.Fatalf("remove without a CSRF token: %d", page.code)
	}
	if page := w.post("/account", "/account/passkeys/"+id+"/remove", url.Values{}); page.code != 303 {
		t.Fatalf("remove: %d %s", page.code, page.body)
	}
	if keys, _ := s.acc.ListPasskeys(ctx, u.ID); len(keys) != 0 {
		t.Fatalf("after removal: %+v", keys)
	}
}
