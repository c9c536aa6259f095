package hashchain

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"
)

func TestMerkleRoot(t *testing.T) {
	leaf := func(s string) []byte { r := Read{Seq: 1, Time: time.Unix(1, 0), Actor: s}; return r.Leaf() }
	node := func(l, r []byte) []byte {
		sum := sha256.Sum256(append(append([]byte{0x01}, l...), r...))
		return sum[:]
	}
	a, b, c := leaf("a"), leaf("b"), leaf("c")
	empty := sha256.Sum256(nil)
	tests := []struct {
		name   string
		leaves [][]byte
		want   []byte
	}{
		{"none", nil, empty[:]},
		{"one", [][]byte{a}, a},
		{"two", [][]byte{a, b}, node(a, b)},
		{"three splits at two", [][]byte{a, b, c}, node(node(a, b), c)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MerkleRoot(tt.leaves); !bytes.Equal(got, tt.want) {
				t.Fatalf("root %x, want %x", got, tt.want)
			}
		})
	}
	if bytes.Equal(MerkleRoot([][]byte{a, b}), MerkleRoot([][]byte{b, a})) {
		t.Fatal("reordering leaves keeps the root")
	}
}

func TestReadLeafCoversEveryField(t *testing.T) {
	base := Read{Seq: 7, Time: time.Unix(100, 5000), Actor: "usr_a", Purpose: "p", ClientAddr: "192.0.2.1", RequestID: "r", Customers: []string{"cus_a", "cus_b"}}
	changes := map[string]func(r *Read){
		"seq":       func(r *Read) { r.Seq++ },
		"time":      func(r *Read) { r.Time = r.Time.Add(time.Microsecond) },
		"actor":     func(r *Read) { r.Actor = "usr_b" },
		"purpose":   func(r *Read) { r.Purpose = "q" },
		"address":   func(r *Read) { r.ClientAddr = "192.0.2.2" },
		"request":   func(r *Read) { r.RequestID = "s" },
		"customers": func(r *Read) { r.Customers = []string{"cus_a"} },
		"shifted":   func(r *Read) { r.Actor, r.Purpose = "usr_", "ap" },
	}
	for name, change := range changes {
		r := base
		r.Customers = append([]string(nil), base.Customers...)
		change(&r)
		if bytes.Equal(r.Leaf(), base.Leaf()) {
			t.Errorf("changing the %s keeps the leaf", name)
		}
	}
}
