package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification writes them: "whsec_" and the base64 of the key.
const SecretPrefix = "whsec_"

// secretLen is the signing key's length in bytes.
const secretLen = 32

// newSecret returns a fresh signing key.
func newSecret() []byte {
	b := make([]byte, secretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// FormatSecret writes a key as the secret shown to the administrator.
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// ParseSecret reads a secret written by FormatSecret.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook secret: missing whsec_ prefix")
	}
	return base64.StdEncoding.DecodeString(b64)
}

// Headers of a signed delivery (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the signature of one delivery under key: "v1," and the
// base64 of HMAC-SHA256 over "id.timestamp.body".
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether one of the space-separated signatures in header
// is the signature of the delivery under key, and ts is within tolerance
// of now: what a receiver does.
func Verify(key []byte, id, timestamp, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	ts := time.Unix(sec, 0)
	if ts.Before(now.Add(-tolerance)) || ts.After(now.Add(tolerance)) {
		return false
	}
	want := Sign(key, id, ts, body)
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
