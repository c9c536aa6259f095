package alerting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// maxAccountMails bounds the account mails being sent at once; past it a
// mail is refused rather than queued without bound.
const maxAccountMails = 8

// ErrMailBusy means too many account mails are being sent already.
var ErrMailBusy = errors.New("alerting: too many account mails in flight")

// AccountMailer mails people about their own account (the link that
// unlocks an account locked after the sign-in policy's hard limit)
// through the SMTP server the alert mails use, from the same sender. It
// implements custodian.AccountNotifier: NotifyAccount sends in the
// background and returns at once; Close waits for what is being sent.
type AccountMailer struct {
	cfg    MailerConfig
	host   string
	logger *slog.Logger
	slots  chan struct{}
	wg     sync.WaitGroup
}

// NewAccountMailer returns an AccountMailer over cfg's server and sender
// (cfg.To is not used: each mail goes to the account's own address).
func NewAccountMailer(cfg MailerConfig, logger *slog.Logger) (*AccountMailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("alerting: mailer address: %w", err)
	}
	if cfg.From == "" || strings.ContainsAny(cfg.From, "\r\n<>") {
		return nil, errors.New("alerting: account mails need a valid sender")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &AccountMailer{cfg: cfg, host: host, logger: logger, slots: make(chan struct{}, maxAccountMails)}, nil
}

// NotifyAccount sends subject and body to the address to, in the
// background. It refuses an address that could inject headers or
// recipients, and returns ErrMailBusy when too many mails are in flight.
func (m *AccountMailer) NotifyAccount(ctx context.Context, to, subject, body string) error {
	if to == "" || strings.ContainsAny(to, "\r\n<>,;") {
		return errors.New("alerting: unusable recipient address")
	}
	select {
	case m.slots <- struct{}{}:
	default:
		return ErrMailBusy
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", m.cfg.From)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", headerSafe(subject))
	fmt.Fprintf(&b, "Date: %s\r\n", m.cfg.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(body)
	msg := b.Bytes()
	ctx = context.WithoutCancel(ctx)
	m.wg.Go(func() {
		defer func() { <-m.slots }()
		if err := sendMail(ctx, m.cfg, m.host, []string{to}, msg); err != nil {
			m.logger.ErrorContext(ctx, "could not send an account mail", "err", err)
		}
	})
	return nil
}

// Close waits for the mails being sent.
func (m *AccountMailer) Close() { m.wg.Wait() }
