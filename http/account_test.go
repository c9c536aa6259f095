package http

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	otptotp "github.com/pquerna/otp/totp"
)

// signedIn returns a browser signed in as a new user with the role.
func (s *testServer) signedIn(email string, role custodian.Role) (*browser, *custodian.User) {
	s.t.Helper()
	u, err := s.acc.CreateUser(context.Background(), email, "Person", role, testPassword)
	if err != nil {
		s.t.Fatal(err)
	}
	b := &browser{s: s}
	if r := b.do("POST", "/api/auth/login/", `{"email":"`+email+`","password":"`+testPassword+`"}`); r.StatusCode != 200 {
		s.t.Fatalf("sign-in: %d %s", r.StatusCode, r.body)
	}
	return b, u
}

func TestTwoFactorEnrolmentAndRecoveryCodes(t *testing.T) {
	s := newTestServer(t)
	b, _ := s.signedIn("twofa@example.com", custodian.RoleAgent)
	wantProblem(t, b.do("POST", "/api/auth/2fa/setup/", `{"current_password":"wrong one"}`), 401, custodian.EUNAUTHORIZED, "current_password")
	r := b.do("POST", "/api/auth/2fa/setup/", `{"current_password":"`+testPassword+`"}`)
	if r.StatusCode != 200 {
		t.Fatalf("setup: %d %s", r.StatusCode, r.body)
	}
	e := r.json(t)
	secret := e["secret"].(string)
	if !strings.HasPrefix(e["otpauth_url"].(string), "otpauth://totp/") || len(e["qr_code_png"].(string)) < 100 {
		t.Fatalf("enrolment %v", e)
	}
	wantProblem(t, b.do("POST", "/api/auth/2fa/enable/", `{"code":"000000"}`), 400, custodian.EINVALID, "code")
	code, _ := otptotp.GenerateCode(secret, time.Now())
	r = b.do("POST", "/api/auth/2fa/enable/", `{"code":"`+code+`"}`)
	if r.StatusCode != 200 {
		t.Fatalf("enable: %d %s", r.StatusCode, r.body)
	}
	codes := r.json(t)["recovery_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	// Sign-in now needs a second factor.
	other := &browser{s: s}
	r = other.do("POST", "/api/auth/login/", `{"email":"twofa@example.com","password":"`+testPassword+`"}`)
	wantProblem(t, r, 401, custodian.EUNAUTHORIZED, "otp")
	// A recovery code works once.
	rc := codes[0].(string)
	if r := other.do("POST", "/api/auth/login/", `{"email":"twofa@example.com","password":"`+testPassword+`","otp":"`+strings.ToUpper(rc)+`"}`); r.StatusCode != 200 {
		t.Fatalf("recovery code: %d %s", r.StatusCode, r.body)
	}
	// From another address (this one has spent its sign-in burst), the
	// same code is refused as a wrong credential, not merely throttled.
	third := &browser{s: s, addr: "198.51.100.20"}
	r = third.do("POST", "/api/auth/login/", `{"email":"twofa@example.com","password":"`+testPassword+`","otp":"`+rc+`"}`)
	wantProblem(t, r, 401, custodian.EUNAUTHORIZED)
}

func TestRequiredTwoFactorLimitsUnenrolledUsers(t *testing.T) {
	s := newTestServer(t)
	b, _ := s.signedIn("mgr@example.com", custodian.RoleManager)
	if r := s.do("PUT", "/api/settings/", `{"require_totp_roles":["manager"]}`); r.StatusCode != 200 {
		t.Fatalf("settings: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("PUT", "/api/settings/", `{"require_totp_roles":["overlord"]}`), 400, custodian.EINVALID, "require_totp_roles")
	r := b.do("GET", "/api/customers/", "")
	wantProblem(t, r, 403, custodian.EFORBIDDEN)
	if !strings.Contains(string(r.body), "two-factor") {
		t.Fatalf("the refusal does not say why: %s", r.body)
	}
	if r := b.do("POST", "/api/auth/2fa/setup/", `{"current_password":"`+testPassword+`"}`); r.StatusCode != 200 {
		t.Fatalf("enrolment must stay reachable: %d %s", r.StatusCode, r.body)
	}
}

func TestPasswordChangeNeedsCurrentPasswordAndCanEndOtherSessions(t *testing.T) {
	s := newTestServer(t)
	b1, _ := s.signedIn("pw@example.com", custodian.RoleViewer)
	b2 := &browser{s: s}
	if r := b2.do("POST", "/api/auth/login/", `{"email":"pw@example.com","password":"`+testPassword+`"}`); r.StatusCode != 200 {
		t.Fatalf("second sign-in: %d", r.StatusCode)
	}
	wantProblem(t, b1.do("POST", "/api/auth/password/", `{"current_password":"nope","new_password":"another long passphrase here"}`), 401, custodian.EUNAUTHORIZED, "current_password")
	wantProblem(t, b1.do("POST", "/api/auth/password/", `{"current_password":"`+testPassword+`","new_password":"password"}`), 400, custodian.EINVALID, "new_password")
	next := "quiet meadow lantern violin seventeen"
	if r := b1.do("POST", "/api/auth/password/", `{"current_password":"`+testPassword+`","new_password":"`+next+`","end_other_sessions":true}`); r.StatusCode != 204 {
		t.Fatalf("change: %d %s", r.StatusCode, r.body)
	}
	if r := b1.do("GET", "/api/auth/session/", ""); r.StatusCode != 200 {
		t.Fatal("the current session ended")
	}
	wantProblem(t, b2.do("GET", "/api/auth/session/", ""), 401, custodian.EUNAUTHORIZED)
}

func TestAdminResetDoesNotBypassTwoFactor(t *testing.T) {
	s := newTestServer(t)
	b, u := s.signedIn("reset@example.com", custodian.RoleAgent)
	secret := b.do("POST", "/api/auth/2fa/setup/", `{"current_password":"`+testPassword+`"}`).json(t)["secret"].(string)
	code, _ := otptotp.GenerateCode(secret, time.Now())
	b.do("POST", "/api/auth/2fa/enable/", `{"code":"`+code+`"}`)

	r := s.do("POST", "/api/users/"+u.ID+"/reset-link/", "")
	if r.StatusCode != 201 {
		t.Fatalf("reset link: %d %s", r.StatusCode, r.body)
	}
	tok := r.json(t)["token"].(string)
	next := "brave orchard kettle mosaic ninety"
	anon := &browser{s: s}
	if r := anon.do("POST", "/api/auth/reset/", `{"token":"`+tok+`","password":"`+next+`"}`); r.StatusCode != 204 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, anon.do("POST", "/api/auth/reset/", `{"token":"`+tok+`","password":"`+next+`"}`), 404, custodian.ENOTFOUND)
	// The old session ended; the new password still needs the second factor.
	wantProblem(t, b.do("GET", "/api/auth/session/", ""), 401, custodian.EUNAUTHORIZED)
	wantProblem(t, anon.do("POST", "/api/auth/login/", `{"email":"reset@example.com","password":"`+next+`"}`), 401, custodian.EUNAUTHORIZED, "otp")
}

func TestAdminRoleChangeAndDeactivation(t *testing.T) {
	s := newTestServer(t)
	b, u := s.signedIn("staff@example.com", custodian.RoleAgent)
	tok, _, err := s.acc.CreateAPIToken(context.Background(), u.ID, "script", 0)
	if err != nil {
		t.Fatal(err)
	}
	// A role change ends the sessions: privileges change at the next sign-in.
	if r := s.do("PATCH", "/api/users/"+u.ID+"/", `{"role":"viewer"}`); r.StatusCode != 200 || r.json(t)["user"].(map[string]any)["role"] != "viewer" {
		t.Fatalf("role change: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, b.do("GET", "/api/auth/session/", ""), 401, custodian.EUNAUTHORIZED)
	// Deactivation ends tokens at once: the token works until then.
	admin := s.bearer
	s.bearer = tok
	if r := s.do("GET", "/api/customers/", ""); r.StatusCode != 200 {
		t.Fatalf("token before deactivation: %d %s", r.StatusCode, r.body)
	}
	s.bearer = admin
	if r := s.do("PATCH", "/api/users/"+u.ID+"/", `{"active":false}`); r.StatusCode != 200 {
		t.Fatalf("deactivate: %d %s", r.StatusCode, r.body)
	}
	s.bearer = tok
	wantProblem(t, s.do("GET", "/api/customers/", ""), 401, custodian.EUNAUTHORIZED)
	s.bearer = admin
	wantProblem(t, s.do("PATCH", "/api/users/"+u.ID+"/", `{"role":"emperor"}`), 400, custodian.EINVALID, "role")
	wantProblem(t, s.do("PATCH", "/api/users/usr_nobody/", `{"active":true}`), 404, custodian.ENOTFOUND)
	if r := s.do("POST", "/api/users/"+u.ID+"/unlock/", ""); r.StatusCode != 204 {
		t.Fatalf("unlock: %d %s", r.StatusCode, r.body)
	}
}

// TestSettingsNeedTheirRoles: a PUT of the settings must name the roles
// ([] for none); leaving them out is refused and changes nothing, and the
// answer is the settings in force, never null.
func TestSettingsNeedTheirRoles(t *testing.T) {
	s := newTestServer(t)
	r := s.do("PUT", "/api/settings/", `{"require_totp_roles":["manager","agent","manager"]}`)
	if r.StatusCode != 200 || string(r.body) != `{"require_totp_roles":["manager","agent"],"require_passkey_roles":[]}`+"\n" {
		t.Fatalf("put: %d %s", r.StatusCode, r.body)
	}
	for _, body := range []string{`{}`, `{"require_totp_roles":null}`} {
		wantProblem(t, s.do("PUT", "/api/settings/", body), 400, custodian.EINVALID, "require_totp_roles")
	}
	if r := s.do("GET", "/api/settings/", ""); string(r.body) != `{"require_totp_roles":["manager","agent"],"require_passkey_roles":[]}`+"\n" {
		t.Fatalf("a refused PUT changed the settings: %s", r.body)
	}
	if r := s.do("PUT", "/api/settings/", `{"require_totp_roles":[]}`); r.StatusCode != 200 || string(r.body) != `{"require_totp_roles":[],"require_passkey_roles":[]}`+"\n" {
		t.Fatalf("put none: %d %s", r.StatusCode, r.body)
	}
}
