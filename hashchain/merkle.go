package hashchain

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Read is one record of the read log as it is sealed: who read which
// customers, when, why and from where. Records are not chained one by
// one; a batch of them is sealed into the chain by one event carrying the
// Merkle root of their leaves (MerkleRoot), so that the chain covers every
// read while each read costs no chain event.
type Read struct {
	// Seq is the record's position in the read log.
	Seq int64
	// Time is when the read happened, kept to the microsecond.
	Time time.Time
	// Actor, Purpose, ClientAddr and RequestID say who read, why, from
	// where and in which request.
	Actor, Purpose, ClientAddr, RequestID string
	// Customers are the customers whose records were read.
	Customers []string
}

// Leaf returns the record's leaf hash: SHA-256 over a 0x00 byte, the
// format version, and the length-prefixed canonical encoding of every
// field (seq int64, time as Unix microseconds int64, the four strings,
// then the customer count and each customer id), big-endian.
func (r *Read) Leaf() []byte {
	buf := make([]byte, 0, 96+27*len(r.Customers))
	buf = append(buf, 0x00, FormatVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.Seq))              // #nosec G115 -- two's-complement bits, lossless
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.Time.UnixMicro())) // #nosec G115 -- two's-complement bits, lossless
	for _, s := range [...]string{r.Actor, r.Purpose, r.ClientAddr, r.RequestID} {
		buf = appendBytes(buf, []byte(s))
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.Customers))) // #nosec G115 -- a page names at most a few hundred customers
	for _, c := range r.Customers {
		buf = appendBytes(buf, []byte(c))
	}
	sum := sha256.Sum256(buf)
	return sum[:]
}

// MerkleRoot returns the root of the Merkle tree over leaves (leaf hashes,
// as Read.Leaf returns), built as RFC 6962 builds it: an inner node is
// SHA-256 over a 0x01 byte and its two children, and a tree of n > 1
// leaves splits at the largest power of two below n. Changing, removing,
// inserting or reordering any leaf changes the root. The root of no leaves
// is SHA-256 of nothing.
func MerkleRoot(leaves [][]byte) []byte {
	if len(leaves) == 0 {
		sum := sha256.Sum256(nil)
		return sum[:]
	}
	return merkle(leaves)
}

func merkle(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := merkle(leaves[:k]), merkle(leaves[k:])
	buf := make([]byte, 0, 1+len(l)+len(r))
	buf = append(buf, 0x01)
	buf = append(buf, l...)
	buf = append(buf, r...)
	sum := sha256.Sum256(buf)
	return sum[:]
}
