package alerting

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/testsmtp"
)

// TestAccountMailerDelivers sends an account mail through a real SMTP
// listener: to the account's own address only, with the subject and body
// given, and refuses an address that would add recipients or headers.
func TestAccountMailerDelivers(t *testing.T) {
	s := testsmtp.Start(t, nil)
	m, err := NewAccountMailer(MailerConfig{Addr: s.Addr(), From: "custodian@custodian.test", To: []string{"sec@custodian.test"}, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.NotifyAccount(context.Background(), "owner@example.com", "Your Custodian account is locked\r\nBcc: x@evil.test", "Set a new password: https://crm.example.test/reset?token=cst_rst_x\r\n"); err != nil {
		t.Fatal(err)
	}
	got := s.Receive(t)
	if got.From != "custodian@custodian.test" || len(got.To) != 1 || got.To[0] != "owner@example.com" {
		t.Fatalf("envelope %+v", got)
	}
	if !strings.Contains(got.Data, "Subject: Your Custodian account is lockedBcc: x@evil.test") || strings.Contains(got.Data, "\nBcc:") ||
		!strings.Contains(got.Data, "https://crm.example.test/reset?token=cst_rst_x") {
		t.Fatalf("message:\n%s", got.Data)
	}
	for _, bad := range []string{"", "a@example.com\r\nRCPT TO:<b@example.com>", "a@example.com, b@example.com"} {
		if err := m.NotifyAccount(context.Background(), bad, "s", "b"); err == nil {
			t.Errorf("recipient %q accepted", bad)
		}
	}
}
