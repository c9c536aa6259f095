package redact

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/token"
)

// randToken returns a fresh random secret so no test can pass by accident
// on a hard-coded value.
func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func randB64(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

type formats struct {
	name string
	mk   func(w io.Writer) slog.Handler
}

var bothFormats = []formats{
	{"json", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
	{"text", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
	{"raw", func(w io.Writer) slog.Handler { return &rawHandler{w: w} }},
}

// rawHandler writes messages and values verbatim, without quoting or
// escaping, like many console handlers do. Behind it, every guarantee must
// come from the redacting handler alone.
type rawHandler struct {
	w      io.Writer
	prefix string
	attrs  []slog.Attr
}

func (h *rawHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *rawHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + h.prefix + a.Key + "=" + a.Value.String())
		return true
	})
	b.WriteString("\n")
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *rawHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		n.attrs = append(n.attrs, a)
	}
	return &n
}

func (h *rawHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix += name + "."
	return &n
}

type stringer struct{ S string }

func (s stringer) String() string { return s.S }

type valuer struct{ secret string }

func (v valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("password", v.secret), slog.String("user_id", "u-1"))
}

type customer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string
	Phone   string `json:"phone_number"`
	Notes   string `json:"notes"`
	Address struct {
		Street string `json:"street"`
		City   string `json:"city"`
	} `json:"address"`
}

type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

func TestSecretsNeverReachOutput(t *testing.T) {
	type tc struct {
		name   string
		log    func(l *slog.Logger, secret string)
		secret func(t testing.TB) string
		keep   []string // benign text that must survive
	}
	word := func(t testing.TB) string { return "s3cr" + randHex(t, 4) }
	cases := []tc{
		{"password attr", func(l *slog.Logger, s string) { l.Info("sign in", "password", s) }, word, []string{"sign in"}},
		{"mixed case key", func(l *slog.Logger, s string) { l.Info("x", "PassWord", s) }, word, nil},
		{"header style key", func(l *slog.Logger, s string) { l.Info("x", "X-CSRF-Token", s) }, word, nil},
		{"camel key", func(l *slog.Logger, s string) { l.Info("x", "sessionID", s) }, word, nil},
		{"api key", func(l *slog.Logger, s string) { l.Info("x", "apiKey", s) }, word, nil},
		{"bare key", func(l *slog.Logger, s string) { l.Info("x", "key", s) }, word, nil},
		{"set-cookie", func(l *slog.Logger, s string) { l.Info("x", "Set-Cookie", "sid="+s) }, word, nil},
		{"authorization header", func(l *slog.Logger, s string) { l.Info("x", "Authorization", s) }, word, nil},
		{"otp code", func(l *slog.Logger, s string) { l.Info("x", "otp_code", s) }, word, nil},
		{"code", func(l *slog.Logger, s string) { l.Info("x", "code", s) }, word, nil},
		{"recovery code", func(l *slog.Logger, s string) { l.Info("x", "recoveryCode", s) }, word, nil},
		{"int otp", func(l *slog.Logger, s string) { l.Info("x", "otp", 739201) }, func(testing.TB) string { return "739201" }, nil},
		{"customer name", func(l *slog.Logger, s string) { l.Info("x", "name", s, "route", "/customers") }, word, []string{"/customers"}},
		{"personal fields", func(l *slog.Logger, s string) {
			l.Info("x", "company", s, "street", s, "city", s, "postal_code", s, "notes", s, "full_name", s, "address", s)
		}, word, nil},
		{"group attr", func(l *slog.Logger, s string) {
			l.Info("x", slog.Group("req", slog.String("path", "/v1/x"), slog.Group("hdr", slog.String("cookie", s))))
		}, word, []string{"/v1/x"}},
		{"sensitive group key", func(l *slog.Logger, s string) {
			l.Info("x", slog.Group("session", slog.String("id", s)))
		}, word, nil},
		{"with attrs", func(l *slog.Logger, s string) { l.With("token", s).Info("x") }, word, nil},
		{"with group then attr", func(l *slog.Logger, s string) { l.WithGroup("auth").Info("x", "secret", s) }, word, nil},
		{"with sensitive group", func(l *slog.Logger, s string) { l.WithGroup("credentials").Info("x", "value", s) }, word, nil},
		{"inline group", func(l *slog.Logger, s string) { l.Info("x", slog.Group("", slog.String("passwd", s))) }, word, nil},
		{"log valuer", func(l *slog.Logger, s string) { l.Info("x", "user", valuer{s}) }, word, []string{"u-1"}},
		{"bearer in value", func(l *slog.Logger, s string) { l.Info("x", "hdr", "Bearer "+s) }, word, []string{"Bearer"}},
		{"basic in message", func(l *slog.Logger, s string) { l.Info("got Basic " + s) }, func(t testing.TB) string { return randB64(t, 12) }, nil},
		{"jwt", func(l *slog.Logger, s string) { l.Info("x", "detail", "tok="+s) },
			func(t testing.TB) string {
				return "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx" + randHex(t, 3) + "fQ.sig" + randHex(t, 4)
			}, nil},
		{"cst token", func(l *slog.Logger, s string) { l.Info("x", "detail", "used "+s+" today") },
			func(t testing.TB) string { return "cst_" + randHex(t, 6) }, []string{"today"}},
		{"long hex", func(l *slog.Logger, s string) { l.Info("x", "detail", "k="+s) }, func(t testing.TB) string { return randHex(t, 16) }, nil},
		{"long base64", func(l *slog.Logger, s string) { l.Info("x", "detail", s) }, func(t testing.TB) string { return randB64(t, 33) }, nil},
		{"pem block", func(l *slog.Logger, s string) {
			l.Info("x", "detail", "-----BEGIN PRIVATE KEY-----\n"+s+"\n-----END PRIVATE KEY-----")
		}, func(t testing.TB) string { return "MII" + randHex(t, 4) }, nil},
		{"email in message", func(l *slog.Logger, s string) { l.Info("mail to " + s + " failed") },
			func(t testing.TB) string { return "ann." + randHex(t, 3) + "@example.org" }, []string{"failed"}},
		{"phone in value", func(l *slog.Logger, s string) { l.Info("x", "detail", "call "+s) },
			func(testing.TB) string { return "+442079460958" }, []string{"call"}},
		{"spaced phone", func(l *slog.Logger, s string) { l.Info("x", "detail", "call +44 20 7946 0958") },
			func(testing.TB) string { return "7946 0958" }, nil},
		{"error text", func(l *slog.Logger, s string) { l.Error("x", "err", fmt.Errorf("decrypt: %w", errors.New("user "+s))) },
			func(t testing.TB) string { return "bob" + randHex(t, 2) + "@corp.example" }, []string{"decrypt"}},
		{"nil pointer error", func(l *slog.Logger, s string) { var e *nilErr; l.Error("x", "err", error(e)) },
			func(testing.TB) string { return "panic" }, []string{"UNRENDERABLE"}},
		{"stringer", func(l *slog.Logger, s string) { l.Info("x", "who", stringer{"Bearer " + s}) }, word, nil},
		{"map", func(l *slog.Logger, s string) {
			l.Info("x", "form", map[string]any{"email": s, "password": s, "plan": "gold"})
		}, word, []string{"gold"}},
		{"struct", func(l *slog.Logger, s string) {
			var c customer
			c.ID, c.Name, c.Email, c.Phone, c.Notes, c.Address.Street, c.Address.City = "c-42", s, s, s, s, s, s
			l.Info("x", "customer", c)
		}, word, []string{"c-42"}},
		{"pointer to struct in slice", func(l *slog.Logger, s string) {
			l.Info("x", "list", []*customer{{ID: "c-7", Email: s}})
		}, word, []string{"c-7"}},
		{"bytes", func(l *slog.Logger, s string) { l.Info("x", "body", []byte(`{"token":"`+s+`"}`)) },
			func(t testing.TB) string { return "cst_" + randHex(t, 8) }, []string{"[REDACTED TOKEN]"}},
		{"extra key option", func(l *slog.Logger, s string) { l.Info("x", "account_ref", s) }, word, nil},
	}
	for _, f := range bothFormats {
		for _, c := range cases {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				var buf bytes.Buffer
				l := slog.New(NewHandler(f.mk(&buf), Options{SensitiveKeys: []string{"accountRef"}}))
				secret := c.secret(t)
				c.log(l, secret)
				out := buf.String()
				if strings.Contains(out, secret) {
					t.Fatalf("secret %q leaked:\n%s", secret, out)
				}
				for _, k := range c.keep {
					if !strings.Contains(out, k) {
						t.Fatalf("benign %q lost:\n%s", k, out)
					}
				}
				if n := strings.Count(out, "\n"); n != 1 {
					t.Fatalf("want exactly one line, got %d:\n%s", n, out)
				}
			})
		}
	}
}

func TestBenignValuesSurvive(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), Options{AllowKeys: []string{"user_name"}}))
	l.Info("request done",
		"status_code", 200, "key_id", "k-2026-01", "route_name", "customers.show",
		"cache_key", "cust:42", "client_address", "192.0.2.7", "request_id", "550e8400-e29b-41d4-a716-446655440000",
		"path", "/api/v1/customers/42/notes", "user_name", "svc-backup",
		"detail", "basic plan for customers, bearer of news")
	out := buf.String()
	for _, want := range []string{`"status_code":200`, `"key_id":"k-2026-01"`, `"route_name":"customers.show"`,
		`"cache_key":"cust:42"`, `"client_address":"192.0.2.7"`, "550e8400-e29b-41d4-a716-446655440000",
		"/api/v1/customers/42/notes", `"user_name":"svc-backup"`, "basic plan for customers"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
	if strings.Contains(out, Mask) {
		t.Errorf("benign record was redacted: %s", out)
	}
}

func TestForgedLinesEscaped(t *testing.T) {
	inputs := []string{
		"alice\nlevel=ERROR msg=\"admin logged in\"",
		"alice\r\nlevel=ERROR",
		"alice\x1b[2Jcleared",
		"alice\u2028next",
		"txt\u202egnp.exe",
		"a\u2066b\u2069c",
		"bad\xffutf8",
	}
	for _, f := range bothFormats {
		for _, in := range inputs {
			var buf bytes.Buffer
			l := slog.New(NewHandler(f.mk(&buf), Options{}))
			l.Info(in, "user", in, in, "v")
			out := buf.String()
			if strings.Count(out, "\n") != 1 || strings.Contains(out, "\r") {
				t.Errorf("%s: line forged by %q:\n%s", f.name, in, out)
			}
			for _, r := range out {
				if r != '\n' && mustEscape(r) {
					t.Errorf("%s: raw %U in output for %q", f.name, r, in)
				}
			}
			if strings.ContainsRune(out, 0x1b) || strings.Contains(out, "\xff") {
				t.Errorf("%s: raw escape/invalid byte in output for %q", f.name, in)
			}
		}
	}
}

func TestEscapeVisible(t *testing.T) {
	got := Scrub("a\nb\u202ec")
	if got != `a\nb\u202ec` {
		t.Fatalf("got %q", got)
	}
}

func TestKeyClassification(t *testing.T) {
	cfg := &config{}
	tests := []struct {
		key  string
		want bool
	}{
		{"password", true}, {"passwd", true}, {"userPassword", true}, {"client_secret", true},
		{"access_token", true}, {"refreshToken", true}, {"api_key", true}, {"apikey", true},
		{"Authorization", true}, {"cookie", true}, {"set-cookie", true}, {"session", true},
		{"session_id", true}, {"csrf", true}, {"key", true}, {"signing_key", true},
		{"otp", true}, {"code", true}, {"recovery_code", true}, {"email", true},
		{"phone", true}, {"phoneNumber", true}, {"name", true}, {"full_name", true},
		{"company", true}, {"address", true}, {"street", true}, {"city", true},
		{"postal_code", true}, {"notes", true}, {"username", true},
		{"key_id", false}, {"keyVersion", false}, {"cache_key", false}, {"status_code", false},
		{"country_code", false}, {"route_name", false}, {"ip_address", false},
		{"remote_addr", false}, {"request_id", false}, {"footprint", false}, {"method", false},
		{"company_id", false}, {"", false},
	}
	for _, tt := range tests {
		if got := cfg.sensitive(tt.key); got != tt.want {
			t.Errorf("sensitive(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestKeyCacheBounded(t *testing.T) {
	h := NewHandler(slog.NewJSONHandler(io.Discard, nil), Options{}).(*Handler)
	for i := range maxCachedKeys * 2 {
		h.cfg.sensitive(fmt.Sprintf("k%d", i))
	}
	if n := h.cfg.cached.Load(); n > maxCachedKeys {
		t.Fatalf("cache grew to %d", n)
	}
}

func TestEnabledDelegates(t *testing.T) {
	h := NewHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}), Options{})
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Fatal("Enabled does not follow the wrapped handler")
	}
}

func BenchmarkHandler(b *testing.B) {
	attrs := func(l *slog.Logger) {
		l.Info("request done", "method", "GET", "route", "/api/v1/customers/{id}", "status", 200,
			"duration_ms", 12.5, "request_id", "550e8400-e29b-41d4-a716-446655440000", "client_addr", "192.0.2.1")
	}
	b.Run("baseline-json", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, nil))
		b.ReportAllocs()
		for b.Loop() {
			attrs(l)
		}
	})
	b.Run("redacted-json", func(b *testing.B) {
		l := slog.New(NewHandler(slog.NewJSONHandler(io.Discard, nil), Options{}))
		b.ReportAllocs()
		for b.Loop() {
			attrs(l)
		}
	})
	b.Run("redacted-json-secrets", func(b *testing.B) {
		l := slog.New(NewHandler(slog.NewJSONHandler(io.Discard, nil), Options{}))
		tok := "Bearer " + randB64(b, 32)
		b.ReportAllocs()
		for b.Loop() {
			l.Info("sign in for ann@example.org", "authorization", tok, "detail", tok, "password", "x")
		}
	})
}

// TestRealCredentialsMasked logs every kind of credential the server
// issues, in their real formats, where no key names them: in messages and
// in values under harmless keys, as a header dump would.
func TestRealCredentialsMasked(t *testing.T) {
	for _, prefix := range []string{token.PrefixSession, token.PrefixPersonalAccess, token.PrefixInvitation, token.PrefixSetup, token.PrefixReset} {
		plain, _, err := token.New(prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range bothFormats {
			var buf bytes.Buffer
			l := slog.New(NewHandler(f.mk(&buf), Options{}))
			l.Info("got " + plain)
			l.Info("x", "header", "Cookie: __Host-custodian_session="+plain)
			l.Info("x", "detail", "Authorization: Bearer "+plain)
			l.Info("x", "session_id", plain)
			if strings.Contains(buf.String(), plain) || strings.Contains(buf.String(), plain[len(prefix):]) {
				t.Fatalf("%s credential leaked (%s):\n%s", prefix, f.name, buf.String())
			}
		}
	}
}
