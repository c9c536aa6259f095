package password

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// passphrase builds a deterministic passphrase of exactly n code points
// from uncommon words, so length tests do not depend on luck.
func passphrase(n int, seed uint64) string {
	words := []string{"quokka", "zephyr", "obelisk", "marzipan", "fjord", "gossamer", "wombat", "kumquat", "larynx", "xylem", "bivouac", "quixote", "sphinx", "jukebox"}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	for utf8.RuneCountInString(b.String()) < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(byte('0' + r.IntN(10)))
		b.WriteByte(" -_.!"[r.IntN(5)])
	}
	return string([]rune(b.String())[:n])
}

func TestPolicyAccepts(t *testing.T) {
	p := Policy{MinLength: 15, MaxLength: 256}
	tests := []struct {
		name     string
		password string
	}{
		{"passphrase", "violet staple orbit kettle"},
		{"exactly 15", "bq7-zephyr-mold"},
		{"128 code points", passphrase(128, 1)},
		{"256 code points", passphrase(256, 2)},
		{"non-latin", "черничный ветер над рекой"},
		{"mixed scripts", "grüne Äpfel schwimmen 猫 leise"},
		{"spaces count, not trimmed", " ocelot quill 7 "},
		{"only lower-case letters, no composition rules", "mossy lantern under quiet fjords"},
		{"ligature counts as two after NFKC", "\ufb01rm Qx9 zebra!"},
		{"mentions the name but is not made of it", "alice purple glacier moonbeam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Check(tt.password, "Alice Wonderland", "alice.wonderland@example.com"); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestPolicyRefuses(t *testing.T) {
	p := Policy{MinLength: 15, MaxLength: 256}
	name, email := "Alice Wonderland", "alice.wonderland@example.com"
	tests := []struct {
		name     string
		password string
		want     Reason
	}{
		{"empty", "", ReasonTooShort},
		{"14 code points", "bq7-zephyr-mol", ReasonTooShort},
		{"14 without the ligature", "frm Qx9 zebra!", ReasonTooShort},
		{"14 multibyte code points", strings.Repeat("ü", 7) + strings.Repeat("ß", 7), ReasonTooShort},
		{"257 code points", passphrase(257, 3), ReasonTooLong},
		{"huge input", strings.Repeat("x", 10000), ReasonTooLong},
		{"common password", "passwordpassword", ReasonCommon},
		{"common with digits", "iloveyou12345678", ReasonCommon},
		{"leet common", "p@ssw0rdp@ssw0rd", ReasonCommon},
		{"keyboard row", "poiuytrewqlkjhgf", ReasonPattern},
		{"reversed keyboard rows", "mnbvcxzlkjhgfdsa", ReasonPattern},
		{"sequence", "abcdefghijklmnopqrs", ReasonPattern},
		{"repeat", strings.Repeat("z", 20), ReasonPattern},
		{"whole email", email, ReasonPersonal},
		{"name and year", "AliceWonderland2024!", ReasonPersonal},
		{"email local part", "alice.wonderland!!", ReasonPersonal},
		{"product name", "CustodianCustodian1", ReasonPersonal},
		{"surname only, case changed", "WONDERLAND.wonderland", ReasonPersonal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.password, name, email)
			var weak *WeakPasswordError
			if !errors.As(err, &weak) {
				t.Fatalf("Check = %v, want *WeakPasswordError", err)
			}
			if weak.Reason != tt.want {
				t.Errorf("reason = %v, want %v (%s)", weak.Reason, tt.want, weak.Error())
			}
			if weak.Explanation == "" || weak.Suggestion == "" {
				t.Errorf("missing explanation or suggestion: %+v", weak)
			}
			msg := err.Error()
			if tt.password != "" && strings.Contains(msg, tt.password) {
				t.Errorf("message echoes the password: %q", msg)
			}
			for _, secret := range []string{"alice", "wonderland", "example.com", "2024"} {
				if strings.Contains(strings.ToLower(msg), secret) {
					t.Errorf("message echoes %q: %q", secret, msg)
				}
			}
		})
	}
}

// TestPolicyUserInputsMatter checks that a password acceptable for one
// person is refused for the person whose details it is made of.
func TestPolicyUserInputsMatter(t *testing.T) {
	var p Policy
	const pw = "Bartholomew.Quigley77"
	if err := p.Check(pw, "Alice Wonderland", "alice@example.com"); err != nil {
		t.Fatalf("refused for an unrelated user: %v", err)
	}
	var weak *WeakPasswordError
	if err := p.Check(pw, "Bartholomew Quigley", "bq@example.com"); !errors.As(err, &weak) || weak.Reason != ReasonPersonal {
		t.Fatalf("Check with own name = %v, want personal", err)
	}
	if err := p.Check(pw, "Someone Else", "bartholomew.quigley@example.com"); !errors.As(err, &weak) || weak.Reason != ReasonPersonal {
		t.Fatalf("Check with own email = %v, want personal", err)
	}
}

func TestPolicyLimits(t *testing.T) {
	pw := passphrase(40, 4)
	tests := []struct {
		name    string
		p       Policy
		invalid bool
		weak    bool
	}{
		{"defaults", Policy{}, false, false},
		{"min 8 with a second factor", Policy{MinLength: 8}, false, false},
		{"min 41 refuses 40", Policy{MinLength: 41, MaxLength: 256}, false, true},
		{"max 128", Policy{MaxLength: 128}, false, false},
		{"min below NIST floor", Policy{MinLength: 7}, true, false},
		{"max below 128", Policy{MaxLength: 127}, true, false},
		{"max below min", Policy{MinLength: 100, MaxLength: 80}, true, false},
		{"max beyond hasher input", Policy{MaxLength: 2000}, true, false},
		{"score above 4", Policy{MinScore: 5}, true, false},
		{"score below 0", Policy{MinScore: -1}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err != nil) != tt.invalid {
				t.Fatalf("Validate = %v, want invalid=%v", err, tt.invalid)
			}
			err := tt.p.Check(pw)
			var weak *WeakPasswordError
			switch {
			case tt.invalid:
				if !errors.Is(err, ErrInvalidPolicy) || errors.As(err, &weak) {
					t.Fatalf("Check = %v, want ErrInvalidPolicy", err)
				}
			case tt.weak:
				if !errors.As(err, &weak) || weak.Reason != ReasonTooShort {
					t.Fatalf("Check = %v, want too short", err)
				}
			case err != nil:
				t.Fatalf("Check = %v, want nil", err)
			}
		})
	}
}

func TestContextWords(t *testing.T) {
	got := contextWords([]string{"Ana María O'Neil", "ana.maria+crm@Mail.Example.org", "  ", "Jo"})
	want := []string{"custodian", "ana maría o'neil", "ana", "maría", "neil", "ana.maria+crm@mail.example.org", "ana.maria+crm", "mail", "example", "maria", "crm"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("contextWords =\n%q\nwant\n%q", got, want)
	}
}

// FuzzCheck makes sure no input panics the strength estimator and every
// refusal is a *WeakPasswordError that does not contain the password.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "violet staple orbit kettle", "\ufb01\ufb01\ufb01", "p@$$w0rd|!1|!1|!1", "ǅǆǄ İstanbul ẞ", "\xff\xfe\xfd invalid utf8 bytes", "日本語のパスワードです。とても長い"} {
		f.Add(s)
	}
	var p Policy
	f.Fuzz(func(t *testing.T, pw string) {
		err := p.Check(pw, "Ünïcode Nåme", "user@example.com")
		if err == nil {
			return
		}
		var weak *WeakPasswordError
		if !errors.As(err, &weak) {
			t.Fatalf("Check = %v, want *WeakPasswordError", err)
		}
		if len(pw) >= 4 && strings.Contains(err.Error(), pw) {
			t.Fatalf("message echoes the password")
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	var p Policy
	for _, bc := range []struct {
		name string
		pw   string
	}{
		{"passphrase-26", "violet staple orbit kettle"},
		{"passphrase-64", passphrase(64, 5)},
		{"leet-64", strings.Repeat("p@$$w0rd|!1|!1", 5)[:64]},
		{"passphrase-256", passphrase(256, 6)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_ = p.Check(bc.pw, "Alice Wonderland", "alice.wonderland@example.com")
			}
		})
	}
}
