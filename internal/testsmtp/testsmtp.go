// Package testsmtp is a real SMTP server for tests: it speaks EHLO/HELO,
// optional STARTTLS, MAIL, RCPT, DATA, RSET, NOOP and QUIT over TCP, and
// hands each message it accepts to the test. Tests of everything that
// sends mail (alerts, password resets, invitations, unlock links) talk to
// it through the product's own mail code, never a mock of the mailer.
package testsmtp

import (
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// Mail is a message the server accepted.
type Mail struct {
	// From and To are the envelope's sender and recipients.
	From string
	To   []string
	// Data is the message, headers and body, as sent.
	Data string
	// TLS reports that it came over STARTTLS.
	TLS bool
}

// Server is a running test SMTP server.
type Server struct {
	ln    net.Listener
	tls   *tls.Config
	mails chan Mail
	cmds  chan string
}

// Start listens on a free loopback port until the test ends. With tlsCfg
// set, the server offers STARTTLS.
func Start(t testing.TB, tlsCfg *tls.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln, tls: tlsCfg, mails: make(chan Mail, 64), cmds: make(chan string, 256)}
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

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Mails delivers each accepted message.
func (s *Server) Mails() <-chan Mail { return s.mails }

// Commands delivers the verbs clients sent (EHLO, STARTTLS, MAIL, …), as
// far as the test reads them; verbs beyond its buffer are dropped.
func (s *Server) Commands() <-chan string { return s.cmds }

// Receive returns the next accepted message, failing the test after 10 s.
func (s *Server) Receive(t testing.TB) Mail {
	t.Helper()
	select {
	case m := <-s.mails:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail received within 10 s")
		return Mail{}
	}
}

// None fails the test if a message arrives within d.
func (s *Server) None(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.mails:
		t.Fatalf("unexpected mail to %v:\n%s", m.To, m.Data)
	case <-time.After(d):
	}
}

func (s *Server) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	secure := false
	var m Mail
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
			m = Mail{From: between(line), TLS: secure}
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			m.To = append(m.To, between(line))
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = string(b)
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

// between returns what stands between < and > in an SMTP command.
func between(line string) string {
	i, j := strings.IndexByte(line, '<'), strings.IndexByte(line, '>')
	if i < 0 || j < i {
		return ""
	}
	return line[i+1 : j]
}
