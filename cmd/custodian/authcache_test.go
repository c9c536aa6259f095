package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/syncbuf"
)

func TestAuthCacheTTLSetting(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	for _, ttl := range []string{"-1s", "61s"} {
		err := run(context.Background(), []string{"custodian", "check", "--auth-cache-ttl", ttl}, env(vars), nil, io.Discard, io.Discard)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--auth-cache-ttl") {
			t.Errorf("--auth-cache-ttl %s: %v, want it refused", ttl, err)
		}
	}
	for _, ttl := range []string{"0", "1m"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"custodian", "check", "--auth-cache-ttl", ttl}, env(vars), nil, &out, io.Discard); err != nil {
			t.Errorf("--auth-cache-ttl %s: %v", ttl, err)
		}
	}
}

// waitForLog polls logs until they contain want, failing after 10 s.
func waitForLog(t *testing.T, logs *syncbuf.Buffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, logs)
		}
	}
}
