package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/testcert"
)

// deployFixture is a production configuration that passes every check:
// TLS files, allowed hosts, a keyring outside the data directory and
// owner-only modes. Cases change one thing each.
type deployFixture struct {
	dataDir, keyFile, certFile, tlsKeyFile string
	certPEM                                []byte
}

func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	root := t.TempDir()
	f := &deployFixture{dataDir: filepath.Join(root, "data")}
	if err := os.Mkdir(f.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(root, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	f.keyFile = filepath.Join(secrets, "keyring.json")
	if err := crypto.WriteKeyringFile(f.keyFile, k); err != nil {
		t.Fatal(err)
	}
	f.certFile, f.tlsKeyFile = filepath.Join(secrets, "cert.pem"), filepath.Join(secrets, "key.pem")
	f.certPEM = writeSelfSigned(t, f.certFile, f.tlsKeyFile)
	f.require2FA(t, "admin")
	return f
}

// require2FA sets the roles that must use two-factor authentication, as an
// operator does before the first production start.
func (f *deployFixture) require2FA(t *testing.T, roles string) {
	t.Helper()
	var out bytes.Buffer
	vars := map[string]string{"CUSTODIAN_DATA_DIR": f.dataDir, "CUSTODIAN_MASTER_KEY_FILE": f.keyFile}
	if err := run(context.Background(), []string{"custodian", "settings", "--require-2fa-roles", roles}, env(vars), nil, &out, io.Discard); err != nil {
		t.Fatalf("settings: %v", err)
	}
}

// writeSelfSigned writes a fresh self-signed certificate for localhost and
// 127.0.0.1 and its key (mode 0600), and returns the certificate PEM.
func writeSelfSigned(t *testing.T, certFile, keyFile string) []byte {
	t.Helper()
	c := testcert.New(t, nil, time.Now().UnixNano(), "localhost", "127.0.0.1")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c.CertPEM
}

func (f *deployFixture) args() []string {
	return []string{"--data-dir", f.dataDir, "--master-key-file", f.keyFile,
		"--tls-cert", f.certFile, "--tls-key", f.tlsKeyFile, "--allowed-hosts", "localhost,127.0.0.1",
		"--shred-store", filepath.Join(filepath.Dir(f.dataDir), "keys", "shred.db"),
		"--anchor-file", filepath.Join(filepath.Dir(f.dataDir), "anchors", "custodian.anchors")}
}

// without drops a flag and its value from args.
func without(args []string, names ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		drop := false
		for _, n := range names {
			if args[i] == "--"+n {
				drop = true
			}
		}
		if drop {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// shortKeyring is a keyring whose master key is 16 bytes, not 32.
func shortKeyring() string {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	full := base64.StdEncoding.EncodeToString(make([]byte, 32))
	return `{"format":"custodian-keyring/v1","active":"k1","keys":[{"id":"k1","key":"` + short + `"}],"index_key":"` + full + `"}`
}

// deployChange changes a deployment fixture's configuration: the
// arguments of serve and check, and their environment.
type deployChange func(t *testing.T, f *deployFixture, args []string, vars map[string]string) []string

// plus is the change that adds args.
func plus(args ...string) deployChange {
	return func(_ *testing.T, _ *deployFixture, a []string, _ map[string]string) []string {
		return append(a, args...)
	}
}

// minus is the change that drops the flags names and their values.
func minus(names ...string) deployChange {
	return func(_ *testing.T, _ *deployFixture, a []string, _ map[string]string) []string {
		return without(a, names...)
	}
}

func TestDeployChecks(t *testing.T) {
	tests := []struct {
		name   string
		change deployChange
		id     string // "" when the configuration must pass
		fatal  bool   // whether serve --production must refuse
	}{
		{"clean", nil, "", false},
		{"proxy terminates TLS", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			return append(without(a, "tls-cert", "tls-key"), "--trusted-proxies", "10.0.0.0/8")
		}, "", false},
		{"loopback metrics", plus("--metrics-addr", "127.0.0.1:9090"), "", false},
		{"no TLS, no proxy", minus("tls-cert", "tls-key"), "C001", true},
		{"no allowed hosts", minus("allowed-hosts"), "C002", true},
		{"no keyring", minus("master-key-file"), "C003", true},
		{"development keyring", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			dev := filepath.Join(f.dataDir, crypto.DevKeyringName)
			k, _ := crypto.NewKeyring()
			if err := crypto.WriteKeyringFile(dev, k); err != nil {
				t.Fatal(err)
			}
			return append(without(a, "master-key-file"), "--master-key-file", dev)
		}, "C003", true},
		{"short database password", plus("--database-url", "postgres://custodian:hunter2@127.0.0.1:1/custodian"), "C004", true},
		{"short database password from a file", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			p := filepath.Join(t.TempDir(), "db")
			if err := os.WriteFile(p, []byte("host=127.0.0.1 user=custodian password=hunter2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return append(a, "--database-url-file", p)
		}, "C004", true},
		{"short keyring key", func(t *testing.T, f *deployFixture, a []string, vars map[string]string) []string {
			vars["CUSTODIAN_MASTER_KEY"] = shortKeyring()
			return without(a, "master-key-file")
		}, "C004", true},
		{"key file readable by group", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			if err := os.Chmod(f.keyFile, 0o640); err != nil {
				t.Fatal(err)
			}
			return a
		}, "C005", true},
		{"data directory open to others", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			if err := os.Chmod(f.dataDir, 0o755); err != nil {
				t.Fatal(err)
			}
			return a
		}, "C005", true},
		{"database file readable by others", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			if err := os.WriteFile(filepath.Join(f.dataDir, "custodian.db"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(f.dataDir, "custodian.db"), 0o644); err != nil {
				t.Fatal(err)
			}
			return a
		}, "C005", true},
		{"debug logs", plus("--log-level", "debug"), "C006", true},
		{"public metrics without token", plus("--metrics-addr", "0.0.0.0:9090"), "C007", true},
		{"loopback profiles", plus("--pprof-addr", "127.0.0.1:6060"), "", false},
		{"public profiles without token", plus("--pprof-addr", ":6060"), "C011", true},
		{"profile token readable by others", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			p := filepath.Join(t.TempDir(), "pprof-token")
			if err := os.WriteFile(p, []byte("a-long-random-profiling-token\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return append(a, "--pprof-addr", "0.0.0.0:6060", "--pprof-token-file", p)
		}, "C005", true},
		{"2FA not required for administrators", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			f.require2FA(t, "manager")
			return a
		}, "C009", true},
		{"shred store in the data directory", minus("shred-store"), "C010", true},
		{"shred store inside the data directory, named", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			return append(without(a, "shred-store"), "--shred-store", filepath.Join(f.dataDir, "keys", "shred.db"))
		}, "C010", true},
		{"no anchor file", minus("anchor-file"), "C013", false},
		{"anchors off", plus("--anchor-interval", "0"), "C013", false},
		{"ACME without contact address", func(t *testing.T, f *deployFixture, a []string, _ map[string]string) []string {
			return append(without(a, "tls-cert", "tls-key"), "--acme-host", "crm.example.com")
		}, "C008", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDeployFixture(t)
			vars := map[string]string{}
			args := f.args()
			if tt.change != nil {
				args = tt.change(t, f, args, vars)
			}

			var out bytes.Buffer
			err := run(context.Background(), append([]string{"custodian", "check", "--deploy"}, args...), env(vars), nil, &out, io.Discard)
			if tt.fatal != (err != nil) || (err != nil && !errors.Is(err, ErrInsecure)) {
				t.Fatalf("check --deploy: err %v, want fatal %v\n%s", err, tt.fatal, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if tt.id == "" {
				if len(lines) != 1 || lines[0] != "deploy checks passed" {
					t.Fatalf("clean configuration reported:\n%s", out.String())
				}
			} else {
				if len(lines) < 1 || !strings.HasPrefix(lines[0], tt.id+" ") || !strings.Contains(lines[0], "Fix: ") {
					t.Fatalf("want one %s finding first, got:\n%s", tt.id, out.String())
				}
				for _, l := range lines {
					if strings.Contains(l, "hunter2") {
						t.Fatalf("finding reveals a secret: %s", l)
					}
				}
			}
			if !tt.fatal {
				return
			}
			// serve --production refuses before touching anything.
			err = run(context.Background(), append([]string{"custodian", "serve", "--production", "--addr", "127.0.0.1:0"}, args...), env(vars), nil, io.Discard, io.Discard)
			if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), tt.id) {
				t.Fatalf("serve --production: %v, want a refusal naming %s", err, tt.id)
			}
			if _, err := os.Stat(filepath.Join(f.dataDir, crypto.DevKeyringName)); err == nil && tt.name != "development keyring" {
				t.Fatal("a refused start generated a keyring")
			}
		})
	}
}

func TestProductionFromEnvironment(t *testing.T) {
	for _, vars := range []map[string]string{{"CUSTODIAN_ENV": "production"}, {"CUSTODIAN_PRODUCTION": "true"}} {
		vars["CUSTODIAN_DATA_DIR"] = t.TempDir()
		err := run(context.Background(), []string{"custodian", "serve", "--addr", "127.0.0.1:0"}, env(vars), nil, io.Discard, io.Discard)
		if !errors.Is(err, ErrInsecure) {
			t.Fatalf("%v: %v", vars, err)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "custodian.json")
	body := `{"log-level":"warn","phone-region":"GB","allowed-hosts":["a.example","b.example"],"production":true,"data-dir":"/from/file"}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want map[string]string
	}{
		{"file over default", []string{"--config", file}, nil,
			map[string]string{"log-level": "warn", "phone-region": "GB", "allowed-hosts": "a.example,b.example", "production": "true", "addr": "127.0.0.1:8080"}},
		{"environment over file", []string{"--config", file}, map[string]string{"CUSTODIAN_LOG_LEVEL": "error", "CUSTODIAN_ALLOWED_HOSTS": "c.example"},
			map[string]string{"log-level": "error", "allowed-hosts": "c.example", "phone-region": "GB"}},
		{"flag over environment", []string{"--config", file, "--log-level", "debug", "--allowed-hosts", "d.example", "--allowed-hosts", "e.example"}, map[string]string{"CUSTODIAN_LOG_LEVEL": "error"},
			map[string]string{"log-level": "debug", "allowed-hosts": "d.example,e.example"}},
		{"config file named in the environment", nil, map[string]string{"CUSTODIAN_CONFIG": file},
			map[string]string{"data-dir": "/from/file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			addServeFlags(fs)
			if _, err := parseConfig(fs, tt.args, env(tt.vars)); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				if got := fs.Lookup(name).Value.String(); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
	}{
		{"unknown key", []string{"--config", write("typo.json", `{"alowed-hosts":"x"}`)}},
		{"not an object", []string{"--config", write("list.json", `["x"]`)}},
		{"object value", []string{"--config", write("obj.json", `{"addr":{"host":"x"}}`)}},
		{"bad boolean", []string{"--config", write("bool.json", `{"production":"maybe"}`)}},
		{"missing file", []string{"--config", filepath.Join(dir, "absent.json")}},
		{"secret twice", []string{"--database-url", "postgres://x", "--database-url-file", write("db", "postgres://y")}},
		{"empty secret file", []string{"--redis-url-file", write("empty", "\n")}},
		{"missing secret file", []string{"--redis-url-file", filepath.Join(dir, "absent")}},
		{"bad rate limit", []string{"--rate-limit-api", "fast"}},
		{"bad proxy", []string{"--trusted-proxies", "10.0.0.0/33"}},
		{"cert without key", []string{"--tls-cert", "c.pem"}},
		{"files and ACME", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-host", "x.example"}},
		{"redirect without TLS", []string{"--http-addr", "127.0.0.1:0"}},
		{"unknown phone region", []string{"--phone-region", "XX"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"custodian", "check"}, tt.args...), env(nil), nil, &out, io.Discard)
			if err == nil {
				t.Fatalf("accepted: %s", out.String())
			}
		})
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"custodian", "check", "--phone-region", "GB", "--redis-url-file", write("redis", "redis://:0123456789abcdef@127.0.0.1:6379/0\n")}, env(nil), nil, &out, io.Discard); err != nil || out.String() != "configuration OK\n" {
		t.Fatalf("check: %v %q", err, out.String())
	}
}

// TestShredStoreApartFromTheData pins C010 at error level for every
// layout where the shred keys would travel with the database or its
// directory, so that serve --production refuses them.
func TestShredStoreApartFromTheData(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want bool // a C010 error
	}{
		{"sqlite default", []string{"--data-dir", dir}, true},
		{"sqlite inside the data directory", []string{"--data-dir", dir, "--shred-store", filepath.Join(dir, "k", "shred.db")}, true},
		{"sqlite outside", []string{"--data-dir", dir, "--shred-store", filepath.Join(filepath.Dir(dir), "keys", "shred.db")}, false},
		{"postgres default", []string{"--database-url", "postgres://crm@db.example:5432/crm"}, true},
		{"postgres same database, other user and options", []string{"--database-url", "postgres://crm@db.example:5432/crm", "--shred-store", "postgres://keys@DB.example/crm?sslmode=require"}, true},
		{"postgres another database", []string{"--database-url", "postgres://crm@db.example:5432/crm", "--shred-store", "postgres://keys@db.example:5432/crm_keys"}, false},
		{"postgres another server", []string{"--database-url", "postgres://crm@db.example:5432/crm", "--shred-store", "postgres://keys@keys.example:5432/crm"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet("serve", io.Discard)
			s := addServeFlags(fs)
			if _, err := s.parse(fs, tt.args, env(nil)); err != nil {
				t.Fatal(err)
			}
			got := false
			for _, f := range deployChecks(s) {
				if f.ID == "C010" {
					got = f.Severity == sevError
				}
			}
			if got != tt.want {
				t.Fatalf("C010 error: %v, want %v", got, tt.want)
			}
		})
	}
}
