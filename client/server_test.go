package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/client"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	chttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/importer"
	"github.com/custodian-crm/custodian/internal/contract"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/webhooks"
)

// testPassword is long and random enough for the password policy.
const testPassword = "correct horse battery staple orbit"

// server is the real Custodian server, in-process on a loopback TLS
// listener, on a fresh SQLite database. Every request the clients send
// and every answer are checked against the OpenAPI document the server
// serves (internal/contract), and the operations called are counted.
type server struct {
	*httptest.Server
	t     *testing.T
	acc   *accounts.Service
	store *sqlstore.Store
	admin string // an administrator's access token
	doc   *contract.Contract

	requests atomic.Int64 // every request received
	mu       sync.Mutex
	called   map[string]bool // the operations called
}

// newServer starts a server with an administrator (unless noAdmin); opts
// adjust its dependencies.
func newServer(t *testing.T, noAdmin bool, opts ...func(*chttp.Deps)) *server {
	t.Helper()
	store, _ := testdb.SQLite(t)
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(password.Config{Params: password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(store, hasher, sealer, accounts.Config{Passkeys: accounts.PasskeyConfig{RPID: "localhost", Origins: []string{passkeyOrigin}}})
	if err != nil {
		t.Fatal(err)
	}
	svc := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}})
	jobs := importer.NewJobs(svc, store, importer.JobsOptions{})
	t.Cleanup(jobs.Close)
	d := chttp.Deps{
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Customers: svc, Privacy: svc, Activities: svc, Tasks: svc, Names: svc, Bulk: svc, Imports: jobs, Exports: svc,
		Webhooks: webhooks.New(store, sealer, webhooks.Options{Customers: svc}),
		DB:       store, Accounts: acc, Audit: store, Alerts: store,
		Monitor: custodian.ObserverFunc(func(custodian.Signal) {}),
	}
	for _, o := range opts {
		o(&d)
	}
	h := chttp.NewServer(d)

	// The document, as the server serves it.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/openapi.json", nil))
	doc, err := contract.Load(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, acc: acc, store: store, doc: doc, called: map[string]bool{}}
	checked := doc.Handler(t, h)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if op := doc.Operation(r); op != "" {
			s.mu.Lock()
			s.called[op] = true
			s.mu.Unlock()
		}
		checked.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	if !noAdmin {
		s.admin = s.token(custodian.RoleAdmin, "admin@example.com")
	}
	return s
}

// token creates a user with the role and email and returns an access
// token of theirs.
func (s *server) token(role custodian.Role, email string) string {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.acc.CreateUser(ctx, email, "Test "+string(role), role, testPassword)
	if err != nil {
		s.t.Fatal(err)
	}
	tok, _, err := s.acc.CreateAPIToken(ctx, u.ID, "tests", 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// client returns a client of s sending token (none when empty), with
// opts.
func (s *server) client(token string, opts ...client.Option) *client.Client {
	s.t.Helper()
	all := []client.Option{client.WithHTTPClient(s.Client())}
	if token != "" {
		all = append(all, client.WithToken(token))
	}
	c, err := client.New(s.URL, append(all, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// browser returns a client without a token that keeps the session cookie.
func (s *server) browser() *client.Client {
	s.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	hc := *s.Client()
	hc.Jar = jar
	return s.client("", client.WithHTTPClient(&hc))
}

// uncalled returns the operations of the document no client called.
func (s *server) uncalled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, item := range s.doc.Document().Paths.Map() {
		for _, op := range item.Operations() {
			if !s.called[op.OperationID] {
				out = append(out, op.OperationID)
			}
		}
	}
	return out
}
