package alerting

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testcert"
	"github.com/custodian-crm/custodian/internal/testnet"
)

// receivedMail is what the test SMTP server accepted.
type receivedMail struct {
	from string
	to   []string
	data string
	tls  bool
}

// smtpServer is a minimal real SMTP peer: EHLO/HELO, optional STARTTLS,
// MAIL, RCPT, DATA, RSET, NOOP and QUIT over TCP.
type smtpServer struct {
	ln    net.Listener
	tls   *tls.Config // offers STARTTLS when set
	mails chan receivedMail
	cmds  chan string
}

func startSMTP(t *testing.T, tlsCfg *tls.Config) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, tls: tlsCfg, mails: make(chan receivedMail, 16), cmds: make(chan string, 256)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	secure := false
	var m receivedMail
	_ = tp.PrintfLine("220 test.invalid ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		select {
		case s.cmds <- verb:
		default:
		}
		switch verb {
		case "EHLO", "HELO":
			if s.tls != nil && !secure {
				_ = tp.PrintfLine("250-test.invalid\r\n250-8BITMIME\r\n250 STARTTLS")
			} else {
				_ = tp.PrintfLine("250-test.invalid\r\n250 8BITMIME")
			}
		case "STARTTLS":
			if s.tls == nil || secure {
				_ = tp.PrintfLine("502 not available")
				continue
			}
			_ = tp.PrintfLine("220 ready")
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			conn, tp, secure = tc, textproto.NewConn(tc), true
		case "MAIL":
			m = receivedMail{from: between(line), tls: secure}
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			m.to = append(m.to, between(line))
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data = string(b)
			s.mails <- m
			_ = tp.PrintfLine("250 queued")
		case "RSET", "NOOP":
			_ = tp.PrintfLine("250 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 unknown")
		}
	}
}

func between(line string) string {
	i, j := strings.IndexByte(line, '<'), strings.IndexByte(line, '>')
	if i < 0 || j < i {
		return ""
	}
	return line[i+1 : j]
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	c := testcert.New(t, nil, 1, "127.0.0.1")
	return &tls.Config{Certificates: []tls.Certificate{c.TLS()}}, c.Pool()
}

func receive(t *testing.T, s *smtpServer) receivedMail {
	t.Helper()
	select {
	case m := <-s.mails:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail received")
		return receivedMail{}
	}
}

func TestMailerDeliversPlain(t *testing.T) {
	s := startSMTP(t, nil)
	m, err := NewMailer(MailerConfig{Addr: s.ln.Addr().String(), From: "alerts@custodian.test",
		To: []string{"sec@custodian.test", "ops@custodian.test"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := sampleAlert()
	a.Key = "account:acct-1\r\nBcc: victim@evil.test"
	if err := m.send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got := receive(t, s)
	if got.from != "alerts@custodian.test" || len(got.to) != 2 || got.to[1] != "ops@custodian.test" || got.tls {
		t.Fatalf("envelope %+v", got)
	}
	for _, want := range []string{"Subject: [Custodian] security alert open: brute_force", "Count:      5", "custodian.Alert ID:   0123abcd"} {
		if !strings.Contains(got.data, want) {
			t.Fatalf("message lacks %q:\n%s", want, got.data)
		}
	}
	if strings.Contains(got.data, "\nBcc:") {
		t.Fatalf("header injected:\n%s", got.data)
	}
}

func TestMailerUsesSTARTTLS(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	s := startSMTP(t, srvTLS)
	m, err := NewMailer(MailerConfig{Addr: s.ln.Addr().String(), From: "alerts@custodian.test",
		To: []string{"sec@custodian.test"}, RequireTLS: true,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	notifyRunning(t, m)
	if got := receive(t, s); !got.tls {
		t.Fatal("mail sent without TLS although STARTTLS was offered")
	}
	waitFor(t, "delivered counter", func() bool { return m.Stats().Delivered == 1 })
}

func TestMailerRequireTLSRefusesPlainServer(t *testing.T) {
	s := startSMTP(t, nil)
	m, _ := NewMailer(MailerConfig{Addr: s.ln.Addr().String(), From: "a@custodian.test",
		To: []string{"b@custodian.test"}, RequireTLS: true})
	m.d.wait = (&noWait{}).wait
	m.d.deliver(context.Background(), sampleAlert())
	if st := m.Stats(); st.Failed != 1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	close(s.cmds)
	for c := range s.cmds {
		if c == "MAIL" {
			t.Fatal("MAIL sent over plain connection despite RequireTLS")
		}
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
