package http

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/redact"
)

// logLines parses every JSON line of a log.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not one JSON object: %v: %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func requestLines(t *testing.T, logs string) []map[string]any {
	var out []map[string]any
	for _, m := range logLines(t, logs) {
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// TestRequestLogLine checks every field of the request line, for a signed-in
// and an anonymous caller; that a forwarding header from an untrusted peer
// changes nothing; and that values which could forge a line are encoded.
func TestRequestLogLine(t *testing.T) {
	s := newTestServer(t)
	before := time.Now().UTC()
	s.do("GET", "/api/customers/?search=secret", "", "User-Agent", "probe/1.0\nforged line", "X-Forwarded-For", "198.51.100.66")
	lines := requestLines(t, s.logs.String())
	if len(lines) == 0 {
		t.Fatal("no request line")
	}
	l := lines[len(lines)-1]
	user, _ := l["user"].(string)
	start, err := time.Parse(time.RFC3339Nano, l["start"].(string))
	if err != nil || start.Location() != time.UTC || start.Before(before.Add(-time.Second)) {
		t.Fatalf("start = %v (%v)", l["start"], err)
	}
	want := map[string]any{"method": "GET", "route": "GET /api/customers/{$}", "path": "/api/customers/", "status": float64(200),
		"client": "192.0.2.1", "user_agent": "probe/1.0\nforged line"}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %#v, want %#v", k, l[k], v)
		}
	}
	if !strings.HasPrefix(user, custodian.UserIDPrefix) {
		t.Errorf("user = %q", user)
	}
	for _, k := range []string{"request_id", "size", "duration_ms"} {
		if l[k] == nil || l[k] == "" {
			t.Errorf("%s missing: %v", k, l)
		}
	}
	if strings.Contains(s.logs.String(), "198.51.100.66") || strings.Contains(s.logs.String(), "secret") {
		t.Fatalf("forged forwarding header or query logged: %s", s.logs.String())
	}

	// Anonymous, with control characters in the path.
	s.bearer = ""
	s.do("GET", "/api/customers/%0a%1b%5b31m/", "")
	lines = requestLines(t, s.logs.String())
	l = lines[len(lines)-1]
	if l["user"] != custodian.Anonymous || l["status"] != float64(401) || l["path"] != "/api/customers/%0a%1b%5b31m/" {
		t.Fatalf("anonymous line = %v", l)
	}
}

// TestNoSecretsInServerLogs sends credentials every way a client can (a
// bearer token, a session cookie, passwords and one-time codes in bodies,
// personal data) through a server logging via the redacting handler, and
// checks that none reaches a log line, whatever logged it.
func TestNoSecretsInServerLogs(t *testing.T) {
	d, acc, _, logs := testDeps(t)
	d.Logger = slog.New(redact.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), redact.Options{}))
	s := &testServer{t: t, h: checked(t, NewServer(d)), logs: logs, acc: acc}
	tok := s.userToken(custodian.RoleAdmin)
	const pw = "correct horse battery staple orbit"
	s.do("POST", "/api/auth/login/", `{"email":"admin-x@example.com","password":"`+pw+`","otp":"123456"}`)
	s.do("GET", "/api/audit/", "", "Authorization", "Bearer "+tok)
	s.do("GET", "/api/audit/?actor=x", "", "Authorization", "Bearer cst_pat_forgedforgedforgedforgedforged")
	s.do("GET", "/api/users/", "", "Cookie", SessionCookie+"=cst_ses_stolenstolenstolenstolenstolen1")
	s.do("POST", "/api/auth/password/", `{"current_password":"`+pw+`","new_password":"a brand new passphrase here"}`, "Authorization", "Bearer "+tok)
	out := logs.String()
	for _, secret := range []string{tok, pw, "123456", "cst_pat_forged", "cst_ses_stolen", "admin-x@example.com", "a brand new passphrase"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q reached the log:\n%s", secret, out)
		}
	}
	if len(requestLines(t, out)) < 5 {
		t.Fatalf("request lines missing:\n%s", out)
	}
}
