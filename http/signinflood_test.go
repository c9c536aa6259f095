package http

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/ratelimit"
)

// TestSignInFloodLeavesSignInAnswering reproduces a sign-in flood: many
// concurrent sign-ins from distinct addresses, each inside its own
// per-address limit, occupy the password-hashing slots. A person signing
// in meanwhile must be answered within 2 s (signed in, or told to retry
// with 503 and Retry-After), and the flood's excess must be turned away
// the same way rather than queued without bound.
func TestSignInFloodLeavesSignInAnswering(t *testing.T) {
	const flood = 120
	d, _, store, logs := testDeps(t)
	hasher, err := password.NewHasher(password.Config{
		Params:        password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1},
		MaxConcurrent: 1, MaxQueue: 4, MaxWait: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(store, hasher, nil, accounts.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.CreateUser(context.Background(), "owner@example.com", "Owner", custodian.RoleViewer, testPassword); err != nil {
		t.Fatal(err)
	}
	d.Accounts = acc
	limiter, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 1, Burst: 3}, ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d.SignInLimiter = limiter
	s := &testServer{t: t, h: checked(t, NewServer(d)), logs: logs, acc: acc, store: store}

	var wg sync.WaitGroup
	statuses := make(chan response, flood)
	start := make(chan struct{})
	for i := range flood {
		wg.Go(func() {
			b := &browser{s: s, addr: fmt.Sprintf("203.0.113.%d", i%250+1)}
			if i >= 250 {
				b.addr = fmt.Sprintf("198.51.100.%d", i%250+1)
			}
			<-start
			statuses <- b.do("POST", "/api/auth/login/", fmt.Sprintf(`{"email":"victim%d@example.com","password":"guess number %d"}`, i, i))
		})
	}
	close(start)
	time.Sleep(50 * time.Millisecond) // the flood is under way

	owner := &browser{s: s, addr: "192.0.2.99"}
	began := time.Now()
	r := owner.do("POST", "/api/auth/login/", `{"email":"owner@example.com","password":"`+testPassword+`"}`)
	took := time.Since(began)
	if took > 2*time.Second {
		t.Errorf("the owner's sign-in took %v during the flood, want at most 2s", took)
	}
	switch r.StatusCode {
	case 200:
	case 503:
		wantProblem(t, r, 503, custodian.EUNAVAILABLE)
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	default:
		t.Errorf("owner's sign-in: %d %s", r.StatusCode, r.body)
	}
	wg.Wait()
	close(statuses)
	busy := 0
	for r := range statuses {
		switch r.StatusCode {
		case 401:
		case 503:
			busy++
			if r.Header.Get("Retry-After") != "1" {
				t.Errorf("503 with Retry-After %q, want 1", r.Header.Get("Retry-After"))
			}
		default:
			t.Errorf("flood sign-in: %d %s", r.StatusCode, r.body)
		}
	}
	if busy == 0 {
		t.Error("no sign-in of the flood was turned away: the hashing queue is unbounded")
	}
}
