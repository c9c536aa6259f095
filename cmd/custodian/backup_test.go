package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/backup"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testnet"
	"github.com/custodian-crm/custodian/sqlite"
)

// backupSite is one installation for the backup tests: its settings in
// the environment, with a keyring made by "keys init" and the shred
// store outside the data directory.
type backupSite struct {
	root string
	vars map[string]string
}

// backupBackends make a fresh installation on each backend; another
// with the same keyring and shred store (a restore target) comes from
// again.
var backupBackends = map[string]func(t *testing.T, root string) map[string]string{
	"sqlite": func(t *testing.T, root string) map[string]string {
		return map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(root, "data")}
	},
	"postgres": func(t *testing.T, root string) map[string]string {
		return map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(root, "data"), "CUSTODIAN_DATABASE_URL": testdb.PostgresSchemaURL(t)}
	},
}

// newBackupSite makes an installation on backend, with the keyring and
// shred store of keys (a directory), made on first use.
func newBackupSite(t *testing.T, backend, keys string) backupSite {
	t.Helper()
	root := t.TempDir()
	vars := backupBackends[backend](t, root)
	vars["CUSTODIAN_MASTER_KEY_FILE"] = filepath.Join(keys, "keyring.json")
	vars["CUSTODIAN_SHRED_STORE"] = filepath.Join(keys, "shred.db")
	if _, err := os.Stat(vars["CUSTODIAN_MASTER_KEY_FILE"]); err != nil {
		if out, _, err := runCmd(t, nil, "keys", "init", "--out", vars["CUSTODIAN_MASTER_KEY_FILE"]); err != nil || !strings.Contains(out, "outside the data directory") {
			t.Fatalf("keys init: %v\n%s", err, out)
		}
	}
	return backupSite{root: root, vars: vars}
}

// with returns the site's environment with more settings.
func (s backupSite) with(kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range s.vars {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestBackupRestoreKeepsErasure takes a backup while the server serves,
// erases a customer after it, and restores the backup elsewhere with the
// same keyring and shred store: the erased customer stays erased (410,
// tombstone "erased after backup"), the others are back, the trail
// verifies; a second restore is refused over the data, and allowed with
// --force.
func TestBackupRestoreKeepsErasure(t *testing.T) {
	for backend := range backupBackends {
		t.Run(backend, func(t *testing.T) {
			keys := filepath.Join(t.TempDir(), "keys")
			src := newBackupSite(t, backend, keys)
			ctx, cancel := context.WithCancel(context.Background())
			base, done, _ := startServer(t, ctx, src.vars)
			tok := adminToken(t, src.vars)
			ids := []string{createCustomer(t, base, tok, "Ada Lovelace"), createCustomer(t, base, tok, "Grace Hopper")}
			// The oldest events moved out to an archive file: the backup's
			// trail starts after them.
			if out, _, err := runCmd(t, src.vars, "audit", "archive", "--before", time.Now().Add(2*time.Second).UTC().Format(time.RFC3339), "--out", filepath.Join(src.root, "archive")); err != nil || !strings.Contains(out, "archived events 1 to") {
				t.Fatalf("audit archive: %v\n%s", err, out)
			}
			ids = append(ids, createCustomer(t, base, tok, "Alan Turing"))

			// A read before the backup, written to the read log (within
			// its flush interval: wait until the log has it).
			if code, body := getCustomer(t, base, tok, ids[2]); code != 200 {
				t.Fatalf("read before backup: %d %s", code, body)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				out, _, err := runCmd(t, src.vars, "processing", "--customer", ids[2])
				if err == nil && strings.Contains(out, "customer.read") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the read is not in the read log 10 s later: %v\n%s", err, out)
				}
			}

			file := filepath.Join(src.root, "backups", "one.tar.gz")
			out, _, err := runCmd(t, src.vars, "backup", "--out", file)
			if err != nil || !strings.Contains(out, "3 customers") {
				t.Fatalf("backup: %v\n%s", err, out)
			}
			if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("backup file: %v %v", fi, err)
			}
			if _, _, err := runCmd(t, src.vars, "backup", "--out", file); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Fatalf("backup over an existing file: %v", err)
			}
			// The server went on serving, and the backup is on the trail.
			if code, body := getCustomer(t, base, tok, ids[1]); code != 200 || !strings.Contains(body, "Grace Hopper") {
				t.Fatalf("read after backup: %d %s", code, body)
			}
			if code, body := request(t, "GET", base+"/api/audit/?action=backup.created", "", "Authorization", "Bearer "+tok); code != 200 || !strings.Contains(string(body), "one.tar.gz") {
				t.Fatalf("backup.created not on the trail: %d %s", code, body)
			}
			// Erased after the backup was taken.
			if code, body := request(t, "POST", base+"/api/customers/"+ids[0]+"/erase/", `{"reason":"asked by the person"}`, "Authorization", "Bearer "+tok); code != 200 {
				t.Fatalf("erase: %d %s", code, body)
			}
			cancel()
			<-done

			out, _, err = runCmd(t, src.vars, "backup", "verify", file)
			if err != nil || !strings.Contains(out, "3 customers") || !strings.Contains(out, "audit trail verifies") {
				t.Fatalf("backup verify: %v\n%s", err, out)
			}

			dst := newBackupSite(t, backend, keys)
			out, _, err = runCmd(t, dst.vars, "restore", file)
			if err != nil || !strings.Contains(out, "2 customers") || !strings.Contains(out, "dropped 1 customers erased after the backup") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			if out, _, err := runCmd(t, dst.vars, "audit", "verify"); err != nil {
				t.Fatalf("audit verify after restore: %v\n%s", err, out)
			}
			// The read log came back with the database.
			if out, _, err := runCmd(t, dst.vars, "processing", "--customer", ids[2]); err != nil || !strings.Contains(out, "customer.read") {
				t.Fatalf("reads after restore: %v\n%s", err, out)
			}
			ctx2, cancel2 := context.WithCancel(context.Background())
			defer cancel2()
			base2, done2, _ := startServer(t, ctx2, dst.vars)
			if code, body := getCustomer(t, base2, tok, ids[0]); code != 410 || !strings.Contains(body, "erased after backup") && !strings.Contains(body, "erased") {
				t.Fatalf("erased customer after restore: %d %s", code, body)
			}
			for i, name := range []string{"", "Grace Hopper", "Alan Turing"} {
				if i == 0 {
					continue
				}
				if code, body := getCustomer(t, base2, tok, ids[i]); code != 200 || !strings.Contains(body, name) {
					t.Fatalf("restored customer %s: %d %s", name, code, body)
				}
			}
			// A customer created after the restore gets a fresh row.
			createCustomer(t, base2, tok, "Katherine Johnson")
			// Never under a running server, even with --force.
			if _, _, err := runCmd(t, dst.vars, "restore", "--force", file); !errors.Is(err, sqlite.ErrDirLocked) && !errors.Is(err, errServerRunning) {
				t.Fatalf("restore --force under a running server: %v", err)
			}
			cancel2()
			<-done2

			if _, _, err := runCmd(t, dst.vars, "restore", file); !errors.Is(err, backup.ErrNotEmpty) {
				t.Fatalf("restore over data: %v", err)
			}
			out, _, err = runCmd(t, dst.vars, "restore", "--force", file)
			if err != nil || !strings.Contains(out, "dropped 1") {
				t.Fatalf("restore --force: %v\n%s", err, out)
			}
			if out, _, err := runCmd(t, dst.vars, "audit", "verify"); err != nil {
				t.Fatalf("audit verify after forced restore: %v\n%s", err, out)
			}
		})
	}
}

// TestRestoreRefusesBadInput gives restore and backup verify files that
// are not good backups, a keyring that is not the backup's, and a data
// directory a server holds: each is refused with a message that says
// why, and nothing is written to the target.
func TestRestoreRefusesBadInput(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	src := newBackupSite(t, "sqlite", keys)
	ctx, cancel := context.WithCancel(context.Background())
	base, done, _ := startServer(t, ctx, src.vars)
	tok := adminToken(t, src.vars)
	createCustomer(t, base, tok, "Ada Lovelace")
	good := filepath.Join(src.root, "good.tar.gz")
	if out, _, err := runCmd(t, src.vars, "backup", "--out", good); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	cancel()
	<-done
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyring := filepath.Join(t.TempDir(), "other.json")
	if _, _, err := runCmd(t, nil, "keys", "init", "--out", otherKeyring); err != nil {
		t.Fatal(err)
	}
	wrongKeys := readKeyring(t, otherKeyring)
	rightKeys := readKeyring(t, src.vars["CUSTODIAN_MASTER_KEY_FILE"])

	write := func(t *testing.T, b []byte) string {
		p := filepath.Join(t.TempDir(), "bad.tar.gz")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), content...)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name    string
		file    func(t *testing.T) string
		keyring string
		want    error
		message string
	}{
		{"empty file", func(t *testing.T) string { return write(t, nil) }, "", backup.ErrNotBackup, "not a Custodian backup"},
		{"foreign file", func(t *testing.T) string { return write(t, []byte("name,email\nAda,ada@example.com\n")) }, "", backup.ErrNotBackup, "not a gzip"},
		{"foreign archive", func(t *testing.T) string { return write(t, gzipTar(t, "notes.txt", []byte("hello"))) }, "", backup.ErrNotBackup, "first entry"},
		{"truncated to half", func(t *testing.T) string { return write(t, content[:len(content)/2]) }, "", backup.ErrCorrupt, "truncated or corrupted"},
		{"trailer cut off", func(t *testing.T) string { return write(t, content[:len(content)-4]) }, "", backup.ErrCorrupt, "truncated or corrupted"},
		{"a byte changed", func(t *testing.T) string { return write(t, flipped) }, "", backup.ErrCorrupt, "truncated or corrupted"},
		{"data appended", func(t *testing.T) string { return write(t, append(append([]byte(nil), content...), "more"...)) }, "", backup.ErrCorrupt, "after the end"},
		{"another keyring", func(t *testing.T) string { return good }, otherKeyring, backup.ErrMissingKeys, rightKeys.ActiveKeyID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newBackupSite(t, "sqlite", keys)
			if tt.keyring != "" {
				dst.vars["CUSTODIAN_MASTER_KEY_FILE"] = tt.keyring
			}
			file := tt.file(t)
			_, _, err := runCmd(t, dst.vars, "restore", file)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("restore: %v, want %v mentioning %q", err, tt.want, tt.message)
			}
			if tt.keyring != "" && !strings.Contains(err.Error(), wrongKeys.ActiveKeyID()) {
				t.Fatalf("the keyring's own keys are not named: %v", err)
			}
			entries, _ := os.ReadDir(dst.vars["CUSTODIAN_DATA_DIR"])
			for _, e := range entries {
				if e.Name() != sqlite.LockFileName {
					t.Fatalf("restore left %s in the target", e.Name())
				}
			}
			if _, _, err := runCmd(t, dst.vars, "backup", "verify", file); !errors.Is(err, tt.want) {
				t.Fatalf("backup verify: %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("server holds the directory", func(t *testing.T) {
		dst := newBackupSite(t, "sqlite", keys)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		base, done, _ := startServer(t, ctx, dst.vars)
		tok := adminToken(t, dst.vars)
		id := createCustomer(t, base, tok, "Grace Hopper")
		if _, _, err := runCmd(t, dst.vars, "restore", "--force", good); !errors.Is(err, sqlite.ErrDirLocked) {
			t.Fatalf("restore --force under a running server: %v", err)
		}
		if code, body := getCustomer(t, base, tok, id); code != 200 || !strings.Contains(body, "Grace Hopper") {
			t.Fatalf("the running server's data after a refused restore: %d %s", code, body)
		}
		cancel()
		<-done
	})

	t.Run("wrong shred store", func(t *testing.T) {
		dst := newBackupSite(t, "sqlite", keys)
		dst.vars["CUSTODIAN_SHRED_STORE"] = filepath.Join(t.TempDir(), "empty-shred.db")
		if _, _, err := runCmd(t, dst.vars, "restore", good); !errors.Is(err, backup.ErrShredStore) {
			t.Fatalf("restore with an empty shred store: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dst.vars["CUSTODIAN_DATA_DIR"], "custodian.db")); err == nil {
			t.Fatal("restore wrote the database with the wrong shred store")
		}
	})
}

// gzipTar is a gzip-compressed tar of one file.
func gzipTar(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// TestServeRefusesAKeyringThatDoesNotOpenTheData starts serve on data
// written under one keyring with others: another keyring (its key ids
// missing), the same key ids with other keys (the sample of data keys
// does not open), the same master keys with another index key (the audit
// seal does not match). Each refuses to start and says why.
func TestServeRefusesAKeyringThatDoesNotOpenTheData(t *testing.T) {
	for backend := range backupBackends {
		t.Run(backend, func(t *testing.T) {
			keys := filepath.Join(t.TempDir(), "keys")
			site := newBackupSite(t, backend, keys)
			ctx, cancel := context.WithCancel(context.Background())
			base, done, _ := startServer(t, ctx, site.vars)
			tok := adminToken(t, site.vars)
			createCustomer(t, base, tok, "Ada Lovelace")
			cancel()
			<-done
			good := site.vars["CUSTODIAN_MASTER_KEY_FILE"]
			active := readKeyring(t, good).ActiveKeyID()

			edited := func(t *testing.T, edit func(f map[string]any)) string {
				b, err := os.ReadFile(good)
				if err != nil {
					t.Fatal(err)
				}
				var f map[string]any
				if err := json.Unmarshal(b, &f); err != nil {
					t.Fatal(err)
				}
				edit(f)
				b, _ = json.Marshal(f)
				p := filepath.Join(t.TempDir(), "keyring.json")
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			random := func() string {
				b := make([]byte, 32)
				_, _ = rand.Read(b)
				return base64.StdEncoding.EncodeToString(b)
			}
			tests := []struct {
				name    string
				keyring func(t *testing.T) string
				want    string
			}{
				{"another keyring", func(t *testing.T) string {
					p := filepath.Join(t.TempDir(), "other.json")
					if _, _, err := runCmd(t, nil, "keys", "init", "--out", p); err != nil {
						t.Fatal(err)
					}
					return p
				}, "under master keys " + active},
				{"same key ids, other keys", func(t *testing.T) string {
					return edited(t, func(f map[string]any) { f["keys"].([]any)[0].(map[string]any)["key"] = random() })
				}, "does not open under master key " + active},
				{"other index key", func(t *testing.T) string {
					return edited(t, func(f map[string]any) { f["index_key"] = random() })
				}, "newest audit event"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					vars := site.with("CUSTODIAN_MASTER_KEY_FILE", tt.keyring(t))
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					err := run(ctx, []string{"custodian", "serve", "--addr", testnet.FreeAddr(t)}, env(vars), nil, io.Discard, io.Discard)
					if !errors.Is(err, errKeyringMismatch) || !strings.Contains(err.Error(), tt.want) {
						t.Fatalf("serve: %v, want a refusal saying %q", err, tt.want)
					}
				})
			}
		})
	}
}

// TestServeTakesScheduledBackups runs serve with --backup-interval 1s and
// --backup-keep 2: backups appear, each on the audit trail as taken by
// the scheduler, the oldest are deleted, and the newest verifies.
func TestServeTakesScheduledBackups(t *testing.T) {
	for _, bad := range [][]string{{"--backup-interval", "0s"}, {"--backup-keep", "0"}} {
		_, _, err := runCmd(t, map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}, append([]string{"serve", "--backup-dir", t.TempDir()}, bad...)...)
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("serve %v: %v, want a configuration error", bad, err)
		}
	}
	for backend := range backupBackends {
		t.Run(backend, func(t *testing.T) {
			site := newBackupSite(t, backend, filepath.Join(t.TempDir(), "keys"))
			dir := filepath.Join(site.root, "backups")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			base, done, logs := startServer(t, ctx, site.vars, "--backup-dir", dir, "--backup-interval", "1s", "--backup-keep", "2")
			tok := adminToken(t, site.vars)
			count := func() (int, []byte) {
				_, body := request(t, "GET", base+"/api/audit/?action=backup.created", "", "Authorization", "Bearer "+tok)
				return strings.Count(string(body), `"backup.created"`), body
			}
			createCustomer(t, base, tok, "Ada Lovelace")
			// A backup runs at start, and more may run before the
			// customer exists: wait for two taken since.
			before, _ := count()
			deadline := time.Now().Add(30 * time.Second)
			var body []byte
			for {
				var n int
				if n, body = count(); n >= max(3, before+2) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("fewer than 3 scheduled backups on the trail:\n%s\n%s", body, logs.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !strings.Contains(string(body), `"system:backup"`) || !strings.Contains(string(body), backupSuffix) {
				t.Fatalf("backup events do not name the scheduler and the file: %s", body)
			}
			cancel()
			<-done
			backups, err := filepath.Glob(filepath.Join(dir, backupPrefix+"*"+backupSuffix))
			if err != nil || len(backups) != 2 {
				t.Fatalf("kept %v (%v), want the newest 2\n%s", backups, err, logs.String())
			}
			if !strings.Contains(logs.String(), "old backup removed") {
				t.Fatalf("no rotation logged:\n%s", logs.String())
			}
			out, _, err := runCmd(t, site.vars, "backup", "verify", backups[1])
			if err != nil || !strings.Contains(out, "1 customers") {
				t.Fatalf("verify the newest scheduled backup: %v\n%s", err, out)
			}
		})
	}
}

// TestRestoreKeepsCustomersFromBeforeShredKeys restores customers created
// before shred secrets existed (their data key needs none): having no
// shred key, they are nonetheless kept, not taken for erased.
func TestRestoreKeepsCustomersFromBeforeShredKeys(t *testing.T) {
	for backend := range backupBackends {
		t.Run(backend, func(t *testing.T) {
			keys := filepath.Join(t.TempDir(), "keys")
			src := newBackupSite(t, backend, keys)
			k := readKeyring(t, src.vars["CUSTODIAN_MASTER_KEY_FILE"])
			if url := src.vars["CUSTODIAN_DATABASE_URL"]; url != "" {
				seedPostgres(t, url, k, 2)
			} else {
				store, err := sqlite.Open(context.Background(), src.vars["CUSTODIAN_DATA_DIR"], sealedBy(t, k))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := store.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
				sealer, _ := crypto.NewSealer(k, 0)
				if _, err := customers.New(store, sealer, customers.Options{}).ImportCustomers(context.Background(), []custodian.CustomerFields{{Name: "Old One"}, {Name: "Old Two"}}); err != nil {
					t.Fatal(err)
				}
				store.Close()
			}
			file := filepath.Join(src.root, "b.tar.gz")
			if out, _, err := runCmd(t, src.vars, "backup", "--out", file); err != nil {
				t.Fatalf("backup: %v\n%s", err, out)
			}
			dst := newBackupSite(t, backend, keys)
			out, _, err := runCmd(t, dst.vars, "restore", file)
			if err != nil || !strings.Contains(out, ": 2 customers") || !strings.Contains(out, "dropped 0") {
				t.Fatalf("restore: %v\n%s", err, out)
			}
		})
	}
}

// TestKeysInit writes a new keyring with mode 0600, says where to keep
// it without showing a key, and never overwrites a file.
func TestKeysInit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets", "keyring.json")
	out, _, err := runCmd(t, nil, "keys", "init", "--out", p)
	if err != nil || !strings.Contains(out, "outside the data directory") || !strings.Contains(out, "offline") {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	k := readKeyring(t, p) // checks mode 0600
	for _, m := range keyMaterial(t, p) {
		if strings.Contains(out, m) {
			t.Fatal("keys init printed key material")
		}
	}
	before, _ := os.ReadFile(p)
	for _, args := range [][]string{{"keys", "init", "--out", p}, {"keys", "init"}} {
		if _, _, err := runCmd(t, nil, args...); err == nil {
			t.Fatalf("%v: accepted", args)
		}
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Fatal("keys init overwrote a keyring")
	}
	// The new keyring is usable by every command, as its file.
	vars := map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(t.TempDir(), "data"), "CUSTODIAN_MASTER_KEY_FILE": p}
	if out, _, err := runCmd(t, vars, "keys", "status", "--production"); err != nil || !strings.Contains(out, k.ActiveKeyID()) {
		t.Fatalf("keys status with the new keyring: %v\n%s", err, out)
	}
}
