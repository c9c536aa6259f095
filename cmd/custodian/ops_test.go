package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testnet"
	"github.com/custodian-crm/custodian/sqlite"
)

// TestOneServerPerDataDirectory starts a server on a SQLite data
// directory: a second serve on the same directory exits at once, saying
// why and changing nothing, and starts once the first has stopped.
func TestOneServerPerDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done, _ := startServer(t, ctx, vars)

	began := time.Now()
	_, stderr, err := runCmd(t, vars, "serve", "--addr", "127.0.0.1:0")
	if !errors.Is(err, sqlite.ErrDirLocked) || !strings.Contains(err.Error(), filepath.Join(dir, "custodian.lock")) {
		t.Fatalf("second serve: %v\n%s", err, stderr)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the second serve took %v to give up", took)
	}
	// Shell commands still work beside the server.
	if _, _, err := runCmdIn(t, vars, testPassword+"\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatalf("user create beside the server: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	base, done2, _ := startServer(t, ctx2, vars)
	if code, body := request(t, "GET", base+"/readyz", ""); code != 200 {
		t.Fatalf("readyz after the restart: %d %s", code, body)
	}
	time.Sleep(100 * time.Millisecond) // the setup link's user count
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
}

// jobRuns counts the runs of job in a server's log.
func jobRuns(logs *syncbuf.Buffer, job string) int {
	return strings.Count(logs.String(), `"msg":"job run","job":"`+job+`"`)
}

// TestBackgroundJobsRunOnceOnPostgres runs two servers on one PostgreSQL
// database with a retention job due every 50 ms: only the instance
// holding the job lease runs it, the other stands by, and takes over when
// the first stops.
func TestBackgroundJobsRunOnceOnPostgres(t *testing.T) {
	url := testdb.PostgresSchemaURL(t)
	k := newTestKeyring(t)
	vars := map[string]string{"CUSTODIAN_DATABASE_URL": url, "CUSTODIAN_MASTER_KEY": k, "CUSTODIAN_DATA_DIR": t.TempDir()}
	args := []string{"--retention-interval", "50ms", "--job-lease-interval", "50ms", "--log-level", "debug", "--shred-store", filepath.Join(t.TempDir(), "shred.db")}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	_, doneA, logsA := startServer(t, ctxA, vars, args...)
	waitForLog(t, logsA, `"msg":"job run","job":"retention"`)
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	_, doneB, logsB := startServer(t, ctxB, vars, args...)
	waitForLog(t, logsB, "another instance holds the job lease")
	before := jobRuns(logsA, "retention")
	time.Sleep(500 * time.Millisecond)
	if n := jobRuns(logsB, "retention"); n != 0 {
		t.Fatalf("the standby ran retention %d times while the holder ran it", n)
	}
	if after := jobRuns(logsA, "retention"); after <= before {
		t.Fatalf("the holder stopped running retention: %d runs, then %d", before, after)
	}

	cancelA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logsB, `"msg":"job run","job":"retention"`)
	cancelB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
}

// newTestKeyring returns a new keyring as CUSTODIAN_MASTER_KEY holds it.
func newTestKeyring(t *testing.T) string {
	t.Helper()
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	text, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// TestSetupLinkNamesThePublicAddress checks the address the first
// administrator's link starts with: the listening address by default,
// --public-url when given.
func TestSetupLinkNamesThePublicAddress(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want func(addr string) string
	}{
		{"listening address", nil, func(addr string) string { return "http://" + addr + "/setup?token=cst_set_" }},
		{"public URL", []string{"--public-url", "https://crm.example.com/"}, func(string) string { return "https://crm.example.com/setup?token=cst_set_" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := testnet.FreeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, logs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, append([]string{"custodian", "serve", "--addr", addr}, tc.args...), env(map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}), nil, out, logs)
			}()
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "token="); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no setup link:\n%s", logs)
				}
			}
			if !strings.Contains(out.String(), tc.want(addr)) {
				t.Fatalf("setup link:\n%s\nwant %s", out, tc.want(addr))
			}
			cancel()
			<-done
		})
	}
}

// TestShredStoreFromAFile reads --shred-store from a secret file, and
// refuses it given both ways.
func TestShredStoreFromAFile(t *testing.T) {
	where := filepath.Join(t.TempDir(), "keys", "shred.db")
	file := filepath.Join(t.TempDir(), "shred_store_url")
	if err := os.WriteFile(file, []byte(where+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(vars map[string]string) (*storageConfig, error) {
		fs := newFlagSet("test", io.Discard)
		c := addStorageFlags(fs)
		if _, err := parseConfig(fs, nil, env(vars)); err != nil {
			return nil, err
		}
		return c, c.resolve()
	}
	c, err := parse(map[string]string{"CUSTODIAN_SHRED_STORE_FILE": file})
	if err != nil || *c.shredStore != where {
		t.Fatalf("shred store from its file: %v", err)
	}
	if _, err := parse(map[string]string{"CUSTODIAN_SHRED_STORE_FILE": file, "CUSTODIAN_SHRED_STORE": where}); !errors.Is(err, ErrConfig) {
		t.Fatalf("both ways: %v", err)
	}
}
