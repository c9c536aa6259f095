package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/testnet"
)

// getWithToken fetches url with the bearer token (none when empty) and returns the
// status and body.
func getWithToken(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestProfilesOnAPublicAddressNeedAToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	// Bounded, so that a server that starts (wrongly) does not run on.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"custodian", "serve", "--addr", "127.0.0.1:0", "--pprof-addr", "0.0.0.0:0"},
		env(map[string]string{"CUSTODIAN_DATA_DIR": dir}), nil, io.Discard, &logs)
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "C011") {
		t.Fatalf("serve with public profiles and no token: %v, want a refusal naming C011", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused start created the data directory: %v", err)
	}
	// check says so before any start.
	err = run(ctx, []string{"custodian", "check", "--pprof-addr", "0.0.0.0:6060"}, env(map[string]string{"CUSTODIAN_DATA_DIR": dir}), nil, io.Discard, io.Discard)
	if !errors.Is(err, ErrInsecure) {
		t.Fatalf("check with public profiles and no token: %v", err)
	}
}

func TestProfilesAnswerWithTheirToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "pprof-token")
	token := randomPrefix() + "profiles" // random: no fixed credential in the repository
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(testnet.FreeAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every interface, which the token makes acceptable.
	base, done, _ := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(dir, "data")},
		"--pprof-addr", "0.0.0.0:"+port, "--pprof-token-file", tokenFile)
	profiles := "http://127.0.0.1:" + port + "/debug/pprof/"

	for _, tok := range []string{"", "wrong", token + "x"} {
		if code, _ := getWithToken(t, profiles, tok); code != http.StatusUnauthorized {
			t.Fatalf("profiles with token %q: %d, want 401", tok, code)
		}
	}
	code, body := getWithToken(t, profiles, token)
	if code != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("profile index: %d %.200s", code, body)
	}
	if code, body := getWithToken(t, profiles+"heap?debug=1", token); code != 200 || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("heap profile: %d %.200s", code, body)
	}
	// A CPU profile is gzip-compressed protobuf.
	if code, body := getWithToken(t, profiles+"profile?seconds=1", token); code != 200 || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Fatalf("CPU profile: %d %.200q", code, body)
	}
	// Not on the public listener.
	if code, _ := getWithToken(t, base+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Fatalf("public /debug/pprof/: %d", code)
	}
	cancel()
	<-done
}

func TestProfilesOnLoopbackNeedNoToken(t *testing.T) {
	addr := testnet.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done, _ := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(t.TempDir(), "data")}, "--pprof-addr", addr)
	if code, body := getWithToken(t, "http://"+addr+"/debug/pprof/goroutine?debug=1", ""); code != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("goroutine profile: %d %.200s", code, body)
	}
	cancel()
	<-done
}
