package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/webhooks"
)

// TestServeDeliversWebhooksAcrossARestart runs the real server: a
// customer created while the receiver (on loopback, allow-listed) fails is
// retried, the server stops, and the server started again on the same data
// delivers it, signed, under the same delivery id.
func TestServeDeliversWebhooksAcrossARestart(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	tok := adminToken(t, vars)
	auth := []string{"Authorization", "Bearer " + tok}

	var mu sync.Mutex
	var secret []byte
	accept := false
	attempts := map[string]int{}
	var got []webhooks.Payload
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get(webhooks.HeaderID)
		if !webhooks.Verify(secret, id, r.Header.Get(webhooks.HeaderTimestamp), r.Header.Get(webhooks.HeaderSignature), body, time.Now(), 5*time.Minute) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		attempts[id]++
		if !accept {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var p webhooks.Payload
		_ = json.Unmarshal(body, &p)
		got = append(got, p)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	args := []string{"--webhook-allow", "127.0.0.1/32", "--webhook-poll-interval", "20ms", "--webhook-retry-base", "50ms", "--retention-interval", "0"}

	ctx1, stop1 := context.WithCancel(context.Background())
	base, done1, logs := startServer(t, ctx1, vars, args...)
	code, body := request(t, "POST", base+"/api/webhooks/", `{"url":"`+rcv.URL+`/hook","events":["customer.created"]}`, auth...)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var hook struct{ ID, Secret string }
	if err := json.Unmarshal(body, &hook); err != nil {
		t.Fatal(err)
	}
	key, err := webhooks.ParseSecret(hook.Secret)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = key
	mu.Unlock()
	if code, body := request(t, "POST", base+"/api/customers/", `{"name":"Restart Customer"}`, auth...); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	deliveries := func(base string) []struct {
		ID, Status string
		Attempts   int
	} {
		code, body := request(t, "GET", base+"/api/webhooks/"+hook.ID+"/deliveries/", "", auth...)
		var list struct {
			Items []struct {
				ID, Status string
				Attempts   int
			}
		}
		if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Fatalf("deliveries: %d %s", code, body)
		}
		return list.Items
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ds := deliveries(base); len(ds) == 1 && ds[0].Attempts >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempts before the restart:\n%s", logs.String())
		}
	}
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("serve: %v", err)
	}

	mu.Lock()
	accept = true
	mu.Unlock()
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	base, done2, logs := startServer(t, ctx2, vars, args...)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after the restart:\n%s", logs.String())
		}
	}
	ds := deliveries(base)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Type != "customer.created" || got[0].ID != ds[0].ID || attempts[ds[0].ID] < 3 {
		t.Fatalf("delivered %+v; attempts %v; listed %+v", got, attempts, ds)
	}
	if strings.Contains(logs.String(), "Restart Customer") {
		t.Fatal("a personal value reached the log")
	}
	stop2()
	if err := <-done2; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestWebhookSettingsAreChecked(t *testing.T) {
	vars := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
	for _, args := range [][]string{
		{"--webhook-allow", "10.0.0.0/33"}, {"--webhook-allow", "a b"}, {"--webhook-poll-interval", "0s"}, {"--webhook-retry-base", "2h"},
	} {
		err := run(context.Background(), append([]string{"custodian", "check"}, args...), env(vars), nil, io.Discard, io.Discard)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--webhook") {
			t.Errorf("%v: %v, want it refused", args, err)
		}
	}
}
