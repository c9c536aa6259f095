package totp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
)

var recoveryShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)

func TestNewRecoveryCodes(t *testing.T) {
	plain, hashes, err := NewRecoveryCodes(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != DefaultRecoveryCodes || len(hashes) != DefaultRecoveryCodes || DefaultRecoveryCodes != 10 {
		t.Fatalf("got %d codes and %d hashes, want 10", len(plain), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range plain {
		if !recoveryShape.MatchString(c) {
			t.Errorf("code %d has the wrong shape", i)
		}
		if seen[c] {
			t.Errorf("code %d repeats", i)
		}
		seen[c] = true
		sum := sha256.Sum256([]byte(strings.ReplaceAll(c, "-", "")))
		if hashes[i] != hex.EncodeToString(sum[:]) {
			t.Errorf("hash %d is not the SHA-256 of code %d", i, i)
		}
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")) {
			t.Errorf("hash %d contains its code", i)
		}
		if idx, ok := MatchRecoveryCode(c, hashes); !ok || idx != i {
			t.Errorf("code %d matched at %d, %v", i, idx, ok)
		}
	}

	if got := math.Log2(float64(len(recoveryAlphabet))) * recoverySymbols; got < 50 || int(got) != RecoveryCodeBits {
		t.Fatalf("entropy %.1f bits, RecoveryCodeBits %d; want >= 50 and equal", got, RecoveryCodeBits)
	}
	for _, ambiguous := range "ilou" {
		if strings.ContainsRune(recoveryAlphabet, ambiguous) {
			t.Fatalf("alphabet contains ambiguous %q", ambiguous)
		}
	}
}

// TestRecoveryCodesUseWholeAlphabet draws 1,200 symbols; the chance that a
// uniform generator misses any one of 32 symbols is about 1e-15.
func TestRecoveryCodesUseWholeAlphabet(t *testing.T) {
	plain, _, err := NewRecoveryCodes(MaxRecoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, c := range plain {
		for _, r := range strings.ReplaceAll(c, "-", "") {
			counts[r]++
		}
	}
	for _, r := range recoveryAlphabet {
		if counts[r] == 0 {
			t.Errorf("symbol %q never drawn", r)
		}
	}
}

func TestNewRecoveryCodesCount(t *testing.T) {
	for _, n := range []int{1, 16, MaxRecoveryCodes} {
		plain, hashes, err := NewRecoveryCodes(n)
		if err != nil || len(plain) != n || len(hashes) != n {
			t.Errorf("NewRecoveryCodes(%d) = %d, %d, %v", n, len(plain), len(hashes), err)
		}
	}
	for _, n := range []int{-1, MaxRecoveryCodes + 1} {
		if _, _, err := NewRecoveryCodes(n); !errors.Is(err, ErrRecoveryCount) {
			t.Errorf("NewRecoveryCodes(%d) err = %v", n, err)
		}
	}
}

func TestMatchRecoveryCodeInput(t *testing.T) {
	// A fixed code exercises the look-alike mapping: its symbols include
	// 0 and 1.
	const code = "0a1b-2c3d-4e5f"
	hashes := []string{hashRecovery("zzzzzzzzzzzz"), hashRecovery("0a1b2c3d4e5f"), hashRecovery("yyyyyyyyyyyy")}
	tests := []struct {
		name  string
		typed string
		ok    bool
	}{
		{"as shown", code, true},
		{"upper case", "0A1B-2C3D-4E5F", true},
		{"no dashes", "0a1b2c3d4e5f", true},
		{"spaces", " 0a1b 2c3d 4e5f ", true},
		{"mixed separators", "0a1b - 2c3d\t4e5f", true},
		{"o for zero, l for one", "oalb-2c3d-4e5f", true},
		{"O for zero, I for one", "OAIB-2C3D-4E5F", true},
		{"one symbol wrong", "0a1b-2c3d-4e5g", false},
		{"too short", "0a1b-2c3d-4e5", false},
		{"too long", "0a1b-2c3d-4e5f0", false},
		{"u is not a symbol", "0a1b-2c3d-4e5u", false},
		{"other punctuation", "0a1b_2c3d_4e5f", false},
		{"non-ASCII", "0a1b-2c3d-4e5ｆ", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, ok := MatchRecoveryCode(tt.typed, hashes)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && idx != 1 {
				t.Fatalf("index = %d, want 1", idx)
			}
			if !ok && idx != -1 {
				t.Fatalf("index = %d on failure, want -1", idx)
			}
		})
	}
}

// TestRecoveryCodeSingleUse shows the intended flow: once the matched hash
// is removed, the same code no longer matches, and the others still do.
func TestRecoveryCodeSingleUse(t *testing.T) {
	plain, hashes, err := NewRecoveryCodes(3)
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := MatchRecoveryCode(plain[1], hashes)
	if !ok || idx != 1 {
		t.Fatalf("first use: %d, %v", idx, ok)
	}
	hashes = append(hashes[:idx], hashes[idx+1:]...)
	if _, ok := MatchRecoveryCode(plain[1], hashes); ok {
		t.Fatal("used code matched again")
	}
	for _, c := range []string{plain[0], plain[2]} {
		if _, ok := MatchRecoveryCode(c, hashes); !ok {
			t.Fatal("unused code no longer matches")
		}
	}
	other, _, err := NewRecoveryCodes(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := MatchRecoveryCode(other[0], hashes); ok {
		t.Fatal("code from another set matched")
	}
	if _, ok := MatchRecoveryCode(plain[0], nil); ok {
		t.Fatal("matched with no stored hashes")
	}
}

func BenchmarkMatchRecoveryCode(b *testing.B) {
	plain, hashes, err := NewRecoveryCodes(DefaultRecoveryCodes)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := MatchRecoveryCode(plain[9], hashes); !ok {
			b.Fatal("no match")
		}
	}
}
