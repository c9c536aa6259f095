package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// fixture is a store with a short audit trail under a keyed chain, and
// how to back it up and restore into a fresh target of the same backend.
type fixture struct {
	store   *sqlstore.Store
	chain   *hashchain.Chain
	options Options
	target  func(t *testing.T) (Target, func() bool) // and "is the target still empty"
}

func keyedChain(t *testing.T) *hashchain.Chain {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c, err := hashchain.NewChain(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var fixtures = map[string]func(t *testing.T) fixture{
	"sqlite": func(t *testing.T) fixture {
		chain := keyedChain(t)
		store, dir := testdb.SQLiteWithChain(t, chain)
		return fixture{store: store, chain: chain,
			options: Options{Backend: SQLite, SnapshotFiles: func(ctx context.Context, dest string) (*sqlstore.Store, []string, error) {
				names, err := sqlite.Snapshot(ctx, dir, dest)
				if err != nil {
					return nil, nil, err
				}
				st, err := sqlite.Open(ctx, dest, sqlstore.Options{WithoutAuditChain: true})
				return st, names, err
			}},
			target: func(t *testing.T) (Target, func() bool) {
				dst := filepath.Join(t.TempDir(), "data")
				return Target{Backend: SQLite, Dir: dst, LatestSchema: 1 << 20, Keys: Keys{Chain: chain},
						OpenSQLite: func(ctx context.Context, dir string) (*sqlstore.Store, error) {
							return sqlite.Open(ctx, dir, sqlstore.Options{AuditChain: chain})
						}}, func() bool {
						entries, _ := os.ReadDir(dst)
						return len(entries) == 0
					}
			}}
	},
	"postgres": func(t *testing.T) fixture {
		chain := keyedChain(t)
		return fixture{store: testdb.PostgresWithChain(t, chain), chain: chain, options: Options{Backend: Postgres},
			target: func(t *testing.T) (Target, func() bool) {
				st, err := postgres.Open(context.Background(), testdb.PostgresSchemaURL(t), sqlstore.Options{AuditChain: chain})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return Target{Backend: Postgres, Store: st, LatestSchema: 1 << 20, Keys: Keys{Chain: chain}}, func() bool {
					empty, err := st.Empty(context.Background())
					if err != nil && !strings.Contains(err.Error(), "does not exist") {
						t.Fatal(err)
					}
					return err != nil || empty
				}
			}}
	},
}

// backedUp returns a backup of f's store with a few audit events, and the
// shred store a restore consults.
func backedUp(t *testing.T, f fixture) (string, custodian.ShredKeyStore) {
	t.Helper()
	ctx := context.Background()
	for _, a := range []string{"setting.change", "user.create", "token.issue"} {
		if err := f.store.AppendAudit(ctx, custodian.AuditEntry{Action: a, Subject: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "b.tar.gz")
	if _, err := Create(ctx, f.store, p, f.options); err != nil {
		t.Fatal(err)
	}
	shred, err := sqlite.OpenShred(ctx, filepath.Join(t.TempDir(), "shred.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shred.Close() })
	return p, shred
}

// repack extracts the backup at p, lets change alter its payload, and
// writes it again to a new file; with rehash the manifest's checksums
// are made to match the altered payload, as a forger would.
func repack(t *testing.T, p string, rehash bool, change func(m *Manifest, dir string)) string {
	t.Helper()
	dir := t.TempDir()
	m, err := Read(p, func(f File) (io.WriteCloser, error) {
		return os.Create(filepath.Join(dir, f.Name))
	})
	if err != nil {
		t.Fatal(err)
	}
	change(m, dir)
	if rehash {
		whole := sha256.New()
		for i, f := range m.Files {
			if m.Files[i], err = hashFile(filepath.Join(dir, f.Name), whole); err != nil {
				t.Fatal(err)
			}
		}
		m.PayloadSHA256 = hex.EncodeToString(whole.Sum(nil))
	}
	out := filepath.Join(t.TempDir(), "altered.tar.gz")
	var buf bytes.Buffer
	if err := pack(&buf, m, dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// alterActor rewrites the actor of the second audit event of an
// extracted backup, under the append-only guard.
func alterActor(t *testing.T, m *Manifest, dir string) {
	t.Helper()
	if m.Backend == SQLite {
		db, err := sql.Open("sqlite", filepath.Join(dir, "custodian.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	p := filepath.Join(dir, "audit_events.rows")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines[1] = strings.Replace(lines[1], `"anonymous"`, `"anonymoux"`, 1)
	if !strings.Contains(lines[1], "anonymoux") {
		t.Fatalf("no actor to alter in %s", lines[1])
	}
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreChecksBeforeWriting alters a backup's payload, with and
// without matching checksums: the checksum or the audit chain refuses it
// and the target stays empty; the untouched backup restores.
func TestRestoreChecksBeforeWriting(t *testing.T) {
	for name, mk := range fixtures {
		t.Run(name, func(t *testing.T) {
			f := mk(t)
			p, shred := backedUp(t, f)
			tests := []struct {
				name   string
				file   func(t *testing.T) string
				keys   func(k Keys) Keys
				want   error
				detail string
			}{
				{"payload changed, checksums kept", func(t *testing.T) string {
					return repack(t, p, false, func(m *Manifest, dir string) { alterActor(t, m, dir) })
				}, nil, ErrCorrupt, "does not match"},
				{"audit event changed, checksums forged", func(t *testing.T) string {
					return repack(t, p, true, func(m *Manifest, dir string) { alterActor(t, m, dir) })
				}, nil, ErrChain, "seq 2"},
				{"another keyring's chain", func(t *testing.T) string { return p }, func(k Keys) Keys {
					k.Chain = keyedChain(t)
					return k
				}, ErrChain, "keyring"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					target, empty := f.target(t)
					target.Shred = shred
					if tt.keys != nil {
						target.Keys = tt.keys(target.Keys)
					}
					file := tt.file(t)
					if _, err := Restore(context.Background(), file, target); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.detail) {
						t.Fatalf("restore: %v, want %v (%s)", err, tt.want, tt.detail)
					}
					if !empty() {
						t.Fatal("a refused restore wrote to the target")
					}
					if _, err := Verify(context.Background(), file, &target.Keys, "", target.OpenSQLite); !errors.Is(err, tt.want) {
						t.Fatalf("verify: %v, want %v", err, tt.want)
					}
				})
			}
			target, empty := f.target(t)
			target.Shred = shred
			res, err := Restore(context.Background(), p, target)
			if err != nil || empty() {
				t.Fatalf("restore of the intact backup: %v", err)
			}
			if res.Manifest.AuditHead.Seq != 3 || res.Manifest.Counts["audit_events"] != 3 {
				t.Fatalf("manifest: %+v", res.Manifest)
			}
		})
	}
}

// TestRotateKeepsTheNewest keeps the newest backups by name and leaves
// other files alone.
func TestRotateKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	names := []string{"custodian-20261201T000000.000Z.tar.gz", "custodian-20261203T000000.000Z.tar.gz", "custodian-20261202T000000.000Z.tar.gz", "notes.txt"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Rotate(dir, "custodian-", ".tar.gz", 2)
	if err != nil || len(removed) != 1 || removed[0] != names[0] {
		t.Fatalf("removed %v, %v", removed, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("left %d files", len(entries))
	}
	if _, err := Rotate(dir, "custodian-", ".tar.gz", 0); err == nil {
		t.Fatal("keeping none was accepted")
	}
}
