package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/sqlite"
)

// seedOld creates customers whose last activity was ten years ago in the
// data directory, as serve would have stored them, and returns their ids.
func seedOld(t *testing.T, dir, shredPath string, names ...string) []string {
	t.Helper()
	ctx := context.Background()
	k, _, _, err := crypto.LoadKeyring(crypto.LoadOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, dir, sealedBy(t, k))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	shred, err := sqlite.OpenShred(ctx, shredPath)
	if err != nil {
		t.Fatal(err)
	}
	defer shred.Close()
	old := time.Now().AddDate(-10, 0, 0)
	svc := customers.New(store, sealer, customers.Options{Shred: shred, Now: func() time.Time { return old }})
	var ids []string
	for _, n := range names {
		c, err := svc.CreateCustomer(ctx, custodian.CustomerFields{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

// TestPrivacyCommands drives the shell commands: retention (dry run, then
// for real, sparing a held customer), legal holds, erasure, export and the
// record of processing.
func TestPrivacyCommands(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir, "CUSTODIAN_SHRED_STORE": filepath.Join(root, "keys", "shred.db")}
	ids := seedOld(t, dir, vars["CUSTODIAN_SHRED_STORE"], "Old One", "Old Two", "Old Held")
	held := ids[2]

	if _, _, err := runCmd(t, vars, "hold", "--customer", held); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Fatalf("hold without a reason: %v", err)
	}
	if out, _, err := runCmd(t, vars, "hold", "--customer", held, "--reason", "Case 9"); err != nil || !strings.Contains(out, "legal hold") {
		t.Fatalf("hold: %v %s", err, out)
	}
	out, _, err := runCmd(t, vars, "retention", "run", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: 2 customers are due") || !strings.Contains(out, "due: "+ids[0]) || strings.Contains(out, held) {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, progress, err := runCmd(t, vars, "retention", "run")
	if err != nil || !strings.Contains(out, "anonymized 2 of 2 due customers") {
		t.Fatalf("retention run: %v\n%s", err, out)
	}
	if !strings.Contains(progress, "retention: 2 of 2 customers anonymized") {
		t.Fatalf("no progress line:\n%s", progress)
	}
	if out, _, err := runCmd(t, vars, "retention", "run"); err != nil || !strings.Contains(out, "anonymized 0 of 0") {
		t.Fatalf("second run: %v\n%s", err, out)
	}

	// Erasure respects the hold until it is lifted; erasing again is a no-op.
	if _, _, err := runCmd(t, vars, "erase", "--customer", held, "--reason", "asked"); custodian.ErrorCode(err) != custodian.ECONFLICT {
		t.Fatalf("erasing a held customer: %v", err)
	}
	if _, _, err := runCmd(t, vars, "hold", "--customer", held, "--reason", "Case closed", "--lift"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, vars, "export", "--customer", held, "--purpose", "access request"); err != nil || !strings.Contains(out, `"name": "Old Held"`) {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, _, err := runCmd(t, vars, "erase", "--customer", held, "--reason", "asked", "--purpose", "erasure request"); err != nil || !strings.Contains(out, "erased "+held) {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	if out, _, err := runCmd(t, vars, "erase", "--customer", held, "--reason", "asked"); err != nil || !strings.Contains(out, "already erased") {
		t.Fatalf("erase again: %v\n%s", err, out)
	}

	// The export of an erased customer, to a file.
	file := filepath.Join(root, "export.json")
	if _, _, err := runCmd(t, vars, "export", "--customer", held, "--out", file); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var x custodian.Export
	if err := json.Unmarshal(b, &x); err != nil || x.Customer != nil || x.Erased == nil || x.Erased.Reason != "asked" || strings.Contains(string(b), "Old Held") {
		t.Fatalf("erased export: %v\n%s", err, b)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file mode %v", fi.Mode())
	}

	out, _, err = runCmd(t, vars, "processing", "--customer", held)
	if err != nil || !strings.Contains(out, "customer.export") || !strings.Contains(out, "access request") || !strings.Contains(out, "erasure request") || !strings.Contains(out, "3 accesses") {
		t.Fatalf("processing: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, vars, "export", "--customer", "nope"); err == nil {
		t.Fatal("export of a malformed id")
	}
}

// TestServeRunsRetentionAndAnswersGone: the retention job inside serve
// anonymizes customers that are due, and the API answers 410 with the
// tombstone for them.
func TestServeRunsRetentionAndAnswersGone(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir, "CUSTODIAN_SHRED_STORE": filepath.Join(root, "keys", "shred.db"), "CUSTODIAN_RETENTION_INTERVAL": "1h"}
	ids := seedOld(t, dir, vars["CUSTODIAN_SHRED_STORE"], "Due Customer")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, logs := startServer(t, ctx, vars)
	tok := adminToken(t, vars)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := getCustomer(t, base, tok, ids[0])
		if code == http.StatusGone {
			var p struct {
				Code      string
				Tombstone custodian.Tombstone
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != custodian.EGONE || p.Tombstone.Mechanism != custodian.ErasedRetention || !p.Tombstone.KeyDestroyed {
				t.Fatalf("410 body: %v %s", err, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retention job did not run: %d %s\n%s", code, body, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"msg":"retention run"`) || strings.Contains(logs.String(), "Due Customer") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
