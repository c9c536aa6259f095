package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// seedConfig is what the seed step is told.
type seedConfig struct {
	n           int
	dataDir     string
	databaseURL string
	keyring     string
	fixture     string
	batch       int
}

func runSeed(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("custodian-bench seed", flag.ContinueOnError)
	var c seedConfig
	fs.IntVar(&c.n, "n", 100_000, "customers to seed")
	fs.StringVar(&c.dataDir, "data-dir", "", "the server's data directory (SQLite database and shred store), created empty")
	fs.StringVar(&c.databaseURL, "database-url", "", "a PostgreSQL server: seed a fresh schema in it instead of SQLite, and write its URL to <fixture>/database_url")
	fs.StringVar(&c.keyring, "keyring", "", "write the new keyring here, for the server's --master-key-file")
	fs.StringVar(&c.fixture, "fixture", "", "directory for the token and the ids, emails and name prefixes load draws from")
	fs.IntVar(&c.batch, "batch", 2000, "customers stored per transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.dataDir == "" || c.keyring == "" || c.fixture == "" {
		return errors.New("seed needs -data-dir, -keyring and -fixture")
	}
	if err := os.MkdirAll(c.fixture, 0o700); err != nil {
		return err
	}
	k, err := crypto.NewKeyring()
	if err != nil {
		return err
	}
	if err := crypto.WriteKeyringFile(c.keyring, k); err != nil {
		return err
	}
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		return err
	}
	chain, err := hashchain.NewChain(k.AuditChainKey()) // as serve seals it
	if err != nil {
		return err
	}
	store, shred, err := openSeedStore(ctx, c, chain)
	if err != nil {
		return err
	}
	defer store.Close()
	defer shred.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	svc := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}, Shred: shred})
	fmt.Fprintf(stdout, "seeding %d customers...\n", c.n)
	start := time.Now()
	fx, err := seed(ctx, svc, c.n, c.batch)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "seeded %d customers in %s (%.0f customers/s)\n", c.n, took.Round(time.Millisecond), float64(c.n)/took.Seconds())

	// An administrator's access token: every request is authenticated, as
	// in production.
	hasher, err := password.NewHasher(password.Config{})
	if err != nil {
		return err
	}
	acc, err := accounts.New(store, hasher, sealer, accounts.Config{})
	if err != nil {
		return err
	}
	var pwb [24]byte
	_, _ = rand.Read(pwb[:])
	admin, err := acc.CreateUser(ctx, "bench@example.com", "Bench Admin", custodian.RoleAdmin, hex.EncodeToString(pwb[:]))
	if err != nil {
		return err
	}
	bearer, _, err := acc.CreateAPIToken(ctx, admin.ID, "bench", 0)
	if err != nil {
		return err
	}
	fx.token = bearer
	fx.seedSeconds = took.Seconds()
	return fx.write(c.fixture)
}

// openSeedStore opens the store and the shred key store where the server
// will find them: <data-dir>/custodian.db and <data-dir>/shred.db, or a
// fresh schema of the PostgreSQL database holding both.
func openSeedStore(ctx context.Context, c seedConfig, chain *hashchain.Chain) (*sqlstore.Store, *sqlstore.ShredStore, error) {
	opts := sqlstore.Options{AuditChain: chain}
	if c.databaseURL == "" {
		s, err := sqlite.Open(ctx, c.dataDir, opts)
		if err != nil {
			return nil, nil, err
		}
		shred, err := sqlite.OpenShred(ctx, filepath.Join(c.dataDir, sqlite.ShredFileName))
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		return s, shred, nil
	}
	admin, err := sql.Open("pgx", c.databaseURL)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "custodian_bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(c.databaseURL)
	if err != nil {
		return nil, nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	if err := os.WriteFile(filepath.Join(c.fixture, "database_url"), []byte(u.String()+"\n"), 0o600); err != nil {
		return nil, nil, err
	}
	s, err := postgres.Open(ctx, u.String(), opts)
	if err != nil {
		return nil, nil, err
	}
	shred, err := postgres.OpenShred(ctx, u.String())
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, shred, nil
}

// fixture is the seeded data the operations draw from.
type fixture struct {
	token                 string
	ids, emails, prefixes []string
	seedSeconds           float64
}

// The fixture's files.
const (
	tokenFile    = "token"
	idsFile      = "ids.txt"
	emailsFile   = "emails.txt"
	prefixesFile = "prefixes.txt"
	seedFile     = "seed_seconds"
)

func (f *fixture) write(dir string) error {
	seconds := strconv.FormatFloat(f.seedSeconds, 'f', 1, 64)
	for name, lines := range map[string][]string{tokenFile: {f.token}, idsFile: f.ids, emailsFile: f.emails, prefixesFile: f.prefixes, seedFile: {seconds}} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func readFixture(dir string) (*fixture, error) {
	f := &fixture{}
	for name, dst := range map[string]*[]string{idsFile: &f.ids, emailsFile: &f.emails, prefixesFile: &f.prefixes} {
		b, err := os.ReadFile(filepath.Join(dir, name)) // #nosec G304 -- the operator names the fixture directory
		if err != nil {
			return nil, err
		}
		*dst = strings.Fields(string(b))
	}
	b, err := os.ReadFile(filepath.Join(dir, tokenFile)) // #nosec G304 -- as above
	if err != nil {
		return nil, err
	}
	f.token = strings.TrimSpace(string(b))
	if b, err := os.ReadFile(filepath.Join(dir, seedFile)); err == nil { // #nosec G304 -- as above
		f.seedSeconds, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	}
	if f.token == "" || len(f.ids) == 0 {
		return nil, fmt.Errorf("fixture %s is empty", dir)
	}
	return f, nil
}

var (
	firstNames = strings.Fields("Ada Grace Alan Edsger Barbara Donald Margaret Ken Dennis Frances John Radia Tim Linus Guido Bjarne Niklaus Leslie Shafi Silvio Whitfield Martin Ivan Adele Jean Kathleen Hedy Sophie Mary Carl Emmy Srinivasa Katherine Dorothy Annie Evelyn Joan Hamid Rosalind Lise Chien Tu Maryam Cahit Ada Zoë José Åsa Émile Olga")
	lastNames  = strings.Fields("Lovelace Hopper Turing Dijkstra Liskov Knuth Hamilton Thompson Ritchie Allen Backus Perlman Berners Torvalds Rossum Stroustrup Wirth Lamport Goldwasser Micali Diffie Hellman Sutherland Goldberg Sammet Booth Lamarr Wilson Keller Gauss Noether Ramanujan Johnson Vaughan Easley Boyd Clarke Mirzakhani Franklin Meitner Wu Youyou Arslan Núñez Østergaard Šimić Ødegaard Kowalski Nakamura")
	companies  = strings.Fields("Analytical Engines Cobol Systems Enigma Works Semaphore Labs Bell Research Unix Partners Compiler Guild Lambda Holdings Kernel Trust Turing Foundry")
)

// seed stores n generated customers, batch at a time, the same for every
// run.
func seed(ctx context.Context, svc *customers.Service, n, batch int) (*fixture, error) {
	r := mrand.New(mrand.NewPCG(1, 2)) // #nosec G404 -- synthetic benchmark data must be reproducible, not secret
	fx := &fixture{}
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
