package main

import (
	"os"
	"testing"
)

// TestMain removes the binary that tests running the server as a process
// of its own built (buildBinary) once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
