package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testnet"
	"github.com/custodian-crm/custodian/sqlite"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// request sends a request to url with body (as JSON, when there is one)
// and the headers given as name and value pairs, and returns the response
// status and body.
func request(t *testing.T, method, url, body string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// startServer runs "serve" in-process and waits until /healthz answers.
func startServer(t *testing.T, ctx context.Context, vars map[string]string, args ...string) (string, chan error, *syncbuf.Buffer) {
	t.Helper()
	addr := testnet.FreeAddr(t)
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"custodian", "serve", "--addr", addr}, args...), env(vars), strings.NewReader(""), io.Discard, logs)
	}()
	// A minute: the machine running the tests may be loaded.
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return "http://" + addr, done, logs
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const testPassword = "correct horse battery staple orbit"

// adminToken creates an administrator with "user create" and returns a
// token from "token create", as an operator would from a shell.
func adminToken(t *testing.T, vars map[string]string) string {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"custodian", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"},
		env(vars), strings.NewReader(testPassword+"\n"), &out, &errs)
	if err != nil || !strings.Contains(out.String(), "created admin root@example.com") {
		t.Fatalf("user create: %v %s %s", err, out.String(), errs.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"custodian", "token", "create", "--email", "root@example.com", "--name", "tests"}, env(vars), nil, &out, &errs); err != nil {
		t.Fatalf("token create: %v %s", err, errs.String())
	}
	tok := strings.TrimSpace(out.String())
	if !strings.HasPrefix(tok, "cst_pat_") {
		t.Fatalf("token create printed %q", tok)
	}
	return tok
}

func TestServeFirstRunAndGracefulShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, logs := startServer(t, ctx, vars)
	tok := adminToken(t, vars)

	for name, want := range map[string]os.FileMode{".": 0o700, "custodian.db": 0o600, "keyring.json": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want mode %04o", name, fi, err, want)
		}
	}
	if !strings.Contains(logs.String(), "generated a development keyring") {
		t.Fatalf("first run did not say it generated a keyring:\n%s", logs)
	}

	// A request whose body is still arriving when the stop signal comes
	// must complete and be stored.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/api/customers/", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	result := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight request failed: %v", err)
			result <- nil
			return
		}
		result <- resp
	}()
	fmt.Fprint(pw, `{"name":"In Flight",`)
	time.Sleep(200 * time.Millisecond) // let the server start reading
	cancel()
	time.Sleep(200 * time.Millisecond) // the server is now shutting down
	fmt.Fprint(pw, `"email":"inflight@example.com"}`)
	pw.Close()
	resp := <-result
	if resp == nil || resp.StatusCode != 201 {
		t.Fatalf("in-flight create: %v", resp)
	}
	resp.Body.Close()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("no shutdown log:\n%s", logs)
	}

	// The acknowledged customer survived: a new server on the same data finds it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	base2, done2, _ := startServer(t, ctx2, vars)
	_, body := request(t, "GET", base2+"/api/customers/?search=inflight@example.com", "", "Authorization", "Bearer "+tok)
	if !strings.Contains(string(body), `"name":"In Flight"`) {
		t.Fatalf("acknowledged customer lost: %s", body)
	}
	cancel2()
	<-done2
}

func TestServeProductionRefusesDevelopmentKeyring(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"custodian", "serve", "--production", "--addr", testnet.FreeAddr(t)}, env(map[string]string{"CUSTODIAN_DATA_DIR": dir}), nil, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "CUSTODIAN_MASTER_KEY") {
		t.Fatalf("production without a key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keyring.json")); !os.IsNotExist(err) {
		t.Fatal("production generated a keyring")
	}
}

func TestMigrateSharesStorageSettings(t *testing.T) {
	migrations, err := fs.Glob(sqlite.Migrations(), "*.sql")
	if err != nil || len(migrations) == 0 {
		t.Fatalf("migrations: %v %v", migrations, err)
	}
	// The newest migration's number (numbers may have gaps).
	var newest int
	for _, m := range migrations {
		if n, err := strconv.Atoi(strings.SplitN(path.Base(m), "_", 2)[0]); err == nil && n > newest {
			newest = n
		}
	}
	latest := fmt.Sprintf("schema at version %d\n", newest)
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"custodian", "migrate"}, env(map[string]string{"CUSTODIAN_DATA_DIR": dir}), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sqlite "+latest) {
		t.Fatalf("migrate said %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "custodian.db")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	url := testdb.PostgresSchemaURL(t)
	if err := run(context.Background(), []string{"custodian", "migrate", "--database-url", url}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "postgres "+latest) {
		t.Fatalf("migrate said %q", out.String())
	}
}

func TestSetupLinkOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	addr := testnet.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncbuf.Buffer{}
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"custodian", "serve", "--addr", addr}, env(map[string]string{"CUSTODIAN_DATA_DIR": dir}), nil, out, logs)
	}()
	var link string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if i := strings.Index(out.String(), "token="); i >= 0 {
			link = strings.Fields(out.String()[i+len("token="):])[0]
			break
		}
	}
	if !strings.HasPrefix(link, "cst_set_") {
		t.Fatalf("no setup link printed: %q", out.String())
	}
	if strings.Contains(logs.String(), link) {
		t.Fatal("the setup token reached the log")
	}
	body := `{"token":"` + link + `","email":"first@example.com","name":"First Admin","password":"` + testPassword + `"}`
	post := func() int {
		resp, err := http.Post("http://"+addr+"/api/auth/setup/", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != 201 {
		t.Fatalf("setup: %d", code)
	}
	if code := post(); code != 404 {
		t.Fatalf("setup link reused: %d", code)
	}
	cancel()
	<-done
}

func TestUserCreateRefusesPasswordArgumentsAndWeakPasswords(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	err := run(context.Background(), []string{"custodian", "user", "create", "--email", "a@example.com", "--role", "admin"}, env(vars), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("without --password-stdin: %v", err)
	}
	err = run(context.Background(), []string{"custodian", "user", "create", "--email", "a@example.com", "--role", "admin", "--password-stdin"}, env(vars), strings.NewReader("password123\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "password:") {
		t.Fatalf("weak password: %v", err)
	}
}

func TestUserAdministrationCommands(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	adminToken(t, vars)
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"custodian", "user"}, args...), env(vars), strings.NewReader(testPassword+"\n"), &out, io.Discard)
		return out.String(), err
	}
	if _, err := cmd("create", "--email", "agent@example.com", "--role", "agent", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"role", "--email", "agent@example.com", "--role", "viewer"},
		{"deactivate", "--email", "agent@example.com"},
		{"reset-2fa", "--email", "agent@example.com"},
		{"unlock", "--email", "agent@example.com"},
	} {
		if out, err := cmd(args...); err != nil || !strings.Contains(out, "done for agent@example.com") {
			t.Fatalf("user %v: %v %q", args, err, out)
		}
	}
	out, err := cmd("list")
	if err != nil || !strings.Contains(out, "agent@example.com\tviewer\tdeactivated\t2fa-off") || !strings.Contains(out, "root@example.com\tadmin\tactive") {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	if _, err := cmd("role", "--email", "agent@example.com", "--role", "emperor"); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	if _, err := cmd("deactivate", "--email", "nobody@example.com"); err == nil {
		t.Fatal("an unknown user was accepted")
	}
}

func TestCommandErrors(t *testing.T) {
	for _, args := range [][]string{{"custodian"}, {"custodian", "frobnicate"}, {"custodian", "serve", "--no-such-flag"}, {"custodian", "migrate", "extra"}} {
		if err := run(context.Background(), args, env(nil), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"custodian", "serve", "-h"}, env(nil), nil, &out, &out); err != nil || !strings.Contains(out.String(), "CUSTODIAN_ADDR") {
		t.Fatalf("serve -h: %v %s", err, out.String())
	}
}
