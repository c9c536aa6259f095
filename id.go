package custodian

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// CustomerIDPrefix starts every customer id, so ids are recognisable in logs
// and support tickets.
const CustomerIDPrefix = "cus_"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewCustomerID returns a new opaque customer id: 128 random bits, so it
// reveals nothing (not the row number, not the creation order, nothing of the
// person) and cannot be guessed.
func NewCustomerID() string { return CustomerIDPrefix + randomID() }

// randomID returns 128 random bits in lower-case base32 (26 characters).
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return idEncoding.EncodeToString(b[:])
}

// ValidCustomerID reports whether s has the shape of a customer id, so that
// malformed ids are refused before any lookup.
func ValidCustomerID(s string) bool {
	rest, ok := strings.CutPrefix(s, CustomerIDPrefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
