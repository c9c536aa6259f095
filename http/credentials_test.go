package http

import (
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestAccessTokenCannotChangeItsOwnersCredentials reproduces a takeover
// with a stolen personal access token: through the API, a bearer token
// alone (even with the right current password) must change neither the
// password, the email address nor two-factor authentication.
func TestAccessTokenCannotChangeItsOwnersCredentials(t *testing.T) {
	s := newTestServer(t)
	s.bearer = s.userToken(custodian.RoleAgent)
	tests := []struct{ path, body string }{
		{"/api/auth/password/", `{"current_password":"` + testPassword + `","new_password":"an attacker's chosen passphrase"}`},
		{"/api/auth/email/", `{"current_password":"` + testPassword + `","email":"thief@example.com"}`},
		{"/api/auth/2fa/setup/", `{"current_password":"` + testPassword + `"}`},
		{"/api/auth/2fa/enable/", `{"code":"123456"}`},
		{"/api/auth/2fa/disable/", `{"current_password":"` + testPassword + `","code":"123456"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			wantProblem(t, s.do("POST", tt.path, tt.body), 403, custodian.EFORBIDDEN)
		})
	}
	// The token still works for what it is for.
	if r := s.do("GET", "/api/auth/session/", ""); r.StatusCode != 200 {
		t.Fatalf("session with the token: %d %s", r.StatusCode, r.body)
	}
}
