package alerting

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testnet"
)

func sampleAlert() custodian.Alert {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	return custodian.Alert{ID: "0123abcd", Rule: "brute_force", Key: "addr:203.0.113.9",
		FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 5, Status: custodian.AlertOpen}
}

// queued is a sink with a delivery queue of its own: the webhook, the
// mailer.
type queued interface {
	Notify(ctx context.Context, a custodian.Alert) error
	Run(ctx context.Context) error
}

// notifyRunning runs q's delivery until the test ends and hands it the
// sample alert.
func notifyRunning(t *testing.T, q queued) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go q.Run(ctx)
	if err := q.Notify(ctx, sampleAlert()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond without sleeping the test for a fixed time: it yields
// to the runtime and gives up after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// noWait replaces backoff pauses and records them.
type noWait struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (n *noWait) wait(ctx context.Context, d time.Duration) error {
	n.mu.Lock()
	n.delays = append(n.delays, d)
	n.mu.Unlock()
	return ctx.Err()
}

func TestWebhookDelivers(t *testing.T) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	type req struct {
		ct, sig string
		body    []byte
	}
	got := make(chan req, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		got <- req{r.Header.Get("Content-Type"), r.Header.Get(SignatureHeader), b}
	}))
	defer srv.Close()

	w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hooks/alerts", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	notifyRunning(t, w)
	var r req
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not called")
	}
	if r.ct != "application/json" {
		t.Fatalf("content type %q", r.ct)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(r.body)
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); r.sig != want {
		t.Fatalf("signature %q, want %q", r.sig, want)
	}
	var a custodian.Alert
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	if want := sampleAlert(); a != want {
		t.Fatalf("body %+v, want %+v", a, want)
	}
	for _, field := range []string{`"first_seen"`, `"last_seen"`, `"count":5`, `"status":"open"`} {
		if !strings.Contains(string(r.body), field) {
			t.Fatalf("body lacks %s: %s", field, r.body)
		}
	}
	waitFor(t, "delivered counter", func() bool { return w.Stats().Delivered == 1 })
}

func TestWebhookUnsignedWithoutSecret(t *testing.T) {
	sig := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, present := r.Header[SignatureHeader]
		if present {
			sig <- "present"
		} else {
			sig <- ""
		}
	}))
	defer srv.Close()
	w, _ := NewWebhook(WebhookConfig{URL: srv.URL})
	if err := w.send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if s := <-sig; s != "" {
		t.Fatal("signature header sent without a secret")
	}
}

func TestWebhookRetriesThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	base := 200 * time.Millisecond
	w, err := NewWebhook(WebhookConfig{URL: srv.URL, Retry: RetryPolicy{MaxAttempts: 5, BaseDelay: base, MaxDelay: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	nw := &noWait{}
	w.d.wait = nw.wait
	w.d.deliver(context.Background(), sampleAlert())
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	st := w.Stats()
	if st.Delivered != 1 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
	if len(nw.delays) != 2 {
		t.Fatalf("waited %d times, want 2", len(nw.delays))
	}
	for i, d := range nw.delays {
		full := base << i
		if d < full/2 || d > full {
			t.Errorf("delay %d = %v, want in [%v, %v]", i+1, d, full/2, full)
		}
	}
}

func TestWebhookGivesUp(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		wantCalls int32
	}{
		{"permanent client error is not retried", http.StatusBadRequest, 1},
		{"server errors retried up to the limit", http.StatusBadGateway, 3},
		{"too many requests retried", http.StatusTooManyRequests, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			w, _ := NewWebhook(WebhookConfig{URL: srv.URL + "/?token=hunter2", Retry: RetryPolicy{MaxAttempts: 3}})
			w.d.wait = (&noWait{}).wait
			w.d.deliver(context.Background(), sampleAlert())
			if calls.Load() != tt.wantCalls {
				t.Fatalf("%d calls, want %d", calls.Load(), tt.wantCalls)
			}
			if st := w.Stats(); st.Failed != 1 || st.Delivered != 0 {
				t.Fatalf("stats %+v", st)
			}
			if err := w.LastError(); err == nil || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("last error %v must exist and not reveal the URL's token", err)
			}
		})
	}
}

func TestWebhookUnreachableCostsOnlyTheQueue(t *testing.T) {
	const capacity = 8
	w, err := NewWebhook(WebhookConfig{
		URL: "http://" + testnet.FreeAddr(t) + "/x", QueueSize: capacity,
		Timeout: time.Second, Retry: RetryPolicy{MaxAttempts: 1000, BaseDelay: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	const n = 10_000
	start := time.Now()
	var slowest time.Duration
	for i := range n {
		a := sampleAlert()
		a.Count = i
		t0 := time.Now()
		if err := w.Notify(ctx, a); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
		if p := w.Stats().Pending; p > capacity {
			t.Fatalf("queue holds %d, cap %d", p, capacity)
		}
	}
	elapsed := time.Since(start)
	// One notification is in the worker's hands (retrying), the queue holds
	// the newest `capacity`, everything else was dropped and counted.
	waitFor(t, "worker to hold one delivery", func() bool { return w.LastError() != nil })
	st := w.Stats()
	if st.Pending != capacity || st.Dropped < n-capacity-1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	if elapsed > 2*time.Second || slowest > 500*time.Millisecond {
		t.Fatalf("Notify blocked: total %v, slowest %v", elapsed, slowest)
	}
	cancel()
	<-done
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{BaseDelay: time.Second, MaxDelay: 10 * time.Second}.withDefaults()
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{5, 5 * time.Second, 10 * time.Second},
		{60, 5 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.delay(tt.attempt)
			if d < tt.lo || d > tt.hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", tt.attempt, d, tt.lo, tt.hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: no jitter", tt.attempt)
		}
	}
}

func TestNewWebhookRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "/relative", "http://"} {
		if _, err := NewWebhook(WebhookConfig{URL: u}); err == nil {
			t.Errorf("accepted %q", u)
		}
	}
}

func TestFanout(t *testing.T) {
	a, b := &recSink{}, &recSink{}
	if err := (Fanout{a, b}).Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if len(a.alerts()) != 1 || len(b.alerts()) != 1 {
		t.Fatal("fanout did not reach every sink")
	}
}
