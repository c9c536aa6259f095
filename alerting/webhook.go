package alerting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/custodian-crm/custodian"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the request
// body under the webhook secret, so receivers can authenticate alerts.
const SignatureHeader = "X-Custodian-Signature"

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL receives a JSON POST per notification. Use https in production.
	URL string
	// Secret, when set, signs each body (see SignatureHeader).
	Secret []byte
	// Timeout bounds each attempt (default 5s).
	Timeout time.Duration
	// Retry controls redelivery after failures.
	Retry RetryPolicy
	// QueueSize caps notifications waiting for delivery (default 100);
	// when full the oldest is dropped and counted.
	QueueSize int
	// Client sends the requests; nil means a client with no redirects.
	Client *http.Client
}

// Webhook is an AlertSink that POSTs alerts as JSON. Notify only queues;
// Run delivers, retrying with exponential backoff and jitter. Deliveries are
// sequential: while one is being retried the others wait in the bounded
// queue, so an unreachable endpoint costs at most QueueSize+1 alerts of
// memory. Responses 2xx succeed; 408, 429 and 5xx are retried; other
// statuses fail at once.
type Webhook struct {
	url    string
	host   string
	secret []byte
	client *http.Client
	tmo    time.Duration
	d      *deliverer
}

// NewWebhook validates cfg and returns a Webhook; call Run to deliver.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("alerting: webhook URL must be an absolute http(s) URL")
	}
	w := &Webhook{url: cfg.URL, host: u.Host, secret: bytes.Clone(cfg.Secret), client: cfg.Client, tmo: cfg.Timeout}
	if w.client == nil {
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if w.tmo <= 0 {
		w.tmo = 5 * time.Second
	}
	w.d = newDeliverer(cfg.QueueSize, cfg.Retry, w.send)
	return w, nil
}

// Notify queues a for delivery and returns at once; it never blocks and
// never fails (a full queue drops its oldest entry, see Stats).
func (w *Webhook) Notify(_ context.Context, a custodian.Alert) error {
	w.d.notify(a)
	return nil
}

// Run delivers queued alerts until ctx is done and returns ctx.Err().
func (w *Webhook) Run(ctx context.Context) error { return w.d.run(ctx) }

// Stats returns delivery counters.
func (w *Webhook) Stats() DeliveryStats { return w.d.stats() }

// LastError returns the most recent delivery error, for health checks.
func (w *Webhook) LastError() error { return w.d.lastError() }

// Sign returns the SignatureHeader value for body under secret; receivers
// compare it with hmac.Equal.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *Webhook) send(ctx context.Context, a custodian.Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return permanentError{fmt.Errorf("alerting: encoding alert: %w", err)}
	}
	return w.post(ctx, body)
}

// Publish POSTs v as JSON to the webhook now, signed like the alerts,
// once and without queueing: for notices other than alerts, such as the
// audit trail's anchors, whose sender retries on its own schedule.
func (w *Webhook) Publish(ctx context.Context, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("alerting: encoding notice: %w", err)
	}
	return w.post(ctx, body)
}

// post sends one JSON body, signed when there is a secret.
func (w *Webhook) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.tmo)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return permanentError{fmt.Errorf("alerting: webhook request to %s: %w", w.host, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "custodian-alerts/1")
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("alerting: webhook to %s: %w", w.host, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode >= 500:
		return fmt.Errorf("alerting: webhook to %s: status %d", w.host, resp.StatusCode)
	default:
		return permanentError{fmt.Errorf("alerting: webhook to %s: status %d", w.host, resp.StatusCode)}
	}
}
