package alerting

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// MailerConfig configures a Mailer.
type MailerConfig struct {
	// Addr is the SMTP server as host:port.
	Addr string
	// From is the envelope and header sender address.
	From string
	// To lists the recipients.
	To []string
	// Auth authenticates when set and the server offers AUTH. net/smtp's
	// PlainAuth refuses to send credentials over an unencrypted link.
	Auth smtp.Auth
	// TLSConfig is used for STARTTLS; nil verifies the server as the host
	// part of Addr.
	TLSConfig *tls.Config
	// RequireTLS refuses to send when the server does not offer STARTTLS.
	RequireTLS bool
	// LocalName is the name sent in EHLO (default "localhost").
	LocalName string
	// Timeout bounds each attempt, connection to QUIT (default 30s).
	Timeout time.Duration
	// Retry controls redelivery after failures.
	Retry RetryPolicy
	// QueueSize caps messages waiting for delivery (default 100); when
	// full the oldest is dropped and counted.
	QueueSize int
	// Updates mails every notification; by default only the first
	// notification of an alert and its closing are mailed, so an ongoing
	// attack does not flood the mailbox.
	Updates bool
	// Now returns the current time for the Date header; nil means time.Now.
	Now func() time.Time
}

// Mailer is an AlertSink that e-mails alerts through an SMTP server,
// upgrading to TLS with STARTTLS when the server offers it. Notify only
// queues; Run delivers with retries.
type Mailer struct {
	cfg  MailerConfig
	host string
	d    *deliverer

	mu   sync.Mutex
	seen map[string]bool // alert IDs already mailed, bounded
	ids  []string        // FIFO of seen keys for eviction
}

// maxSeenAlerts bounds the memory of alert IDs already mailed.
const maxSeenAlerts = 4096

// NewMailer validates cfg and returns a Mailer; call Run to deliver.
func NewMailer(cfg MailerConfig) (*Mailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("alerting: mailer address: %w", err)
	}
	if len(cfg.To) == 0 || cfg.From == "" {
		return nil, errors.New("alerting: mailer needs a sender and at least one recipient")
	}
	for _, a := range append([]string{cfg.From}, cfg.To...) {
		if strings.ContainsAny(a, "\r\n<>") {
			return nil, errors.New("alerting: mailer address contains forbidden characters")
		}
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Mailer{cfg: cfg, host: host, seen: make(map[string]bool)}
	m.d = newDeliverer(cfg.QueueSize, cfg.Retry, m.send)
	return m, nil
}

// Notify queues a for mailing and returns at once; it never blocks.
// Updates of an alert already mailed are skipped unless Updates is set.
func (m *Mailer) Notify(_ context.Context, a custodian.Alert) error {
	if !m.cfg.Updates && !m.firstOrClosing(a) {
		return nil
	}
	m.d.notify(a)
	return nil
}

func (m *Mailer) firstOrClosing(a custodian.Alert) bool {
	if a.Status == custodian.AlertClosed {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[a.ID] {
		return false
	}
	if len(m.ids) >= maxSeenAlerts {
		delete(m.seen, m.ids[0])
		m.ids = m.ids[1:]
	}
	m.seen[a.ID] = true
	m.ids = append(m.ids, a.ID)
	return true
}

// Run delivers queued messages until ctx is done and returns ctx.Err().
func (m *Mailer) Run(ctx context.Context) error { return m.d.run(ctx) }

// Stats returns delivery counters.
func (m *Mailer) Stats() DeliveryStats { return m.d.stats() }

// LastError returns the most recent delivery error, for health checks.
func (m *Mailer) LastError() error { return m.d.lastError() }

// headerSafe strips characters that could inject headers.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func (m *Mailer) message(a custodian.Alert) []byte {
	var b bytes.Buffer
	subject := fmt.Sprintf("[Custodian] security alert %s: %s (%s)", a.Status, a.Rule, a.Key)
	fmt.Fprintf(&b, "From: %s\r\n", m.cfg.From)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(m.cfg.To, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", headerSafe(subject))
	fmt.Fprintf(&b, "Date: %s\r\n", m.cfg.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.%d.%s@custodian>\r\n", headerSafe(a.ID), a.Count, headerSafe(string(a.Status)))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "Rule:       %s\r\n", headerSafe(a.Rule))
	fmt.Fprintf(&b, "Key:        %s\r\n", headerSafe(a.Key))
	fmt.Fprintf(&b, "Status:     %s\r\n", headerSafe(string(a.Status)))
	fmt.Fprintf(&b, "Count:      %d\r\n", a.Count)
	fmt.Fprintf(&b, "First seen: %s\r\n", a.FirstSeen.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Last seen:  %s\r\n", a.LastSeen.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "custodian.Alert ID:   %s\r\n", headerSafe(a.ID))
	return b.Bytes()
}

func (m *Mailer) send(ctx context.Context, a custodian.Alert) error {
	return sendMail(ctx, m.cfg, m.host, m.cfg.To, m.message(a))
}

// sendMail delivers msg to the recipients to through the SMTP server of
// cfg (host is its host name), upgrading to TLS with STARTTLS when offered
// and authenticating when configured: one SMTP session, bounded by
// cfg.Timeout.
func sendMail(ctx context.Context, cfg MailerConfig, host string, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("alerting: smtp dial %s: %w", host, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("alerting: smtp greeting from %s: %w", host, err)
	}
	defer c.Close()
	step := func(what string, err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("alerting: smtp %s with %s: %w", what, host, err)
	}
	if err := step("EHLO", c.Hello(cfg.LocalName)); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := cfg.TLSConfig
		if tc == nil {
			tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := step("STARTTLS", c.StartTLS(tc)); err != nil {
			return err
		}
	} else if cfg.RequireTLS {
		return permanentError{fmt.Errorf("alerting: smtp server %s does not offer STARTTLS", host)}
	}
	if cfg.Auth != nil {
		if ok, _ := c.Extension("AUTH"); ok {
			if err := step("AUTH", c.Auth(cfg.Auth)); err != nil {
				return err
			}
		}
	}
	if err := step("MAIL", c.Mail(cfg.From)); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := step("RCPT", c.Rcpt(rcpt)); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return step("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return step("DATA", err)
	}
	if err := step("DATA", w.Close()); err != nil {
		return err
	}
	return step("QUIT", c.Quit())
}
