package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
)

func TestAuthCacheTTLSetting(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	for _, ttl := range []string{"-1s", "61s"} {
		err := run(context.Background(), []string{"custodian", "check", "--auth-cache-ttl", ttl}, env(vars), nil, io.Discard, io.Discard)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--auth-cache-ttl") {
			t.Errorf("--auth-cache-ttl %s: %v, want it refused", ttl, err)
		}
	}
	for _, ttl := range []string{"0", "1m"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"custodian", "check", "--auth-cache-ttl", ttl}, env(vars), nil, &out, io.Discard); err != nil {
			t.Errorf("--auth-cache-ttl %s: %v", ttl, err)
		}
	}
}

// waitForLog polls logs until they contain want, failing after 10 s.
func waitForLog(t *testing.T, logs *syncbuf.Buffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, logs)
		}
	}
}

// TestAccountChangesReachEveryInstance runs two servers on one PostgreSQL
// database, each trusting its authentication cache for a minute: a token
// revoked through one, or a user deactivated from a shell, is refused by
// the other within moments, which only the notification can explain.
func TestAccountChangesReachEveryInstance(t *testing.T) {
	dbURL := testdb.PostgresSchemaURL(t)
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "keyring.json")
	if err := crypto.WriteKeyringFile(keyFile, k); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir(), "CUSTODIAN_DATABASE_URL": dbURL, "CUSTODIAN_MASTER_KEY_FILE": keyFile}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, done1, logs1 := startServer(t, ctx, vars, "--auth-cache-ttl", "1m", "--rate-limit-api", "1000/s,burst=1000")
	second, done2, logs2 := startServer(t, ctx, vars, "--auth-cache-ttl", "1m", "--rate-limit-api", "1000/s,burst=1000")
	for _, logs := range []*syncbuf.Buffer{logs1, logs2} {
		waitForLog(t, logs, "listening for account changes")
	}
	admin := adminToken(t, vars)

	call := func(method, url, token, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	refusedBy := func(base, token string) {
		t.Helper()
		start := time.Now()
		for {
			code, _ := call("GET", base+"/api/customers/", token, "")
			if code == http.StatusUnauthorized {
				t.Logf("refused by the other instance after %v", time.Since(start))
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s still answers %d after 5 s", base, code)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	code, body := call("POST", first+"/api/tokens/", admin, `{"name":"script","expires_in_days":30}`)
	var created struct{ Token, ID string }
	if err := json.Unmarshal(body, &created); code != 201 || err != nil {
		t.Fatalf("create token: %d %s", code, body)
	}
	if code, _ := call("GET", second+"/api/customers/", created.Token, ""); code != 200 {
		t.Fatalf("the new token on the second instance: %d", code)
	}
	if code, body := call("DELETE", first+"/api/tokens/"+created.ID+"/", admin, ""); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	refusedBy(second, created.Token)

	// A shell command is an instance too: it announces what it changes.
	if code, _ := call("GET", second+"/api/customers/", admin, ""); code != 200 {
		t.Fatalf("the administrator's token on the second instance: %d", code)
	}
	if err := run(context.Background(), []string{"custodian", "user", "deactivate", "--email", "root@example.com"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	refusedBy(second, admin)
	refusedBy(first, admin)

	cancel()
	<-done1
	<-done2
}
