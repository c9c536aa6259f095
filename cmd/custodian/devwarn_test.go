package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/internal/syncbuf"
)

// TestServeWarnsOfDevelopmentSettings checks that serve, outside
// --production, says at start which development settings it runs with:
// plain HTTP on a non-loopback address, empty --allowed-hosts and the
// development keyring, and nothing for a setting that is fine.
func TestServeWarnsOfDevelopmentSettings(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keyring.json")
	tests := []struct {
		name string
		args []string
		want []string // the findings warned about
	}{
		{"everything for development, on every interface", []string{"--addr", ":8080"}, []string{"C001", "C002", "C003"}},
		{"loopback plain HTTP is fine", []string{"--addr", "127.0.0.1:8080"}, []string{"C002", "C003"}},
		{"hosts and a keyring file", []string{"--addr", "127.0.0.1:8080", "--allowed-hosts", "crm.example.com", "--master-key-file", keyFile}, nil},
		{"a trusted proxy terminates TLS", []string{"--addr", "0.0.0.0:8080", "--trusted-proxies", "10.0.0.1", "--allowed-hosts", "crm.example.com", "--master-key-file", keyFile}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet("serve", io.Discard)
			s := addServeFlags(fs)
			args := append([]string{"--data-dir", t.TempDir()}, tt.args...)
			if help, err := s.parse(fs, args, env(nil)); help || err != nil {
				t.Fatal(err)
			}
			logs := &syncbuf.Buffer{}
			warnDevelopmentSettings(s, slog.New(slog.NewJSONHandler(logs, nil)))
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if _, after, ok := strings.Cut(line, `"finding":"`); ok {
					if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, `"msg":"development setting"`) {
						t.Errorf("not a warning: %s", line)
					}
					got = append(got, after[:4])
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("warned about %v, want %v:\n%s", got, tt.want, logs)
			}
		})
	}
}
