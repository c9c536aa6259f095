package hashchain

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// sealedEvents returns n events sealed by c, seq 1 to n.
func sealedEvents(c *Chain, n int) []Event {
	var out []Event
	var prev []byte
	for i := range n {
		e := Event{Seq: int64(i + 1), Time: time.Unix(int64(1000+i), 0), Actor: "usr_a", Action: "customer.update", Subject: "cus_x", Fields: []string{"name"}, Data: []byte{}}
		c.Seal(prev, &e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func seqOf(events []Event) func(yield func(Event, error) bool) {
	return func(yield func(Event, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// rewrite decompresses an archive, applies edit to its text and
// compresses it again, as someone with the file could.
func rewrite(t *testing.T, file []byte, edit func(string) string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write([]byte(edit(string(text))))
	_ = zw.Close()
	return out.Bytes()
}

func TestArchiveRoundTripAndTampering(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	chain, _ := NewChain(key)
	events := sealedEvents(chain, 6)
	var file bytes.Buffer
	h, err := WriteArchive(&file, key, ArchiveHeader{First: 3, Last: 5, PrevHash: events[1].Hash}, seqOf(events[2:5]))
	if err != nil || !bytes.Equal(h.LastHash, events[4].Hash) {
		t.Fatalf("write: %v %+v", err, h)
	}
	got, err := CheckArchive(bytes.NewReader(file.Bytes()), key)
	if err != nil || got.First != 3 || got.Last != 5 || !bytes.Equal(got.LastHash, events[4].Hash) {
		t.Fatalf("check: %+v %v", got, err)
	}
	// The archive's events continue the chain from its PrevHash.
	brk, err := chain.VerifyFrom(Anchor{Seq: 2, Hash: got.PrevHash}, ArchiveEvents(bytes.NewReader(file.Bytes())))
	if err != nil || brk != nil {
		t.Fatalf("verify archived events: %v %v", brk, err)
	}
	tests := []struct {
		name string
		file []byte
		key  []byte
	}{
		{"other key", file.Bytes(), bytes.Repeat([]byte{8}, 32)},
		{"edited event", rewrite(t, file.Bytes(), func(s string) string { return strings.Replace(s, "usr_a", "usr_b", 1) }), key},
		{"cut short", rewrite(t, file.Bytes(), func(s string) string { return s[:strings.LastIndex(s[:len(s)-1], "\n")+1] }), key},
		{"not gzip", []byte("{}\n"), key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := CheckArchive(bytes.NewReader(tt.file), tt.key); !errors.Is(err, ErrArchive) {
				t.Fatalf("check = %v, want ErrArchive", err)
			}
		})
	}
	if _, err := WriteArchive(io.Discard, key, ArchiveHeader{First: 3, Last: 6}, seqOf(events[2:5])); err == nil {
		t.Fatal("an archive short of its last event was written")
	}
}

// TestArchiveEdges archives from the first event of the chain, a single
// event, and events that carry data, and checks that each is accepted
// whole and verifies against the chain.
func TestArchiveEdges(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	chain, _ := NewChain(key)
	var events []Event
	var prev []byte
	for i := range 3 {
		e := Event{Seq: int64(i + 1), Time: time.Unix(int64(1000+i), 0), Actor: "usr_a", Action: "customer.update", Subject: "cus_x", Data: []byte(`{"sealed":"AQID"}`)}
		chain.Seal(prev, &e)
		prev = e.Hash
		events = append(events, e)
	}
	for _, tt := range []struct {
		name        string
		first, last int64
	}{
		{"from the first event", 1, 3},
		{"a single event", 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var prevHash []byte
			if tt.first > 1 {
				prevHash = events[tt.first-2].Hash
			}
			var file bytes.Buffer
			if _, err := WriteArchive(&file, key, ArchiveHeader{First: tt.first, Last: tt.last, PrevHash: prevHash}, seqOf(events[tt.first-1:tt.last])); err != nil {
				t.Fatalf("write: %v", err)
			}
			got, err := CheckArchive(bytes.NewReader(file.Bytes()), key)
			if err != nil || got.First != tt.first || got.Last != tt.last {
				t.Fatalf("check: %+v %v", got, err)
			}
			brk, err := chain.VerifyFrom(Anchor{Seq: tt.first - 1, Hash: prevHash}, ArchiveEvents(bytes.NewReader(file.Bytes())))
			if err != nil || brk != nil {
				t.Fatalf("verify archived events: %v %v", brk, err)
			}
		})
	}
}
