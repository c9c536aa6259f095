package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// BenchmarkUpdateLatency measures what webhooks cost the request that
// causes them: updating a customer on SQLite with no endpoint, and with 10
// endpoints subscribed to the update whose receiver takes 200 ms to answer
// while the dispatcher is sending to them. The event is queued in the
// update's transaction (one outbox row); delivery happens after the
// commit, elsewhere, so the two should not differ by the receiver's time.
// It reports p50 and p99 per update besides the mean.
func BenchmarkUpdateLatency(b *testing.B) {
	for _, endpoints := range []int{0, 10} {
		b.Run(map[int]string{0: "no-endpoints", 10: "10-endpoints-200ms-receiver"}[endpoints], func(b *testing.B) {
			ctx := custodian.WithActor(context.Background(), "usr_bench")
			var delivered atomic.Int64
			slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(200 * time.Millisecond)
				delivered.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer slow.Close()
			g, _ := NewGuard([]string{"127.0.0.1/32"})
			o := Options{Guard: g, PollInterval: 50 * time.Millisecond}
			e := openEnv(b, backends[0].opener(b), newSealer(b), o)
			defer e.store.Close()
			for range endpoints {
				if _, _, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: slow.URL, Events: []string{custodian.EventCustomerUpdated}}); err != nil {
					b.Fatal(err)
				}
			}
			c, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Bench Customer"})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = e.hooks.Run(runCtx) }()
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				notes := "note " + time.Now().String()
				start := time.Now()
				if _, err := e.customers.UpdateCustomer(ctx, c.ID, 0, custodian.CustomerPatch{Notes: &notes}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			stop()
			<-done
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(delivered.Load()), "delivered")
		})
	}
}
