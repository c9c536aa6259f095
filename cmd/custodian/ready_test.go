package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/sqlite"
)

// wantReady asks /readyz and fails unless it answers code; when not ready,
// the log must say why (reason) and the answer must not.
func wantReady(t *testing.T, base string, logs *syncbuf.Buffer, code int, reason string) {
	t.Helper()
	got, body := request(t, "GET", base+"/readyz", "")
	if got != code {
		t.Fatalf("readyz = %d %s, want %d\n%s", got, body, code, logs)
	}
	if reason == "" {
		return
	}
	if strings.Contains(string(body), reason) {
		t.Fatalf("readyz tells the caller why: %s", body)
	}
	waitForLog(t, logs, reason)
}

// TestReadinessTellsTheTruth runs real servers whose database cannot take
// a write, whose disk is "full" (a free-space threshold above any disk),
// and whose keyring no longer opens the data: /readyz answers 503 with
// the reason in the log, and 200 again once the cause is gone.
func TestReadinessTellsTheTruth(t *testing.T) {
	t.Run("SQLiteWriteBlocked", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		base, done, logs := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": dir})
		wantReady(t, base, logs, 200, "")
		// Another process holds SQLite's write lock.
		// It waits its turn for the lock, as the server may be writing.
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		wantReady(t, base, logs, 503, "cannot take a write")
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		wantReady(t, base, logs, 200, "")
		cancel()
		<-done
	})
	t.Run("PostgreSQLWriteBlocked", func(t *testing.T) {
		url := testdb.PostgresSchemaURL(t)
		vars := map[string]string{"CUSTODIAN_DATABASE_URL": url, "CUSTODIAN_MASTER_KEY": newTestKeyring(t), "CUSTODIAN_DATA_DIR": t.TempDir()}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		base, done, logs := startServer(t, ctx, vars, "--shred-store", filepath.Join(t.TempDir(), "shred.db"))
		wantReady(t, base, logs, 200, "")
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "LOCK TABLE health_probe IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		wantReady(t, base, logs, 503, "cannot take a write")
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		wantReady(t, base, logs, 200, "")
		cancel()
		<-done
	})
	t.Run("DiskFull", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// No disk here has a pebibyte free.
		base, done, logs := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": dir}, "--min-free-disk-mb", "1073741824")
		wantReady(t, base, logs, 503, "is full")
		cancel()
		<-done
	})
	t.Run("KeyringMissesAKey", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		keyFile := filepath.Join(t.TempDir(), "keyring.json")
		k, err := crypto.NewKeyring()
		if err != nil {
			t.Fatal(err)
		}
		if err := crypto.WriteKeyringFile(keyFile, k); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{"CUSTODIAN_DATA_DIR": dir, "CUSTODIAN_MASTER_KEY_FILE": keyFile}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		base, done, logs := startServer(t, ctx, vars)
		tok := adminToken(t, vars)
		createCustomer(t, base, tok, "Ada Lovelace")
		wantReady(t, base, logs, 200, "")
		// The key the customer is under leaves the keyring, which the
		// server reloads.
		old := k.ActiveKeyID()
		k.AddMasterKey()
		if err := k.RemoveMasterKey(old); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		if err := crypto.WriteKeyringFile(keyFile, k); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitForLog(t, logs, `"msg":"keyring reloaded"`)
		wantReady(t, base, logs, 503, "the keyring lacks master keys the customers are under: "+old)
		cancel()
		<-done
	})
}

// TestReadinessRefusesAnotherKeyring opens data written under one keyring
// with another: readiness, through serve's start check, names the audit
// seal it cannot check.
func TestReadinessRefusesAnotherKeyring(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir, "CUSTODIAN_MASTER_KEY": newTestKeyring(t)}
	if _, _, err := runCmdIn(t, vars, testPassword+"\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	vars["CUSTODIAN_MASTER_KEY"] = newTestKeyring(t)
	fs := newFlagSet("test", io.Discard)
	flags := addAppFlags(fs)
	if _, err := flags.parse(fs, nil, env(vars)); err != nil {
		t.Fatal(err)
	}
	err := withApp(context.Background(), flags.config(), func(a *app) error {
		return newReadiness(a, 0).Ping(context.Background())
	})
	if !errors.Is(err, errKeyringMismatch) || !strings.Contains(err.Error(), "is not sealed with the chain key") {
		t.Fatalf("readiness under another keyring: %v", err)
	}
}

// TestReadinessFollowsAReloadedKeyring: after a rotation reaches a serving
// instance (a reload of its keyring: SIGHUP or the rotation notice), new
// customers are under the new master key, and readiness's full check must
// judge them by the keyring in use, not by the one the instance started
// with, or the instance would report itself unready after every rotation.
func TestReadinessFollowsAReloadedKeyring(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir}
	fs := newFlagSet("test", io.Discard)
	flags := addAppFlags(fs)
	if _, err := flags.parse(fs, nil, env(vars)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err := withApp(ctx, flags.config(), func(a *app) error {
		path := filepath.Join(dir, crypto.DevKeyringName)
		k := readKeyring(t, path)
		newID := k.AddMasterKey()
		if err := crypto.WriteKeyringFile(path, k); err != nil {
			return err
		}
		if err := a.sealer.Reload(); err != nil {
			return err
		}
		if got := a.sealer.ActiveKeyID(); got != newID {
			t.Fatalf("active key after the reload = %s, want %s", got, newID)
		}
		if _, err := a.customers.ImportCustomers(ctx, []custodian.CustomerFields{{Name: "After Rotation"}}); err != nil {
			return err
		}
		return newReadiness(a, 0).Ping(ctx)
	}, generateDevKeyring, withCustomers)
	if err != nil {
		t.Fatalf("readiness after a keyring reload: %v", err)
	}
}
