package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/storetest"
)

// trailBackend is a database with a keyring, as the audit commands see it
// (vars), and the same database opened directly, as an attacker with the
// database owner's rights would (the audit contract's backend).
type trailBackend struct {
	storetest.AuditBackend
	vars map[string]string
}

func trailBackends() map[string]func(t *testing.T) trailBackend {
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
			return trailBackend{AuditBackend: testdb.SQLiteAudit(s), vars: vars}
		},
		"PostgreSQL": func(t *testing.T) trailBackend {
			url := testdb.PostgresSchemaURL(t)
			vars := map[string]string{"CUSTODIAN_DATABASE_URL": url, "CUSTODIAN_DATA_DIR": t.TempDir()}
			k := newKeyring(t, vars)
			s := testdb.OpenPostgres(t, url, sealedBy(t, k).AuditChain)
			return trailBackend{AuditBackend: testdb.PostgresAudit(s), vars: vars}
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

// appendReads appends n customer reads by usr_x to the trail, as the
// server would.
func (b trailBackend) appendReads(t *testing.T, n int) {
	t.Helper()
	ctx := custodian.WithActor(context.Background(), "usr_x")
	for i := range n {
		if err := b.Store.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

var anchorLine = regexp.MustCompile(`head anchor: (\d+:[0-9a-f]{64})`)

// TestAuditVerifyCatchesTampering drives "custodian audit verify" against
// real SQLite and PostgreSQL databases: an intact trail verifies and gives
// an anchor; each kind of tampering the storage contract simulates, and
// cutting off the newest events, makes the command fail, naming the first
// broken event and the kind of break.
func TestAuditVerifyCatchesTampering(t *testing.T) {
	type verifyCase struct {
		storetest.Tampering
		anchor bool // verify with the anchor recorded before tampering
	}
	cases := []verifyCase{
		// The newest events cut off, the head row left as it was.
		{Tampering: storetest.Tampering{Name: "TruncateTail", SQL: []string{`DELETE FROM audit_events WHERE seq >= 5`}, Seq: 5, Kind: hashchain.Truncated}},
		// The newest events cut off and the head row rewritten to match:
		// only an anchor kept elsewhere shows it.
		{Tampering: storetest.Tampering{Name: "TruncateWithHead", SQL: []string{
			`DELETE FROM audit_events WHERE seq >= 5`,
			`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4) WHERE id = 1`,
		}, Seq: 5, Kind: hashchain.Truncated}, anchor: true},
	}
	// The trail is keyed, as serve keeps it.
	for _, tc := range storetest.Tamperings() {
		cases = append(cases, verifyCase{Tampering: tc})
	}
	for name, open := range trailBackends() {
		t.Run(name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.Name, func(t *testing.T) {
					b := open(t)
					// One event through the command line, the rest as
					// the server would append them.
					if _, _, err := runCmdIn(t, b.vars, testPassword+"\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"); err != nil {
						t.Fatal(err)
					}
					b.appendReads(t, 5)
					out, _, err := runCmd(t, b.vars, "audit", "verify")
					m := anchorLine.FindStringSubmatch(out)
					if err != nil || !strings.Contains(out, "verified 6 events (seq 1 to 6)") || m == nil {
						t.Fatalf("intact trail: %v\n%s", err, out)
					}
					anchor := m[1]
					if head, _, err := runCmd(t, b.vars, "audit", "head"); err != nil || strings.TrimSpace(head) != anchor {
						t.Fatalf("audit head = %q (%v), want %s", head, err, anchor)
					}
					b.Tamper(t, tc.Tampering)
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
					want := fmt.Sprintf("BROKEN at seq %d (%s)", tc.Seq, tc.Kind)
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
	for name, open := range trailBackends() {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			b.appendReads(t, 3)
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
			evs, err := b.Store.AuditEvents(context.Background(), custodian.AuditQuery{Action: custodian.ActionUserCreate})
			if err != nil || len(evs) != 1 || evs[0].Actor != custodian.ActorCLI {
				t.Fatalf("user.create events = %+v, %v", evs, err)
			}
			// A wrong anchor is an edit.
			if out, _, err := runCmd(t, b.vars, "audit", "verify", "--anchor", "2:"+strings.Repeat("ab", 32)); !errors.Is(err, ErrChainBroken) || !strings.Contains(out, "BROKEN at seq 2 (edited)") {
				t.Fatalf("wrong anchor: %v\n%s", err, out)
			}
			// Re-hash an edited event with plain SHA-256 and relink its
			// successor: without the chain key the forgery shows.
			b.Tamper(t, storetest.Tampering{SQL: []string{`UPDATE audit_events SET actor = 'usr_mallory' WHERE seq = 2`}, Rehash: 2})
			if out, _, err := runCmd(t, b.vars, "audit", "verify"); !errors.Is(err, ErrChainBroken) || !strings.Contains(out, "BROKEN at seq 2 (edited)") {
				t.Fatalf("re-hashed without the key: %v\n%s", err, out)
			}
		})
	}
}

// TestAuditVerifyCoversReadLog checks that "custodian audit verify"
// verifies the read log against the seals in the trail, and fails when a
// sealed read record is changed.
func TestAuditVerifyCoversReadLog(t *testing.T) {
	for name, open := range trailBackends() {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			s := b.Store.(*sqlstore.Store)
			ctx := custodian.WithActor(context.Background(), "usr_x")
			for range 3 {
				if err := s.RecordRead(ctx, custodian.NewCustomerID()); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SealReads(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordRead(ctx, custodian.NewCustomerID()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Reads(ctx, custodian.ReadQuery{Limit: 1}); err != nil { // written, not sealed
				t.Fatal(err)
			}
			out, _, err := runCmd(t, b.vars, "audit", "verify")
			if err != nil || !strings.Contains(out, "read log: 3 read records verified against 1 seals; 1 recorded since the last seal") {
				t.Fatalf("intact read log: %v\n%s", err, out)
			}
			if _, err := s.ReadLogDB().ExecContext(ctx, s.Rebind(`UPDATE read_names SET name = ? WHERE name = ?`), "usr_mallory", "usr_x"); err != nil {
				t.Fatal(err)
			}
			out, _, err = runCmd(t, b.vars, "audit", "verify")
			if !errors.Is(err, ErrChainBroken) || !strings.Contains(out, "READ LOG BROKEN at read record 1") {
				t.Fatalf("changed read record: %v\n%s", err, out)
			}
		})
	}
}

// TestAuditArchiveAndVerifyAcrossArchives archives old events with
// "custodian audit archive", then verifies the database alone, the archive
// and the database together, and catches an altered archive and events
// removed from the database without an archive.
func TestAuditArchiveAndVerifyAcrossArchives(t *testing.T) {
	for name, open := range trailBackends() {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			s := b.Store.(*sqlstore.Store)
			ctx := custodian.WithActor(context.Background(), "usr_x")
			old := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
			for i := range 4 {
				if err := s.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionUserUpdate, Subject: fmt.Sprintf("usr_%d", i), Time: old.Add(time.Duration(i) * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			// Reads sealed by an event that goes into the archive too.
			if err := s.RecordRead(ctx, custodian.NewCustomerID()); err != nil {
				t.Fatal(err)
			}
			if err := s.SealReads(ctx); err != nil {
				t.Fatal(err)
			}
			b.appendReads(t, 2) // now: stays in the database
			dir := t.TempDir()
			out, _, err := runCmd(t, b.vars, "audit", "archive", "--before", "2026-02-01", "--out", dir)
			if err != nil || !strings.Contains(out, "archived events 1 to 4 into") {
				t.Fatalf("archive: %v\n%s", err, out)
			}
			file := filepath.Join(dir, "audit-000000000001-000000000004.jsonl.gz")
			if out, _, err := runCmd(t, b.vars, "audit", "archive", "--before", "2026-02-01", "--out", dir); err != nil || !strings.Contains(out, "no events before") {
				t.Fatalf("archive again: %v\n%s", err, out)
			}
			out, _, err = runCmd(t, b.vars, "audit", "verify")
			if err != nil || !strings.Contains(out, "events 1 to 4 are archived") || !strings.Contains(out, "(seq 5 to 8)") {
				t.Fatalf("database alone: %v\n%s", err, out)
			}
			out, _, err = runCmd(t, b.vars, "audit", "verify", "--archive", file)
			if err != nil || !strings.Contains(out, "verified 8 events (seq 1 to 8)") || !strings.Contains(out, "read log: 1 read records verified against 1 seals") {
				t.Fatalf("archive and database: %v\n%s", err, out)
			}
			// An altered archive file is refused.
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, "bad.jsonl.gz")
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(bad, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, _, err := runCmd(t, b.vars, "audit", "verify", "--archive", bad); !errors.Is(err, hashchain.ErrArchive) {
				t.Fatalf("altered archive: %v\n%s", err, out)
			}
			// Events removed with the archive start moved, but no archive
			// recorded: the trail says so.
			for _, q := range []string{
				`UPDATE audit_archive SET through = 5, hash = (SELECT hash FROM audit_events WHERE seq = 5) WHERE id = 1`,
				`DELETE FROM audit_events WHERE seq = 5`,
			} {
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if out, _, err := runCmd(t, b.vars, "audit", "verify"); !errors.Is(err, ErrChainBroken) || !strings.Contains(out, "the database starts after seq 5, but the trail records archives up to seq 4") {
				t.Fatalf("events removed without an archive: %v\n%s", err, out)
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
