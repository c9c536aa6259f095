package token

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzParse holds token parsing to its properties for any input: it never
// panics; every token New makes parses under its own prefix and no other;
// whatever parses is exactly the prefix and the canonical base64url of 32
// bytes (so no two strings parse as the same token); and Equal, the
// comparison of stored hashes, agrees with byte equality.
func FuzzParse(f *testing.F) {
	f.Add(PrefixPersonalAccess, "cst_pat_"+strings.Repeat("A", EncodedLen), []byte("seed"))
	f.Add(PrefixSession, "cst_ses_"+strings.Repeat("_", EncodedLen), []byte{})
	f.Add(PrefixReset, "cst_rst_"+strings.Repeat("-", EncodedLen-1)+"B", []byte{1, 2, 3})
	f.Add("cst_pat_", "", []byte{0})
	f.Add("x_", "x_AAAA", bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, prefix, s string, raw []byte) {
		err := Parse(prefix, s)
		if checkPrefix(prefix) != nil {
			if err == nil {
				t.Fatalf("Parse accepted the invalid prefix %q", prefix)
			}
			return
		}
		if err == nil {
			rest := strings.TrimPrefix(s, prefix)
			b, derr := base64.RawURLEncoding.DecodeString(rest)
			if derr != nil || len(b) != Bytes || base64.RawURLEncoding.EncodeToString(b) != rest {
				t.Fatalf("Parse accepted %q, which is not the canonical encoding of %d bytes", s, Bytes)
			}
		} else if len(s) >= 16 && strings.Contains(err.Error(), s) {
			t.Fatalf("the error quotes the input: %v", err)
		}

		tok, hash, err := New(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := Parse(prefix, tok); err != nil {
			t.Fatalf("a fresh token does not parse: %v", err)
		}
		if other := prefix + "x_"; len(other) <= maxPrefixLen && Parse(other, tok) == nil {
			t.Fatalf("a %q token parses as a %q token", prefix, other)
		}
		if !Equal(hash, Hash(tok)) {
			t.Fatal("Hash is not deterministic")
		}
		h2 := Hash(s)
		if Equal(hash, h2) != bytes.Equal(hash, h2) || Equal(raw, h2) != bytes.Equal(raw, h2) || !Equal(raw, raw) {
			t.Fatal("Equal disagrees with byte equality")
		}
	})
}
