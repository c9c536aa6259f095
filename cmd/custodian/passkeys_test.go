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

// TestSettingsRequirePasskeyRoles sets and clears the roles that must sign
// in with a passkey from a shell, and refuses an unknown role.
func TestSettingsRequirePasskeyRoles(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	settings := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"custodian", "settings"}, args...), env(vars), nil, &out, io.Discard)
		return out.String(), err
	}
	tests := []struct {
		args []string
		want string
		bad  bool
	}{
		{[]string{"--require-passkey-roles", "manager, admin"}, "require-passkey-roles: [manager admin]", false},
		{[]string{"--require-passkey-roles", "owner"}, "", true},
		{nil, "require-passkey-roles: [manager admin]", false},
		{[]string{"--require-passkey-roles", "none"}, "require-passkey-roles: []", false},
	}
	for _, tt := range tests {
		out, err := settings(tt.args...)
		if (err != nil) != tt.bad || !strings.Contains(out, tt.want) {
			t.Errorf("settings %v = %q, %v", tt.args, out, err)
		}
	}
}

// TestServeSaysWhenPasskeysAreOff: serve logs that passkeys are off
// without a public address, as an error when roles require them (their
// users could not sign in fully), and the relying party when they are on.
func TestServeSaysWhenPasskeysAreOff(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	if err := run(context.Background(), []string{"custodian", "settings", "--require-passkey-roles", "admin"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "roles require passkeys, but passkeys are off"},
		{[]string{"--public-url", "https://crm.example.com"}, `"relying_party":"crm.example.com"`},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithCancel(context.Background())
		_, done, logs := startServer(t, ctx, vars, tt.args...)
		waitForLog(t, logs, tt.want)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve %v: %v", tt.args, err)
		}
	}
}
