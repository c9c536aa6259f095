package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Result is one operation's figures against one server.
type Result struct {
	Label     string  `json:"label"`
	Op        string  `json:"op"`
	Customers int     `json:"customers"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	// RSSMiB is the server's resident memory when the operation ended,
	// and PeakRSSMiB the highest it has been since the server started.
	RSSMiB     float64 `json:"rss_mib"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Report is what the JSON file holds: every result of every run, newest
// last.
type Report struct {
	Runs []Run `json:"runs"`
}

// Run is one load step.
type Run struct {
	Time        time.Time `json:"time"`
	GoVersion   string    `json:"go_version"`
	CPUs        int       `json:"cpus"`
	Clients     int       `json:"clients"`
	Duration    string    `json:"duration_per_op"`
	SeedSeconds float64   `json:"seed_seconds,omitempty"`
	Results     []Result  `json:"results"`
}

// loadConfig is what the load step is told.
type loadConfig struct {
	url       string
	fixture   string
	pid       int
	label     string
	customers int
	ops       []string
	duration  time.Duration
	clients   int
	out       string
}

var allOps = []string{"create", "get", "list", "search_name", "search_email"}

func runLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("custodian-bench load", flag.ContinueOnError)
	var c loadConfig
	var ops string
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the server's base URL; several, comma-separated, take the requests in turn (instances on one database)")
	fs.StringVar(&c.fixture, "fixture", "", "the directory seed wrote")
	fs.IntVar(&c.pid, "pid", 0, "the server's process id, for its resident memory (0: not measured)")
	fs.StringVar(&c.label, "label", "sqlite", "what the results are labelled (the backend)")
	fs.IntVar(&c.customers, "customers", 0, "how many customers the server holds, for the report")
	fs.StringVar(&ops, "ops", strings.Join(allOps, ","), "operations to measure, in order; mixed is a blend of all five")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "time to drive each operation")
	fs.IntVar(&c.clients, "clients", 16, "concurrent HTTP clients")
	fs.StringVar(&c.out, "out", "bench-results/api.json", "JSON file the results are appended to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.ops = strings.Split(ops, ",")
	fx, err := readFixture(c.fixture)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: c.clients, MaxIdleConnsPerHost: c.clients, DisableCompression: true}, Timeout: 30 * time.Second}
	run := Run{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Clients: c.clients, Duration: c.duration.String(), SeedSeconds: fx.seedSeconds}
	for _, op := range c.ops {
		var makers []maker
		for _, u := range strings.Split(c.url, ",") {
			mk, err := operation(op, strings.TrimSuffix(u, "/"), fx)
			if err != nil {
				return err
			}
			makers = append(makers, mk)
		}
		var turn atomic.Int64
		res := drive(ctx, client, c, func(r *mrand.Rand) (*http.Request, int) {
			req, want := makers[(turn.Add(1)-1)%int64(len(makers))](r)
			req.Header.Set("Authorization", "Bearer "+fx.token)
			return req, want
		})
		res.Label, res.Op, res.Customers = c.label, op, c.customers
		res.RSSMiB, res.PeakRSSMiB = rss(c.pid)
		fmt.Fprintf(stdout, "%s %-13s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  rss %4.0f MiB (peak %4.0f)  (%d requests, %d errors)\n",
			c.label, op, res.RPS, res.P50ms, res.P99ms, res.RSSMiB, res.PeakRSSMiB, res.Requests, res.Errors)
		run.Results = append(run.Results, res)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "label\top\tcustomers\trequests\terrors\treq/s\tp50 ms\tp99 ms\tRSS MiB\tpeak MiB\t")
	for _, r := range run.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t\n", r.Label, r.Op, r.Customers, r.Requests, r.Errors, r.RPS, r.P50ms, r.P99ms, r.RSSMiB, r.PeakRSSMiB)
	}
	tw.Flush()
	return appendRun(c.out, run)
}

// appendRun adds run to the report in path.
func appendRun(path string, run Run) error {
	var rep Report
	if b, err := os.ReadFile(path); err == nil { // #nosec G304 -- the operator names the report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	rep.Runs = append(rep.Runs, run)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { // #nosec G301 -- a results directory
		return err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(path, append(b, '\n'), 0o644) // #nosec G306 -- benchmark figures, not secrets
}

// rss returns the resident memory of process pid and its peak, in MiB,
// from /proc; zeros when pid is 0 or unreadable.
func rss(pid int) (now, peak float64) {
	if pid <= 0 {
		return 0, 0
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			now = kib / 1024
		case "VmHWM":
			peak = kib / 1024
		}
	}
	return now, peak
}

// maker makes one request of an operation and says which status it must
// answer.
type maker func(r *mrand.Rand) (*http.Request, int)

// operation returns the request maker of op.
func operation(op, base string, fx *fixture) (maker, error) {
	var n atomic.Int64
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // create's emails differ from run to run
	get := func(path string) *http.Request {
		req, _ := http.NewRequest("GET", base+path, nil)
		return req
	}
	makers := map[string]maker{
		"create": func(r *mrand.Rand) (*http.Request, int) {
			i := n.Add(1)
			body := fmt.Sprintf(`{"name":"Bench Create %d","email":"create.%s.%d@example.org","phone":"+44 20 8%03d %04d","company":"Load Test Ltd","tags":["bench"]}`, i, run, i, i/10000%1000, i%10000)
			req, _ := http.NewRequest("POST", base+"/api/customers/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req, http.StatusCreated
		},
		"get": func(r *mrand.Rand) (*http.Request, int) {
			return get("/api/customers/" + fx.ids[r.IntN(len(fx.ids))] + "/"), http.StatusOK
		},
		"list": func(r *mrand.Rand) (*http.Request, int) {
			return get("/api/customers/?limit=50"), http.StatusOK
		},
		"search_name": func(r *mrand.Rand) (*http.Request, int) {
			return get("/api/customers/?limit=50&search=" + url.QueryEscape(fx.prefixes[r.IntN(len(fx.prefixes))])), http.StatusOK
		},
		"search_email": func(r *mrand.Rand) (*http.Request, int) {
			return get("/api/customers/?search=" + url.QueryEscape(fx.emails[r.IntN(len(fx.emails))])), http.StatusOK
		},
	}
	if op == "mixed" {
		// What a team's day looks like: mostly opening customers and
		// searching, some lists, a few creates.
		blend := []struct {
			op     string
			weight int
		}{{"get", 50}, {"search_email", 15}, {"search_name", 10}, {"list", 20}, {"create", 5}}
		return func(r *mrand.Rand) (*http.Request, int) {
			x := r.IntN(100)
			for _, b := range blend {
				if x < b.weight {
					return makers[b.op](r)
				}
				x -= b.weight
			}
			return makers["get"](r)
		}, nil
	}
	mk, ok := makers[op]
	if !ok {
		return nil, fmt.Errorf("unknown operation %q", op)
	}
	return mk, nil
}

// drive runs the clients for the configured time and summarizes.
func drive(ctx context.Context, client *http.Client, c loadConfig, mk maker) Result {
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c.clients {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano()))) // #nosec G404 G115 -- a load pattern; w is a non-negative worker index
			lat := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				req, want := mk(r)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != want {
						err = errors.New(resp.Status)
						if errs.Load() == 0 {
							fmt.Fprintf(os.Stderr, "first error: %s %s: %s\n", req.Method, req.URL.RequestURI(), resp.Status)
						}
					}
				}
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	return Result{Requests: int64(len(all)), Errors: errs.Load(), Seconds: elapsed.Seconds(), RPS: float64(len(all)) / elapsed.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99)}
}
