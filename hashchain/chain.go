// Package hashchain provides the tamper-evident hash chain that protects the
// append-only audit trail.
//
// Every audit event is sealed with the hash of its predecessor, so editing,
// deleting, reordering or inserting a stored event breaks the chain at a
// point that Verify reports. The package knows nothing about storage: events
// are sealed before they are written and verified while they are read back
// in sequence order.
//
// # Encoding, format version 1
//
// The hash input is built from length-prefixed fields so that no two
// distinct events share an encoding (moving bytes from Actor into Action,
// for example, always changes the input). All integers are big-endian.
//
//	version    uint8   = 1
//	mode       uint8   = 'S' (plain SHA-256) or 'H' (HMAC-SHA256 with a chain key)
//	prev       uint32 length, then the previous event's Hash (empty for the first event)
//	seq        int64
//	time       int64 Unix seconds, then uint32 nanoseconds (UTC instant)
//	actor      uint32 length, bytes
//	action     uint32 length, bytes
//	subject    uint32 length, bytes
//	clientAddr uint32 length, bytes
//	requestID  uint32 length, bytes
//	fields     uint32 count, then each as uint32 length, bytes
//	data       uint32 length, bytes
//
// Hash = SHA-256(input) without a chain key, HMAC-SHA256(key, input) with
// one. A future format must use a new version byte; version 1 stays
// verifiable forever.
//
// # Chain key trade-off
//
// A plain SHA-256 chain detects accidental corruption and careless edits, but
// anyone who can write the table can also recompute every hash after an
// edit. With a chain key (HMAC) that is no longer possible without the key,
// so a database-only compromise cannot forge history. The price: the key
// must be kept outside the database (and rotated with care, since old events
// stay sealed with the old key), and only holders of the key can verify.
// Independently of the key, operators should record the head of the chain
// (an Anchor) somewhere the database writer cannot reach; anchors are the
// only way to detect that the newest events were cut off or that the whole
// chain was rebuilt.
package hashchain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"iter"
	"time"
)

// FormatVersion is the version byte of the canonical encoding sealed into
// every hash; it changes only when the encoding changes.
const FormatVersion = 1

// MinKeyLen is the shortest chain key NewChain accepts (256 bits).
const MinKeyLen = 32

// Hash modes, part of the hashed input so a plain hash can never be
// mistaken for a keyed one.
const (
	modePlain byte = 'S'
	modeKeyed byte = 'H'
)

// ErrShortKey is returned by NewChain for keys shorter than MinKeyLen.
var ErrShortKey = errors.New("hashchain: chain key shorter than 32 bytes")

// Event is one entry of the audit trail as it is stored. Seq numbers start
// at 1 and increase by one without gaps.
type Event struct {
	// Seq is the position of the event in the trail.
	Seq int64
	// Time is when the event happened; it is sealed as a UTC instant.
	Time time.Time
	// Actor identifies who acted (user or system component id).
	Actor string
	// Action names what was done, e.g. "customer.update".
	Action string
	// Subject identifies what was acted upon, e.g. a record id.
	Subject string
	// ClientAddr is the network address the request came from.
	ClientAddr string
	// RequestID ties the event to the request log.
	RequestID string
	// Fields names the fields that were changed (never their values).
	Fields []string
	// Data is an opaque detail blob, typically encrypted.
	Data []byte
	// PrevHash is the Hash of the previous event (empty for the first).
	PrevHash []byte
	// Hash seals this event together with PrevHash.
	Hash []byte
}

// AppendCanonical appends the version 1 canonical encoding of the event's
// content (everything after the prev field of the hash input, see the
// package documentation) to dst and returns the extended slice.
func (e *Event) AppendCanonical(dst []byte) []byte {
	// The signed numbers are encoded as their two's-complement bits, which
	// is lossless and is the version 1 format.
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Seq)) // #nosec G115 -- two's-complement bits, lossless
	t := e.Time.UTC()
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix()))       // #nosec G115 -- two's-complement bits, lossless
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond())) // #nosec G115 -- Nanosecond is in [0, 1e9)
	for _, s := range [...]string{e.Actor, e.Action, e.Subject, e.ClientAddr, e.RequestID} {
		dst = appendBytes(dst, []byte(s))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Fields))) // #nosec G115 -- an event lists a handful of field names, never 2^32
	for _, f := range e.Fields {
		dst = appendBytes(dst, []byte(f))
	}
	return appendBytes(dst, e.Data)
}

func appendBytes(dst, b []byte) []byte {
	// #nosec G115 -- event strings and data come from requests bounded at
	// 1 MiB, far below the 4 GiB a 32-bit length can express.
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// Anchor is an externally recorded chain head: the Hash of the event with
// the given Seq. Operators store anchors outside the database (log
// shipping, a ticket, a printed report) so that truncation and wholesale
// rewrites of the chain become detectable.
type Anchor struct {
	// Seq is the sequence number of the anchored event.
	Seq int64
	// Hash is that event's Hash.
	Hash []byte
}

// AnchorOf returns the anchor for a sealed event.
func AnchorOf(e Event) Anchor {
	return Anchor{Seq: e.Seq, Hash: bytes.Clone(e.Hash)}
}

// Chain seals and verifies events, optionally with a secret chain key. A
// Chain is immutable and safe for concurrent use.
type Chain struct {
	key []byte
}

// NewChain returns a Chain. A nil or empty key selects plain SHA-256;
// otherwise the key must be at least MinKeyLen bytes and every hash is an
// HMAC-SHA256 under it. The key is copied.
func NewChain(key []byte) (*Chain, error) {
	if len(key) == 0 {
		return &Chain{}, nil
	}
	if len(key) < MinKeyLen {
		return nil, ErrShortKey
	}
	return &Chain{key: bytes.Clone(key)}, nil
}

// Keyed reports whether the chain uses a secret key.
func (c *Chain) Keyed() bool { return len(c.key) > 0 }

// Sum computes the hash that seals e after prev, without modifying e.
func (c *Chain) Sum(prev []byte, e *Event) []byte {
	var h hash.Hash
	mode := modePlain
	if c.Keyed() {
		h = hmac.New(sha256.New, c.key)
		mode = modeKeyed
	} else {
		h = sha256.New()
	}
	buf := make([]byte, 0, 128+len(prev)+len(e.Data))
	buf = append(buf, FormatVersion, mode)
	buf = appendBytes(buf, prev)
	buf = e.AppendCanonical(buf)
	h.Write(buf)
	return h.Sum(nil)
}

// Seal links e to its predecessor: it normalises e.Time to UTC, sets
// e.PrevHash to a copy of prev (the previous event's Hash, nil for the first
// event) and sets e.Hash.
func (c *Chain) Seal(prev []byte, e *Event) {
	e.Time = e.Time.UTC()
	e.PrevHash = bytes.Clone(prev)
	e.Hash = c.Sum(e.PrevHash, e)
}

// Seal seals e with a plain (unkeyed) SHA-256 chain; see Chain.Seal.
func Seal(prev []byte, e *Event) {
	(&Chain{}).Seal(prev, e)
}

// Verify checks an unkeyed chain from its first event; see Chain.Verify.
func Verify(events iter.Seq2[Event, error]) (*Break, error) {
	return (&Chain{}).Verify(events)
}
