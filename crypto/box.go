package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// SubKey derives a KeySize key for purpose from key with HKDF-SHA-256, so
// one secret can key several mechanisms without any two sharing a key.
func SubKey(key []byte, purpose string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, key, nil, purpose, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", purpose, err)
	}
	return k, nil
}

// Box seals short values under one key with AES-256-GCM, a random nonce per
// value and associated data that binds each value to its purpose, in the
// same versioned format as customer fields. It is for state a server hands
// to a client and takes back (sealed search terms, a half-finished
// sign-in), never for data at rest.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box keyed with key, which must be KeySize bytes.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("box key must be %d bytes", KeySize)
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("box cipher: %w", err)
	}
	return &Box{aead: a}, nil
}

// Seal encrypts and authenticates plaintext, bound to ad.
func (b *Box) Seal(plaintext, ad []byte) []byte { return seal(b.aead, plaintext, ad) }

// Open returns what Seal sealed with the same ad, or ErrDecrypt.
func (b *Box) Open(ct, ad []byte) ([]byte, error) { return open(b.aead, ct, ad) }

// MAC returns HMAC-SHA-256 under key of the parts joined with NUL bytes.
// Every part but the last must hold no NUL, so that no two lists of parts
// give the same input.
func MAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write(p)
	}
	return m.Sum(nil)
}
