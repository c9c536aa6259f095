package http

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/softkey"
)

// ceremony reads a passkey ceremony answer: its token and options.
func ceremony(t *testing.T, r response) (string, []byte) {
	t.Helper()
	if r.StatusCode != 200 {
		t.Fatalf("ceremony: %d %s", r.StatusCode, r.body)
	}
	var c struct {
		Ceremony string          `json:"ceremony"`
		Options  json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(r.body, &c); err != nil || c.Ceremony == "" || len(c.Options) == 0 {
		t.Fatalf("ceremony %s: %v", r.body, err)
	}
	return c.Ceremony, c.Options
}

// answer is the JSON body of a ceremony's answer, with extra members.
func answer(t *testing.T, cer string, cred []byte, extra ...string) string {
	t.Helper()
	m := map[string]any{"ceremony": cer, "credential": json.RawMessage(cred)}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// registerPasskey registers a software passkey for b's user through the
// API and returns it and the answer's body.
func registerPasskey(t *testing.T, b *browser, name string) (*softkey.Key, map[string]any) {
	t.Helper()
	cer, opts := ceremony(t, b.do("POST", "/api/auth/passkeys/registration/", `{"current_password":"`+testPassword+`"}`))
	key, cred, err := softkey.Register(opts, testPasskeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	r := b.do("POST", "/api/auth/passkeys/", answer(t, cer, cred, "name", name))
	if r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	return key, r.json(t)
}

// passkeyLogin signs b in with key, username-less.
func passkeyLogin(t *testing.T, b *browser, key *softkey.Key) response {
	t.Helper()
	cer, opts := ceremony(t, b.do("POST", "/api/auth/passkeys/challenge/", `{}`))
	cred, err := key.Assert(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.do("POST", "/api/auth/passkeys/login/", answer(t, cer, cred))
}

// TestPasskeysThroughTheAPI registers, lists, uses, renames and removes a
// passkey through the API, signs in with it username-less and as the
// password's second factor, and refuses a replayed ceremony, a clone, an
// access token managing passkeys and an incomplete answer; every exchange
// is checked against the OpenAPI document.
func TestPasskeysThroughTheAPI(t *testing.T) {
	s := newTestServer(t)
	b, u := s.signedIn("pk@example.com", custodian.RoleAgent)

	wantProblem(t, b.do("POST", "/api/auth/passkeys/registration/", `{"current_password":"wrong one"}`), 401, custodian.EUNAUTHORIZED, "current_password")
	tok, _, err := s.acc.CreateAPIToken(t.Context(), u.ID, "script", 0)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, s.do("POST", "/api/auth/passkeys/registration/", `{"current_password":"`+testPassword+`"}`, "Authorization", "Bearer "+tok), 403, custodian.EFORBIDDEN)

	key, created := registerPasskey(t, b, "Laptop")
	if created["name"] != "Laptop" || len(created["recovery_codes"].([]any)) != 10 {
		t.Fatalf("registered %v", created)
	}
	id := created["id"].(string)
	r := b.do("GET", "/api/auth/passkeys/", "")
	if r.StatusCode != 200 || strings.Contains(string(r.body), "public") || len(r.json(t)["items"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.StatusCode, r.body)
	}

	// Username-less sign-in from another browser.
	b2 := &browser{s: s, addr: "192.0.2.20"}
	if r := passkeyLogin(t, b2, key); r.StatusCode != 200 || b2.cookie == nil {
		t.Fatalf("passkey sign-in: %d %s", r.StatusCode, r.body)
	}
	if r := b2.do("GET", "/api/auth/session/", ""); r.StatusCode != 200 || !strings.Contains(string(r.body), u.ID) {
		t.Fatalf("session: %d %s", r.StatusCode, r.body)
	}

	// An incomplete answer, and a replayed one.
	b3 := &browser{s: s, addr: "192.0.2.30"}
	cer, opts := ceremony(t, b3.do("POST", "/api/auth/passkeys/challenge/", `{}`))
	wantProblem(t, b3.do("POST", "/api/auth/passkeys/login/", `{"ceremony":"`+cer+`"}`), 400, custodian.EINVALID, "credential")
	cred, _ := key.Assert(opts)
	if r := b3.do("POST", "/api/auth/passkeys/login/", answer(t, cer, cred)); r.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", r.StatusCode, r.body)
	}
	replay := &browser{s: s, addr: "192.0.2.31"}
	wantProblem(t, replay.do("POST", "/api/auth/passkeys/login/", answer(t, cer, cred)), 400, custodian.EINVALID, "ceremony")

	// A clone whose counter lags is refused.
	clone := key.Clone()
	if r := passkeyLogin(t, &browser{s: s, addr: "192.0.2.40"}, key); r.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", r.StatusCode, r.body)
	}
	thief := &browser{s: s, addr: "198.51.100.7"}
	wantProblem(t, passkeyLogin(t, thief, clone), 401, custodian.EUNAUTHORIZED)
	if thief.cookie != nil {
		t.Fatal("the clone got a session cookie")
	}

	// The password alone now asks for a second factor, which the passkey is.
	b4 := &browser{s: s, addr: "192.0.2.50"}
	wantProblem(t, b4.do("POST", "/api/auth/login/", `{"email":"pk@example.com","password":"`+testPassword+`"}`), 401, custodian.EUNAUTHORIZED, "otp")
	cer, opts = ceremony(t, b4.do("POST", "/api/auth/passkeys/challenge/", `{"second_factor":true}`))
	cred, _ = key.Assert(opts)
	body := `{"email":"pk@example.com","password":"` + testPassword + `","passkey_ceremony":"` + cer + `","passkey_credential":` + string(cred) + `}`
	if r := b4.do("POST", "/api/auth/login/", body); r.StatusCode != 200 {
		t.Fatalf("password and passkey: %d %s", r.StatusCode, r.body)
	}

	// Rename, remove.
	wantProblem(t, b.do("PATCH", "/api/auth/passkeys/"+id+"/", `{"name":"<script>"}`), 400, custodian.EINVALID, "name")
	if r := b.do("PATCH", "/api/auth/passkeys/"+id+"/", `{"name":"Work laptop"}`); r.StatusCode != 200 || r.json(t)["name"] != "Work laptop" {
		t.Fatalf("rename: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("DELETE", "/api/auth/passkeys/"+id+"/", "", "Authorization", "Bearer "+tok), 403, custodian.EFORBIDDEN)
	if r := b.do("DELETE", "/api/auth/passkeys/"+id+"/", ""); r.StatusCode != 204 {
		t.Fatalf("remove: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, b.do("DELETE", "/api/auth/passkeys/"+id+"/", ""), 404, custodian.ENOTFOUND)
	wantProblem(t, passkeyLogin(t, &browser{s: s, addr: "192.0.2.60"}, key), 401, custodian.EUNAUTHORIZED)
}

// TestPasskeyRequirementPerRole: an administrator requires passkeys of a
// role through the settings; its users signed in with a password reach
// only their account (no customers, no new access tokens) until they
// register a passkey, and an administrator can reset a user's passkeys.
func TestPasskeyRequirementPerRole(t *testing.T) {
	s := newTestServer(t)
	wantProblem(t, s.do("PUT", "/api/settings/", `{"require_totp_roles":[],"require_passkey_roles":["owner"]}`), 400, custodian.EINVALID, "require_passkey_roles")
	r := s.do("PUT", "/api/settings/", `{"require_totp_roles":[],"require_passkey_roles":["agent"]}`)
	if r.StatusCode != 200 || !strings.Contains(string(r.body), `"require_passkey_roles":["agent"]`) {
		t.Fatalf("settings: %d %s", r.StatusCode, r.body)
	}
	// A PUT written before passkeys leaves their requirement alone.
	if r := s.do("PUT", "/api/settings/", `{"require_totp_roles":[]}`); r.StatusCode != 200 || !strings.Contains(string(r.body), `"require_passkey_roles":["agent"]`) {
		t.Fatalf("settings: %d %s", r.StatusCode, r.body)
	}

	b, u := s.signedIn("agent@example.com", custodian.RoleAgent)
	wantProblem(t, b.do("GET", "/api/customers/", ""), 403, custodian.EFORBIDDEN)
	wantProblem(t, b.do("POST", "/api/tokens/", `{"name":"escape"}`), 403, custodian.EFORBIDDEN)
	key, _ := registerPasskey(t, b, "Phone")
	if r := b.do("GET", "/api/customers/", ""); r.StatusCode != 200 {
		t.Fatalf("after registering: %d %s", r.StatusCode, r.body)
	}
	pb := &browser{s: s, addr: "192.0.2.70"}
	if r := passkeyLogin(t, pb, key); r.StatusCode != 200 {
		t.Fatalf("passkey sign-in: %d %s", r.StatusCode, r.body)
	}
	if r := pb.do("GET", "/api/customers/", ""); r.StatusCode != 200 {
		t.Fatalf("passkey session: %d %s", r.StatusCode, r.body)
	}
	if r := s.do("POST", "/api/users/"+u.ID+"/reset-passkeys/", ""); r.StatusCode != 204 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, pb.do("GET", "/api/customers/", ""), 401, custodian.EUNAUTHORIZED)
}
