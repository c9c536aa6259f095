package hashchain

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// buildChain returns n sealed events with seq 1..n.
func buildChain(t testing.TB, c *Chain, n int) []Event {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	evs := make([]Event, n)
	var prev []byte
	for i := range evs {
		e := Event{
			Seq:        int64(i + 1),
			Time:       base.Add(time.Duration(i) * time.Second),
			Actor:      fmt.Sprintf("user-%d", i%3),
			Action:     "customer.update",
			Subject:    fmt.Sprintf("cust-%d", i),
			ClientAddr: "192.0.2.10",
			RequestID:  fmt.Sprintf("req-%d", i),
			Fields:     []string{"email", "phone"},
			Data:       []byte{byte(i), 0xff, 0},
		}
		c.Seal(prev, &e)
		prev = e.Hash
		evs[i] = e
	}
	return evs
}

func stream(evs []Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, e := range evs {
			// Hand out deep copies so a verifier cannot corrupt the slice.
			e.Fields = slices.Clone(e.Fields)
			if !yield(e, nil) {
				return
			}
		}
	}
}

func reseal(c *Chain, e *Event) { e.Hash = c.Sum(e.PrevHash, e) }

func TestVerifyIntact(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		var key []byte
		if keyed {
			key = newKey(t)
		}
		c, err := NewChain(key)
		if err != nil {
			t.Fatal(err)
		}
		evs := buildChain(t, c, 20)
		b, err := c.Verify(stream(evs), AnchorOf(evs[9]), AnchorOf(evs[19]))
		if err != nil || b != nil {
			t.Fatalf("keyed=%v: intact chain reported %v, %v", keyed, b, err)
		}
	}
	if b, err := Verify(stream(nil)); b != nil || err != nil {
		t.Fatalf("empty chain: %v, %v", b, err)
	}
}

func TestVerifyTampering(t *testing.T) {
	plain, _ := NewChain(nil)
	keyed, err := NewChain(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	// forgeEleven returns a tampering that forges an event 11 onto genuine
	// event 10, sealed with the plain chain (a forger without the key can
	// do no better), and inserts it at index at: 10 puts it before the
	// genuine event 11, 11 after it.
	forgeEleven := func(at int) func(*Chain, []Event) []Event {
		return func(_ *Chain, evs []Event) []Event {
			f := Event{Seq: 11, Time: evs[10].Time, Actor: "intruder", Action: "customer.export"}
			plain.Seal(evs[9].Hash, &f)
			return slices.Insert(evs, at, f)
		}
	}
	tests := []struct {
		name    string
		chain   *Chain
		tamper  func(c *Chain, evs []Event) []Event
		anchors func(orig []Event) []Anchor
		seq     int64
		kind    BreakKind
	}{
		{
			name: "edit field of event 5", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { evs[4].Subject = "cust-999"; return evs },
			seq:    5, kind: Edited,
		},
		{
			name: "edit changed-field list of event 5", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { evs[4].Fields = []string{"emailphone"}; return evs },
			seq:    5, kind: Edited,
		},
		{
			name: "edit time of event 5", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { evs[4].Time = evs[4].Time.Add(time.Nanosecond); return evs },
			seq:    5, kind: Edited,
		},
		{
			name: "edit data of event 5", chain: keyed,
			tamper: func(_ *Chain, evs []Event) []Event { evs[4].Data[0] ^= 1; return evs },
			seq:    5, kind: Edited,
		},
		{
			name: "edit and re-hash event 5", chain: plain,
			tamper: func(c *Chain, evs []Event) []Event { evs[4].Actor = "admin"; reseal(c, &evs[4]); return evs },
			seq:    5, kind: Edited,
		},
		{
			name: "edit and re-hash event 1", chain: plain,
			tamper: func(c *Chain, evs []Event) []Event { evs[0].Actor = "admin"; reseal(c, &evs[0]); return evs },
			seq:    1, kind: Edited,
		},
		{
			name: "edit keyed event 5 and re-hash without the key", chain: keyed,
			tamper: func(_ *Chain, evs []Event) []Event { evs[4].Actor = "admin"; reseal(plain, &evs[4]); return evs },
			seq:    5, kind: Edited,
		},
		{
			name: "delete event 7", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { return slices.Delete(evs, 6, 7) },
			seq:    7, kind: Deleted,
		},
		{
			name: "delete events 7 to 9", chain: keyed,
			tamper: func(_ *Chain, evs []Event) []Event { return slices.Delete(evs, 6, 9) },
			seq:    7, kind: Deleted,
		},
		{
			name: "delete first event", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { return evs[1:] },
			seq:    1, kind: Deleted,
		},
		{
			name: "delete event 7 and renumber the rest", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event {
				evs = slices.Delete(evs, 6, 7)
				for i := 6; i < len(evs); i++ {
					evs[i].Seq--
				}
				return evs
			},
			seq: 7, kind: Edited,
		},
		{
			name: "swap events 3 and 4", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { evs[2], evs[3] = evs[3], evs[2]; return evs },
			seq:    3, kind: Reordered,
		},
		{
			name: "swap contents of events 3 and 4 keeping seq", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event {
				evs[2], evs[3] = evs[3], evs[2]
				evs[2].Seq, evs[3].Seq = 3, 4
				return evs
			},
			seq: 3, kind: Edited,
		},
		{
			name: "insert forged event before genuine 11 (unkeyed, consistent hash)", chain: plain,
			tamper: forgeEleven(10),
			seq:    11, kind: Inserted,
		},
		{
			name: "insert forged event before genuine 11 (keyed, forger lacks key)", chain: keyed,
			tamper: forgeEleven(10),
			seq:    11, kind: Inserted,
		},
		{
			name: "insert forged event after genuine 11", chain: plain,
			tamper: forgeEleven(11),
			seq:    11, kind: Inserted,
		},
		{
			name: "replay an old event later", chain: plain,
			tamper: func(_ *Chain, evs []Event) []Event { return slices.Insert(evs, 15, evs[2]) },
			seq:    3, kind: Inserted,
		},
		{
			name: "truncate the tail with an anchor at the head", chain: plain,
			tamper:  func(_ *Chain, evs []Event) []Event { return evs[:16] },
			anchors: func(orig []Event) []Anchor { return []Anchor{AnchorOf(orig[19])} },
			seq:     17, kind: Truncated,
		},
		{
			name: "rebuild whole chain after an edit, caught by anchor", chain: plain,
			tamper: func(c *Chain, evs []Event) []Event {
				evs[4].Actor = "admin"
				var prev []byte
				for i := range evs {
					c.Seal(prev, &evs[i])
					prev = evs[i].Hash
				}
				return evs
			},
			anchors: func(orig []Event) []Anchor { return []Anchor{AnchorOf(orig[9])} },
			seq:     10, kind: Edited,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := buildChain(t, tt.chain, 20)
			evs := deepCopy(orig)
			evs = tt.tamper(tt.chain, evs)
			var anchors []Anchor
			if tt.anchors != nil {
				anchors = tt.anchors(orig)
			}
			b, err := tt.chain.Verify(stream(evs), anchors...)
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				t.Fatal("tampering not detected")
			}
			if b.Seq != tt.seq || b.Kind != tt.kind {
				t.Fatalf("got break at seq %d kind %s (%s), want seq %d kind %s", b.Seq, b.Kind, b.Msg, tt.seq, tt.kind)
			}
		})
	}
}

func TestTruncationUndetectableWithoutAnchor(t *testing.T) {
	// Documented limitation: a cut-off tail is a valid shorter chain.
	c, _ := NewChain(nil)
	evs := buildChain(t, c, 20)
	if b, err := c.Verify(stream(evs[:15])); b != nil || err != nil {
		t.Fatalf("expected a shorter chain to verify without anchors, got %v %v", b, err)
	}
}

func TestKeyedChainNeedsKey(t *testing.T) {
	k1, _ := NewChain(newKey(t))
	k2, _ := NewChain(newKey(t))
	evs := buildChain(t, k1, 5)
	b, err := k2.Verify(stream(evs))
	if err != nil || b == nil || b.Seq != 1 {
		t.Fatalf("wrong key must fail at seq 1, got %v %v", b, err)
	}
	if b, _ := Verify(stream(evs)); b == nil {
		t.Fatal("keyed chain verified as plain chain")
	}
}

// TestOnlyAKeyMakesAChainKeyed checks that a chain without a key is the
// plain SHA-256 chain (so anyone can verify it) and one with a key is
// keyed.
func TestOnlyAKeyMakesAChainKeyed(t *testing.T) {
	plain, err := NewChain(nil)
	if err != nil || plain.Keyed() || (&Chain{}).Keyed() {
		t.Fatalf("a chain without a key reports itself keyed (%v)", err)
	}
	keyed, err := NewChain(newKey(t))
	if err != nil || !keyed.Keyed() {
		t.Fatalf("a chain with a key reports itself plain (%v)", err)
	}
}

func TestNewChainRejectsShortKey(t *testing.T) {
	if _, err := NewChain(make([]byte, 16)); !errors.Is(err, ErrShortKey) {
		t.Fatalf("got %v, want ErrShortKey", err)
	}
}

func TestVerifyFrom(t *testing.T) {
	c, _ := NewChain(nil)
	evs := buildChain(t, c, 20)
	if b, err := c.VerifyFrom(AnchorOf(evs[9]), stream(evs[10:])); b != nil || err != nil {
		t.Fatalf("suffix after anchor: %v %v", b, err)
	}
	if b, _ := c.VerifyFrom(AnchorOf(evs[9]), stream(evs[8:])); b == nil || b.Seq != 9 || b.Kind != Inserted {
		t.Fatalf("event before the starting anchor: %v", b)
	}
	bad := AnchorOf(evs[9])
	bad.Hash = bytes.Repeat([]byte{1}, 32)
	b, err := c.VerifyFrom(bad, stream(evs[10:]))
	if err != nil || b == nil || b.Seq != 11 {
		t.Fatalf("suffix with wrong starting anchor: %v %v", b, err)
	}
}

func TestVerifyReadError(t *testing.T) {
	c, _ := NewChain(nil)
	evs := buildChain(t, c, 3)
	boom := errors.New("connection reset")
	seq := func(yield func(Event, error) bool) {
		for _, e := range evs {
			if !yield(e, nil) {
				return
			}
		}
		yield(Event{}, boom)
	}
	b, err := c.Verify(seq)
	if b != nil || !errors.Is(err, boom) {
		t.Fatalf("got %v %v, want wrapped read error", b, err)
	}
}

func TestCanonicalUnambiguous(t *testing.T) {
	c, _ := NewChain(nil)
	a := Event{Seq: 1, Actor: "ab", Action: "c"}
	b := Event{Seq: 1, Actor: "a", Action: "bc"}
	if bytes.Equal(c.Sum(nil, &a), c.Sum(nil, &b)) {
		t.Fatal("moving bytes between fields kept the hash")
	}
	f1 := Event{Seq: 1, Fields: []string{"a", "b"}}
	f2 := Event{Seq: 1, Fields: []string{"ab"}}
	if bytes.Equal(c.Sum(nil, &f1), c.Sum(nil, &f2)) {
		t.Fatal("regrouping fields kept the hash")
	}
	// The instant counts, not the location.
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	l1 := Event{Seq: 1, Time: ts}
	l2 := Event{Seq: 1, Time: ts.In(time.FixedZone("x", 3600))}
	if !bytes.Equal(c.Sum(nil, &l1), c.Sum(nil, &l2)) {
		t.Fatal("same instant in another zone changed the hash")
	}
}

func deepCopy(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		e.Fields = slices.Clone(e.Fields)
		e.Data = bytes.Clone(e.Data)
		e.PrevHash = bytes.Clone(e.PrevHash)
		e.Hash = bytes.Clone(e.Hash)
		out[i] = e
	}
	return out
}

func BenchmarkSeal(b *testing.B) {
	c, _ := NewChain(newKey(b))
	e := Event{Seq: 1, Time: time.Now(), Actor: "user-1", Action: "customer.update", Subject: "cust-1",
		ClientAddr: "192.0.2.1", RequestID: "req", Fields: []string{"email"}, Data: make([]byte, 256)}
	prev := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		c.Seal(prev, &e)
	}
}
