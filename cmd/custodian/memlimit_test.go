package main

import (
	"errors"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	before := debug.SetMemoryLimit(-1)
	tests := []struct {
		name string
		mib  int
		env  string
		want int64
	}{
		{"default", defaultMemoryLimitMiB, "", defaultMemoryLimitMiB << 20},
		{"off", 0, "", before},
		{"GOMEMLIMIT wins", 64, "200MiB", before},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restore := applyMemoryLimit(tt.mib, func(k string) string {
				if k == "GOMEMLIMIT" {
					return tt.env
				}
				return ""
			}, logger)
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("limit %d, want %d", got, tt.want)
			}
			restore()
			if got := debug.SetMemoryLimit(-1); got != before {
				t.Errorf("after restore %d, want %d", got, before)
			}
		})
	}
}

func TestServeRefusesANegativeMemoryLimit(t *testing.T) {
	_, _, err := runCmd(t, map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}, "serve", "--memory-limit", "-1")
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("serve --memory-limit -1: %v", err)
	}
}
