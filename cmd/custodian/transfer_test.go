package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// TestImportAndExportCommands imports a file saved as a spreadsheet saves
// CSV (dry run first, then for real, then again with duplicates skipped),
// exports the list as CSV and JSON Lines, and refuses bad input.
func TestImportAndExportCommands(t *testing.T) {
	root := t.TempDir()
	vars := map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(root, "data"), "CUSTODIAN_SHRED_STORE": filepath.Join(root, "keys", "shred.db")}
	file := filepath.Join(root, "customers.csv")
	content := "\xEF\xBB\xBFNom;E-mail;Téléphone;Société;Tags\r\n" +
		"José Müller;jose@example.com;030 123456;=SUM(A1);vip\r\n" +
		"Ann Smith;ann@example.com;;ACME;\r\n" +
		"Bad;not-an-email;;;\r\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantOut []string
		wantErr string
	}{
		{"dry run", []string{"import", file, "--dry-run", "--phone-region", "DE"}, []string{"dry run (nothing written)", "created 2, updated 0, skipped 0, refused 1", "line 4: email: Must be an email address", `column "Société" -> company`}, ""},
		{"import", []string{"import", file, "--phone-region", "DE", "--batch", "1"}, []string{"created 2, updated 0, skipped 0, refused 1", "2 batches committed", "lines 2-2: created 1"}, ""},
		{"again, duplicates skipped", []string{"import", file, "--phone-region", "DE"}, []string{"created 0, updated 0, skipped 2, refused 1"}, ""},
		{"again, filled", []string{"import", file, "--duplicates", "fill"}, []string{"refused"}, ""},
		{"unknown policy", []string{"import", file, "--duplicates", "merge"}, nil, "skip, fill or overwrite"},
		{"unknown region", []string{"import", file, "--phone-region", "XX"}, nil, "not a region"},
		{"no file", []string{"import", "--dry-run"}, nil, "name the CSV file"},
		{"missing file", []string{"import", filepath.Join(root, "none.csv")}, nil, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, vars, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, pii := range []string{"jose@", "José", "123456", "not-an-email"} {
				if strings.Contains(out, pii) {
					t.Errorf("the report shows %q", pii)
				}
			}
		})
	}

	// A malformed file is refused with its line, and writes nothing.
	bad := filepath.Join(root, "bad.csv")
	os.WriteFile(bad, []byte("name,email\nZed,z@example.com\n\"Unclosed,u@example.com\n"), 0o600)
	if out, _, err := runCmd(t, vars, "import", bad); err == nil || !strings.Contains(out, "line 3") {
		t.Fatalf("malformed: %v\n%s", err, out)
	}
	// Windows-1252, chosen.
	w1252, _ := charmap.Windows1252.NewEncoder().Bytes([]byte("Name;Company\nFrançois;Café\n"))
	latin := filepath.Join(root, "latin.csv")
	os.WriteFile(latin, w1252, 0o600)
	if out, _, err := runCmd(t, vars, "import", latin, "--encoding", "windows-1252"); err != nil || !strings.Contains(out, "created 1") {
		t.Fatalf("windows-1252: %v\n%s", err, out)
	}

	// The export: formulas neutralized, the list's filters applied.
	out, _, err := runCmd(t, vars, "export-list", "--sort", "name")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("exported %d lines:\n%s", len(recs), out)
	}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q would run as a formula", cell)
			}
		}
	}
	if !strings.Contains(out, "'=SUM(A1)") || !strings.Contains(out, "'+4930123456") {
		t.Errorf("export:\n%s", out)
	}
	dest := filepath.Join(root, "vip.jsonl")
	if _, _, err := runCmd(t, vars, "export-list", "--format", "jsonl", "--tag", "vip", "--out", dest); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dest)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	var c struct{ Name string }
	if len(lines) != 1 || json.Unmarshal(lines[0], &c) != nil || c.Name != "José Müller" {
		t.Errorf("jsonl export: %s", b)
	}
	if fi, _ := os.Stat(dest); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v", fi.Mode())
	}
	if _, _, err := runCmd(t, vars, "export-list", "--format", "xlsx"); err == nil {
		t.Error("an unknown format was accepted")
	}
	if out, _, err := runCmd(t, vars, "audit", "verify"); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}
