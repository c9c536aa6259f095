package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// receiver is a webhook endpoint in the test: it verifies every delivery's
// signature with the secrets it knows, fails the first failFirst attempts
// of each delivery with 500, and keeps what it accepted.
type receiver struct {
	srv       *httptest.Server
	failFirst int
	tolerance time.Duration // of the timestamp against the receiver's clock

	mu       sync.Mutex
	keys     [][]byte
	attempts map[string]int // by webhook-id
	got      []Payload
	bodies   []string
	sigs     []string // the signature header of each accepted delivery
	badSig   int
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst, tolerance: 5 * time.Minute, attempts: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setKeys(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = nil
	for _, s := range secrets {
		k, err := ParseSecret(s)
		if err != nil {
			panic(err)
		}
		r.keys = append(r.keys, k)
	}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ts, sig := req.Header.Get(HeaderID), req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature)
	ok := len(r.keys) > 0
	for _, k := range r.keys {
		ok = ok && Verify(k, id, ts, sig, body, time.Now(), r.tolerance)
	}
	if !ok {
		r.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.attempts[id]++
	if r.attempts[id] <= r.failFirst {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil || p.ID != id {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.got, r.bodies, r.sigs = append(r.got, p), append(r.bodies, string(body)), append(r.sigs, sig)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Payload(nil), r.got...)
}

// env is the services over one open store.
type env struct {
	store     *sqlstore.Store
	customers *customers.Service
	hooks     *Service
}

func testOptions(g *Guard) Options {
	return Options{Guard: g, Retry: Retry{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}, PollInterval: 10 * time.Millisecond, Timeout: 5 * time.Second}
}

func openEnv(t testing.TB, open func(t testing.TB) *sqlstore.Store, sealer *crypto.Sealer, o Options) *env {
	t.Helper()
	store := open(t)
	c := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}})
	o.Customers = c
	return &env{store: store, customers: c, hooks: New(store, sealer, o)}
}

func newSealer(t testing.TB) *crypto.Sealer {
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	s, err := crypto.NewSealer(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loopbackGuard(t *testing.T) *Guard {
	g, err := NewGuard([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// backends open a store that a second call of the same opener reopens:
// the "restart".
var backends = []struct {
	name   string
	opener func(t testing.TB) func(t testing.TB) *sqlstore.Store
}{
	{"sqlite", func(t testing.TB) func(t testing.TB) *sqlstore.Store {
		dir := t.TempDir()
		return func(t testing.TB) *sqlstore.Store {
			s, err := sqlite.Open(context.Background(), dir, sqlstore.Options{AuditChain: testdb.PlainChain()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}},
	{"postgres", func(t testing.TB) func(t testing.TB) *sqlstore.Store {
		u := testdb.PostgresSchemaURL(t)
		return func(t testing.TB) *sqlstore.Store { return testdb.OpenPostgres(t, u, testdb.PlainChain()) }
	}},
}

// waitFor runs delivery rounds until cond holds or 10 s pass.
func waitFor(t *testing.T, s *Service, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for deliveries")
		}
		if err := s.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeliveriesSurviveARestartAndAreRetried: events queued with the
// changes are delivered after the store is closed and reopened, signed,
// retried after failures with the same delivery id, and without personal
// data; the deliveries are listed with their status and attempts.
func TestDeliveriesSurviveARestartAndAreRetried(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := custodian.WithActor(context.Background(), "usr_admin")
			open := b.opener(t)
			sealer := newSealer(t)
			rcv := newReceiver(t, 2)
			e := openEnv(t, open, sealer, testOptions(loopbackGuard(t)))
			hook, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: rcv.srv.URL + "/hook?token=abc", Events: []string{custodian.EventCustomerCreated, custodian.EventCustomerUpdated, custodian.EventCustomerDeleted}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("secret %q", secret)
			}
			rcv.setKeys(secret)
			c, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Ada Lovelace", Email: "ada@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			email := "countess@example.com"
			if _, err := e.customers.UpdateCustomer(ctx, c.ID, 0, custodian.CustomerPatch{Email: &email}); err != nil {
				t.Fatal(err)
			}
			// A consent change is not subscribed to: not delivered.
			if _, err := e.customers.RecordConsent(ctx, c.ID, custodian.ConsentInput{Purpose: "marketing_email", State: custodian.ConsentGiven, Source: "form"}); err != nil {
				t.Fatal(err)
			}
			// The server stops before anything was sent.
			if err := e.store.Close(); err != nil {
				t.Fatal(err)
			}
			if got := rcv.received(); len(got) != 0 {
				t.Fatalf("delivered before the dispatcher ran: %v", got)
			}

			e = openEnv(t, open, sealer, testOptions(loopbackGuard(t)))
			defer e.store.Close()
			waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 2 })
			got := rcv.received()
			slices.SortFunc(got, func(a, b Payload) int { return strings.Compare(a.Type, b.Type) })
			if got[0].Type != custodian.EventCustomerCreated || got[1].Type != custodian.EventCustomerUpdated {
				t.Fatalf("types %s, %s", got[0].Type, got[1].Type)
			}
			if got[1].Data.CustomerID != c.ID || strings.Join(got[1].Data.Fields, ",") != "email" || got[1].Data.DeliveryID != got[1].ID {
				t.Fatalf("update payload %+v", got[1])
			}
			for _, body := range rcv.bodies {
				for _, pd := range []string{"Ada", "Lovelace", "ada@example.com", "countess"} {
					if strings.Contains(body, pd) {
						t.Fatalf("a delivery to an endpoint not allowed personal data carries %q: %s", pd, body)
					}
				}
			}
			ds, err := e.hooks.WebhookDeliveries(ctx, hook.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 2 {
				t.Fatalf("%d deliveries listed", len(ds))
			}
			for _, d := range ds {
				if d.Status != custodian.DeliverySucceeded || d.Attempts != 3 || d.LastStatusCode != http.StatusNoContent {
					t.Errorf("delivery %+v", d)
				}
				if rcv.attempts[d.ID] != 3 {
					t.Errorf("delivery %s: receiver saw %d attempts under its id", d.ID, rcv.attempts[d.ID])
				}
			}
			if rcv.badSig != 0 {
				t.Errorf("%d deliveries with a bad signature", rcv.badSig)
			}
			// A delete after the restart is delivered too.
			if err := e.customers.DeleteCustomer(ctx, c.ID, 0); err != nil {
				t.Fatal(err)
			}
			waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 3 })
			if got := rcv.received()[2]; got.Type != custodian.EventCustomerDeleted || got.Data.CustomerID != c.ID {
				t.Fatalf("delete payload %+v", got)
			}
		})
	}
}

// TestGivesUpAfterMaxAge: a delivery that keeps failing is marked failed
// once its next attempt would fall beyond the retry window.
func TestGivesUpAfterMaxAge(t *testing.T) {
	ctx := context.Background()
	sealer := newSealer(t)
	rcv := newReceiver(t, 1000)
	o := testOptions(loopbackGuard(t))
	o.Retry.MaxAge = 300 * time.Millisecond
	e := openEnv(t, backends[0].opener(t), sealer, o)
	defer e.store.Close()
	hook, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: rcv.srv.URL, Events: []string{custodian.EventCustomerCreated}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.setKeys(secret)
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Grace Hopper"}); err != nil {
		t.Fatal(err)
	}
	var ds []custodian.WebhookDelivery
	waitFor(t, e.hooks, func() bool {
		ds, err = e.hooks.WebhookDeliveries(ctx, hook.ID, 0)
		return err == nil && len(ds) == 1 && ds[0].Status == custodian.DeliveryFailed
	})
	if ds[0].Attempts < 1 || ds[0].LastStatusCode != 500 || ds[0].LastError == "" {
		t.Fatalf("failed delivery %+v", ds[0])
	}
}

// TestPersonalDataOnlyWhenAllowed: an endpoint allowed personal data gets
// the customer, read on the audit trail as system:webhooks; the flag's
// change is audited.
func TestPersonalDataOnlyWhenAllowed(t *testing.T) {
	ctx := custodian.WithActor(context.Background(), "usr_admin")
	sealer := newSealer(t)
	rcv := newReceiver(t, 0)
	e := openEnv(t, backends[0].opener(t), sealer, testOptions(loopbackGuard(t)))
	defer e.store.Close()
	hook, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: rcv.srv.URL, Events: []string{custodian.EventCustomerCreated}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.setKeys(secret)
	yes := true
	if _, err := e.hooks.UpdateWebhook(ctx, hook.ID, 1, custodian.WebhookPatch{PersonalData: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.hooks.UpdateWebhook(ctx, hook.ID, 1, custodian.WebhookPatch{PersonalData: &yes}); custodian.ErrorCode(err) != custodian.EPRECONDITION {
		t.Fatalf("stale version: %v", err)
	}
	c, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Ada Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 1 })
	got := rcv.received()[0]
	if got.Data.Customer == nil || got.Data.Customer.Email != "ada@example.com" {
		t.Fatalf("payload %+v", got.Data)
	}
	evs, err := e.store.AuditEvents(ctx, custodian.AuditQuery{Subject: hook.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Action != custodian.ActionWebhookUpdate || strings.Join(evs[0].Fields, ",") != "personal_data" || evs[0].Actor != "usr_admin" {
		t.Fatalf("webhook audit %+v", evs)
	}
	reads, err := e.store.Reads(ctx, custodian.ReadQuery{Customer: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(reads) != 1 || reads[0].Actor != custodian.ActorWebhooks || reads[0].Purpose != "webhook "+hook.ID {
		t.Fatalf("reads %+v", reads)
	}
}

// TestSecretRotation: after a rotation, deliveries carry two signatures,
// one under each secret, until the grace period ends; then only the new.
func TestSecretRotation(t *testing.T) {
	ctx := context.Background()
	sealer := newSealer(t)
	rcv := newReceiver(t, 0)
	rcv.tolerance = 3 * time.Hour
	var mu sync.Mutex
	now := time.Now()
	o := testOptions(loopbackGuard(t))
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.RotationGrace = time.Hour
	e := openEnv(t, backends[0].opener(t), sealer, o)
	defer e.store.Close()
	hook, oldSecret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: rcv.srv.URL, Events: []string{custodian.EventCustomerCreated}})
	if err != nil {
		t.Fatal(err)
	}
	rotated, newSecret, err := e.hooks.RotateWebhookSecret(ctx, hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret || rotated.PreviousSecretExpiresAt == nil || rotated.Version != 2 {
		t.Fatalf("rotation: %+v", rotated)
	}
	// The receiver demands both signatures during the grace period.
	rcv.setKeys(oldSecret, newSecret)
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "One"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 1 })
	if n := len(strings.Fields(rcv.sigs[0])); n != 2 {
		t.Fatalf("%d signatures during the grace period", n)
	}
	// After it, the old secret no longer verifies.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	rcv.setKeys(newSecret)
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Two"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 2 })
	if n := len(strings.Fields(rcv.sigs[1])); n != 1 || rcv.badSig != 0 {
		t.Fatalf("%d signatures after the grace period, %d refused", n, rcv.badSig)
	}
	old, _ := ParseSecret(oldSecret)
	if Verify(old, rcv.got[1].ID, strconv.FormatInt(now.Unix(), 10), rcv.sigs[1], []byte(rcv.bodies[1]), now, time.Minute) {
		t.Fatal("the old secret still verifies after the grace period")
	}
}

// TestRegistrationRefusesBlockedTargets: loopback, private, link-local,
// CGNAT, unique-local and metadata addresses, plain http and credentials
// in the URL are refused with a field error, and nothing is stored.
func TestRegistrationRefusesBlockedTargets(t *testing.T) {
	ctx := context.Background()
	e := openEnv(t, backends[0].opener(t), newSealer(t), testOptions(nil))
	defer e.store.Close()
	for _, u := range []string{
		"https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/", "https://172.16.0.1/", "https://192.168.1.1/",
		"https://169.254.169.254/latest/meta-data/", "https://100.64.0.1/", "https://100.100.100.200/", "https://[::1]/", "https://[fd00:ec2::254]/",
		"https://[fe80::1]/", "https://[::ffff:127.0.0.1]/", "https://0.0.0.0/", "http://example.com/hook", "https://user:pw@example.com/",
		"ftp://example.com/", "not a url", "",
	} {
		_, _, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: u, Events: []string{custodian.EventCustomerCreated}})
		if custodian.ErrorCode(err) != custodian.EINVALID || len(custodian.ErrorFields(err)) == 0 || custodian.ErrorFields(err)[0].Field != "url" {
			t.Errorf("%q: %v", u, err)
		}
	}
	if _, _, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: "https://hooks.example.com/x", Events: []string{"customer.exploded"}}); custodian.ErrorCode(err) != custodian.EINVALID {
		t.Errorf("unknown event: %v", err)
	}
	if hooks, _ := e.hooks.Webhooks(ctx); len(hooks) != 0 {
		t.Fatalf("refused registrations stored: %v", hooks)
	}
}

// TestDialTimeRefusal: a host name that looked public when registered but
// resolves to 127.0.0.1 when the delivery connects (DNS rebinding) is
// refused by the dialer, and the receiver on loopback gets nothing.
func TestDialTimeRefusal(t *testing.T) {
	ctx := context.Background()
	rcv := newReceiver(t, 0)
	g, err := NewGuard(nil)
	if err != nil {
		t.Fatal(err)
	}
	// At registration the name resolves to a public address...
	g.lookup = func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	e := openEnv(t, backends[0].opener(t), newSealer(t), testOptions(g))
	defer e.store.Close()
	port := rcv.srv.Listener.Addr().(*net.TCPAddr).Port
	hook, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: "https://localhost:" + strconv.Itoa(port) + "/hook", Events: []string{custodian.EventCustomerCreated}})
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	rcv.setKeys(secret)
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Mallory"}); err != nil {
		t.Fatal(err)
	}
	// ...but the system resolver answers 127.0.0.1 when it connects.
	var ds []custodian.WebhookDelivery
	waitFor(t, e.hooks, func() bool {
		ds, err = e.hooks.WebhookDeliveries(ctx, hook.ID, 0)
		return err == nil && len(ds) == 1 && ds[0].Attempts > 0 && ds[0].LastError != ""
	})
	if !strings.Contains(ds[0].LastError, "refused") || ds[0].Status != custodian.DeliveryPending {
		t.Fatalf("delivery %+v", ds[0])
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.attempts) != 0 || rcv.badSig != 0 {
		t.Fatal("the loopback receiver was reached")
	}
}

// TestGuard pins the address policy and the allow-list.
func TestGuard(t *testing.T) {
	g, err := NewGuard([]string{"10.9.0.0/16", "192.168.1.7", "hooks.internal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.216.34", true}, {"2606:2800:220:1::1", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"10.0.0.1", false}, {"10.9.3.4", true}, {"192.168.1.7", true}, {"192.168.1.8", false},
		{"169.254.169.254", false}, {"100.64.1.1", false}, {"172.31.255.255", false}, {"0.0.0.0", false}, {"255.255.255.255", false},
		{"::1", false}, {"::", false}, {"fe80::1", false}, {"fd12::1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::7f00:1", false}, {"ff02::1", false},
	} {
		if got := g.addrAllowed(netip.MustParseAddr(tt.addr)); got != tt.ok {
			t.Errorf("%s allowed = %v, want %v", tt.addr, got, tt.ok)
		}
	}
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://hooks.internal/x", true}, {"http://HOOKS.internal./x", true}, {"http://10.9.0.1:8080/", true}, {"http://10.8.0.1/", false}, {"http://example.com/", false},
	} {
		u, _ := url.Parse(tt.url)
		if got := g.AllowListed(u); got != tt.ok {
			t.Errorf("%s allow-listed = %v, want %v", tt.url, got, tt.ok)
		}
	}
	if _, err := NewGuard([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR range was accepted")
	}
}

// TestRedirectsAreNotFollowed: an endpoint that redirects fails the
// attempt; the redirect's target gets nothing.
func TestRedirectsAreNotFollowed(t *testing.T) {
	ctx := context.Background()
	target := newReceiver(t, 0)
	redirector := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
	defer redirector.Close()
	e := openEnv(t, backends[0].opener(t), newSealer(t), testOptions(loopbackGuard(t)))
	defer e.store.Close()
	hook, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: redirector.URL, Events: []string{custodian.EventCustomerCreated}})
	if err != nil {
		t.Fatal(err)
	}
	target.setKeys(secret)
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Eve"}); err != nil {
		t.Fatal(err)
	}
	var ds []custodian.WebhookDelivery
	waitFor(t, e.hooks, func() bool {
		ds, err = e.hooks.WebhookDeliveries(ctx, hook.ID, 0)
		return err == nil && len(ds) == 1 && ds[0].Attempts > 0 && ds[0].LastAttemptAt != (time.Time{})
	})
	if ds[0].LastStatusCode != http.StatusTemporaryRedirect || len(target.received()) != 0 {
		t.Fatalf("delivery %+v, target got %d", ds[0], len(target.received()))
	}
}

// TestBulkChangesFireWebhooks: every customer a bulk action changes is a
// delivery of its own, and a customer it leaves unchanged is none.
func TestBulkChangesFireWebhooks(t *testing.T) {
	ctx := context.Background()
	rcv := newReceiver(t, 0)
	e := openEnv(t, backends[0].opener(t), newSealer(t), testOptions(loopbackGuard(t)))
	defer e.store.Close()
	_, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: rcv.srv.URL, Events: []string{custodian.EventCustomerUpdated, custodian.EventCustomerDeleted}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.setKeys(secret)
	var targets []custodian.BulkTarget
	for _, st := range []custodian.Status{custodian.StatusLead, custodian.StatusLead, custodian.StatusInactive} {
		c, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Bulk", Status: st})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, custodian.BulkTarget{ID: c.ID})
	}
	res, err := e.customers.BulkCustomers(ctx, custodian.BulkRequest{Action: custodian.BulkSetStatus, Status: custodian.StatusInactive, Targets: targets})
	if err != nil || res.Changed != 2 || res.Unchanged != 1 {
		t.Fatalf("bulk: %+v, %v", res, err)
	}
	if res, err := e.customers.BulkCustomers(ctx, custodian.BulkRequest{Action: custodian.BulkDelete, Targets: targets[2:]}); err != nil || res.Changed != 1 {
		t.Fatalf("bulk delete: %+v, %v", res, err)
	}
	waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 3 })
	time.Sleep(50 * time.Millisecond)
	if err := e.hooks.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got := rcv.received()
	if len(got) != 3 {
		t.Fatalf("%d deliveries", len(got))
	}
	var kinds []string
	for _, p := range got {
		kinds = append(kinds, p.Type+" "+strings.Join(p.Data.Fields, ","))
	}
	slices.Sort(kinds)
	if want := []string{"customer.deleted ", "customer.updated status", "customer.updated status"}; !slices.Equal(kinds, want) {
		t.Fatalf("deliveries %q, want %q", kinds, want)
	}
}

// TestOldDeliveriesArePurged: finished deliveries older than
// KeepDeliveries are removed by the delivery rounds; pending ones stay.
func TestOldDeliveriesArePurged(t *testing.T) {
	ctx := context.Background()
	rcv := newReceiver(t, 0)
	rcv.tolerance = 48 * time.Hour
	var mu sync.Mutex
	now := time.Now()
	o := testOptions(loopbackGuard(t))
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.KeepDeliveries = time.Hour
	e := openEnv(t, backends[0].opener(t), newSealer(t), o)
	defer e.store.Close()
	hook, secret, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: rcv.srv.URL, Events: []string{custodian.EventCustomerCreated}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.setKeys(secret)
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Old"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.hooks, func() bool { return len(rcv.received()) == 1 })
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := e.hooks.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if ds, err := e.hooks.WebhookDeliveries(ctx, hook.ID, 0); err != nil || len(ds) != 0 {
		t.Fatalf("after the keep period: %+v, %v", ds, err)
	}
}

// TestNothingQueuedWithoutEndpoints: with no active endpoint a change
// queues nothing (a large import writes no outbox); with one, each change
// queues its event in the outbox until a delivery round takes it.
func TestNothingQueuedWithoutEndpoints(t *testing.T) {
	ctx := context.Background()
	e := openEnv(t, backends[0].opener(t), newSealer(t), testOptions(loopbackGuard(t)))
	defer e.store.Close()
	queued := func() int {
		var n int
		if err := e.store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_outbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "Before"}); err != nil {
		t.Fatal(err)
	}
	if n := queued(); n != 0 {
		t.Fatalf("%d events queued without an endpoint", n)
	}
	if _, _, err := e.hooks.CreateWebhook(ctx, custodian.WebhookInput{URL: "https://93.184.216.34/", Events: []string{custodian.EventCustomerDeleted}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.customers.CreateCustomer(ctx, custodian.CustomerFields{Name: "After"}); err != nil {
		t.Fatal(err)
	}
	if n := queued(); n != 1 {
		t.Fatalf("%d events queued with an endpoint, want 1", n)
	}
}
