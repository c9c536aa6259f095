package hashchain

import (
	"bufio"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"time"
)

// ArchiveFormat names the format of audit archive files.
const ArchiveFormat = "custodian-audit-archive/v1"

// An archive file holds a run of the chain's events, moved out of the
// database: a gzip stream of JSON lines, a header, then each event in
// sequence order, then a trailer carrying an HMAC-SHA256, under a key
// derived from the keyring, of every byte before it (uncompressed). The
// events keep their own hashes, so the chain runs on from the archive's
// PrevHash through every archive into the database; the HMAC adds that the
// file as a whole (header, event count, end) was written by the keyring's
// holder.

// ArchiveHeader is the first line of an archive file.
type ArchiveHeader struct {
	Format string `json:"format"`
	// First and Last are the sequence numbers of the first and last
	// events archived; PrevHash is the hash of the event before First
	// (empty when First is 1).
	First    int64     `json:"first"`
	Last     int64     `json:"last"`
	PrevHash []byte    `json:"prev_hash"`
	Created  time.Time `json:"created"`
	// LastHash is the hash of the event at Last, as the file holds it
	// (not a line of the header: the events carry it).
	LastHash []byte `json:"-"`
}

// archivedEvent is an event as an archive file holds it.
type archivedEvent struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Subject    string    `json:"subject,omitempty"`
	ClientAddr string    `json:"client_addr,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	Fields     []string  `json:"fields,omitempty"`
	Data       []byte    `json:"data,omitempty"`
	PrevHash   []byte    `json:"prev_hash"`
	Hash       []byte    `json:"hash"`
}

// archiveTrailer is the last line of an archive file.
type archiveTrailer struct {
	MAC string `json:"mac"`
}

// ErrArchive is returned, wrapped, for an archive file that is damaged,
// altered, or signed with another key.
var ErrArchive = errors.New("hashchain: the archive file is not intact")

// WriteArchive writes events (which must be h.First to h.Last, in order)
// to w as an archive file signed with key, filling h.Format and
// h.LastHash.
// It returns the header written.
func WriteArchive(w io.Writer, key []byte, h ArchiveHeader, events iter.Seq2[Event, error]) (ArchiveHeader, error) {
	h.Format = ArchiveFormat
	zw := gzip.NewWriter(w)
	mac := hmac.New(sha256.New, key)
	enc := json.NewEncoder(io.MultiWriter(zw, mac))
	if err := enc.Encode(h); err != nil {
		return h, err
	}
	next := h.First
	for e, err := range events {
		if err != nil {
			return h, err
		}
		if e.Seq != next || e.Seq > h.Last {
			return h, fmt.Errorf("hashchain: archive: event %d where %d was expected", e.Seq, next)
		}
		next++
		h.LastHash = e.Hash
		if err := enc.Encode(archivedEvent{Seq: e.Seq, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, Subject: e.Subject, ClientAddr: e.ClientAddr,
			RequestID: e.RequestID, Fields: e.Fields, Data: e.Data, PrevHash: e.PrevHash, Hash: e.Hash}); err != nil {
			return h, err
		}
	}
	if next != h.Last+1 {
		return h, fmt.Errorf("hashchain: archive: events end at %d, before %d", next-1, h.Last)
	}
	if err := json.NewEncoder(zw).Encode(archiveTrailer{MAC: hex.EncodeToString(mac.Sum(nil))}); err != nil {
		return h, err
	}
	return h, zw.Close()
}

// archiveLines yields the lines of the archive file r, and at the end
// whether its trailer's HMAC under key (nil: not checked) matched.
func archiveLines(r io.Reader, key []byte, line func([]byte) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrArchive, err)
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	var mac hash.Hash
	if key != nil {
		mac = hmac.New(sha256.New, key)
	}
	var prev []byte // the line before, fed to mac once the next one shows it was not the trailer
	for {
		l, err := br.ReadBytes('\n')
		if len(l) == 0 && err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrArchive, err)
		}
		if prev != nil {
			if mac != nil {
				mac.Write(prev)
			}
			if err := line(prev); err != nil {
				return err
			}
		}
		prev = l
	}
	var t archiveTrailer
	if prev == nil || json.Unmarshal(prev, &t) != nil || t.MAC == "" {
		return fmt.Errorf("%w: it has no trailer (cut short?)", ErrArchive)
	}
	if mac != nil {
		want, err := hex.DecodeString(t.MAC)
		if err != nil || !hmac.Equal(want, mac.Sum(nil)) {
			return fmt.Errorf("%w: its signature does not match (altered, or signed with another keyring)", ErrArchive)
		}
	}
	return nil
}

// CheckArchive reads the archive file r through and returns its header if
// its signature under key matches, its header is of this format and it
// holds exactly the events First to Last; it does not verify the events'
// hashes (Chain.Verify over ArchiveEvents does).
func CheckArchive(r io.Reader, key []byte) (ArchiveHeader, error) {
	var h ArchiveHeader
	n := 0
	next := int64(0)
	err := archiveLines(r, key, func(l []byte) error {
		n++
		if n == 1 {
			if err := json.Unmarshal(l, &h); err != nil || h.Format != ArchiveFormat || h.First < 1 || h.Last < h.First {
				return fmt.Errorf("%w: the header is not one of %s", ErrArchive, ArchiveFormat)
			}
			next = h.First
			return nil
		}
		var e archivedEvent
		if err := json.Unmarshal(l, &e); err != nil || e.Seq != next {
			return fmt.Errorf("%w: line %d is not event %d", ErrArchive, n, next)
		}
		next++
		h.LastHash = e.Hash
		return nil
	})
	if err != nil {
		return h, err
	}
	if n == 0 || next != h.Last+1 {
		return h, fmt.Errorf("%w: it holds events up to %d, its header says %d", ErrArchive, next-1, h.Last)
	}
	return h, nil
}

// ArchiveEvents yields the events of the archive file r, for Chain.Verify;
// check the file with CheckArchive first.
func ArchiveEvents(r io.Reader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		first := true
		stop := errors.New("stop")
		err := archiveLines(r, nil, func(l []byte) error {
			if first {
				first = false
				return nil
			}
			var a archivedEvent
			if err := json.Unmarshal(l, &a); err != nil {
				return fmt.Errorf("%w: %w", ErrArchive, err)
			}
			if !yield(Event{Seq: a.Seq, Time: a.Time, Actor: a.Actor, Action: a.Action, Subject: a.Subject, ClientAddr: a.ClientAddr,
				RequestID: a.RequestID, Fields: a.Fields, Data: nonNil(a.Data), PrevHash: a.PrevHash, Hash: a.Hash}, nil) {
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			yield(Event{}, err)
		}
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
