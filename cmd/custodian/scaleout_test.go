package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testsmtp"
)

// pair is two instances of the server, real processes of the real binary,
// on one PostgreSQL database and one Redis, as behind a load balancer.
type pair struct {
	bin   string
	args  []string             // every instance's flags
	vars  [2]map[string]string // each instance's environment
	procs [2]*serverProcess
	turn  atomic.Int64
}

// start starts instance i, again after it stopped, and waits until it
// answers.
func (p *pair) start(t *testing.T, i int) {
	t.Helper()
	p.procs[i] = startBinary(t, p.bin, p.vars[i], p.args...)
}

// base is instance i's address.
func (p *pair) base(i int) string { return p.procs[i].base }

// next returns the instances in turn, as a round-robin balancer would.
func (p *pair) next() string { return p.base(int(p.turn.Add(1) % 2)) }

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip, which the servers see as the client's address:
// each such client has rate-limit budgets of its own.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// send makes one request with c and returns its status, headers and
// body; status 0, with the error, when no answer came.
func send(c *http.Client, base, method, path string, hdr map[string]string, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// call makes one request from 127.0.0.1 and returns its status, headers
// and body, failing t (from its own goroutine) when no answer comes.
func (p *pair) call(t *testing.T, base, method, path string, hdr map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	return p.callFrom(t, http.DefaultClient, base, method, path, hdr, body)
}

// callFrom is call with the client c.
func (p *pair) callFrom(t *testing.T, c *http.Client, base, method, path string, hdr map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	code, h, b, err := send(c, base, method, path, hdr, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, b
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// createCustomer creates a customer through base and returns its id,
// failing the test unless it is acknowledged.
func (p *pair) createCustomer(t *testing.T, c *http.Client, base, token, email string) string {
	t.Helper()
	code, _, body := p.callFrom(t, c, base, "POST", "/api/customers/", bearer(token), fmt.Sprintf(`{"name":"Customer %s","email":%q}`, email, email))
	var cu struct{ ID string }
	if code != 201 || json.Unmarshal(body, &cu) != nil {
		t.Fatalf("create %s through %s: %d %s", email, base, code, body)
	}
	return cu.ID
}

// TestTwoInstancesShareEverything runs two real server processes on one
// PostgreSQL database and one Redis and sends requests to them in turn:
// what one instance learns, the other acts on. Sessions, revocations,
// attack detection, the API and sign-in rate limits, the keyring after a
// rotation, the background jobs and the audit chain are one across both,
// and killing one mid-load loses nothing it acknowledged.
func TestTwoInstancesShareEverything(t *testing.T) {
	dbURL := testdb.PostgresSchemaURL(t)
	redisAddr := redisURL(t)
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	// One keyring file for both, as a secret mounted into every instance.
	keyFile := filepath.Join(t.TempDir(), "keyring.json")
	if err := crypto.WriteKeyringFile(keyFile, k); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	smtp := testsmtp.Start(t, nil)
	vars := map[string]string{"CUSTODIAN_DATABASE_URL": dbURL, "CUSTODIAN_MASTER_KEY_FILE": keyFile, "CUSTODIAN_DATA_DIR": t.TempDir()}
	p := &pair{bin: buildBinary(t), args: []string{
		"--redis-url", redisAddr, "--redis-prefix", randomPrefix(), "--redis-timeout", "5s",
		"--rate-limit-api", "1/m,burst=200", "--rate-limit-signin", "1/m,burst=6",
		"--alert-smtp-addr", smtp.Addr(), "--alert-mail-from", "alerts@custodian.test", "--alert-mail-to", "ops@custodian.test",
		// Each instance trusts its authentication cache for a minute:
		// only the notification explains a refusal within seconds.
		"--auth-cache-ttl", "1m",
		// Retention is due every 50 ms; the standby looks for the job
		// lease every 100 ms.
		"--retention-interval", "50ms", "--job-lease-interval", "100ms", "--log-level", "debug",
	}}
	for i := range 2 {
		p.vars[i] = map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}
		for k, v := range vars {
			if k != "CUSTODIAN_DATA_DIR" {
				p.vars[i][k] = v
			}
		}
	}
	// The first holds the job lease before the second starts.
	p.start(t, 0)
	waitForLog(t, p.procs[0].logs, `"msg":"job run","job":"retention"`)
	p.start(t, 1)
	for i := range 2 {
		waitForLog(t, p.procs[i].logs, "listening for account changes")
	}
	admin := adminToken(t, vars)

	t.Run("a session made on one instance works on the other", func(t *testing.T) {
		code, hdr, body := p.call(t, p.base(0), "POST", "/api/auth/login/", nil, `{"email":"root@example.com","password":"`+testPassword+`"}`)
		if code != 200 {
			t.Fatalf("sign in: %d %s", code, body)
		}
		cookie := strings.SplitN(hdr.Get("Set-Cookie"), ";", 2)[0]
		if code, _, body := p.call(t, p.base(1), "GET", "/api/auth/session/", map[string]string{"Cookie": cookie}, ""); code != 200 || !strings.Contains(string(body), "root@example.com") {
			t.Fatalf("the session on the other instance: %d %s", code, body)
		}
	})

	t.Run("an attack spread over both is one alert, mailed once", func(t *testing.T) {
		// Twelve probes, six to each instance: the scanning threshold is
		// ten, which neither instance reaches alone.
		for range 12 {
			p.call(t, p.next(), "GET", "/wp-login.php", nil, "")
		}
		var alerts struct {
			Items []struct{ ID, Rule, Key string } `json:"items"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, _, body := p.call(t, p.next(), "GET", "/api/alerts/", bearer(admin), "")
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

	t.Run("a revoked token and a deactivated user are refused by both at once", func(t *testing.T) {
		c := clientFrom("127.0.0.5")
		refusedBy := func(i int, token string) {
			t.Helper()
			start := time.Now()
			for {
				code, _, _ := p.callFrom(t, c, p.base(i), "GET", "/api/customers/", bearer(token), "")
				if code == http.StatusUnauthorized {
					t.Logf("refused by instance %d after %v", i, time.Since(start))
					return
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("instance %d still answers %d after 5 s", i, code)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		code, _, body := p.callFrom(t, c, p.base(0), "POST", "/api/tokens/", bearer(admin), `{"name":"script","expires_in_days":30}`)
		var created struct{ Token, ID string }
		if err := json.Unmarshal(body, &created); code != 201 || err != nil {
			t.Fatalf("create token: %d %s", code, body)
		}
		if code, _, _ := p.callFrom(t, c, p.base(1), "GET", "/api/customers/", bearer(created.Token), ""); code != 200 {
			t.Fatalf("the new token on the second instance: %d", code)
		}
		if code, _, body := p.callFrom(t, c, p.base(0), "DELETE", "/api/tokens/"+created.ID+"/", bearer(admin), ""); code != 204 {
			t.Fatalf("revoke: %d %s", code, body)
		}
		refusedBy(1, created.Token)

		// A shell command is an instance too: it announces what it changes.
		if _, errs, err := runCmdIn(t, vars, testPassword+"\n", "user", "create", "--email", "agent@example.com", "--role", "agent", "--password-stdin"); err != nil {
			t.Fatalf("user create: %v %s", err, errs)
		}
		out, errs, err := runCmd(t, vars, "token", "create", "--email", "agent@example.com", "--name", "agent")
		if err != nil {
			t.Fatalf("token create: %v %s", err, errs)
		}
		agent := strings.TrimSpace(out)
		for i := range 2 { // now in both caches
			if code, _, _ := p.callFrom(t, c, p.base(i), "GET", "/api/customers/", bearer(agent), ""); code != 200 {
				t.Fatalf("the agent's token on instance %d: %d", i, code)
			}
		}
		if _, errs, err := runCmd(t, vars, "user", "deactivate", "--email", "agent@example.com"); err != nil {
			t.Fatalf("user deactivate: %v %s", err, errs)
		}
		refusedBy(1, agent)
		refusedBy(0, agent)
	})

	t.Run("concurrent writes through both: none lost, one chain", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[string]bool{}
		for w := range 8 {
			wg.Go(func() {
				for i := range 10 {
					code, _, body, err := send(http.DefaultClient, p.base((w+i)%2), "POST", "/api/customers/", bearer(admin),
						fmt.Sprintf(`{"name":"Customer %d-%d","email":"c%d-%d@example.com"}`, w, i, w, i))
					if code != 201 {
						t.Errorf("create: %d (%v) %s", code, err, body)
						return
					}
					var c struct{ ID string }
					_ = json.Unmarshal(body, &c)
					mu.Lock()
					ids[c.ID] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		seen := 0
		for cursor := ""; ; {
			_, _, body := p.call(t, p.next(), "GET", "/api/customers/?limit=100&cursor="+cursor, bearer(admin), "")
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

	t.Run("a key rotation started beside one instance is taken up by both at once", func(t *testing.T) {
		c := clientFrom("127.0.0.4")
		var customers int
		if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&customers); err != nil || customers == 0 {
			t.Fatalf("%d customers before the rotation (%v)", customers, err)
		}
		old := readKeyring(t, keyFile).ActiveKeyID()
		// The rotation is the key command, run once with the instances'
		// configuration: it adds a key to their keyring file, tells them,
		// and re-wraps every data key itself. No instance re-wraps.
		out, errs, err := runCmd(t, vars, "keys", "rotate")
		if err != nil {
			t.Fatalf("keys rotate: %v\n%s%s", err, out, errs)
		}
		rotated := readKeyring(t, keyFile).ActiveKeyID()
		if rotated == old || !strings.Contains(out, fmt.Sprintf("re-wrapped %d data keys under %s", customers, rotated)) {
			t.Fatalf("keys rotate from %s: want %d data keys re-wrapped under the new key:\n%s", old, customers, out)
		}
		// Each instance wraps new data keys under the new key within
		// moments, not within the sealer's refresh interval (a minute),
		// and without a signal or a restart.
		for i := range 2 {
			start := time.Now()
			for n := 0; ; n++ {
				id := p.createCustomer(t, c, p.base(i), admin, fmt.Sprintf("rotation-%d-%d@example.com", i, n))
				var under string
				if err := db.QueryRow(`SELECT key_id FROM customers WHERE id = $1`, id).Scan(&under); err != nil {
					t.Fatal(err)
				}
				if under == rotated {
					t.Logf("instance %d wraps new data keys under the new key %v after the rotation", i, time.Since(start))
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("instance %d still wraps new data keys under %s 5 s after the rotation to %s", i, under, rotated)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		// The other instance reads every customer, each re-wrapped under
		// the new key, and the first sees the same.
		rows, err := db.Query(`SELECT id, key_id FROM customers ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var id, under string
			if err := rows.Scan(&id, &under); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		for n, id := range ids {
			if code, _, body := p.callFrom(t, c, p.base(1-n%2), "GET", "/api/customers/"+id+"/", bearer(admin), ""); code != 200 || !strings.Contains(string(body), "@example.com") {
				t.Fatalf("customer %s after the rotation: %d %s", id, code, body)
			}
		}
		for i := range 2 {
			if n := strings.Count(p.procs[i].logs.String(), "re-wrapped"); n != 0 {
				t.Fatalf("instance %d re-wrapped data keys itself", i)
			}
		}
	})

	t.Run("sign-in attempts count across both", func(t *testing.T) {
		// A burst of six attempts per client in all: alternating between
		// the instances must not double it.
		c := clientFrom("127.0.0.2")
		refused := 0
		for range 12 {
			code, _, _ := p.callFrom(t, c, p.next(), "POST", "/api/auth/login/", nil, `{"email":"nobody@example.com","password":"wrong password"}`)
			if code == http.StatusTooManyRequests {
				refused++
			}
		}
		if refused < 6 {
			t.Fatalf("%d of 12 sign-in attempts refused; a shared burst of 6 refuses at least 6", refused)
		}
	})

	t.Run("the API rate limit counts across both", func(t *testing.T) {
		c := clientFrom("127.0.0.3")
		allowed := 0
		for range 400 {
			code, _, _ := p.callFrom(t, c, p.next(), "GET", "/api/auth/session/", bearer(admin), "")
			if code == http.StatusTooManyRequests {
				break
			}
			allowed++
		}
		// One shared burst of 200; separate limits would allow close to
		// 400.
		if allowed > 205 {
			t.Fatalf("%d requests allowed across both instances; a shared burst of 200 allows no more", allowed)
		}
	})

	// Last, as it stops both instances.
	t.Run("one instance killed mid-load: the other serves on, nothing acknowledged is lost", func(t *testing.T) {
		const victim, survivor = 0, 1
		began := time.Now()
		// The victim holds the job lease: the survivor stands by and has
		// never run retention.
		waitForLog(t, p.procs[survivor].logs, "another instance holds the job lease: standing by")
		if n := jobRuns(p.procs[survivor].logs, "retention"); n != 0 {
			t.Fatalf("the standby ran retention %d times while the holder ran it %d times", n, jobRuns(p.procs[victim].logs, "retention"))
		}
		var before int
		if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&before); err != nil {
			t.Fatal(err)
		}

		var (
			mu        sync.Mutex
			acked     = map[string]string{} // id -> email
			maybe     = map[string]bool{}   // sent to the victim without an answer
			ackedBy   [2]int
			afterKill int         // acknowledged by the survivor after the kill
			killed    atomic.Bool // from just before the signal
			gone      atomic.Bool // from when the victim was reaped
			stop      = make(chan struct{})
			wg        sync.WaitGroup
		)
		for w := range 8 {
			wg.Go(func() {
				// One client address per worker, each with a budget of
				// its own.
				c := clientFrom(fmt.Sprintf("127.0.1.%d", w+1))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					inst := (w + i) % 2
					if gone.Load() {
						// Out of the balancer's pool: every request
						// goes to the survivor.
						inst = survivor
					}
					email := fmt.Sprintf("k%d-%d@example.com", w, i)
					dead := killed.Load()
					code, _, body, err := send(c, p.base(inst), "POST", "/api/customers/", bearer(admin), fmt.Sprintf(`{"name":"Load %d %d","email":%q}`, w, i, email))
					var cu struct{ ID string }
					mu.Lock()
					switch {
					case code == 201 && json.Unmarshal(body, &cu) == nil:
						acked[cu.ID] = email
						ackedBy[inst]++
						if inst == survivor && dead {
							afterKill++
						}
					case inst == victim:
						maybe[email] = true
					default:
						t.Errorf("the surviving instance answered %d (%v): %s", code, err, body)
						mu.Unlock()
						return
					}
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		// Load goes on until enough of it was acknowledged to judge,
		// however fast the machine is, before the kill and after it.
		loaded := func(count *int) {
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !t.Failed(); time.Sleep(20 * time.Millisecond) {
				mu.Lock()
				n := *count
				mu.Unlock()
				if n >= 50 {
					return
				}
			}
		}
		loaded(&ackedBy[victim])
		killed.Store(true)
		if err := p.procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.procs[victim].done
		gone.Store(true)
		loaded(&afterKill)
		close(stop)
		wg.Wait()
		if t.Failed() {
			return
		}
		if ackedBy[victim] < 10 || afterKill < 10 {
			t.Fatalf("%d creates acknowledged by the victim, %d by the survivor after the kill: too little load to judge", ackedBy[victim], afterKill)
		}

		// The survivor takes the job lease over: the victim's session,
		// and with it its advisory lock, ended with its connection.
		waitForLog(t, p.procs[survivor].logs, "job lease held: this instance runs the job")
		waitForLog(t, p.procs[survivor].logs, `"msg":"job run","job":"retention"`)

		// Every acknowledged create is there, and nothing else but what
		// the victim may have done without answering.
		ids := make([]string, 0, len(acked))
		for id := range acked {
			ids = append(ids, id)
		}
		var present, after int
		if err := db.QueryRow(`SELECT count(*) FROM customers WHERE id = ANY($1)`, ids).Scan(&present); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if present != len(acked) || after-before < len(acked) || after-before > len(acked)+len(maybe) {
			t.Fatalf("%d of %d acknowledged creates stored; %d new customers, with %d requests unanswered", present, len(acked), after-before, len(maybe))
		}
		t.Logf("load and lease take-over: %v", time.Since(began))
		out, errs, err := runCmd(t, vars, "audit", "verify")
		if err != nil {
			t.Fatalf("audit verify after the kill: %v\n%s%s", err, out, errs)
		}
		t.Logf("audit verified: %v", time.Since(began))

		// The victim starts again, stands by for the jobs, and serves:
		// every acknowledged customer reads whole through it.
		p.start(t, victim)
		waitForLog(t, p.procs[victim].logs, "another instance holds the job lease: standing by")
		t.Logf("restarted: %v", time.Since(began))
		c := clientFrom("127.0.0.6")
		n := 0
		for id, email := range acked {
			if n++; n > 100 {
				break
			}
			code, _, body := p.callFrom(t, c, p.base(victim), "GET", "/api/customers/"+id+"/", bearer(admin), "")
			if code != 200 || !strings.Contains(string(body), email) {
				t.Fatalf("acknowledged customer %s through the restarted instance: %d %s", id, code, body)
			}
		}
		if n := jobRuns(p.procs[victim].logs, "retention"); n != 0 {
			t.Fatalf("the restarted instance ran retention %d times beside the holder", n)
		}
		t.Logf("%d creates acknowledged (%d by the victim, %d by the survivor after the kill), %d unanswered; all stored, trail intact: %s",
			len(acked), ackedBy[victim], afterKill, len(maybe), strings.SplitN(out, "\n", 2)[0])
		// Both stop cleanly.
		for i := range 2 {
			if err := p.procs[i].cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-p.procs[i].done; err != nil {
				t.Errorf("instance %d: %v\n%s", i, err, p.procs[i].logs)
			}
		}
	})
}
