package hashchain

import (
	"encoding/binary"
	"testing"
	"time"
)

// storedFields returns pointers to every stored byte of e, field by field,
// in the form a database keeps them: the sequence number and the time as
// 8-byte integers, the texts, each changed-field name, the data and both
// hashes.
func storedFields(e *Event) []*[]byte {
	seq := binary.BigEndian.AppendUint64(nil, uint64(e.Seq))            // #nosec G115 -- test data
	at := binary.BigEndian.AppendUint64(nil, uint64(e.Time.UnixNano())) // #nosec G115 -- test data
	actor, action, subject := []byte(e.Actor), []byte(e.Action), []byte(e.Subject)
	client, request := []byte(e.ClientAddr), []byte(e.RequestID)
	out := []*[]byte{&seq, &at, &actor, &action, &subject, &client, &request}
	for i := range e.Fields {
		f := []byte(e.Fields[i])
		out = append(out, &f)
	}
	return append(out, &e.Data, &e.PrevHash, &e.Hash)
}

// fromStored rebuilds an event from storedFields' slices.
func fromStored(parts []*[]byte, nFields int) Event {
	e := Event{
		Seq:   int64(binary.BigEndian.Uint64(*parts[0])),                     // #nosec G115 -- test data
		Time:  time.Unix(0, int64(binary.BigEndian.Uint64(*parts[1]))).UTC(), // #nosec G115 -- test data
		Actor: string(*parts[2]), Action: string(*parts[3]), Subject: string(*parts[4]),
		ClientAddr: string(*parts[5]), RequestID: string(*parts[6]),
	}
	for i := 0; i < nFields; i++ {
		e.Fields = append(e.Fields, string(*parts[7+i]))
	}
	rest := parts[7+nFields:]
	e.Data, e.PrevHash, e.Hash = *rest[0], *rest[1], *rest[2]
	return e
}

// FuzzVerifyCatchesAnyByte changes one stored byte of one event of a
// sealed, keyed chain (any field, the hashes included) and requires that
// verification reports a break. The chain is checked intact first, so the
// property is about the change alone.
func FuzzVerifyCatchesAnyByte(f *testing.F) {
	f.Add(uint32(0), byte(1))
	f.Add(uint32(9), byte(0x80))
	f.Add(uint32(200), byte(0xff))
	f.Add(uint32(1000), byte(0x20))
	key := make([]byte, MinKeyLen)
	for i := range key {
		key[i] = byte(i)
	}
	c, err := NewChain(key)
	if err != nil {
		f.Fatal(err)
	}
	orig := buildChain(f, c, 4)
	if b, err := c.Verify(stream(orig)); b != nil || err != nil {
		f.Fatalf("the untouched chain does not verify: %v %v", b, err)
	}
	f.Fuzz(func(t *testing.T, pos uint32, flip byte) {
		if flip == 0 {
			flip = 1
		}
		evs := deepCopy(orig)
		var total int
		stored := make([][]*[]byte, len(evs))
		for i := range evs {
			stored[i] = storedFields(&evs[i])
			for _, p := range stored[i] {
				total += len(*p)
			}
		}
		at := int(pos % uint32(total)) // #nosec G115 -- total is a few hundred bytes
		for i := range evs {
			for _, p := range stored[i] {
				if at < len(*p) {
					(*p)[at] ^= flip
					evs[i] = fromStored(stored[i], len(evs[i].Fields))
					b, err := c.Verify(stream(evs))
					if err != nil {
						t.Fatal(err)
					}
					if b == nil {
						t.Fatalf("changing byte %d of event %d went unnoticed", int(pos%uint32(total)), i+1) // #nosec G115 -- as above
					}
					return
				}
				at -= len(*p)
			}
		}
		t.Fatal("position out of range")
	})
}
