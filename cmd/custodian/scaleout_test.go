package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testsmtp"
)

// pair is two instances of the server on one PostgreSQL database and one
// Redis, as behind a load balancer.
type pair struct {
	t     *testing.T
	bases [2]string
	vars  map[string]string
	turn  int
	mu    sync.Mutex
}

// next returns the instances in turn, as a round-robin balancer would.
func (p *pair) next() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.turn++
	return p.bases[p.turn%2]
}

// call makes one request and returns its status, headers and body.
func (p *pair) call(base, method, path string, hdr map[string]string, body string) (int, http.Header, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestTwoInstancesShareEverything runs two real servers on one PostgreSQL
// and one Redis and sends requests to them in turn: what one instance
// learns, the other acts on. Sessions, attack detection, the API and
// sign-in rate limits, and the audit chain are one across both.
func TestTwoInstancesShareEverything(t *testing.T) {
	dbURL := testdb.PostgresSchemaURL(t)
	redisAddr := redisURL(t)
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "keyring.json")
	if err := crypto.WriteKeyringFile(keyFile, k); err != nil {
		t.Fatal(err)
	}
	prefix := randomPrefix()
	smtp := testsmtp.Start(t, nil)
	vars := map[string]string{"CUSTODIAN_DATABASE_URL": dbURL, "CUSTODIAN_MASTER_KEY_FILE": keyFile}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--redis-url", redisAddr, "--redis-prefix", prefix, "--redis-timeout", "5s",
		"--rate-limit-api", "1/m,burst=200", "--rate-limit-signin", "1/m,burst=6",
		"--alert-smtp-addr", smtp.Addr(), "--alert-mail-from", "alerts@custodian.test", "--alert-mail-to", "ops@custodian.test"}
	p := &pair{t: t, vars: vars}
	var dones [2]chan error
	for i := range 2 {
		v := map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
		for k, val := range vars {
			v[k] = val
		}
		p.bases[i], dones[i], _ = startServer(t, ctx, v, args...)
	}
	vars["CUSTODIAN_DATA_DIR"] = t.TempDir()
	admin := adminToken(t, vars)

	t.Run("a session made on one instance works on the other", func(t *testing.T) {
		code, hdr, body := p.call(p.bases[0], "POST", "/api/auth/login/", nil, `{"email":"root@example.com","password":"`+testPassword+`"}`)
		if code != 200 {
			t.Fatalf("sign in: %d %s", code, body)
		}
		cookie := strings.SplitN(hdr.Get("Set-Cookie"), ";", 2)[0]
		if code, _, body := p.call(p.bases[1], "GET", "/api/auth/session/", map[string]string{"Cookie": cookie}, ""); code != 200 || !strings.Contains(string(body), "root@example.com") {
			t.Fatalf("the session on the other instance: %d %s", code, body)
		}
	})

	t.Run("an attack spread over both is one alert, mailed once", func(t *testing.T) {
		// Twelve probes, six to each instance: the scanning threshold is
		// ten, which neither instance reaches alone.
		for range 12 {
			p.call(p.next(), "GET", "/wp-login.php", nil, "")
		}
		var alerts struct {
			Items []struct{ ID, Rule, Key string } `json:"items"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, _, body := p.call(p.next(), "GET", "/api/alerts/", bearer(admin), "")
			alerts.Items = nil
			_ = json.Unmarshal(body, &alerts)
			if len(alerts.Items) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		scanning := 0
		for _, a := range alerts.Items {
			if a.Rule == "scanning" {
				scanning++
			}
		}
		if scanning != 1 {
			t.Fatalf("%d scanning alerts for one attack over two instances; want 1: %+v", scanning, alerts.Items)
		}
		m := smtp.Receive(t)
		if !strings.Contains(m.Data, "scanning") {
			t.Fatalf("mail:\n%s", m.Data)
		}
		smtp.None(t, 2*time.Second)
	})

	t.Run("concurrent writes through both: none lost, one chain", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[string]bool{}
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					code, _, body := p.call(p.bases[(w+i)%2], "POST", "/api/customers/", bearer(admin),
						fmt.Sprintf(`{"name":"Customer %d-%d","email":"c%d-%d@example.com"}`, w, i, w, i))
					if code != 201 {
						t.Errorf("create: %d %s", code, body)
						return
					}
					var c struct{ ID string }
					_ = json.Unmarshal(body, &c)
					mu.Lock()
					ids[c.ID] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		seen := 0
		for cursor := ""; ; {
			_, _, body := p.call(p.next(), "GET", "/api/customers/?limit=100&cursor="+cursor, bearer(admin), "")
			var page struct {
				Items      []struct{ ID string } `json:"items"`
				NextCursor *string               `json:"next_cursor"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err, string(body))
			}
			for _, c := range page.Items {
				if ids[c.ID] {
					seen++
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				break
			}
			cursor = *page.NextCursor
		}
		if seen != len(ids) || seen != 80 {
			t.Fatalf("%d of %d acknowledged creates listed; want all 80", seen, len(ids))
		}
		out, errs, err := runCmd(t, vars, "audit", "verify")
		if err != nil {
			t.Fatalf("audit verify after writes through both instances: %v\n%s%s", err, out, errs)
		}
	})

	t.Run("sign-in attempts count across both", func(t *testing.T) {
		// A burst of six attempts per client in all: alternating between
		// the instances must not double it.
		refused := 0
		for range 12 {
			code, _, _ := p.call(p.next(), "POST", "/api/auth/login/", nil, `{"email":"nobody@example.com","password":"wrong password"}`)
			if code == http.StatusTooManyRequests {
				refused++
			}
		}
		// The first sign-in above and these twelve: at most six pass.
		if refused < 6 {
			t.Fatalf("%d of 12 sign-in attempts refused; a shared burst of 6 refuses at least 6", refused)
		}
	})

	t.Run("the API rate limit counts across both", func(t *testing.T) {
		allowed := 0
		for range 400 {
			code, _, _ := p.call(p.next(), "GET", "/api/auth/session/", bearer(admin), "")
			if code == http.StatusTooManyRequests {
				break
			}
			allowed++
		}
		// One shared burst of 200, part of it spent above; separate
		// limits would allow close to 400.
		if allowed >= 200 {
			t.Fatalf("%d requests allowed across both instances; a shared burst of 200 allows fewer", allowed)
		}
	})

	cancel()
	for _, d := range dones {
		<-d
	}
}
