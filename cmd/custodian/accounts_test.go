package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestUserSetEmail changes a user's sign-in address with the command, on a
// running server that mails nothing: the old address no longer signs in,
// the new one does, the session the user had has ended, and the change is
// on the audit trail as the shell's. Addresses that are not valid, not
// new or another account's are refused and change nothing.
func TestUserSetEmail(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Without the authentication cache, the server sees the session end as
	// soon as the command has ended it (a cached one is trusted for up to
	// --auth-cache-ttl: the command's process cannot drop the server's
	// cache on SQLite).
	base, done, _ := startServer(t, ctx, vars, "--auth-cache-ttl", "0")
	defer func() { cancel(); <-done }()
	admin := adminToken(t, vars)
	if _, errs, err := runCmdIn(t, vars, testPassword+"\n", "user", "create", "--email", "agent@example.com", "--role", "agent", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v %s", err, errs)
	}

	signIn := func(email string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("POST", base+"/api/auth/login/", strings.NewReader(`{"email":"`+email+`","password":"`+testPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-custodian_session" {
				return resp.StatusCode, c.Name + "=" + c.Value
			}
		}
		return resp.StatusCode, ""
	}
	sessionCode := func(cookie string) int {
		t.Helper()
		code, _ := request(t, "GET", base+"/api/auth/session/", "", "Cookie", cookie)
		return code
	}
	code, session := signIn("agent@example.com")
	if code != 200 || session == "" || sessionCode(session) != 200 {
		t.Fatalf("sign-in before the change: %d, session %q", code, session)
	}

	for _, c := range []struct {
		name, newEmail, want string
	}{
		{"not an address", "not-an-address", "Must be an email address"},
		{"the same address", "Agent@Example.com", "already the user's sign-in address"},
		{"another account's", "root@example.com", "Another account signs in with this address"},
		{"missing", "", "--new-email is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(t, vars, "user", "set-email", "--email", "agent@example.com", "--new-email", c.newEmail)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("set-email to %q: %v, want %q", c.newEmail, err, c.want)
			}
		})
	}
	if _, _, err := runCmd(t, vars, "user", "set-email", "--email", "nobody@example.com", "--new-email", "new@example.com"); err == nil {
		t.Fatal("an unknown user's address was changed")
	}
	if sessionCode(session) != 200 {
		t.Fatal("a refused change ended the user's session")
	}

	out, errs, err := runCmd(t, vars, "user", "set-email", "--email", "agent@example.com", "--new-email", " Agent.New@Example.com ")
	if err != nil || !strings.Contains(out, "signs in as agent.new@example.com") {
		t.Fatalf("set-email: %v %q %s", err, out, errs)
	}
	if code := sessionCode(session); code != 401 {
		t.Fatalf("the user's session after the change: %d, want 401", code)
	}
	if code, _ := signIn("agent@example.com"); code != 401 {
		t.Fatalf("sign-in with the old address: %d, want 401", code)
	}
	if code, _ := signIn("agent.new@example.com"); code != 200 {
		t.Fatalf("sign-in with the new address: %d, want 200", code)
	}
	list, _, err := runCmd(t, vars, "user", "list")
	if err != nil || !strings.Contains(list, "\tagent.new@example.com\tagent\tactive") || strings.Contains(list, "\tagent@example.com\t") {
		t.Fatalf("user list: %v\n%s", err, list)
	}

	code, body := request(t, "GET", base+"/api/audit/?action="+custodian.ActionEmailChange, "", "Authorization", "Bearer "+admin)
	var trail struct {
		Items []struct {
			Actor   string `json:"actor"`
			Subject string `json:"subject"`
			Data    []byte `json:"data"` // the event's data, JSON
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &trail); code != 200 || err != nil {
		t.Fatalf("audit: %d %v %s", code, err, body)
	}
	if len(trail.Items) != 1 || trail.Items[0].Actor != custodian.ActorCLI || !strings.Contains(string(trail.Items[0].Data), `"via":"operator"`) {
		t.Fatalf("user.email events: %s", body)
	}
	if strings.Contains(string(trail.Items[0].Data), "@") {
		t.Fatalf("the audit event names an address: %s", trail.Items[0].Data)
	}
}
