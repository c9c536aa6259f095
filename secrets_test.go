package custodian_test

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// secretPatterns are the credential-like strings no file of the repository
// may hold.
var secretPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"private key PEM block", regexp.MustCompile(`-----BEGIN ([A-Z]+ )*PRIVATE KEY-----`)},
	{"AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	// A value made by concatenation (`"password":"` + variable) holds a
	// backtick or a "+", which a literal does not.
	{"password assigned a literal", regexp.MustCompile("(?i)\\b(pass(word|wd)?|pwd)\\b[\"']?\\s*[:=]\\s*[\"'][^\"'\\s`+]{4,}[\"']")},
	{"long base64 or hex literal assigned to a secret name", regexp.MustCompile(`(?i)\b\w*(key|secret|token)\w*\b["']?\s*[:=]+\s*["'][A-Za-z0-9+/_\-]{32,}={0,2}["']`)},
	{"URL with an embedded password", regexp.MustCompile(`\b[a-z][a-z0-9+.\-]*://[^\s:/@"'<>]+:[^\s/@"'<>]{3,}@`)},
}

// secretAllowList names findings that are not secrets, by file and the
// exact matched text. Every entry says why it is safe.
var secretAllowList = map[string]string{
	// The deploy-check tests need weak passwords to show they are refused.
	"cmd/custodian/deploy_test.go|postgres://custodian:hunter2@": "a deliberately weak example password in a test of the C004 refusal",
	// The fallback test checks that the Redis password never reaches the log.
	"cmd/custodian/edge_test.go|redis://:s3cret-redis-password@": "a made-up password whose absence from the log is asserted",
	"cmd/custodian/deploy_test.go|redis://:0123456789abcdef@":    "a made-up password for a configuration-parsing test; no server uses it",
	// A made-up Argon2 output used to build malformed PHC strings.
	"password/hash_test.go|nCH3HlsxqVTXfoeeAxXkdphhFMZ8jKG8zjyhqzPH6J0": "a fixed fake hash output for parser tests; it protects nothing",
	// The PostgreSQL test asserts that a bad URL's error does not echo it.
	"postgres/postgres_test.go|postgres://u:hunter2-secret@": "a made-up password whose absence from the error is asserted",
	// The redaction test builds PEM-looking text around random bytes.
	"redact/redact_test.go|-----BEGIN PRIVATE KEY-----": "a PEM header around random filler, to test that logs redact it",
	// The published RFC 6238 test seed, needed to check the test vectors.
	"totp/totp_test.go|GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ": "the public RFC 6238 appendix B seed",
	// The message catalogues translate the word "Password" itself.
	"locale/messages/en.json|Password\": \"Password\"": "the interface's label for a password field, translated",
	"locale/messages/de.json|Password\": \"Passwort\"": "the interface's label for a password field, translated",
	// This file defines the patterns and must spell out what they match.
	"secrets_test.go|*": "the scanner's own patterns and allow list",
}

// scannedExt are the text files the scan reads; anything else (the
// SQLite database in a local data directory, for example) is skipped.
var scannedExt = map[string]bool{
	".go": true, ".md": true, ".sql": true, ".json": true, ".yaml": true, ".yml": true,
	".toml": true, ".service": true, ".sh": true, ".txt": true, ".env": true, ".pem": true, ".key": true, "": true,
}

func TestRepositoryHasNoSecrets(t *testing.T) {
	var findings []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "data", "bench-results", "node_modules":
				// .git holds history objects, data/ and bench-results/
				// are local run outputs, and node_modules/ the
				// TypeScript client's installed dependencies, which
				// .gitignore keeps out.
				return filepath.SkipDir
			}
			return nil
		}
		if !scannedExt[filepath.Ext(path)] || !d.Type().IsRegular() {
			return nil
		}
		if secretAllowList[filepath.ToSlash(path)+"|*"] != "" {
			return nil
		}
		f, err := os.Open(path) // #nosec G304 -- walking the repository's own files
		if err != nil {
			return err
		}
		defer f.Close()
		// A binary (a locally built custodian, say) is no source file.
		head := make([]byte, 8192)
		n, _ := io.ReadFull(f, head)
		if bytes.IndexByte(head[:n], 0) >= 0 {
			return nil
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			for _, p := range secretPatterns {
				for _, m := range p.re.FindAllString(line, -1) {
					if allowed(filepath.ToSlash(path), m) {
						continue
					}
					findings = append(findings, path+":"+strconv.Itoa(n)+": "+p.name+": "+m)
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) > 0 {
		t.Fatalf("credential-like strings (move them out of the repository, or allow-list them with a reason):\n%s", strings.Join(findings, "\n"))
	}
}

func allowed(path, match string) bool {
	for k := range secretAllowList {
		file, text, _ := strings.Cut(k, "|")
		if file == path && strings.Contains(match, text) {
			return true
		}
	}
	return false
}

func TestSecretPatternsMatch(t *testing.T) {
	// Assembled at run time so that this file holds no match itself.
	pem := "-----BEGIN " + "RSA PRIVATE KEY-----"
	samples := map[string]string{
		"private key PEM block":                                pem,
		"AWS access key id":                                    "AKIA" + "ABCDEFGHIJKLMNOP",
		"password assigned a literal":                          `password = "` + "correct-horse" + `"`,
		"long base64 or hex literal assigned to a secret name": `apiKey := "` + strings.Repeat("ab12", 10) + `"`,
		"URL with an embedded password":                        "postgres://app:" + "pa55word" + "@db/app",
	}
	for _, p := range secretPatterns {
		s, ok := samples[p.name]
		if !ok {
			t.Fatalf("no sample for %s", p.name)
		}
		if !p.re.MatchString(s) {
			t.Errorf("%s does not match %q", p.name, s)
		}
	}
	for _, clean := range []string{`password := os.Getenv("X")`, `Key: base64.StdEncoding.EncodeToString(k)`, "postgres://postgres@127.0.0.1:5432/test", `tokenLen = 32`} {
		for _, p := range secretPatterns {
			if p.re.MatchString(clean) {
				t.Errorf("%s matches harmless %q", p.name, clean)
			}
		}
	}
}
