package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
)

// runCmd runs one command in-process and returns its output.
func runCmd(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"custodian"}, args...), env(vars), nil, &out, &errb)
	return out.String(), errb.String(), err
}

func readKeyring(t *testing.T, path string) *crypto.Keyring {
	t.Helper()
	k, err := crypto.ReadKeyringFile(path, true) // also checks mode 0600
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyMaterial returns the base64 keys in a keyring file, to check that no
// output reveals them.
func keyMaterial(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Keys     []struct{ Key string }
		IndexKey string `json:"index_key"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := []string{f.IndexKey}
	for _, k := range f.Keys {
		out = append(out, k.Key)
	}
	return out
}

func getCustomer(t *testing.T, base, tok, id string) (int, string) {
	t.Helper()
	code, b := request(t, "GET", base+"/api/customers/"+id+"/", "", "Authorization", "Bearer "+tok)
	return code, string(b)
}

func createCustomer(t *testing.T, base, tok, name string) string {
	t.Helper()
	code, b := request(t, "POST", base+"/api/customers/", fmt.Sprintf(`{"name":%q}`, name), "Authorization", "Bearer "+tok)
	var c struct{ ID string }
	if err := json.Unmarshal(b, &c); err != nil || code != 201 {
		t.Fatalf("create: %d %v", code, err)
	}
	return c.ID
}

// TestKeysRotateWhileServing rotates the master key of a running server's
// database: the server keeps reading every customer, including those
// re-wrapped under a key it did not load at start, and then wraps new
// customers under the new key; the old key is retired only when unused.
func TestKeysRotateWhileServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// Many quick requests: lift the per-client API limit for this test.
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir, "CUSTODIAN_RATE_LIMIT_API": "1000/s,burst=1000"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, logs := startServer(t, ctx, vars)
	tok := adminToken(t, vars)
	var ids []string
	for i := range 30 {
		ids = append(ids, createCustomer(t, base, tok, fmt.Sprintf("Rotated Person%d", i)))
	}
	keyPath := filepath.Join(dir, crypto.DevKeyringName)
	oldID := readKeyring(t, keyPath).ActiveKeyID()
	secrets := keyMaterial(t, keyPath)

	out, _, err := runCmd(t, vars, "keys", "status")
	if err != nil || !hasLine(out, oldID, "active", "30") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, vars, "keys", "retire", oldID); err == nil || !strings.Contains(err.Error(), "active") {
		t.Fatalf("retiring the active key: %v", err)
	}

	out, progress, err := runCmd(t, vars, "keys", "rotate", "--batch", "7")
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	k := readKeyring(t, keyPath)
	newID := k.ActiveKeyID()
	if newID == oldID || len(k.KeyIDs()) != 2 {
		t.Fatalf("keyring after rotate: %v, active %s", k.KeyIDs(), newID)
	}
	for _, want := range []string{"added master key " + newID, "re-wrapped 30 data keys under " + newID, "master keys in use: " + newID + " 30 (active)", "every customer is under the active key"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rotate output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(progress, "rotation: 7 of 30 data keys re-wrapped") {
		t.Fatalf("no progress line on a non-terminal stderr:\n%s", progress)
	}
	for _, s := range secrets {
		if strings.Contains(out+progress, s) {
			t.Fatal("rotate printed key material")
		}
	}

	// The server, started with the old keyring only, reads every customer.
	for i, id := range ids {
		code, body := getCustomer(t, base, tok, id)
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"name":"Rotated Person%d"`, i)) {
			t.Fatalf("customer %s after rotation: %d %s\n%s", id, code, body, logs)
		}
	}
	createCustomer(t, base, tok, "After Rotation")
	out, _, err = runCmd(t, vars, "keys", "status")
	if err != nil || !hasLine(out, newID, "active", "31") || !hasLine(out, oldID, "unused", "0") {
		t.Fatalf("status after rotation: %v\n%s", err, out)
	}

	// An operator installs a keyring with yet another key: the old one
	// cannot be retired while it protects customers, and rotate resumes
	// (re-wrapping under the active key) instead of adding a key.
	newest := k.AddMasterKey()
	if err := crypto.WriteKeyringFile(keyPath, k); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, vars, "keys", "retire", newID)
	if err == nil || !strings.Contains(err.Error(), "still protects 31 customers") {
		t.Fatalf("retire in use: %v", err)
	}
	if len(readKeyring(t, keyPath).KeyIDs()) != 3 {
		t.Fatal("a refused retire changed the keyring")
	}
	out, _, err = runCmd(t, vars, "keys", "rotate")
	if err != nil || !strings.Contains(out, "resuming: 31 data keys") || !strings.Contains(out, "re-wrapped 31 data keys under "+newest) {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	for _, id := range []string{oldID, newID} {
		out, _, err = runCmd(t, vars, "keys", "retire", "--data-dir", dir, id)
		if err != nil || !strings.Contains(out, "retired master key "+id) {
			t.Fatalf("retire %s: %v %s", id, err, out)
		}
	}
	if got := readKeyring(t, keyPath).KeyIDs(); len(got) != 1 || got[0] != newest {
		t.Fatalf("keyring after retiring = %v", got)
	}
	// After a SIGHUP-equivalent reload the server still reads everyone.
	for _, id := range ids {
		if code, _ := getCustomer(t, base, tok, id); code != 200 {
			t.Fatalf("customer %s after retirement: %d", id, code)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// hasLine reports whether some line of out consists of the given words.
func hasLine(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if slices.Equal(strings.Fields(line), words) {
			return true
		}
	}
	return false
}

// TestServeReloadsKeyringOnHangup: SIGHUP makes a running server reread
// its keyring file.
func TestServeReloadsKeyringOnHangup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done, logs := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": dir})
	path := filepath.Join(dir, crypto.DevKeyringName)
	k := readKeyring(t, path)
	newID := k.AddMasterKey()
	if err := crypto.WriteKeyringFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"keyring reloaded","active_key":"`+newID+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// seedPostgres stores n customers sealed under k in the database at url.
func seedPostgres(t *testing.T, url string, k *crypto.Keyring, n int) []string {
	t.Helper()
	store, err := postgres.Open(context.Background(), url, sealedBy(t, k))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	sealer, _ := crypto.NewSealer(k, 0)
	svc := customers.New(store, sealer, customers.Options{})
	var fs []custodian.CustomerFields
	for i := range n {
		fs = append(fs, custodian.CustomerFields{Name: fmt.Sprintf("Env Person%d", i)})
	}
	cs, err := svc.ImportCustomers(context.Background(), fs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// TestKeysRotateEnvironmentKeyring covers a keyring given in
// CUSTODIAN_MASTER_KEY, on PostgreSQL: it cannot be rewritten, so rotate
// explains what to do, writes the new keyring elsewhere without re-wrapping,
// and re-wraps once run with that keyring.
func TestKeysRotateEnvironmentKeyring(t *testing.T) {
	url := testdb.PostgresSchemaURL(t)
	k, _ := crypto.NewKeyring()
	text, _ := k.MarshalText()
	ids := seedPostgres(t, url, k, 12)
	vars := map[string]string{"CUSTODIAN_MASTER_KEY": string(text), "CUSTODIAN_DATABASE_URL": url}

	_, _, err := runCmd(t, vars, "keys", "rotate")
	if err == nil || !strings.Contains(err.Error(), "--keyring-out") || !strings.Contains(err.Error(), "--rewrap-only") {
		t.Fatalf("rotate with an environment keyring: %v", err)
	}
	outFile := filepath.Join(t.TempDir(), "keyring-new.json")
	out, _, err := runCmd(t, vars, "keys", "rotate", "--keyring-out", outFile)
	if err != nil || !strings.Contains(out, "No data key was re-wrapped") {
		t.Fatalf("rotate --keyring-out: %v\n%s", err, out)
	}
	nk := readKeyring(t, outFile)
	if nk.ActiveKeyID() == k.ActiveKeyID() || len(nk.KeyIDs()) != 2 {
		t.Fatalf("new keyring: %v active %s", nk.KeyIDs(), nk.ActiveKeyID())
	}
	out, _, err = runCmd(t, vars, "keys", "status")
	if err != nil || !hasLine(out, k.ActiveKeyID(), "active", "12") {
		t.Fatalf("status after --keyring-out: %v\n%s", err, out)
	}

	newText, _ := nk.MarshalText()
	vars["CUSTODIAN_MASTER_KEY"] = string(newText)
	out, _, err = runCmd(t, vars, "keys", "rotate", "--rewrap-only")
	if err != nil || !strings.Contains(out, "re-wrapped 12 data keys under "+nk.ActiveKeyID()) {
		t.Fatalf("rotate --rewrap-only: %v\n%s", err, out)
	}
	// The rotation's audit events are sealed with the keyring's chain key,
	// as every other event is.
	if out, _, err := runCmd(t, vars, "audit", "verify"); err != nil {
		t.Fatalf("audit verify after the rotation: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, vars, "keys", "retire", k.ActiveKeyID()); err == nil || !strings.Contains(err.Error(), "--keyring-out") {
		t.Fatalf("retire from an environment keyring: %v", err)
	}
	retired := filepath.Join(t.TempDir(), "keyring-retired.json")
	if _, _, err := runCmd(t, vars, "keys", "retire", k.ActiveKeyID(), "--keyring-out", retired); err != nil {
		t.Fatal(err)
	}

	// Only the new key remains, and every customer opens with it.
	store, err := postgres.Open(context.Background(), url, sealedBy(t, readKeyring(t, retired)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sealer, _ := crypto.NewSealer(readKeyring(t, retired), 0)
	svc := customers.New(store, sealer, customers.Options{})
	for i, id := range ids {
		c, err := svc.Customer(context.Background(), id)
		if err != nil || c.Name != fmt.Sprintf("Env Person%d", i) {
			t.Fatalf("customer %s: %+v %v", id, c, err)
		}
	}
}

// TestKeysStatusWarnsAboutMissingKeys: records under a master key the
// keyring lacks are reported loudly, with a failing exit, and no command
// prints key material.
func TestKeysStatusWarnsAboutMissingKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir}
	if _, _, err := runCmd(t, vars, "keys", "status"); err == nil || !strings.Contains(err.Error(), "no development keyring") {
		t.Fatalf("status without a keyring: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, crypto.DevKeyringName)); err == nil {
		t.Fatal("a key command generated a keyring")
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, done, _ := startServer(t, ctx, vars)
	tok := adminToken(t, vars)
	createCustomer(t, base, tok, "Lost Key")
	cancel()
	<-done

	other, _ := crypto.NewKeyring()
	otherPath := filepath.Join(t.TempDir(), "other.json")
	if err := crypto.WriteKeyringFile(otherPath, other); err != nil {
		t.Fatal(err)
	}
	lostID := readKeyring(t, filepath.Join(dir, crypto.DevKeyringName)).ActiveKeyID()
	vars["CUSTODIAN_MASTER_KEY_FILE"] = otherPath
	out, errOut, err := runCmd(t, vars, "keys", "status")
	if err == nil || !strings.Contains(errOut, "WARNING: 1 customer records are under master keys that are not in this keyring ("+lostID+")") || !hasLine(out, lostID, "MISSING", "1") {
		t.Fatalf("status with a missing key: %v\n%s\n%s", err, out, errOut)
	}
	_, _, err = runCmd(t, vars, "keys", "rotate", "--rewrap-only")
	if err == nil || !strings.Contains(err.Error(), "1 under "+lostID) {
		t.Fatalf("rotate with a missing key: %v", err)
	}
	for _, s := range append(keyMaterial(t, otherPath), keyMaterial(t, filepath.Join(dir, crypto.DevKeyringName))...) {
		if strings.Contains(out+errOut+err.Error(), s) {
			t.Fatal("key material in output")
		}
	}
}

func TestKeysCommandErrors(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir}
	for _, args := range [][]string{
		{"keys"}, {"keys", "frobnicate"}, {"keys", "retire"}, {"keys", "retire", "a", "b"},
		{"keys", "rotate", "--batch", "0"}, {"keys", "rotate", "--rewrap-only", "--keyring-out", "x"},
		{"keys", "status", "extra"},
	} {
		if _, _, err := runCmd(t, vars, args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	if out, _, err := runCmd(t, vars, "keys", "help"); err != nil || !strings.Contains(out, "retire KEYID") {
		t.Fatalf("keys help: %v %s", err, out)
	}
	if _, _, err := runCmd(t, vars, "keys", "status", "--production"); err == nil || !strings.Contains(err.Error(), "production requires") {
		t.Fatalf("production without a keyring: %v", err)
	}
}
