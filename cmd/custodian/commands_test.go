package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/crypto"
)

// TestEveryLevelListsAndRefusesAlike: the program and each command with
// sub-commands print their usage, generated from their table, for help,
// and refuse a missing or unknown sub-command the same way.
func TestEveryLevelListsAndRefusesAlike(t *testing.T) {
	levels := map[string][]string{
		"":          {"serve", "migrate", "keys", "audit", "retention", "version"},
		"keys":      {"status", "rotate", "retire KEYID"},
		"audit":     {"verify [--from-anchor SEQ:HEX]", "head"},
		"user":      {"create --email E --role R [--name N] --password-stdin", "role --email E --role R", "unlock --email E"},
		"token":     {"create --email E --name N [--expires-in-days D]"},
		"retention": {"run [--dry-run]"},
	}
	for level, want := range levels {
		t.Run("level "+level, func(t *testing.T) {
			var prefix []string
			path := "custodian"
			if level != "" {
				prefix = []string{level}
				path += " " + level
			}
			out, _, err := runCmd(t, nil, append(prefix, "help")...)
			if err != nil || !strings.HasPrefix(out, "Usage: "+path+" <command> [flags]") || !strings.Contains(out, `Run "`+path+` <command> -h"`) {
				t.Fatalf("help: %v\n%s", err, out)
			}
			for _, w := range want {
				if !strings.Contains(out, "  "+w) {
					t.Errorf("usage lacks %q:\n%s", w, out)
				}
			}
			_, errOut, err := runCmd(t, nil, append(prefix, "frobnicate")...)
			if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) || !strings.HasPrefix(errOut, "Usage: "+path) {
				t.Fatalf("unknown command: %v\n%s", err, errOut)
			}
			if level == "" {
				return
			}
			if _, errOut, err = runCmd(t, nil, level); err == nil || err.Error() != level+": no command given" || !strings.HasPrefix(errOut, "Usage: "+path) {
				t.Fatalf("no command: %v\n%s", err, errOut)
			}
		})
	}
}

// TestKeyFlagsEverywhere: every command that needs the keyring finds it
// through the same --master-key-file, set on the command line, in
// CUSTODIAN_MASTER_KEY_FILE or in the configuration file, and none of
// them then writes a development keyring.
func TestKeyFlagsEverywhere(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(root, "keyring.json")
	if err := crypto.WriteKeyringFile(keyFile, k); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(root, "custodian.json")
	if err := os.WriteFile(config, []byte(`{"master-key-file":"`+keyFile+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	flag := []string{"--master-key-file", keyFile}
	vars := map[string]string{"CUSTODIAN_DATA_DIR": dir}
	if _, _, err := runCmdIn(t, vars, testPassword+"\n", append([]string{"user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"}, flag...)...); err != nil {
		t.Fatalf("user create --master-key-file: %v", err)
	}
	for _, args := range [][]string{
		append([]string{"token", "create", "--email", "root@example.com", "--name", "t"}, flag...),
		append([]string{"settings"}, flag...),
		append([]string{"keys", "status"}, flag...),
		{"keys", "status", "--config", config},
		{"audit", "verify", "--config", config},
		append([]string{"audit", "head"}, flag...),
		append([]string{"retention", "run", "--dry-run", "--shred-store", filepath.Join(root, "keys", "shred.db")}, flag...),
		append([]string{"backup", "--out", filepath.Join(root, "b.tar.gz")}, flag...),
		{"backup", "verify", filepath.Join(root, "b.tar.gz"), "--config", config},
	} {
		out, errOut, err := runCmd(t, vars, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errOut)
		}
		if args[0] == "keys" && !hasLine(out, "keyring:", keyFile) {
			t.Fatalf("%v read another keyring:\n%s", args, out)
		}
		if args[0] == "backup" && args[1] == "verify" && !strings.Contains(out, "audit trail verifies") {
			t.Fatalf("%v did not use the keyring:\n%s", args, out)
		}
	}
	// The keyring itself in CUSTODIAN_MASTER_KEY, for restore.
	text, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	restored := map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(root, "restored"), "CUSTODIAN_MASTER_KEY": string(text)}
	if out, _, err := runCmd(t, restored, "restore", filepath.Join(root, "b.tar.gz")); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("restore with CUSTODIAN_MASTER_KEY: %v\n%s", err, out)
	}
	vars["CUSTODIAN_MASTER_KEY_FILE"] = keyFile
	if out, _, err := runCmd(t, vars, "audit", "verify"); err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("audit verify with CUSTODIAN_MASTER_KEY_FILE: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, crypto.DevKeyringName)); !os.IsNotExist(err) {
		t.Fatalf("a command wrote a development keyring beside a configured one: %v", err)
	}
}
