// Package totp provides the second sign-in factor: time-based one-time
// passwords (RFC 6238) from an authenticator app, and single-use recovery
// codes for when the app is lost.
//
// Keys use the parameters every authenticator app understands: a 160-bit
// secret, HMAC-SHA1, 6 digits and a 30-second period. Validate accepts the
// code of the current period or one period either side (clock drift and
// typing time), compares in constant time and refuses any period at or
// before the last one accepted for the account, so an observed code cannot
// be replayed. The caller stores the returned step with the account.
//
// The secret is a credential: store it encrypted, never log it, and show
// the URL or QR code only during enrolment.
package totp

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"
)

// Parameters of every key, chosen for authenticator-app compatibility.
const (
	// Period is the length of one time step in seconds.
	Period = 30
	// Digits is the number of digits in a code.
	Digits = 6
	// Skew is how many steps before or after the current one are accepted.
	Skew = 1
	// SecretSize is the secret length in bytes (160 bits, as RFC 4226
	// recommends for HMAC-SHA1).
	SecretSize = 20
	// minSecretSize is the shortest secret Validate accepts (RFC 4226's
	// 128-bit minimum).
	minSecretSize = 16

	// MinQRSize and MaxQRSize bound the side of a QR code image in pixels.
	MinQRSize = 64
	// MaxQRSize bounds the side of a QR code image in pixels.
	MaxQRSize = 1024
)

// Errors returned by Generate and Key.QRCodePNG.
var (
	// ErrInvalidLabel means the issuer or account name is empty or contains
	// a colon, which would make the otpauth label ambiguous.
	ErrInvalidLabel = errors.New("totp: issuer and account must be non-empty and contain no colon")
	// ErrInvalidSize means a QR code size is outside MinQRSize..MaxQRSize.
	ErrInvalidSize = errors.New("totp: invalid QR code size")
)

// Key is a freshly generated TOTP key for enrolment.
type Key struct {
	key *otp.Key
}

// Generate creates a key with a random 160-bit secret for the account at
// issuer (normally the product or organisation name, shown in the app).
func Generate(issuer, account string) (*Key, error) {
	if issuer == "" || account == "" || strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return nil, ErrInvalidLabel
	}
	k, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      Period,
		SecretSize:  SecretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("totp: generate: %w", err)
	}
	return &Key{key: k}, nil
}

// Secret returns the base32 secret (no padding), to be stored encrypted
// with the account and passed to Validate.
func (k *Key) Secret() string { return k.key.Secret() }

// URL returns the otpauth:// URL an authenticator app enrols from.
func (k *Key) URL() string { return k.key.URL() }

// QRCodePNG returns the URL as a square PNG QR code of size pixels, for the
// enrolment page to display.
func (k *Key) QRCodePNG(size int) ([]byte, error) {
	if size < MinQRSize || size > MaxQRSize {
		return nil, fmt.Errorf("%w: %d not in %d..%d", ErrInvalidSize, size, MinQRSize, MaxQRSize)
	}
	img, err := k.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("totp: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: png: %w", err)
	}
	return buf.Bytes(), nil
}

// StepAt returns the RFC 6238 time step containing t.
func StepAt(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - Period + 1) / Period
	}
	return u / Period
}

// Validate checks code against secret at time now. It accepts the code of
// the current step or of one step either side, but only for a step after
// lastUsedStep (pass 0 for an account that never used a code). On success
// it returns the matched step, which the caller must store as the new
// lastUsedStep before answering, so the same code cannot be used twice.
// Spaces in the code are ignored; anything but Digits ASCII digits fails.
// All candidate codes are computed and compared in constant time.
func Validate(secret, code string, now time.Time, lastUsedStep int64) (step int64, ok bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != Digits {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	secret, valid := canonicalSecret(secret)
	if !valid {
		return 0, false
	}
	cur := StepAt(now)
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	var matched int64
	found := false
	// Every candidate is computed and compared, whatever matched earlier,
	// so the time taken does not depend on which step the code is from.
	for s := cur - Skew; s <= cur+Skew; s++ {
		if s < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), opts)
		if err != nil {
			return 0, false
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1
		if eq && s > lastUsedStep && !found {
			matched, found = s, true
		}
	}
	return matched, found
}

// canonicalSecret upper-cases a base32 secret, drops spaces and padding,
// and checks it decodes to at least minSecretSize bytes.
func canonicalSecret(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(s, " ", ""), "="))
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(b) < minSecretSize {
		return "", false
	}
	return s, true
}
