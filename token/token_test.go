package token

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestNew(t *testing.T) {
	prefixes := []string{PrefixSession, PrefixPersonalAccess, PrefixInvitation, PrefixSetup, PrefixReset, "x_", "a1_b2_"}
	seen := map[string]bool{}
	for _, prefix := range prefixes {
		for range 50 {
			plain, hash, err := New(prefix)
			if err != nil {
				t.Fatal(err)
			}
			rest, ok := strings.CutPrefix(plain, prefix)
			if !ok || len(rest) != EncodedLen {
				t.Fatalf("token does not start with %q or has %d random characters", prefix, len(rest))
			}
			raw, err := base64.RawURLEncoding.DecodeString(rest)
			if err != nil || len(raw) != Bytes {
				t.Fatalf("random part decodes to %d bytes, %v", len(raw), err)
			}
			want := sha256.Sum256([]byte(plain))
			if !bytes.Equal(hash, want[:]) || !bytes.Equal(Hash(plain), hash) || len(hash) != HashLen {
				t.Fatal("hash is not the SHA-256 of the whole token")
			}
			if err := Parse(prefix, plain); err != nil {
				t.Fatalf("Parse(own token): %v", err)
			}
			if seen[plain] {
				t.Fatal("token repeated")
			}
			seen[plain] = true
		}
	}
}

func TestNewInvalidPrefix(t *testing.T) {
	for _, p := range []string{"", "_", "cst", "Cst_pat_", "cst-pat_", "1cst_", "cst pat_", "cst_pät_", strings.Repeat("a", 32) + "_"} {
		if _, _, err := New(p); !errors.Is(err, ErrInvalidPrefix) {
			t.Errorf("New(%q) err = %v, want ErrInvalidPrefix", p, err)
		}
		if err := Parse(p, p+strings.Repeat("A", EncodedLen)); !errors.Is(err, ErrInvalidPrefix) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalidPrefix", p, err)
		}
	}
}

// TestPrefixBounds pins each edge of the prefix rule (2 to 32 characters
// of [a-z0-9_], a letter first, an underscore last): the characters and
// lengths just inside are accepted, those just outside refused.
func TestPrefixBounds(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"a_", true},
		{"z_", true},
		{"az_", true},
		{"a0_", true},
		{"a9_", true},
		{strings.Repeat("a", 31) + "_", true},
		{strings.Repeat("a", 32) + "_", false},
		{"`_", false},
		{"{_", false},
		{"a`_", false},
		{"a{_", false},
		{"a/_", false},
		{"a:_", false},
		{"a", false},
		{"ab", false},
	} {
		err := checkPrefix(tc.prefix)
		if tc.ok != (err == nil) {
			t.Errorf("checkPrefix(%q) = %v, want accepted %v", tc.prefix, err, tc.ok)
		}
	}
}

func TestParse(t *testing.T) {
	valid, _, err := New(PrefixPersonalAccess)
	if err != nil {
		t.Fatal(err)
	}
	rest := strings.TrimPrefix(valid, PrefixPersonalAccess)
	// The last of 43 characters carries 4 data bits and 2 padding bits
	// that must be zero; flip one to get a non-canonical encoding.
	last := strings.IndexByte(b64url, rest[EncodedLen-1])
	nonCanonical := PrefixPersonalAccess + rest[:EncodedLen-1] + string(b64url[last^1])

	tests := []struct {
		name string
		s    string
		want error
	}{
		{"valid", valid, nil},
		{"other kind", strings.Replace(valid, "cst_pat_", "cst_ses_", 1), ErrMalformed},
		{"no prefix", rest, ErrMalformed},
		{"upper-case prefix", "CST_PAT_" + rest, ErrMalformed},
		{"empty", "", ErrMalformed},
		{"prefix only", PrefixPersonalAccess, ErrMalformed},
		{"one short", valid[:len(valid)-1], ErrMalformed},
		{"one long", valid + "A", ErrMalformed},
		{"padded", valid + "=", ErrMalformed},
		{"standard base64", PrefixPersonalAccess + strings.Repeat("+", EncodedLen), ErrMalformed},
		{"space inside", PrefixPersonalAccess + " " + rest[1:], ErrMalformed},
		{"trailing newline", valid[:len(valid)-1] + "\n", ErrMalformed},
		{"non-canonical final character", nonCanonical, ErrMalformed},
		{"bearer scheme left in", "Bearer " + valid, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Parse(PrefixPersonalAccess, tt.s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && len(tt.s) > 8 && strings.Contains(err.Error(), tt.s[8:]) {
				t.Fatal("error contains the token")
			}
		})
	}
}

func TestEqual(t *testing.T) {
	_, a, err := New(PrefixSession)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := New(PrefixSession)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(a)
	flipped[HashLen-1] ^= 1
	tests := []struct {
		name string
		x, y []byte
		want bool
	}{
		{"same", a, bytes.Clone(a), true},
		{"different tokens", a, b, false},
		{"last bit differs", a, flipped, false},
		{"prefix of", a, a[:HashLen-1], false},
		{"empty vs hash", nil, a, false},
	}
	for _, tt := range tests {
		if got := Equal(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestHashDistinguishesKinds checks that the prefix is part of what is
// hashed, so a token cannot be replayed as another kind with the same
// random part.
func TestHashDistinguishesKinds(t *testing.T) {
	plain, hash, err := New(PrefixReset)
	if err != nil {
		t.Fatal(err)
	}
	other := PrefixSession + strings.TrimPrefix(plain, PrefixReset)
	if Equal(Hash(other), hash) {
		t.Fatal("same hash for two kinds of token")
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, _, err := New(PrefixSession); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndHash(b *testing.B) {
	plain, hash, err := New(PrefixSession)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := Parse(PrefixSession, plain); err != nil {
			b.Fatal(err)
		}
		if !Equal(Hash(plain), hash) {
			b.Fatal("hash mismatch")
		}
	}
}
