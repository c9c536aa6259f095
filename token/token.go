// Package token makes and checks opaque bearer secrets: session cookies,
// personal access tokens, invitation, setup and password-reset links.
//
// A token is a readable prefix naming its kind followed by 256 random bits
// in unpadded base64url, for example
//
//	cst_pat_3q2-7wEjRk1p...  (43 characters after the prefix)
//
// The prefix lets secret scanners and people recognise a leaked token and
// tells the server which table to look in. Only Hash(token) is stored, so a
// copy of the database does not hold usable tokens.
//
// Hash is a single SHA-256, not a password hash, on purpose: the input has
// 256 bits of entropy, so no dictionary or brute-force search of the hash
// is possible and a slow, salted hash would add nothing but a per-request
// cost an attacker could use to load the server. Look tokens up by their
// hash and, when a stored hash must be compared with a computed one, use
// Equal.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefixes of the token kinds the product issues.
const (
	// PrefixSession marks a browser session token.
	PrefixSession = "cst_ses_"
	// PrefixPersonalAccess marks a personal access token for the API.
	PrefixPersonalAccess = "cst_pat_"
	// PrefixInvitation marks an invitation link token.
	PrefixInvitation = "cst_inv_"
	// PrefixSetup marks an account or two-factor setup link token.
	PrefixSetup = "cst_set_"
	// PrefixReset marks a password-reset link token.
	PrefixReset = "cst_rst_"
	// PrefixEmail marks the link that confirms a new sign-in address.
	PrefixEmail = "cst_eml_"
	// PrefixCeremony marks a WebAuthn (passkey) ceremony under way.
	PrefixCeremony = "cst_wac_"
)

const (
	// Bytes is the number of random bytes in a token (256 bits).
	Bytes = 32
	// EncodedLen is the length of the random part once encoded.
	EncodedLen = 43
	// HashLen is the length of Hash's result.
	HashLen = sha256.Size

	maxPrefixLen = 32
)

// Errors returned by New and Parse.
var (
	// ErrMalformed means a string is not a token of the expected kind.
	ErrMalformed = errors.New("token: malformed")
	// ErrInvalidPrefix means a prefix is not lower-case letters, digits
	// and underscores ending in an underscore.
	ErrInvalidPrefix = errors.New("token: invalid prefix")
)

// New returns a fresh token with the given prefix and the hash to store.
// The plaintext is shown or sent once and never stored.
func New(prefix string) (plaintext string, hash []byte, err error) {
	if err := checkPrefix(prefix); err != nil {
		return "", nil, err
	}
	var raw [Bytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("token: random: %w", err)
	}
	plaintext = prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return plaintext, Hash(plaintext), nil
}

// Hash returns the SHA-256 of the whole token, prefix included: the value
// stored and looked up.
func Hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// Parse checks that s has the shape of a token with the given prefix (the
// prefix, then exactly 43 base64url characters encoding 32 bytes), so that
// junk is refused before any database lookup. It says nothing about
// whether the token exists; errors never contain s.
func Parse(prefix, s string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return fmt.Errorf("%w: wrong kind", ErrMalformed)
	}
	if len(rest) != EncodedLen {
		return fmt.Errorf("%w: wrong length", ErrMalformed)
	}
	raw, err := strictBase64URL.DecodeString(rest)
	if err != nil || len(raw) != Bytes {
		return fmt.Errorf("%w: not base64url", ErrMalformed)
	}
	return nil
}

// strictBase64URL is made once: Strict returns a fresh copy of the
// encoding, and Parse runs on every authenticated request.
var strictBase64URL = base64.RawURLEncoding.Strict()

// checkPrefix accepts 2 to 32 characters of [a-z0-9_], starting with a
// letter and ending with an underscore.
func checkPrefix(p string) error {
	if len(p) < 2 || len(p) > maxPrefixLen || p[0] < 'a' || p[0] > 'z' || p[len(p)-1] != '_' {
		return ErrInvalidPrefix
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return ErrInvalidPrefix
		}
	}
	return nil
}
