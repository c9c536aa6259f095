package alerting

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testcert"
	"github.com/custodian-crm/custodian/internal/testnet"
	"github.com/custodian-crm/custodian/internal/testsmtp"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	c := testcert.New(t, nil, 1, "127.0.0.1")
	return &tls.Config{Certificates: []tls.Certificate{c.TLS()}}, c.Pool()
}

func TestMailerDeliversPlain(t *testing.T) {
	s := testsmtp.Start(t, nil)
	m, err := NewMailer(MailerConfig{Addr: s.Addr(), From: "alerts@custodian.test",
		To: []string{"sec@custodian.test", "ops@custodian.test"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := sampleAlert()
	a.Key = "account:acct-1\r\nBcc: victim@evil.test"
	if err := m.send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got := s.Receive(t)
	if got.From != "alerts@custodian.test" || len(got.To) != 2 || got.To[1] != "ops@custodian.test" || got.TLS {
		t.Fatalf("envelope %+v", got)
	}
	for _, want := range []string{"Subject: [Custodian] security alert open: brute_force", "Count:      5", "custodian.Alert ID:   0123abcd"} {
		if !strings.Contains(got.Data, want) {
			t.Fatalf("message lacks %q:\n%s", want, got.Data)
		}
	}
	if strings.Contains(got.Data, "\nBcc:") {
		t.Fatalf("header injected:\n%s", got.Data)
	}
}

func TestMailerUsesSTARTTLS(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	s := testsmtp.Start(t, srvTLS)
	m, err := NewMailer(MailerConfig{Addr: s.Addr(), From: "alerts@custodian.test",
		To: []string{"sec@custodian.test"}, RequireTLS: true,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	notifyRunning(t, m)
	if got := s.Receive(t); !got.TLS {
		t.Fatal("mail sent without TLS although STARTTLS was offered")
	}
	waitFor(t, "delivered counter", func() bool { return m.Stats().Delivered == 1 })
}

func TestMailerRequireTLSRefusesPlainServer(t *testing.T) {
	s := testsmtp.Start(t, nil)
	m, _ := NewMailer(MailerConfig{Addr: s.Addr(), From: "a@custodian.test",
		To: []string{"b@custodian.test"}, RequireTLS: true})
	m.d.wait = (&noWait{}).wait
	m.d.deliver(context.Background(), sampleAlert())
	if st := m.Stats(); st.Failed != 1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	for {
		select {
		case c := <-s.Commands():
			if c == "MAIL" {
				t.Fatal("MAIL sent over plain connection despite RequireTLS")
			}
			continue
		default:
		}
		break
	}
}

func TestMailerOnlyNewAndClosedByDefault(t *testing.T) {
	m, _ := NewMailer(MailerConfig{Addr: testnet.FreeAddr(t), From: "a@custodian.test", To: []string{"b@custodian.test"}})
	ctx := context.Background()
	a := sampleAlert()
	for i := range 5 {
		a.Count = 5 + i
		m.Notify(ctx, a)
	}
	a.Status = custodian.AlertClosed
	m.Notify(ctx, a)
	if p := m.Stats().Pending; p != 2 {
		t.Fatalf("queued %d mails for one alert, want 2 (raised, closed)", p)
	}
	all, _ := NewMailer(MailerConfig{Addr: testnet.FreeAddr(t), From: "a@custodian.test", To: []string{"b@custodian.test"}, Updates: true})
	for range 5 {
		all.Notify(ctx, sampleAlert())
	}
	if p := all.Stats().Pending; p != 5 {
		t.Fatalf("with Updates queued %d, want 5", p)
	}
}

func TestMailerUnreachableBoundedQueue(t *testing.T) {
	m, _ := NewMailer(MailerConfig{Addr: testnet.FreeAddr(t), From: "a@custodian.test", To: []string{"b@custodian.test"},
		QueueSize: 3, Updates: true})
	for range 100 {
		m.Notify(context.Background(), sampleAlert())
	}
	if st := m.Stats(); st.Pending != 3 || st.Dropped != 97 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewMailerValidation(t *testing.T) {
	bad := []MailerConfig{
		{Addr: "nohost", From: "a@x.test", To: []string{"b@x.test"}},
		{Addr: "127.0.0.1:25", To: []string{"b@x.test"}},
		{Addr: "127.0.0.1:25", From: "a@x.test"},
		{Addr: "127.0.0.1:25", From: "a@x.test\r\nRCPT TO:<c@x.test>", To: []string{"b@x.test"}},
	}
	for i, cfg := range bad {
		if _, err := NewMailer(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}
