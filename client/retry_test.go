package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/client"
	chttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/ratelimit"
)

// limited is a server whose API allows one request, then one a second.
func limited(t *testing.T) *server {
	lim, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 1, Burst: 1}, ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return newServer(t, false, func(d *chttp.Deps) { d.APILimiter = lim })
}

// spend makes the one request the rate limit allows.
func spend(t *testing.T, c *client.Client) {
	t.Helper()
	if _, err := c.ListCustomers(context.Background(), client.ListCustomersParams{}); err != nil {
		t.Fatal(err)
	}
}

func TestRetryWaitsForRetryAfter(t *testing.T) {
	s := limited(t)
	c := s.client(s.admin)
	spend(t, c)
	before := s.requests.Load()
	start := time.Now()
	if _, err := c.ListCustomers(context.Background(), client.ListCustomersParams{}); err != nil {
		t.Fatal(err)
	}
	if sent, waited := s.requests.Load()-before, time.Since(start); sent != 2 || waited < 900*time.Millisecond {
		t.Fatalf("%d requests in %v; want a 429, a wait of Retry-After (1 s), and a retry", sent, waited)
	}
}

func TestRetryIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry client.Retry
		ctx   func() (context.Context, context.CancelFunc)
	}{
		{"no retries", client.NoRetry, nil},
		{"Retry-After over MaxWait", client.Retry{Attempts: 5, Backoff: time.Millisecond, MaxWait: 100 * time.Millisecond}, nil},
		{"deadline before the wait ends", client.DefaultRetry, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := limited(t)
			c := s.client(s.admin, client.WithRetry(tc.retry))
			spend(t, c)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			before := s.requests.Load()
			start := time.Now()
			_, err := c.ListCustomers(ctx, client.ListCustomersParams{})
			e := wantError(t, err, 429, client.CodeTooMany)
			if e.RetryAfter != time.Second {
				t.Errorf("RetryAfter %v, want 1s", e.RetryAfter)
			}
			if sent, waited := s.requests.Load()-before, time.Since(start); sent != 1 || waited > 250*time.Millisecond {
				t.Fatalf("%d requests in %v; want the 429 at once", sent, waited)
			}
		})
	}
}

func TestRetryWaitEndsWithTheContext(t *testing.T) {
	s := limited(t)
	c := s.client(s.admin)
	spend(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.ListCustomers(ctx, client.ListCustomersParams{})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 700*time.Millisecond {
		t.Fatalf("after %v: %v; want the wait cut short by the cancellation", time.Since(start), err)
	}
}

// flakyDB fails its first pings.
type flakyDB struct{ failures, pings atomic.Int64 }

func (f *flakyDB) Ping(context.Context) error {
	if f.pings.Add(1) <= f.failures.Load() {
		return errors.New("connection refused")
	}
	return nil
}

// unavailable fails creating customers, and the first listings, as a
// service whose database is unreachable does.
type unavailable struct {
	custodian.CustomerService
	lists atomic.Int64
}

func (u *unavailable) CreateCustomer(context.Context, custodian.CustomerFields) (*custodian.Customer, error) {
	return nil, custodian.Errorf(custodian.EUNAVAILABLE, "The database is unreachable.")
}

func (u *unavailable) ListCustomers(ctx context.Context, q custodian.CustomerQuery) (*custodian.CustomerPage, error) {
	if u.lists.Add(1) <= 2 {
		return nil, custodian.Errorf(custodian.EUNAVAILABLE, "The database is unreachable.")
	}
	return u.CustomerService.ListCustomers(ctx, q)
}

func TestRetryOn503OnlyWhatIsSafeToRepeat(t *testing.T) {
	db := &flakyDB{}
	db.failures.Store(2)
	var svc *unavailable
	s := newServer(t, false, func(d *chttp.Deps) {
		d.DB = db
		svc = &unavailable{CustomerService: d.Customers}
		d.Customers = svc
	})
	c := s.client(s.admin, client.WithRetry(client.Retry{Attempts: 4, Backoff: 10 * time.Millisecond, MaxWait: time.Second}))
	ctx := context.Background()

	if _, err := c.Readyz(ctx); err != nil || db.pings.Load() != 3 {
		t.Fatalf("readyz: %v after %d pings; want success on the third", err, db.pings.Load())
	}
	if _, err := c.ListCustomers(ctx, client.ListCustomersParams{}); err != nil || svc.lists.Load() != 3 {
		t.Fatalf("list: %v after %d tries; want success on the third", err, svc.lists.Load())
	}
	before := s.requests.Load()
	_, err := c.CreateCustomer(ctx, client.CustomerInput{Name: "Once Only"})
	wantError(t, err, 503, client.CodeUnavailable)
	if sent := s.requests.Load() - before; sent != 1 {
		t.Fatalf("a POST refused with 503 was sent %d times; it may have been applied, so once", sent)
	}
	db.failures.Store(100)
	before = s.requests.Load()
	_, err = c.Readyz(ctx)
	wantError(t, err, 503, client.CodeUnavailable)
	if sent := s.requests.Load() - before; sent != 4 {
		t.Fatalf("%d tries, want the 4 the policy allows", sent)
	}
}
