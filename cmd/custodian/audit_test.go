package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlstore"
)

// trailBackend is a database with a keyring, as the audit commands see it
// (vars), and the same database opened directly, as an attacker with the
// database owner's rights would (store, q, unguard).
type trailBackend struct {
	vars    map[string]string
	store   *sqlstore.Store
	unguard []string // statements that lift the append-only guard
}

func trailBackends(t *testing.T) map[string]func(t *testing.T) trailBackend {
	// newKeyring returns a new keyring, and vars with it, as the audit
	// commands will see it.
	newKeyring := func(t *testing.T, vars map[string]string) *crypto.Keyring {
		k, err := crypto.NewKeyring()
		if err != nil {
			t.Fatal(err)
		}
		text, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		vars["CUSTODIAN_MASTER_KEY"] = string(text)
		return k
	}
	return map[string]func(t *testing.T) trailBackend{
		"SQLite": func(t *testing.T) trailBackend {
			vars := map[string]string{}
			k := newKeyring(t, vars)
			s, dir := testdb.SQLiteWithChain(t, sealedBy(t, k).AuditChain)
			vars["CUSTODIAN_DATA_DIR"] = dir
			return trailBackend{vars: vars, store: s,
				unguard: []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}}
		},
		"PostgreSQL": func(t *testing.T) trailBackend {
			url := testdb.PostgresSchemaURL(t)
			vars := map[string]string{"CUSTODIAN_DATABASE_URL": url, "CUSTODIAN_DATA_DIR": t.TempDir()}
			k := newKeyring(t, vars)
			s, err := postgres.Open(context.Background(), url, sealedBy(t, k))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return trailBackend{vars: vars, store: s, unguard: []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}}
		},
	}
}

// sealedBy returns the options of a store whose trail is sealed with k's
// chain key, as serve does.
func sealedBy(t *testing.T, k *crypto.Keyring) sqlstore.Options {
	t.Helper()
	chain, err := hashchain.NewChain(k.AuditChainKey())
	if err != nil {
		t.Fatal(err)
	}
	return sqlstore.Options{AuditChain: chain}
}

func (b trailBackend) exec(t *testing.T, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := b.store.DB().ExecContext(context.Background(), b.store.Rebind(q)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

var anchorLine = regexp.MustCompile(`head anchor: (\d+:[0-9a-f]{64})`)

// TestAuditVerifyCatchesTampering drives "custodian audit verify" against
// real SQLite and PostgreSQL databases: an intact trail verifies and gives
// an anchor; each kind of tampering makes the command fail, naming the
// first broken event and the kind of break.
func TestAuditVerifyCatchesTampering(t *testing.T) {
	cases := []struct {
		name   string
		sql    []string
		anchor bool // verify with the anchor recorded before tampering
		seq    int64
		kind   hashchain.BreakKind
	}{
		{"Edit", []string{`UPDATE audit_events SET actor = 'usr_mallory' WHERE seq = 3`}, false, 3, hashchain.Edited},
		{"Delete", []string{`DELETE FROM audit_events WHERE seq = 4`}, false, 4, hashchain.Deleted},
		{"Reorder", []string{
			`UPDATE audit_events SET seq = -1 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = -1`,
		}, false, 3, hashchain.Edited},
		{"Insert", []string{
			`UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3`,
			`UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103`,
			`INSERT INTO audit_events (seq, time_us, actor, action, subject, client_addr, request_id, fields, data, prev_hash, hash)
				SELECT 3, time_us, 'usr_mallory', action, subject, client_addr, request_id, fields, data, hash, hash FROM audit_events WHERE seq = 2`,
		}, false, 3, hashchain.Edited},
		// The newest events cut off, the head row left as it was.
		{"TruncateTail", []string{`DELETE FROM audit_events WHERE seq >= 5`}, false, 5, hashchain.Truncated},
		// The newest events cut off and the head row rewritten to match:
		// only an anchor kept elsewhere shows it.
		{"TruncateWithHead", []string{
			`DELETE FROM audit_events WHERE seq >= 5`,
			`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4) WHERE id = 1`,
		}, true, 5, hashchain.Truncated},
	}
	for name, open := range trailBackends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					b := open(t)
					// One event through the command line, the rest as
					// the server would append them.
					if _, _, err := runCmdIn(t, b.vars, testPassword+"\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"); err != nil {
						t.Fatal(err)
					}
					ctx := custodian.WithActor(context.Background(), "usr_x")
					for i := range 5 {
						if err := b.store.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_%d", i)}); err != nil {
							t.Fatal(err)
						}
					}
					out, _, err := runCmd(t, b.vars, "audit", "verify")
					m := anchorLine.FindStringSubmatch(out)
					if err != nil || !strings.Contains(out, "verified 6 events (seq 1 to 6)") || m == nil {
						t.Fatalf("intact trail: %v\n%s", err, out)
					}
					anchor := m[1]
					if head, _, err := runCmd(t, b.vars, "audit", "head"); err != nil || strings.TrimSpace(head) != anchor {
						t.Fatalf("audit head = %q (%v), want %s", head, err, anchor)
					}
					b.exec(t, b.unguard...)
					b.exec(t, tc.sql...)
					args := []string{"audit", "verify"}
					if tc.anchor {
						// Without the anchor the shortened trail looks whole.
						if out, _, err := runCmd(t, b.vars, args...); err != nil {
							t.Fatalf("shortened trail without the anchor: %v\n%s", err, out)
						}
						args = append(args, "--anchor", anchor)
					}
					out, _, err = runCmd(t, b.vars, args...)
					if !errors.Is(err, ErrChainBroken) {
						t.Fatalf("verify after tampering: %v\n%s", err, out)
					}
					want := fmt.Sprintf("BROKEN at seq %d (%s)", tc.seq, tc.kind)
					if !strings.Contains(out, want) {
						t.Fatalf("verify said:\n%s\nwant %q", out, want)
					}
				})
			}
		})
	}
}

// TestAuditVerifyFromAnchorAndKey checks incremental verification from an
// anchor, that the command-line actor is recorded, and that an event
// re-hashed without the chain key (as a database-only attacker must) is
// caught.
func TestAuditVerifyFromAnchorAndKey(t *testing.T) {
	for name, open := range trailBackends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			ctx := custodian.WithActor(context.Background(), "usr_x")
			for i := range 3 {
				if err := b.store.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			out, _, err := runCmd(t, b.vars, "audit", "verify")
			m := anchorLine.FindStringSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
			if _, _, err := runCmdIn(t, b.vars, testPassword+"\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"); err != nil {
				t.Fatal(err)
			}
			out, _, err = runCmd(t, b.vars, "audit", "verify", "--from-anchor", m[1])
			if err != nil || !strings.Contains(out, "verified 1 events (seq 4 to 4)") {
				t.Fatalf("incremental verify: %v\n%s", err, out)
			}
			evs, err := b.store.AuditEvents(context.Background(), custodian.AuditQuery{Action: custodian.ActionUserCreate})
			if err != nil || len(evs) != 1 || evs[0].Actor != custodian.ActorCLI {
				t.Fatalf("user.create events = %+v, %v", evs, err)
			}
			// A wrong anchor is an edit.
			if out, _, err := runCmd(t, b.vars, "audit", "verify", "--anchor", "2:"+strings.Repeat("ab", 32)); !errors.Is(err, ErrChainBroken) || !strings.Contains(out, "BROKEN at seq 2 (edited)") {
				t.Fatalf("wrong anchor: %v\n%s", err, out)
			}
			// Re-hash an edited event with plain SHA-256 and relink its
			// successor: without the chain key the forgery shows.
			b.exec(t, b.unguard...)
			b.exec(t, `UPDATE audit_events SET actor = 'usr_mallory' WHERE seq = 2`)
			var e hashchain.Event
			for ev, err := range b.store.AuditChain(context.Background(), 1) {
				if err != nil {
					t.Fatal(err)
				}
				e = ev
				break
			}
			(&hashchain.Chain{}).Seal(e.PrevHash, &e)
			for _, q := range []struct {
				sql string
				arg any
			}{{`UPDATE audit_events SET hash = ? WHERE seq = 2`, e.Hash}, {`UPDATE audit_events SET prev_hash = ? WHERE seq = 3`, e.Hash}} {
				if _, err := b.store.DB().Exec(b.store.Rebind(q.sql), q.arg); err != nil {
					t.Fatal(err)
				}
			}
			if out, _, err := runCmd(t, b.vars, "audit", "verify"); !errors.Is(err, ErrChainBroken) || !strings.Contains(out, "BROKEN at seq 2 (edited)") {
				t.Fatalf("re-hashed without the key: %v\n%s", err, out)
			}
		})
	}
}

func TestAuditAnchorFlag(t *testing.T) {
	for _, bad := range []string{"", "5", "0:ab", "x:ab", "5:zz", "5:"} {
		if _, err := parseAnchor(bad); err == nil {
			t.Errorf("parseAnchor(%q) accepted", bad)
		}
	}
	a, err := parseAnchor("12:00ff")
	if err != nil || a.Seq != 12 || formatAnchor(a) != "12:00ff" {
		t.Fatalf("parseAnchor = %+v, %v", a, err)
	}
}

// runCmdIn is runCmd with standard input.
func runCmdIn(t *testing.T, vars map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"custodian"}, args...), env(vars), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}
