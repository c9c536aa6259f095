package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// floodConfig configures the signin-flood step.
type floodConfig struct {
	url       string
	email     string
	pwFile    string
	attackers int
	pace      time.Duration
	duration  time.Duration
	every     time.Duration
}

// runFlood measures a person's sign-in during a sign-in flood: attackers
// concurrent clients, each from an address of its own (sent in
// X-Forwarded-For, so the server must trust the load generator as a
// proxy) and each pacing itself to one attempt per pace, inside the
// per-address sign-in limit, send wrong passwords for unknown addresses,
// while a person signs in with the right password every interval from yet
// another address. It prints the person's latencies and answers and the
// flood's answers; the person's sign-ins must each answer within 2 s.
func runFlood(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("custodian-bench signin-flood", flag.ContinueOnError)
	var c floodConfig
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the server's base URL (it must trust 127.0.0.1 in --trusted-proxies)")
	fs.StringVar(&c.email, "email", "", "the email address of the person signing in")
	fs.StringVar(&c.pwFile, "password-file", "", "a file holding that person's password")
	fs.IntVar(&c.attackers, "attackers", 300, "concurrent attacking clients, each from its own address")
	fs.DurationVar(&c.pace, "pace", time.Second, "each attacker's interval between attempts (inside the per-address limit)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long the flood lasts")
	fs.DurationVar(&c.every, "every", 2*time.Second, "the person's interval between sign-ins (above the per-address sign-in limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.email == "" || c.pwFile == "" {
		return errors.New("signin-flood needs -email and -password-file")
	}
	b, err := os.ReadFile(c.pwFile) // #nosec G304 -- the operator names the file
	if err != nil {
		return err
	}
	pw := strings.TrimRight(string(b), "\r\n")
	base := strings.TrimSuffix(c.url, "/") + "/api/auth/login/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.attackers + 4, MaxConnsPerHost: 0}, Timeout: 5 * time.Minute}
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()

	signIn := func(ctx context.Context, addr, email, pw string) (int, time.Duration) {
		body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base, strings.NewReader(body))
		if err != nil {
			return 0, 0
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", addr)
		start := time.Now()
		resp, err := client.Do(req)
		took := time.Since(start)
		if err != nil {
			return 0, took
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, took
	}

	var mu sync.Mutex
	flood := map[int]int{}
	var wg sync.WaitGroup
	for i := range c.attackers {
		wg.Go(func() {
			addr := fmt.Sprintf("10.%d.%d.%d", 1+i/62500, (i/250)%250, i%250+1)
			t := time.NewTicker(c.pace)
			defer t.Stop()
			for n := 0; ctx.Err() == nil; n++ {
				status, _ := signIn(ctx, addr, fmt.Sprintf("victim%d@example.com", i), fmt.Sprintf("guess %d", n))
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				flood[status]++
				mu.Unlock()
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
		})
	}

	var lat []time.Duration
	person := map[int]int{}
	time.Sleep(time.Second) // let the flood build up
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for ctx.Err() == nil {
		status, took := signIn(context.WithoutCancel(ctx), "192.0.2.200", c.email, pw)
		lat = append(lat, took)
		person[status]++
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	if len(lat) == 0 {
		return errors.New("no sign-in measured")
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	over := 0
	for _, d := range lat {
		if d > 2*time.Second {
			over++
		}
	}
	fmt.Fprintf(stdout, "flood: %d attackers, one attempt each per %v, for %v; answers %v\n", c.attackers, c.pace, c.duration, flood)
	fmt.Fprintf(stdout, "person: %d sign-ins, answers %v; latency p50 %v p99 %v max %v; %d over 2 s\n",
		len(lat), person, pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), over)
	if over > 0 {
		return fmt.Errorf("%d of %d sign-ins took more than 2 s", over, len(lat))
	}
	return nil
}
