package crypto

import "testing"

func BenchmarkToken(b *testing.B) {
	s, _ := newSealer(b)
	for b.Loop() {
		s.Token("word", "lovelace")
	}
}

func BenchmarkSealField(b *testing.B) {
	s, _ := newSealer(b)
	dk, _, _, _ := s.NewDataKey("cus_a")
	pt := []byte("Ada Lovelace")
	for b.Loop() {
		dk.Seal("name", pt)
	}
}

func BenchmarkOpenField(b *testing.B) {
	s, _ := newSealer(b)
	dk, _, _, _ := s.NewDataKey("cus_a")
	ct := dk.Seal("name", []byte("Ada Lovelace"))
	for b.Loop() {
		if _, err := dk.Open("name", ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenDataKeyUncached unwraps a data key with the master key, as
// for a customer not read recently.
func BenchmarkOpenDataKeyUncached(b *testing.B) {
	s, _ := newSealer(b)
	_, keyID, wrapped, _ := s.NewDataKey("cus_a")
	for b.Loop() {
		s.Forget("cus_a")
		if _, err := s.OpenDataKey("cus_a", keyID, wrapped); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenDataKeyCached(b *testing.B) {
	s, _ := newSealer(b)
	_, keyID, wrapped, _ := s.NewDataKey("cus_a")
	for b.Loop() {
		if _, err := s.OpenDataKey("cus_a", keyID, wrapped); err != nil {
			b.Fatal(err)
		}
	}
}
