// Package testnet gives tests loopback addresses.
package testnet

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address (host:port) that nothing listens on
// when it returns: a server under test may listen on it, and a client that
// dials it is refused.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
