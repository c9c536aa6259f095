package custodian_test

import (
	"os"
	"strings"
	"testing"
)

// TestProjectDocuments checks that the documents an operator and a
// reporter look for are there and say what they must: the licence's full
// text, how to report a vulnerability, and a changelog.
func TestProjectDocuments(t *testing.T) {
	cases := []struct {
		file string
		want []string
	}{
		{"LICENSE", []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty or Additional Liability.", "END OF TERMS AND CONDITIONS"}},
		{"SECURITY.md", []string{"## Reporting a vulnerability", "## Scope", "## Supported versions", "never in a public issue"}},
		{"CHANGELOG.md", []string{"# Changelog", "## [Unreleased]", "### Added", "### Changed"}},
		{"docs/operations.md", []string{"## Install", "## The keyring", "## First start and the first administrator", "## TLS", "## Backups", "## The restore drill", "## Key rotation", "## Upgrade and rollback", "## Monitoring", "### A suspected breach", "### A broken audit chain"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q", tc.file, w)
				}
			}
		})
	}
}
