package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/token"
)

// issuedPrefixes are the prefixes of every credential the product issues.
var issuedPrefixes = []string{token.PrefixSession, token.PrefixPersonalAccess, token.PrefixInvitation, token.PrefixSetup, token.PrefixReset}

// placements put a credential where log lines carry one: alone, inside
// words and punctuation, in a JSON body, a query string, an Authorization
// header and a quoted error message.
var placements = []struct {
	name string
	put  func(tok string) string
}{
	{"alone", func(tok string) string { return tok }},
	{"in text", func(tok string) string { return "used " + tok + " today" }},
	{"glued to punctuation", func(tok string) string { return "(" + tok + ")." }},
	{"json body", func(tok string) string { return `{"token":"` + tok + `","n":1}` }},
	{"query string", func(tok string) string { return "/reset?token=" + url.QueryEscape(tok) + "&x=1" }},
	{"bearer header", func(tok string) string { return "Authorization: Bearer " + tok }},
	{"quoted", func(tok string) string { return "bad token " + strconv.Quote(tok) }},
	{"end of line", func(tok string) string { return "token=" + tok + "\n" }},
}

// leaked reports the first piece of tok's secret part, 8 characters or
// longer, that appears in out.
func leaked(out, tok, prefix string) string {
	secret := strings.TrimPrefix(tok, prefix)
	const piece = 8
	for i := 0; i+piece <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+piece]) {
			return secret[i : i+piece]
		}
	}
	return ""
}

// TestScrubMasksEveryIssuedCredential scrubs thousands of real tokens of
// every kind the product issues (a prefix and 43 base64url characters,
// '-' and '_' included), in every placement, and requires that no
// 8-character piece of any token's secret part survives. A narrowed token
// pattern (one that stops at '-' or '_') leaks here.
func TestScrubMasksEveryIssuedCredential(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	for _, prefix := range issuedPrefixes {
		for i := 0; i < n; i++ {
			tok, _, err := token.New(prefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range placements {
				in := p.put(tok)
				if piece := leaked(Scrub(in), tok, prefix); piece != "" {
					t.Fatalf("%s %s: %q of the token survived Scrub(%q)", prefix, p.name, piece, in)
				}
			}
		}
	}
}

// TestHandlerMasksEveryIssuedCredential logs real tokens of every kind
// through the redacting handler, as attribute values of ordinary names,
// in messages and in byte bodies, in JSON and text output.
func TestHandlerMasksEveryIssuedCredential(t *testing.T) {
	for _, f := range bothFormats {
		var buf bytes.Buffer
		l := slog.New(NewHandler(f.mk(&buf), Options{}))
		for _, prefix := range issuedPrefixes {
			for i := 0; i < 50; i++ {
				tok, _, err := token.New(prefix)
				if err != nil {
					t.Fatal(err)
				}
				buf.Reset()
				l.Info("request with "+tok, "detail", "used "+tok, "body", []byte(`{"t":"`+tok+`"}`), "path", "/reset?token="+tok)
				if piece := leaked(buf.String(), tok, prefix); piece != "" {
					t.Fatalf("%s: %s %q survived: %s", f.name, prefix, piece, buf.String())
				}
			}
		}
	}
}

// FuzzScrubCredential builds a real-shaped credential from the fuzzer's
// bytes, places it between arbitrary text in one of the encodings log
// lines use, and requires that its secret part does not survive Scrub.
func FuzzScrubCredential(f *testing.F) {
	f.Add(uint8(1), bytes.Repeat([]byte{0xfb}, 32), "used ", " today", uint8(0))
	f.Add(uint8(0), bytes.Repeat([]byte{0xff}, 32), "x", "abc", uint8(1))
	f.Add(uint8(3), []byte("0123456789abcdef0123456789abcdef"), `{"token":"`, `"}`, uint8(2))
	f.Add(uint8(4), []byte{}, "Bearer ", "", uint8(3))
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte, before, after string, encoding uint8) {
		prefix := issuedPrefixes[int(kind)%len(issuedPrefixes)]
		var secret [token.Bytes]byte
		copy(secret[:], raw)
		tok := prefix + base64.RawURLEncoding.EncodeToString(secret[:])
		var placed string
		switch encoding % 4 {
		case 0:
			placed = tok
		case 1:
			b, _ := json.Marshal(tok)
			placed = string(b)
		case 2:
			placed = url.QueryEscape(tok)
		case 3:
			placed = fmt.Sprintf("%q", tok)
		}
		out := Scrub(before + placed + after)
		if strings.Contains(out, tok[len(prefix):]) {
			t.Fatalf("the whole secret survived: %q", out)
		}
		if piece := leaked(out, tok, prefix); piece != "" && !strings.Contains(before+after, piece) {
			t.Fatalf("%q of the secret survived: %q", piece, out)
		}
	})
}
