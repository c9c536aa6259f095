package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/alerting"
)

// webhookReceiver collects the alerts a webhook sends.
type webhookReceiver struct {
	mu      sync.Mutex
	byRule  map[string][]custodian.Alert
	signed  bool
	anchors int // audit anchors, which serve publishes to the same webhook
}

func (wr *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var a custodian.Alert
	if err := json.Unmarshal(body, &a); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if a.Rule == "" {
		wr.anchors++
		return
	}
	wr.byRule[a.Rule] = append(wr.byRule[a.Rule], a)
	wr.signed = r.Header.Get(alerting.SignatureHeader) == alerting.Sign([]byte("hook-secret-for-tests"), body)
}

func (wr *webhookReceiver) rules() map[string]custodian.Alert {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	out := map[string]custodian.Alert{}
	for rule, as := range wr.byRule {
		out[rule] = as[len(as)-1]
	}
	return out
}

// TestAlertRulesEndToEnd drives each alert rule with real HTTP requests
// into a running server (client addresses given through a trusted
// proxy's X-Forwarded-For): a brute force against one account from many
// addresses, a scanner probing from one address, and one address over
// the sign-in rate limit. Each raises one alert, stored and listed at GET
// /api/alerts/, logged at error level, recorded in the audit trail and
// delivered, signed, to a webhook; the scanner's address is then blocked.
func TestAlertRulesEndToEnd(t *testing.T) {
	hook := &webhookReceiver{byRule: map[string][]custodian.Alert{}}
	receiver := httptest.NewServer(hook)
	defer receiver.Close()
	dir := filepath.Join(t.TempDir(), "data")
	secretFile := filepath.Join(t.TempDir(), "hook-secret")
	if err := os.WriteFile(secretFile, []byte("hook-secret-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"CUSTODIAN_DATA_DIR":                  dir,
		"CUSTODIAN_TRUSTED_PROXIES":           "127.0.0.1",
		"CUSTODIAN_RATE_LIMIT_API":            "1000/s,burst=1000",
		"CUSTODIAN_RATE_LIMIT_SIGNIN":         "1/m,burst=2",
		"CUSTODIAN_ALERT_WEBHOOK_URL":         receiver.URL + "/hook",
		"CUSTODIAN_ALERT_WEBHOOK_SECRET_FILE": secretFile,
		"CUSTODIAN_ALERT_BLOCK":               "10m",
	}
	tok := adminToken(t, vars)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, logs := startServer(t, ctx, vars)

	send := func(method, path, from, body string, headers ...string) int {
		t.Helper()
		code, _ := request(t, method, base+path, body, append([]string{"X-Forwarded-For", from}, headers...)...)
		return code
	}
	// asAdmin reads path as the administrator, from an address never
	// blocked, into v.
	admin := "192.0.2.200"
	asAdmin := func(path string, v any) {
		t.Helper()
		_, b := request(t, "GET", base+path, "", "Authorization", "Bearer "+tok, "X-Forwarded-For", admin)
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, b)
		}
	}
	// Brute force: six addresses, one wrong password each, on one account.
	for i := range 6 {
		if code := send("POST", "/api/auth/login/", fmt.Sprintf("198.51.100.%d", 10+i), `{"email":"root@example.com","password":"not the password at all"}`); code != 401 && code != 429 {
			t.Fatalf("brute-force attempt %d: %d", i, code)
		}
	}
	// Scanning: ten probes from one address.
	for i, p := range []string{"/.env", "/wp-admin/", "/index.php", "/.git/config", "/admin.asp", "/login.aspx", "/x.jsp", "/wp-login.php", "/.env.bak", "/phpmyadmin/index.php"} {
		if code := send("GET", p, "203.0.113.50", ""); code != 404 {
			t.Fatalf("probe %d %s: %d", i, p, code)
		}
	}
	// Abuse: five sign-ins from one address, three refused by the limit.
	for range 5 {
		send("POST", "/api/auth/login/", "203.0.113.60", `{"email":"someone@example.com","password":"not the password at all"}`)
	}

	var listed struct {
		Items []custodian.StoredAlert `json:"items"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := hook.rules()
		asAdmin("/api/alerts/", &listed)
		stored := map[string]bool{}
		for _, a := range listed.Items {
			stored[a.Rule] = true
		}
		if len(got) == 3 && stored["brute_force"] && stored["scanning"] && stored["abuse"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts: webhook got %v, listed %+v\n%s", got, listed.Items, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	keys := map[string]string{}
	for _, a := range listed.Items {
		keys[a.Rule] = a.Key
		if a.Status != custodian.AlertOpen || a.Count < 3 {
			t.Errorf("alert %+v", a)
		}
	}
	if !strings.HasPrefix(keys["brute_force"], "account:usr_") || keys["scanning"] != "addr:203.0.113.50" || keys["abuse"] != "addr:203.0.113.60" {
		t.Fatalf("alert keys = %v", keys)
	}
	if len(listed.Items) != 3 {
		t.Fatalf("one attack, one alert: %d alerts listed: %+v", len(listed.Items), listed.Items)
	}
	hook.mu.Lock()
	signed := hook.signed
	hook.mu.Unlock()
	if !signed {
		t.Fatal("webhook bodies are not signed with the configured secret")
	}
	// The scanner is blocked; others are not.
	if code := send("GET", "/api/customers/", "203.0.113.50", "", "Authorization", "Bearer "+tok); code != 403 {
		t.Fatalf("blocked scanner got %d", code)
	}
	if code := send("GET", "/api/customers/", admin, "", "Authorization", "Bearer "+tok); code != 200 {
		t.Fatalf("unblocked client got %d", code)
	}
	// Logged at error level and recorded in the audit trail.
	if n := strings.Count(logs.String(), `"level":"ERROR","msg":"security alert"`); n != 3 {
		t.Fatalf("%d error-level alert lines:\n%s", n, logs.String())
	}
	var trail struct {
		Items []struct{ Actor, Subject string } `json:"items"`
	}
	asAdmin("/api/audit/?action=security.alert", &trail)
	if len(trail.Items) != 3 || trail.Items[0].Actor != "system:monitor" {
		t.Fatalf("security.alert events = %+v", trail.Items)
	}
	// An administrator resolves one.
	if code := send("POST", "/api/alerts/"+listed.Items[0].ID+"/resolve/", admin, "", "Authorization", "Bearer "+tok); code != 204 {
		t.Fatalf("resolve: %d", code)
	}
	list := func(q string) []string {
		var page struct {
			Items []custodian.StoredAlert `json:"items"`
		}
		asAdmin("/api/alerts/"+q, &page)
		var ids []string
		for _, a := range page.Items {
			ids = append(ids, a.ID)
		}
		return ids
	}
	if got := list("?resolved=true"); len(got) != 1 || got[0] != listed.Items[0].ID {
		t.Fatalf("resolved alerts = %v, want [%s]", got, listed.Items[0].ID)
	}
	if got := list("?resolved=false"); len(got) != 2 || slices.Contains(got, listed.Items[0].ID) {
		t.Fatalf("unresolved alerts = %v, want the other two", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
