package redact

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestScrubEdges pins the edges of each pattern and of the pre-check that
// decides whether a string is looked at at all: a marker in the first
// byte, a lone byte that needs escaping, the letters at the ends of the
// character classes, a credential scheme in capitals, and text right
// after a masked run that must stay.
func TestScrubEdges(t *testing.T) {
	hexUpper := strings.Repeat("0123456789ABCDEF", 3) // 48 upper-case hex digits
	mixed := strings.Repeat("Zz9", 16)                // 48 characters, upper, lower and digits
	tests := []struct {
		name, in string
		want     string
	}{
		{"email first", "jo@example.com", "[REDACTED EMAIL]"},
		{"phone first", "+15551234567", "[REDACTED PHONE]"},
		{"lone invalid byte 0x80", "a\x80b", `a\x80b`},
		{"lone invalid byte 0xff", "a\xffb", `a\xffb`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"only an invalid byte", "\x80", `\x80`},
		{"only a high invalid byte", "\xff", `\xff`},
		{"only DEL", "\x7f", `\x7f`},
		{"only a control character", "\x1f", `\x1f`},
		{"unit separator", "a\x1fb", `a\x1fb`},
		{"space is plain", "a b c", "a b c"},
		{"basic at the end", "we use basic", "we use basic"},
		{"bearer at the end", "scheme bearer", "scheme bearer"},
		{"BEARER in capitals", "Authorization: BEARER abcdefgh12", "Authorization: BEARER [REDACTED]"},
		{"BASIC in capitals", "Authorization: BASIC dXNlcjpwYXNz", "Authorization: BASIC [REDACTED]"},
		{"upper-case hex key", "key " + hexUpper + " tail", "key [REDACTED KEY] tail"},
		{"z and Z inside a key", "k=" + mixed + ";", "k=[REDACTED KEY];"},
		{"text after a padded key", "k " + mixed + "== rest=1", "k [REDACTED KEY] rest=1"},
		{"short mixed word late in a long line", strings.Repeat("word ", 10) + "Ab1x", strings.Repeat("word ", 10) + "Ab1x"},
		{"31 characters are not a key", "k " + mixed[:31], "k " + mixed[:31]},
		{"32 characters are", "k " + mixed[:32], "k [REDACTED KEY]"},
	}
	for _, tt := range tests {
		if got := Scrub(tt.in); got != tt.want {
			t.Errorf("%s: Scrub(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestKeyWordSplitting pins how keys split into words, which decides the
// names an Options key list matches and the last-word rules.
func TestKeyWordSplitting(t *testing.T) {
	for key, want := range map[string]string{
		"APIKey":        "api_key",
		"csrfToken":     "csrf_token",
		"X-CSRF-Token":  "x_csrf_token",
		"user2FA":       "user2_fa",
		"_api__key_":    "api_key",
		"-password-":    "password",
		"HTTPServerURL": "http_server_url",
	} {
		if got := normalizeKey(key); got != want {
			t.Errorf("normalizeKey(%q) = %q, want %q", key, got, want)
		}
	}
	cfg := &config{}
	for _, key := range []string{"api_key", "signing_key", "otp_code", "full_name", "password"} {
		for _, k := range []string{key + "_", "_" + key, key + "__", "-" + key + "-"} {
			if !cfg.sensitive(k) {
				t.Errorf("sensitive(%q) = false, like %q it must be true", k, key)
			}
		}
	}
}

// TestSensitiveGroupIsMasked checks that a group whose name is sensitive
// is masked whole, whatever its members are called, and that attributes
// given to With are written (and judged) like any other.
func TestSensitiveGroupIsMasked(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), Options{}))
	log.Info("m", slog.Group("credentials", slog.String("value", "hunter2-secret")))
	log.With("request_id", "req-42", "password", "hunter3-secret").Info("m")
	out := buf.String()
	for _, s := range []string{"hunter2", "hunter3"} {
		if strings.Contains(out, s) {
			t.Errorf("%s reached the log: %s", s, out)
		}
	}
	if !strings.Contains(out, `"request_id":"req-42"`) {
		t.Errorf("an attribute given to With is missing: %s", out)
	}
}

// TestNestingIsCutAtMaxDepth checks that groups, and maps rendered through
// JSON, are followed exactly maxDepth levels deep and no deeper.
func TestNestingIsCutAtMaxDepth(t *testing.T) {
	// groups nests n groups, g1 holding g2 ... holding the leaf.
	groups := func(n int) slog.Attr {
		a := slog.String("leaf", "leafvalue")
		for i := n; i >= 1; i-- {
			a = slog.Group("g"+strings.Repeat("x", i), a)
		}
		return a
	}
	log := func(a ...any) string {
		var buf bytes.Buffer
		slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), Options{})).Info("m", a...)
		return buf.String()
	}
	if out := log(groups(maxDepth)); !strings.Contains(out, "leafvalue") {
		t.Errorf("%d nested groups were cut: %s", maxDepth, out)
	}
	if out := log(groups(maxDepth + 1)); strings.Contains(out, "leafvalue") || !strings.Contains(out, "[TRUNCATED]") {
		t.Errorf("%d nested groups were not cut: %s", maxDepth+1, out)
	}
	var m any = "leafvalue"
	for range maxDepth + 1 {
		m = map[string]any{"m": m}
	}
	if out := log(slog.Any("tree", m)); strings.Contains(out, "leafvalue") || strings.Count(out, `"m":`) != maxDepth {
		t.Errorf("maps were not cut at depth %d: %s", maxDepth, out)
	}
	m = []any{"leafvalue"}
	for range maxDepth - 1 {
		m = []any{m}
	}
	if out := log(slog.Any("list", m)); strings.Contains(out, "leafvalue") {
		t.Errorf("lists were not cut at depth %d: %s", maxDepth, out)
	}
}

// TestEmptyKeys checks attributes with an empty key: an empty attribute
// is passed on as slog handlers expect, a value with an empty key is
// scrubbed, and an inline group's members are judged by their own keys.
func TestEmptyKeys(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), Options{}))
	log.Info("m", slog.Attr{}, slog.String("", "jo@example.com"), slog.Group("", slog.String("password", "hunter4-secret"), slog.String("id", "42")))
	out := buf.String()
	if strings.Contains(out, "jo@example.com") || strings.Contains(out, "hunter4") || !strings.Contains(out, `"id":"42"`) {
		t.Errorf("attributes with empty keys: %s", out)
	}
}
