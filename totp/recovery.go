package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Recovery codes are 12 symbols of Crockford's base32 alphabet, shown as
// three groups of four (xxxx-xxxx-xxxx): 60 random bits each. The alphabet
// has no i, l, o or u, so nothing reads as another symbol, and input is
// forgiving: case, spaces and dashes are ignored, and o, i and l are read
// as 0, 1 and 1.
//
// Codes are stored only as unsalted SHA-256 hashes. A slow password hash
// is unnecessary: with 60 random bits an attacker holding a stolen hash
// must try about 2^59 codes on average, which even at billions of SHA-256
// per second takes centuries, and salting adds nothing when every input is
// already unique and random. A fast hash also keeps checking ten codes
// cheap, so this path cannot be used to exhaust the server.
const (
	// DefaultRecoveryCodes is how many codes NewRecoveryCodes makes when
	// asked for zero.
	DefaultRecoveryCodes = 10
	// MaxRecoveryCodes bounds the codes made at once.
	MaxRecoveryCodes = 100
	// RecoveryCodeBits is the entropy of one code.
	RecoveryCodeBits = recoverySymbols * 5

	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoverySymbols  = 12
	recoveryGroup    = 4
)

// ErrRecoveryCount means NewRecoveryCodes was asked for a negative number
// of codes or more than MaxRecoveryCodes.
var ErrRecoveryCount = errors.New("totp: invalid number of recovery codes")

// NewRecoveryCodes returns n fresh recovery codes (DefaultRecoveryCodes if
// n is zero) to show the user once, and their hashes to store. hashes[i]
// belongs to plain[i].
func NewRecoveryCodes(n int) (plain []string, hashes []string, err error) {
	if n == 0 {
		n = DefaultRecoveryCodes
	}
	if n < 0 || n > MaxRecoveryCodes {
		return nil, nil, fmt.Errorf("%w: %d", ErrRecoveryCount, n)
	}
	seen := make(map[string]bool, n)
	var buf [8]byte
	for len(plain) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return nil, nil, fmt.Errorf("totp: recovery code: %w", err)
		}
		v := binary.BigEndian.Uint64(buf[:])
		var sym [recoverySymbols]byte
		for i := range sym {
			sym[i] = recoveryAlphabet[v&31]
			v >>= 5
		}
		canonical := string(sym[:])
		if seen[canonical] {
			continue
		}
		seen[canonical] = true
		plain = append(plain, group(canonical))
		hashes = append(hashes, hashRecovery(canonical))
	}
	return plain, hashes, nil
}

// MatchRecoveryCode reports which stored hash, if any, the typed code
// matches. Every hash is compared, in constant time, whatever matched
// before. On success the caller must delete hashes[index] (in the same
// transaction that signs the user in) so the code works only once.
func MatchRecoveryCode(code string, hashes []string) (index int, ok bool) {
	canonical, valid := canonicalRecovery(code)
	if !valid {
		return -1, false
	}
	sum := []byte(hashRecovery(canonical))
	index = -1
	for i, h := range hashes {
		if subtle.ConstantTimeCompare([]byte(h), sum) == 1 && index < 0 {
			index = i
		}
	}
	return index, index >= 0
}

// group formats a canonical code as xxxx-xxxx-xxxx.
func group(canonical string) string {
	var b strings.Builder
	for i := 0; i < len(canonical); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(canonical[i : i+recoveryGroup])
	}
	return b.String()
}

// canonicalRecovery turns typed input into the 12 lower-case symbols that
// are hashed, or reports that it cannot be a recovery code.
func canonicalRecovery(code string) (string, bool) {
	out := make([]byte, 0, recoverySymbols)
	for _, r := range strings.ToLower(code) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(recoveryAlphabet, r) || len(out) == recoverySymbols {
			return "", false
		}
		out = append(out, byte(r))
	}
	if len(out) != recoverySymbols {
		return "", false
	}
	return string(out), true
}

// hashRecovery is the stored form of a canonical code: hex SHA-256.
func hashRecovery(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return hex.EncodeToString(sum[:])
}
