package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestPublicURLSetting refuses a public address passkeys cannot be bound
// to, and accepts an https one.
func TestPublicURLSetting(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	for _, u := range []string{"http://crm.example.com", "https://crm.example.com/app", "crm.example.com"} {
		err := run(context.Background(), []string{"custodian", "check", "--public-url", u}, env(vars), nil, io.Discard, io.Discard)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--public-url") {
			t.Errorf("--public-url %s: %v, want it refused", u, err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"custodian", "check", "--public-url", "https://crm.example.com:8443"}, env(vars), nil, &out, io.Discard); err != nil {
		t.Errorf("--public-url https://crm.example.com:8443: %v", err)
	}
}
