package totp

import (
	"bytes"
	"encoding/base32"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B, "12345678901234567890",
// in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// rfcVectors are RFC 6238 appendix B's SHA-1 codes reduced to 6 digits (the
// 8-digit values modulo 10^6, i.e. their last six digits).
var rfcVectors = []struct {
	unix int64
	code string
}{
	{59, "287082"},
	{1111111109, "081804"},
	{1111111111, "050471"},
	{1234567890, "005924"},
	{2000000000, "279037"},
	{20000000000, "353130"},
}

func TestValidateRFC6238Vectors(t *testing.T) {
	for _, v := range rfcVectors {
		now := time.Unix(v.unix, 0)
		step, ok := Validate(rfcSecret, v.code, now, 0)
		if !ok || step != v.unix/Period {
			t.Errorf("Validate(%s at %d) = %d, %v; want %d, true", v.code, v.unix, step, ok, v.unix/Period)
		}
		// Replay: the step just accepted is refused.
		if _, ok := Validate(rfcSecret, v.code, now, step); ok {
			t.Errorf("code at %d accepted again after its step was used", v.unix)
		}
		// Wrong code.
		wrong := []byte(v.code)
		wrong[5] = '0' + (wrong[5]-'0'+1)%10
		if _, ok := Validate(rfcSecret, string(wrong), now, 0); ok {
			t.Errorf("altered code at %d accepted", v.unix)
		}
	}
}

// TestValidateSkew checks the ±1 step window with the code of step 1
// (RFC vector "287082", valid for Unix 30–59).
func TestValidateSkew(t *testing.T) {
	const code = "287082"
	tests := []struct {
		name string
		unix int64
		ok   bool
	}{
		{"two steps early", -1, false},
		{"one step early", 0, true},
		{"one step early, last second", 29, true},
		{"current step, first second", 30, true},
		{"current step, last second", 59, true},
		{"one step late", 60, true},
		{"one step late, last second", 89, true},
		{"two steps late", 90, false},
		{"far later", 1111111109, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Validate(rfcSecret, code, time.Unix(tt.unix, 0), 0)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && step != 1 {
				t.Fatalf("step = %d, want 1 (the code's own step)", step)
			}
		})
	}
}

// TestValidateReplay walks through a session of sign-ins at an injected
// time, storing the returned step as a server would.
func TestValidateReplay(t *testing.T) {
	base := time.Unix(1111111109, 0) // step 37037036, code 081804
	cur := StepAt(base)
	codeAt := func(step int64) string {
		c, err := pqtotp.GenerateCodeCustom(rfcSecret, time.Unix(step*Period, 0), pqtotp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if codeAt(cur) != "081804" {
		t.Fatalf("independent generator disagrees with RFC 6238: %s", codeAt(cur))
	}
	tests := []struct {
		name     string
		code     string
		lastUsed int64
		wantOK   bool
		wantStep int64
	}{
		{"previous step, fresh account", codeAt(cur - 1), 0, true, cur - 1},
		{"current after previous was used", codeAt(cur), cur - 1, true, cur},
		{"previous after current was used", codeAt(cur - 1), cur, false, 0},
		{"same code twice", codeAt(cur), cur, false, 0},
		{"next step after current was used", codeAt(cur + 1), cur, true, cur + 1},
		{"current after next was used", codeAt(cur), cur + 1, false, 0},
		{"two steps ahead", codeAt(cur + 2), 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Validate(rfcSecret, tt.code, base, tt.lastUsed)
			if ok != tt.wantOK || step != tt.wantStep {
				t.Fatalf("Validate = %d, %v; want %d, %v", step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

func TestValidateInput(t *testing.T) {
	now := time.Unix(59, 0)
	tests := []struct {
		name   string
		secret string
		code   string
		ok     bool
	}{
		{"plain", rfcSecret, "287082", true},
		{"spaced like the app shows it", rfcSecret, "287 082", true},
		{"lower-case secret with padding", strings.ToLower(rfcSecret) + "====", "287082", true},
		{"five digits", rfcSecret, "28708", false},
		{"seven digits", rfcSecret, "2870820", false},
		{"eight-digit RFC value", rfcSecret, "94287082", false},
		{"letters", rfcSecret, "28708a", false},
		{"full-width digits", rfcSecret, "２８７０８２", false},
		{"signed", rfcSecret, "+87082", false},
		{"empty code", rfcSecret, "", false},
		{"empty secret", "", "287082", false},
		{"not base32", "!!!!!!!!", "287082", false},
		{"secret under 128 bits", base32.StdEncoding.EncodeToString([]byte("1234567890")), "287082", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Validate(tt.secret, tt.code, now, 0); ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	k, err := Generate("Custodian", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)*8 < 160 {
		t.Fatalf("secret has %d bits, want >= 160", len(raw)*8)
	}
	u, err := url.Parse(k.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Custodian:alice@example.com" {
		t.Fatalf("URL %s: wrong scheme, type or label", u.Redacted())
	}
	for param, want := range map[string]string{"secret": k.Secret(), "issuer": "Custodian", "algorithm": "SHA1", "digits": "6", "period": "30"} {
		if got := q.Get(param); got != want {
			t.Errorf("URL %s = %q, want %q", param, got, want)
		}
	}

	// A code from an independent implementation, at an injected time,
	// validates against the new secret.
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	code, err := pqtotp.GenerateCode(k.Secret(), now)
	if err != nil {
		t.Fatal(err)
	}
	if step, ok := Validate(k.Secret(), code, now, 0); !ok || step != StepAt(now) {
		t.Fatalf("Validate(own code) = %d, %v", step, ok)
	}

	k2, err := Generate("Custodian", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if k2.Secret() == k.Secret() {
		t.Fatal("two keys share a secret")
	}
}

func TestGenerateLabels(t *testing.T) {
	tests := []struct{ issuer, account string }{
		{"", "alice@example.com"},
		{"Custodian", ""},
		{"Cust:odian", "alice@example.com"},
		{"Custodian", "alice:admin@example.com"},
	}
	for _, tt := range tests {
		if _, err := Generate(tt.issuer, tt.account); !errors.Is(err, ErrInvalidLabel) {
			t.Errorf("Generate(%q, %q) err = %v, want ErrInvalidLabel", tt.issuer, tt.account, err)
		}
	}
}

func TestQRCodePNG(t *testing.T) {
	k, err := Generate("Custodian", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{MinQRSize, 256} {
		b, err := k.QRCodePNG(size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("size %d: not a PNG: %v", size, err)
		}
		if r := img.Bounds(); r.Dx() != size || r.Dy() != size {
			t.Fatalf("size %d: image is %dx%d", size, r.Dx(), r.Dy())
		}
		// A QR code has both dark and light modules.
		dark, light := 0, 0
		for y := 0; y < size; y += 4 {
			for x := 0; x < size; x += 4 {
				if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
					dark++
				} else {
					light++
				}
			}
		}
		if dark == 0 || light == 0 {
			t.Fatalf("size %d: image is blank (dark=%d light=%d)", size, dark, light)
		}
	}
	for _, size := range []int{0, -1, MinQRSize - 1, MaxQRSize + 1} {
		if _, err := k.QRCodePNG(size); !errors.Is(err, ErrInvalidSize) {
			t.Errorf("size %d: err = %v, want ErrInvalidSize", size, err)
		}
	}
}

func TestStepAt(t *testing.T) {
	tests := []struct {
		unix int64
		step int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {-1, -1}, {-30, -1}, {-31, -2}, {20000000000, 666666666}}
	for _, tt := range tests {
		if got := StepAt(time.Unix(tt.unix, 0)); got != tt.step {
			t.Errorf("StepAt(%d) = %d, want %d", tt.unix, got, tt.step)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	now := time.Unix(1111111109, 0)
	for b.Loop() {
		if _, ok := Validate(rfcSecret, "081804", now, 0); !ok {
			b.Fatal("vector refused")
		}
	}
}
