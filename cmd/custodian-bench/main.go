// Command custodian-bench measures the REST API under load: for each
// storage backend it seeds customers (100,000 by default), serves the API
// on a loopback port with the real server, and drives each operation with
// concurrent HTTP clients for a fixed time. It prints requests per second
// and p50/p99 latency per operation and writes them to a JSON file.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/hashchain"
	custhttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custodian-bench:", err)
		os.Exit(1)
	}
}

// Result is one operation's figures on one backend.
type Result struct {
	Backend  string  `json:"backend"`
	Op       string  `json:"op"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// Report is what the JSON file holds.
type Report struct {
	Time        time.Time          `json:"time"`
	GoVersion   string             `json:"go_version"`
	CPUs        int                `json:"cpus"`
	Customers   int                `json:"customers"`
	Clients     int                `json:"clients"`
	Duration    string             `json:"duration_per_op"`
	SeedSeconds map[string]float64 `json:"seed_seconds"`
	Results     []Result           `json:"results"`
}

type config struct {
	n        int
	backends []string
	duration time.Duration
	clients  int
	out      string
	pgURL    string
	ops      []string
}

var allOps = []string{"create", "get", "list", "search_name", "search_email"}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("custodian-bench", flag.ContinueOnError)
	var c config
	var backends, ops string
	fs.IntVar(&c.n, "n", 100_000, "customers to seed per backend")
	fs.StringVar(&backends, "backends", "sqlite,postgres", "backends to measure")
	fs.StringVar(&ops, "ops", strings.Join(allOps, ","), "operations to measure")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "time to drive each operation")
	fs.IntVar(&c.clients, "clients", 16, "concurrent HTTP clients")
	fs.StringVar(&c.out, "out", "bench-results/api.json", "JSON file to write")
	fs.StringVar(&c.pgURL, "database-url", testdb.PostgresURL(), "PostgreSQL server to create a scratch schema in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.backends, c.ops = strings.Split(backends, ","), strings.Split(ops, ",")
	rep := Report{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Customers: c.n, Clients: c.clients, Duration: c.duration.String(), SeedSeconds: map[string]float64{}}
	for _, b := range c.backends {
		res, seed, err := bench(ctx, c, b, stdout)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		rep.SeedSeconds[b] = seed.Seconds()
		rep.Results = append(rep.Results, res...)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\top\trequests\terrors\treq/s\tp50 ms\tp99 ms\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t\n", r.Backend, r.Op, r.Requests, r.Errors, r.RPS, r.P50ms, r.P99ms)
	}
	tw.Flush()
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(c.out, append(b, '\n'), 0o644)
}

// open returns a store for the backend sealing its trail with chain, its
// shred key store (a file beside the SQLite database; a table of the
// scratch schema on PostgreSQL) and a cleanup function.
func open(ctx context.Context, c config, backend string, chain *hashchain.Chain) (*sqlstore.Store, *sqlstore.ShredStore, func(), error) {
	switch backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "custodian-bench-")
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := sqlite.Open(ctx, filepath.Join(dir, "data"), sqlstore.Options{AuditChain: chain})
		if err != nil {
			return nil, nil, nil, err
		}
		shred, err := sqlite.OpenShred(ctx, filepath.Join(dir, "keys", sqlite.ShredFileName))
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		return s, shred, func() { shred.Close(); s.Close(); os.RemoveAll(dir) }, nil
	case "postgres":
		admin, err := sql.Open("pgx", c.pgURL)
		if err != nil {
			return nil, nil, nil, err
		}
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema := "custodian_bench_" + hex.EncodeToString(b[:])
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			return nil, nil, nil, err
		}
		u, _ := url.Parse(c.pgURL)
		q := u.Query()
		q.Set("search_path", schema)
		q.Set("pool_max_conns", "16")
		u.RawQuery = q.Encode()
		s, err := postgres.Open(ctx, u.String(), sqlstore.Options{AuditChain: chain})
		if err != nil {
			return nil, nil, nil, err
		}
		shred, err := postgres.OpenShred(ctx, u.String())
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		return s, shred, func() {
			shred.Close()
			s.Close()
			admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		}, nil
	}
	return nil, nil, nil, fmt.Errorf("unknown backend %q", backend)
}

// fixture is the seeded data the operations draw from.
type fixture struct {
	ids, emails, prefixes []string
}

var (
	firstNames = strings.Fields("Ada Grace Alan Edsger Barbara Donald Margaret Ken Dennis Frances John Radia Tim Linus Guido Bjarne Niklaus Leslie Shafi Silvio Whitfield Martin Ivan Adele Jean Kathleen Hedy Sophie Mary Carl Emmy Srinivasa Katherine Dorothy Annie Evelyn Joan Hamid Rosalind Lise Chien Tu Maryam Cahit Ada Zoë José Åsa Émile Olga")
	lastNames  = strings.Fields("Lovelace Hopper Turing Dijkstra Liskov Knuth Hamilton Thompson Ritchie Allen Backus Perlman Berners Torvalds Rossum Stroustrup Wirth Lamport Goldwasser Micali Diffie Hellman Sutherland Goldberg Sammet Booth Lamarr Wilson Keller Gauss Noether Ramanujan Johnson Vaughan Easley Boyd Clarke Mirzakhani Franklin Meitner Wu Youyou Arslan Núñez Østergaard Šimić Ødegaard Kowalski Nakamura")
	companies  = strings.Fields("Analytical Engines Cobol Systems Enigma Works Semaphore Labs Bell Research Unix Partners Compiler Guild Lambda Holdings Kernel Trust Turing Foundry")
)

func seed(ctx context.Context, svc *customers.Service, n int) (*fixture, error) {
	r := mrand.New(mrand.NewPCG(1, 2)) // #nosec G404 -- synthetic benchmark data must be reproducible, not secret
	fx := &fixture{}
	const batch = 2000
	for start := 0; start < n; start += batch {
		var fs []custodian.CustomerFields
		for i := start; i < min(start+batch, n); i++ {
			first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
			email := fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(last), i)
			email = strings.Map(func(r rune) rune {
				if r > 127 {
					return 'x'
				}
				return r
			}, email)
			fs = append(fs, custodian.CustomerFields{
				Name: first + " " + last, Email: email, Phone: fmt.Sprintf("+44 20 7%03d %04d", i/10000%1000, i%10000),
				Company: companies[r.IntN(len(companies))] + " " + companies[r.IntN(len(companies))],
				Address: custodian.Address{Street: fmt.Sprintf("%d High Street", i%300+1), City: "London", PostalCode: "SW1A 1AA", Country: "GB"},
				Notes:   "Seeded for the benchmark.", Tags: []string{[]string{"vip", "newsletter", "trial"}[i%3]},
				Status: []custodian.Status{custodian.StatusLead, custodian.StatusActive, custodian.StatusInactive}[i%3],
			})
			fx.emails = append(fx.emails, email)
		}
		cs, err := svc.ImportCustomers(ctx, fs)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			fx.ids = append(fx.ids, c.ID)
		}
	}
	for _, l := range lastNames {
		r := []rune(l)
		fx.prefixes = append(fx.prefixes, string(r[:min(3, len(r))]))
	}
	return fx, nil
}

func bench(ctx context.Context, c config, backend string, stdout io.Writer) ([]Result, time.Duration, error) {
	k, _ := crypto.NewKeyring()
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		return nil, 0, err
	}
	// The trail sealed with the keyring's chain key, as serve does.
	chain, err := hashchain.NewChain(k.AuditChainKey())
	if err != nil {
		return nil, 0, err
	}
	store, shred, cleanup, err := open(ctx, c, backend, chain)
	if err != nil {
		return nil, 0, err
	}
	defer cleanup()
	if _, err := store.Migrate(ctx); err != nil {
		return nil, 0, err
	}
	svc := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}, Shred: shred})

	fmt.Fprintf(stdout, "%s: seeding %d customers...\n", backend, c.n)
	start := time.Now()
	fx, err := seed(ctx, svc, c.n)
	if err != nil {
		return nil, 0, fmt.Errorf("seed: %w", err)
	}
	seedTime := time.Since(start)
	fmt.Fprintf(stdout, "%s: seeded in %s (%.0f customers/s)\n", backend, seedTime.Round(time.Millisecond), float64(c.n)/seedTime.Seconds())

	// An administrator's access token: every request is authenticated, as
	// in production.
	hasher, err := password.NewHasher(password.Config{})
	if err != nil {
		return nil, 0, err
	}
	acc, err := accounts.New(store, hasher, sealer, accounts.Config{})
	if err != nil {
		return nil, 0, err
	}
	var pwb [24]byte
	_, _ = rand.Read(pwb[:])
	admin, err := acc.CreateUser(ctx, "bench@example.com", "Bench Admin", custodian.RoleAdmin, hex.EncodeToString(pwb[:]))
	if err != nil {
		return nil, 0, err
	}
	bearer, _, err := acc.CreateAPIToken(ctx, admin.ID, "bench", 0)
	if err != nil {
		return nil, 0, err
	}

	// The real server, logging every request as in production (to nowhere),
	// without the per-client rate limit (one client address sends it all).
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	srv := &http.Server{Handler: custhttp.NewServer(custhttp.Deps{
		Logger: logger, Customers: svc, Privacy: svc, Accounts: acc, Audit: store, Alerts: store, DB: store,
		Monitor: custodian.ObserverFunc(func(custodian.Signal) {}),
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: c.clients, MaxIdleConnsPerHost: c.clients, DisableCompression: true}, Timeout: 10 * time.Second}

	var results []Result
	for _, op := range c.ops {
		mk, want, err := operation(op, base, fx)
		if err != nil {
			return nil, 0, err
		}
		res := drive(ctx, client, c, func(r *mrand.Rand) *http.Request {
			req := mk(r)
			req.Header.Set("Authorization", "Bearer "+bearer)
			return req
		}, want)
		res.Backend, res.Op = backend, op
		fmt.Fprintf(stdout, "%s %-13s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d requests, %d errors)\n", backend, op, res.RPS, res.P50ms, res.P99ms, res.Requests, res.Errors)
		results = append(results, res)
	}
	return results, seedTime, nil
}

// operation returns a request maker for op and the status it must answer.
func operation(op, base string, fx *fixture) (func(r *mrand.Rand) *http.Request, int, error) {
	var n atomic.Int64
	switch op {
	case "create":
		return func(r *mrand.Rand) *http.Request {
			i := n.Add(1)
			body := fmt.Sprintf(`{"name":"Bench Create %d","email":"create.%d@example.org","phone":"+44 20 8%03d %04d","company":"Load Test Ltd","tags":["bench"]}`, i, i, i/10000%1000, i%10000)
			req, _ := http.NewRequest("POST", base+"/api/customers/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, http.StatusCreated, nil
	case "get":
		return func(r *mrand.Rand) *http.Request {
			req, _ := http.NewRequest("GET", base+"/api/customers/"+fx.ids[r.IntN(len(fx.ids))]+"/", nil)
			return req
		}, http.StatusOK, nil
	case "list":
		return func(r *mrand.Rand) *http.Request {
			req, _ := http.NewRequest("GET", base+"/api/customers/", nil)
			return req
		}, http.StatusOK, nil
	case "search_name":
		return func(r *mrand.Rand) *http.Request {
			req, _ := http.NewRequest("GET", base+"/api/customers/?search="+url.QueryEscape(fx.prefixes[r.IntN(len(fx.prefixes))]), nil)
			return req
		}, http.StatusOK, nil
	case "search_email":
		return func(r *mrand.Rand) *http.Request {
			req, _ := http.NewRequest("GET", base+"/api/customers/?search="+url.QueryEscape(fx.emails[r.IntN(len(fx.emails))]), nil)
			return req
		}, http.StatusOK, nil
	}
	return nil, 0, fmt.Errorf("unknown operation %q", op)
}

// drive runs the clients for the configured time and summarizes.
func drive(ctx context.Context, client *http.Client, c config, mk func(*mrand.Rand) *http.Request, want int) Result {
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(w), 7)) // #nosec G404 G115 -- reproducible load pattern; w is a non-negative worker index
			lat := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				req := mk(r)
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
					errs.Add(1)
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
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
