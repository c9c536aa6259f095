package hashchain

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"iter"
)

// BreakKind classifies how the chain was broken.
type BreakKind string

// Kinds of chain breaks reported by Verify.
const (
	// Edited: an event's content no longer matches its hash, or an event
	// was rewritten and re-hashed so that its successor no longer links to
	// it, or its hash differs from an anchor.
	Edited BreakKind = "edited"
	// Deleted: one or more sequence numbers are missing.
	Deleted BreakKind = "deleted"
	// Reordered: an event appears after its successor.
	Reordered BreakKind = "reordered"
	// Inserted: a sequence number occurs twice, or an event that does not
	// belong to the chain sits where a genuine one should be.
	Inserted BreakKind = "inserted"
	// Truncated: the chain ends before an anchored event.
	Truncated BreakKind = "truncated"
)

// Break describes the first point at which a chain stops being trustworthy.
// Everything before Seq verified; nothing from Seq on can be trusted.
type Break struct {
	// Seq is the sequence number at which the chain breaks.
	Seq int64
	// Kind says what kind of tampering the evidence points to.
	Kind BreakKind
	// Msg explains the evidence; it names sequence numbers only, never
	// event content.
	Msg string
}

// Error makes a Break usable as an error value.
func (b *Break) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d (%s): %s", b.Seq, b.Kind, b.Msg)
}

// Verify walks events in the order given, starting at the beginning of the
// chain (seq 1, empty prev hash), and reports the first broken link, or nil
// when the chain is intact. Anchors recorded earlier are checked as their
// events pass by; an anchor beyond the last event reports truncation. A
// non-nil error means events could not be read, not that the chain is bad.
//
// Classification uses one event of look-ahead: an event that appears just
// after its successor is reported as reordered; an event moved further away
// shows up as a deletion at its original position.
func (c *Chain) Verify(events iter.Seq2[Event, error], anchors ...Anchor) (*Break, error) {
	return c.VerifyFrom(Anchor{}, events, anchors...)
}

// VerifyFrom is Verify starting after a trusted anchor rather than at the
// beginning: the first event must have Seq from.Seq+1 and link to
// from.Hash. The zero Anchor means the beginning of the chain. It allows
// incremental verification of only the events added since the last check.
func (c *Chain) VerifyFrom(from Anchor, events iter.Seq2[Event, error], anchors ...Anchor) (*Break, error) {
	next, stop := iter.Pull2(events)
	defer stop()

	want := make(map[int64][]byte, len(anchors))
	var maxAnchor int64
	for _, a := range anchors {
		want[a.Seq] = a.Hash
		maxAnchor = max(maxAnchor, a.Seq)
	}

	var peeked *Event
	pull := func() (Event, bool, error) {
		if peeked != nil {
			e := *peeked
			peeked = nil
			return e, true, nil
		}
		e, err, ok := next()
		if !ok {
			return Event{}, false, nil
		}
		return e, true, err
	}
	peek := func() (*Event, error) {
		if peeked == nil {
			e, err, ok := next()
			if !ok {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			peeked = &e
		}
		return peeked, nil
	}
	readErr := func(err error, after int64) error {
		return fmt.Errorf("hashchain: reading event after seq %d: %w", after, err)
	}

	lastSeq, lastHash := from.Seq, from.Hash
	for {
		cur, ok, err := pull()
		if err != nil {
			return nil, readErr(err, lastSeq)
		}
		if !ok {
			break
		}
		expect := lastSeq + 1
		switch {
		case cur.Seq == lastSeq && cur.Seq > from.Seq:
			return &Break{Seq: cur.Seq, Kind: Inserted, Msg: fmt.Sprintf("seq %d occurs twice", cur.Seq)}, nil
		case cur.Seq <= from.Seq:
			return &Break{Seq: cur.Seq, Kind: Inserted, Msg: fmt.Sprintf("seq %d precedes the start of the chain at seq %d", cur.Seq, from.Seq+1)}, nil
		case cur.Seq <= lastSeq:
			return &Break{Seq: cur.Seq, Kind: Inserted, Msg: fmt.Sprintf("seq %d appears again after seq %d", cur.Seq, lastSeq)}, nil
		case cur.Seq > expect:
			nx, err := peek()
			if err != nil {
				return nil, readErr(err, cur.Seq)
			}
			if nx != nil && nx.Seq == expect {
				return &Break{Seq: expect, Kind: Reordered, Msg: fmt.Sprintf("seq %d appears after seq %d", expect, cur.Seq)}, nil
			}
			return &Break{Seq: expect, Kind: Deleted, Msg: fmt.Sprintf("seq %d to %d missing", expect, cur.Seq-1)}, nil
		}

		selfOK := hmac.Equal(c.Sum(cur.PrevHash, &cur), cur.Hash)
		linkOK := bytes.Equal(cur.PrevHash, lastHash)
		if !selfOK || !linkOK {
			nx, err := peek()
			if err != nil {
				return nil, readErr(err, cur.Seq)
			}
			nxGenuine := nx != nil && bytes.Equal(nx.PrevHash, lastHash) &&
				hmac.Equal(c.Sum(nx.PrevHash, nx), nx.Hash)
			switch {
			case nx != nil && nx.Seq == cur.Seq && nxGenuine:
				return &Break{Seq: cur.Seq, Kind: Inserted, Msg: fmt.Sprintf("a forged event with seq %d precedes the genuine one", cur.Seq)}, nil
			case !selfOK:
				return &Break{Seq: cur.Seq, Kind: Edited, Msg: fmt.Sprintf("seq %d does not match its hash", cur.Seq)}, nil
			case nx != nil && bytes.Equal(nx.PrevHash, cur.Hash) && lastSeq > from.Seq:
				// cur and its successor agree; the previous event was
				// rewritten and re-hashed.
				return &Break{Seq: lastSeq, Kind: Edited, Msg: fmt.Sprintf("seq %d was re-hashed: seq %d does not link to it", lastSeq, cur.Seq)}, nil
			default:
				return &Break{Seq: cur.Seq, Kind: Inserted, Msg: fmt.Sprintf("seq %d does not link to seq %d", cur.Seq, lastSeq)}, nil
			}
		}
		if h, ok := want[cur.Seq]; ok && !bytes.Equal(h, cur.Hash) {
			return &Break{Seq: cur.Seq, Kind: Edited, Msg: fmt.Sprintf("seq %d differs from its anchor: history was rewritten", cur.Seq)}, nil
		}
		lastSeq, lastHash = cur.Seq, cur.Hash
	}
	if maxAnchor > lastSeq {
		return &Break{Seq: lastSeq + 1, Kind: Truncated, Msg: fmt.Sprintf("chain ends at seq %d but seq %d is anchored", lastSeq, maxAnchor)}, nil
	}
	return nil, nil
}
