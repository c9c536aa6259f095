// Package storetest is the storage contract: one suite of tests that every
// backend must pass, run through the CustomerService so that it covers
// sealing, indexing and the repository together. Each backend's tests call
// Run with a function that opens a fresh, migrated database.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
)

// Backend is a fresh, migrated database under test.
type Backend struct {
	// Repo is the repository under test.
	Repo custodian.CustomerRepository
	// Raw returns everything the database holds at rest, as bytes an
	// attacker with the file, a backup or a SQL console would see.
	Raw func(t *testing.T) []byte
}

// Run runs the contract against backends made by open.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	runTests(t, func(t *testing.T) *env { return newEnv(t, open(t)) }, []contractTest[*env]{
		{"CreateAndGet", testCreateAndGet},
		{"InvalidInputChangesNothing", testInvalidInput},
		{"GetUnknown", testGetUnknown},
		{"UpdateWithVersion", testUpdateWithVersion},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"Delete", testDelete},
		{"BatchInsertIsAtomic", testBatchInsertAtomic},
		{"ImportIsAllOrNothing", testImport},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ListOrdersAndPages", testListOrdersAndPages},
		{"ListFiltersAndValidation", testListFilters},
		{"Search", testSearch},
		{"NoPlaintextAtRest", testNoPlaintextAtRest},
		{"SwappedCiphertextFails", testSwappedCiphertext},
		{"WrongKeyFailsLoudly", testWrongKey},
		{"KeyUsageAndRewrap", testKeyUsageAndRewrap},
		{"RotationUnderConcurrentWrites", testRotationUnderConcurrentWrites},
		{"RotationResumes", testRotationResumes},
		{"RotationRefusesUnknownKey", testRotationRefusesUnknownKey},
		{"ChangesAreAudited", testChangesAreAudited},
		{"BulkInBatches", testBulkInBatches},
		{"BulkByIDs", testBulkByIDs},
		{"BulkDelete", testBulkDelete},
		{"BulkInvalid", testBulkInvalid},
	})
	runTests(t, func(t *testing.T) *env { return newEnv(t, open(t)) }, transferTests)
}

// contractTest is one behaviour of a contract: a name saying what must
// hold, and the test of it, given a fresh environment of type E.
type contractTest[E any] struct {
	name string
	fn   func(t *testing.T, e E)
}

// runTests runs each test as a subtest named for its behaviour, on an
// environment that setup makes over a fresh backend, so that a failure
// names the behaviour and no test sees another's data.
func runTests[E any](t *testing.T, setup func(t *testing.T) E, tests []contractTest[E]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, setup(t)) })
	}
}

// env is one case of the customer contract: the service over the
// backend under test.
type env struct {
	Backend
	customerEnv
}

// newEnv returns the environment of a customer contract case over b,
// acting as usr_test.
func newEnv(t *testing.T, b Backend) *env {
	t.Helper()
	ce := newCustomerEnv(t, b.Repo, customers.Options{})
	ce.ctx = custodian.WithActor(context.Background(), "usr_test")
	return &env{Backend: b, customerEnv: ce}
}

// customerEnv is a customer service over a repository under test, with
// the keyring, sealer and clock it was made with, and the context the
// tests act in. The contracts that go through the service share it.
type customerEnv struct {
	svc    *customers.Service
	keys   *crypto.Keyring
	sealer *crypto.Sealer
	clock  *clock
	ctx    context.Context
}

// newCustomerEnv returns a service over repo that seals with a new
// keyring and reads the time from a new contract clock; opts adds the
// rest. The caller sets the context.
func newCustomerEnv(t *testing.T, repo custodian.CustomerRepository, opts customers.Options) customerEnv {
	t.Helper()
	k, sealer := newSealer(t)
	clk := newClock()
	opts.Now = clk.now
	return customerEnv{svc: newService(repo, sealer, opts), keys: k, sealer: sealer, clock: clk}
}

// newService returns a customer service over repo and sealer that
// validates as the contract expects (a phone number without a country
// code is British); opts adds the rest.
func newService(repo custodian.CustomerRepository, sealer *crypto.Sealer, opts customers.Options) *customers.Service {
	opts.Validator = custodian.Validator{PhoneRegion: "GB"}
	return customers.New(repo, sealer, opts)
}

// newKeyring returns a new keyring with one master key.
func newKeyring(t *testing.T) *crypto.Keyring {
	t.Helper()
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealerOf returns a sealer over k.
func sealerOf(t *testing.T, k *crypto.Keyring) *crypto.Sealer {
	t.Helper()
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	return sealer
}

// newSealer returns a new keyring and a sealer over it.
func newSealer(t *testing.T) (*crypto.Keyring, *crypto.Sealer) {
	t.Helper()
	k := newKeyring(t)
	return k, sealerOf(t, k)
}

// clock advances a millisecond and a microsecond on every reading, so that
// creation order is total and times exercise microsecond precision.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock returns a clock at the contract's starting time.
func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond + time.Microsecond)
	return c.t
}

// set moves the clock to t.
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// concurrently calls fn(w, i) for i from 0 to each-1, in order, in each of
// workers goroutines running at once, and returns the error of every call,
// the calls of worker w at w*each to w*each+each-1.
func concurrently(workers, each int, fn func(w, i int) error) []error {
	errs := make([]error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs[w*each+i] = fn(w, i)
			}
		})
	}
	wg.Wait()
	return errs
}

func ada() custodian.CustomerFields {
	return custodian.CustomerFields{
		Name: "Ada Lovelace", Email: "Ada.Lovelace@Example.COM", Phone: "020 7946 0958", Company: "Analytical Engines Ltd",
		Address: custodian.Address{Street: "12 St James's Square", City: "London", PostalCode: "SW1Y 4JH", Country: "gb"},
		Notes:   "Prefers <b>email</b>\nNever call before 10:00 & after 18:00.", Tags: []string{"VIP", "newsletter", "vip"},
	}
}

// create creates a customer with fields f through the service.
func (e *customerEnv) create(t *testing.T, f custodian.CustomerFields) *custodian.Customer {
	t.Helper()
	c, err := e.svc.CreateCustomer(e.ctx, f)
	if err != nil {
		t.Fatalf("CreateCustomer(%q): %v", f.Name, err)
	}
	return c
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := custodian.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// wantInvalid checks that err refuses input (EINVALID) naming exactly the
// fields in want, in order.
func wantInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	wantCode(t, err, custodian.EINVALID)
	var fields []string
	for _, f := range custodian.ErrorFields(err) {
		fields = append(fields, f.Field)
	}
	if !slices.Equal(fields, want) {
		t.Fatalf("field errors %v, want %v", fields, want)
	}
}

func testCreateAndGet(t *testing.T, e *env) {
	c := e.create(t, ada())
	if !custodian.ValidCustomerID(c.ID) || c.Version != 1 || c.CreatedBy != "usr_test" || c.UpdatedBy != "usr_test" {
		t.Fatalf("created = %+v", c)
	}
	want := custodian.CustomerFields{
		Name: "Ada Lovelace", Email: "Ada.Lovelace@example.com", Phone: "+442079460958", Company: "Analytical Engines Ltd",
		Address: custodian.Address{Street: "12 St James's Square", City: "London", PostalCode: "SW1Y 4JH", Country: "GB"},
		Notes:   "Prefers <b>email</b>\nNever call before 10:00 & after 18:00.", Tags: []string{"vip", "newsletter"}, Status: custodian.StatusLead,
	}
	got, err := e.svc.Customer(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !fieldsEqual(got.CustomerFields, want) {
		t.Fatalf("stored fields\n got %+v\nwant %+v", got.CustomerFields, want)
	}
	if !got.CreatedAt.Equal(c.CreatedAt) || !got.UpdatedAt.Equal(c.UpdatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("times = %v %v, want %v", got.CreatedAt, got.UpdatedAt, c.CreatedAt)
	}
	other := e.create(t, custodian.CustomerFields{Name: "Grace Hopper"})
	if other.ID == c.ID || strings.Contains(other.ID, "2") && strings.HasSuffix(other.ID, "2") && len(other.ID) < 10 {
		t.Fatalf("ids %s and %s", c.ID, other.ID)
	}
}

func fieldsEqual(a, b custodian.CustomerFields) bool {
	return a.Name == b.Name && a.Email == b.Email && a.Phone == b.Phone && a.Company == b.Company &&
		a.Address == b.Address && a.Notes == b.Notes && slices.Equal(a.Tags, b.Tags) && a.Status == b.Status
}

func testInvalidInput(t *testing.T, e *env) {
	_, err := e.svc.CreateCustomer(e.ctx, custodian.CustomerFields{Name: "<script>", Email: "not-an-email", Phone: "12", Address: custodian.Address{Country: "XX"}, Status: "gold"})
	wantInvalid(t, err, "name", "email", "phone", "address.country", "status")
	page, err := e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("refused create stored something: %v %v", page, err)
	}
	c := e.create(t, ada())
	bad := "x\x00y"
	_, err = e.svc.UpdateCustomer(e.ctx, c.ID, c.Version, custodian.CustomerPatch{Name: &bad})
	wantCode(t, err, custodian.EINVALID)
	got, _ := e.svc.Customer(e.ctx, c.ID)
	if got.Version != 1 || got.Name != "Ada Lovelace" {
		t.Fatalf("refused update changed the record: %+v", got)
	}
}

func testGetUnknown(t *testing.T, e *env) {
	for _, id := range []string{custodian.NewCustomerID(), "1", "cus_x", "", "' OR 1=1 --"} {
		_, err := e.svc.Customer(e.ctx, id)
		wantCode(t, err, custodian.ENOTFOUND)
	}
}

func testUpdateWithVersion(t *testing.T, e *env) {
	c := e.create(t, ada())
	name, status := "Augusta Ada King", custodian.StatusActive
	up, err := e.svc.UpdateCustomer(e.ctx, c.ID, 1, custodian.CustomerPatch{Name: &name, Status: &status})
	if err != nil {
		t.Fatal(err)
	}
	if up.Version != 2 || up.Name != name || up.Email != "Ada.Lovelace@example.com" || !up.UpdatedAt.After(c.UpdatedAt) || !up.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("updated = %+v", up)
	}
	stale := "Stale Write"
	_, err = e.svc.UpdateCustomer(e.ctx, c.ID, 1, custodian.CustomerPatch{Name: &stale})
	wantCode(t, err, custodian.EPRECONDITION)
	got, _ := e.svc.Customer(e.ctx, c.ID)
	if got.Name != name || got.Version != 2 || got.Status != status {
		t.Fatalf("stale update changed the record: %+v", got)
	}
	// A full replacement clears what it does not set.
	rep, err := e.svc.UpdateCustomer(e.ctx, c.ID, 2, custodian.ReplaceWith(custodian.CustomerFields{Name: "Ada"}))
	if err != nil || rep.Email != "" || rep.Address != (custodian.Address{}) || len(rep.Tags) != 0 || rep.Status != custodian.StatusLead {
		t.Fatalf("replace = %+v, %v", rep, err)
	}
	_, err = e.svc.UpdateCustomer(e.ctx, custodian.NewCustomerID(), 0, custodian.CustomerPatch{Name: &name})
	wantCode(t, err, custodian.ENOTFOUND)
}

func testConcurrentUpdates(t *testing.T, e *env) {
	c := e.create(t, ada())
	const n = 16
	errs := concurrently(n, 1, func(i, _ int) error {
		notes := fmt.Sprintf("note %d", i)
		_, err := e.svc.UpdateCustomer(e.ctx, c.ID, 0, custodian.CustomerPatch{Notes: &notes})
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("unconditional update failed: %v", err)
		}
	}
	got, _ := e.svc.Customer(e.ctx, c.ID)
	if got.Version != n+1 {
		t.Fatalf("version after %d updates = %d, want %d: an update was lost", n, got.Version, n+1)
	}
	// With If-Match on the same version, exactly one writer wins.
	errs = concurrently(n, 1, func(i, _ int) error {
		notes := fmt.Sprintf("conditional %d", i)
		_, err := e.svc.UpdateCustomer(e.ctx, c.ID, got.Version, custodian.CustomerPatch{Notes: &notes})
		return err
	})
	var wins, stale int
	for _, err := range errs {
		switch custodian.ErrorCode(err) {
		case "":
			wins++
		case custodian.EPRECONDITION:
			stale++
		default:
			t.Errorf("conditional update: %v", err)
		}
	}
	if wins != 1 || stale != n-1 {
		t.Fatalf("conditional updates: %d won, %d stale; want 1 and %d", wins, stale, n-1)
	}
}

func testDelete(t *testing.T, e *env) {
	c := e.create(t, ada())
	wantCode(t, e.svc.DeleteCustomer(e.ctx, c.ID, 7), custodian.EPRECONDITION)
	if _, err := e.svc.Customer(e.ctx, c.ID); err != nil {
		t.Fatalf("stale delete removed the customer: %v", err)
	}
	if err := e.svc.DeleteCustomer(e.ctx, c.ID, 1); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Customer(e.ctx, c.ID)
	wantCode(t, err, custodian.ENOTFOUND)
	wantCode(t, e.svc.DeleteCustomer(e.ctx, c.ID, 0), custodian.ENOTFOUND)
	for _, q := range []string{"ada", "ada.lovelace@example.com", "+44 20 7946 0958"} {
		page, err := e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{Search: q})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("search %q after delete = %v, %v", q, page, err)
		}
	}
}

func testBatchInsertAtomic(t *testing.T, e *env) {
	c := e.create(t, ada())
	rec, err := e.Repo.CustomerRecord(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	fresh := *rec
	fresh.ID = custodian.NewCustomerID()
	// The second record repeats an existing id: the whole batch must fail.
	err = e.Repo.InsertCustomers(e.ctx, &fresh, rec)
	if err == nil {
		t.Fatal("inserting a duplicate id succeeded")
	}
	if _, err := e.Repo.CustomerRecord(e.ctx, fresh.ID); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("the first record of a failed batch was stored: %v", err)
	}
}

func seed(t *testing.T, e *env, n int) []*custodian.Customer {
	t.Helper()
	var out []*custodian.Customer
	names := []string{"Zoë Adams", "émile Zola", "Bob Brown", "alice Cooper", "Ådne Berg", "Carl Davis"}
	for i := range n {
		f := custodian.CustomerFields{Name: fmt.Sprintf("%s %d", names[i%len(names)], i), Status: []custodian.Status{custodian.StatusLead, custodian.StatusActive, custodian.StatusInactive}[i%3]}
		if i%2 == 0 {
			f.Tags = []string{"even"}
		}
		out = append(out, e.create(t, f))
	}
	return out
}

// walk pages through a list and returns the ids in order.
func walk(t *testing.T, e *env, q custodian.CustomerQuery) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		page, err := e.svc.ListCustomers(e.ctx, q)
		if err != nil {
			t.Fatalf("ListCustomers(%+v): %v", q, err)
		}
		if len(page.Items) > q.Limit && q.Limit > 0 {
			t.Fatalf("page of %d items over limit %d", len(page.Items), q.Limit)
		}
		for _, c := range page.Items {
			ids = append(ids, c.ID)
		}
		if page.NextCursor == "" || pages > 1000 {
			return ids
		}
		q.Cursor = page.NextCursor
	}
}

func testListOrdersAndPages(t *testing.T, e *env) {
	all := seed(t, e, 23)
	// Touch a few so that updated_at order differs from created_at order.
	for _, i := range []int{5, 0, 17} {
		n := "touched"
		c, err := e.svc.UpdateCustomer(e.ctx, all[i].ID, 0, custodian.CustomerPatch{Notes: &n})
		if err != nil {
			t.Fatal(err)
		}
		all[i] = c
	}
	order := func(less func(a, b *custodian.Customer) int) []string {
		s := slices.Clone(all)
		slices.SortStableFunc(s, less)
		ids := make([]string, len(s))
		for i, c := range s {
			ids[i] = c.ID
		}
		return ids
	}
	byCreated := order(func(a, b *custodian.Customer) int { return a.CreatedAt.Compare(b.CreatedAt) })
	byUpdated := order(func(a, b *custodian.Customer) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	folded := map[string]string{}
	for _, c := range all {
		// Accents and case do not affect order: "Ådne" sorts with "a", "émile" with "e".
		r := strings.NewReplacer("Å", "a", "é", "e", "ë", "e").Replace(c.Name)
		folded[c.ID] = strings.ToLower(r)
	}
	byName := order(func(a, b *custodian.Customer) int {
		return cmpOr(strings.Compare(folded[a.ID], folded[b.ID]), strings.Compare(a.ID, b.ID))
	})
	rev := func(s []string) []string { r := slices.Clone(s); slices.Reverse(r); return r }
	for _, tc := range []struct {
		sort custodian.Sort
		want []string
	}{
		{custodian.SortCreatedAt, byCreated}, {custodian.SortCreatedAtDesc, rev(byCreated)},
		{custodian.SortUpdatedAt, byUpdated}, {custodian.SortUpdatedAtDesc, rev(byUpdated)},
		{custodian.SortName, byName}, {custodian.SortNameDesc, rev(byName)}, {"", rev(byCreated)},
	} {
		for _, limit := range []int{1, 4, 23, 200} {
			got := walk(t, e, custodian.CustomerQuery{Sort: tc.sort, Limit: limit})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("sort %q limit %d:\n got %v\nwant %v", tc.sort, limit, got, tc.want)
			}
		}
	}
	// A page boundary survives a concurrent insert: nothing is skipped or repeated.
	first, err := e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{Sort: custodian.SortName, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	e.create(t, custodian.CustomerFields{Name: "Aaron Aardvark"})
	rest := walk(t, e, custodian.CustomerQuery{Sort: custodian.SortName, Limit: 5, Cursor: first.NextCursor})
	if len(rest) != 23-5 {
		t.Fatalf("after the first page: %d customers, want %d", len(rest), 18)
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func testListFilters(t *testing.T, e *env) {
	seed(t, e, 12)
	count := func(q custodian.CustomerQuery) int { return len(walk(t, e, q)) }
	if n := count(custodian.CustomerQuery{Status: custodian.StatusActive, Limit: 3}); n != 4 {
		t.Fatalf("status=active: %d, want 4", n)
	}
	if n := count(custodian.CustomerQuery{Tag: "EVEN", Limit: 5}); n != 6 {
		t.Fatalf("tag=even: %d, want 6", n)
	}
	if n := count(custodian.CustomerQuery{Tag: "even", Status: custodian.StatusLead, Sort: custodian.SortName}); n != 2 {
		t.Fatalf("tag=even status=lead: %d, want 2", n)
	}
	if n := count(custodian.CustomerQuery{Tag: "absent"}); n != 0 {
		t.Fatalf("unknown tag: %d", n)
	}
	page, _ := e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{Limit: 2})
	for _, q := range []custodian.CustomerQuery{
		{Limit: -1}, {Limit: 201}, {Sort: "email"}, {Status: "gold"}, {Tag: "<b>"},
		{Cursor: "garbage"}, {Cursor: page.NextCursor, Sort: custodian.SortName}, {Search: strings.Repeat("a", 300)},
		{Search: "a\x00b"}, {Search: "--- ..."},
	} {
		_, err := e.svc.ListCustomers(e.ctx, q)
		wantCode(t, err, custodian.EINVALID)
		if len(custodian.ErrorFields(err)) == 0 {
			t.Fatalf("query %+v: no field error", q)
		}
	}
}

func testSearch(t *testing.T, e *env) {
	a := e.create(t, ada())
	g := e.create(t, custodian.CustomerFields{Name: "Grace Hopper", Email: "grace@navy.example.org", Phone: "+1 202-555-0143", Company: "US Navy", Status: custodian.StatusActive})
	j := e.create(t, custodian.CustomerFields{Name: "José Álvarez-Núñez", Company: "Adams & Co", Tags: []string{"vip"}})
	// 40 others so that tokens are shared and filtering matters.
	for i := range 40 {
		e.create(t, custodian.CustomerFields{Name: fmt.Sprintf("Person %d", i), Company: "Other Corp", Email: fmt.Sprintf("p%d@example.net", i)})
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"ada.lovelace@example.com", []string{a.ID}},
		{"  ADA.LOVELACE@EXAMPLE.COM ", []string{a.ID}},
		{"ada@example.com", nil},
		{"+44 20 7946 0958", []string{a.ID}},
		{"020 7946 0958", []string{a.ID}},
		{"(202) 555-0143", nil}, // without a country code this is a GB number
		{"+1 (202) 555-0143", []string{g.ID}},
		{"ada", []string{a.ID, j.ID}}, // "Adams" in José's company
		{"lovel", []string{a.ID}},
		{"LOVELACE ada", []string{a.ID}},
		{"ada hopper", nil},
		{"jose", []string{j.ID}},
		{"núñez", []string{j.ID}},
		{"alvarez nunez", []string{j.ID}},
		{"engines", []string{a.ID}},
		{"navy", []string{g.ID}},
		{"ovelace", nil}, // word prefixes, not substrings
		{"analyticalenginesltdxyz", nil},
		{"person 3", nil}, // word prefixes: Person 3 and Person 30 to 39
	} {
		q := custodian.CustomerQuery{Search: tc.q, Sort: custodian.SortName}
		got := walk(t, e, q)
		want := tc.want
		if tc.q == "person 3" {
			want = nil
			for _, id := range walk(t, e, custodian.CustomerQuery{Search: "person", Limit: 200}) {
				c, _ := e.svc.Customer(e.ctx, id)
				if c.Name == "Person 3" || strings.HasPrefix(c.Name, "Person 3") && len(c.Name) == len("Person 30") {
					want = append(want, id)
				}
			}
			if len(want) != 11 {
				t.Fatalf("fixture: %d customers named Person 3 or Person 3x, want 11", len(want))
			}
		}
		slices.Sort(got)
		want = slices.Clone(want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("search %q = %v, want %v", tc.q, got, want)
		}
		// Same result in time order and with small pages.
		got2 := walk(t, e, custodian.CustomerQuery{Search: tc.q, Limit: 1})
		slices.Sort(got2)
		if !slices.Equal(got2, want) {
			t.Fatalf("search %q by time = %v, want %v", tc.q, got2, want)
		}
	}
	// Filters combine with search.
	if got := walk(t, e, custodian.CustomerQuery{Search: "ada", Tag: "vip"}); len(got) != 2 {
		t.Fatalf("search ada tag vip = %v", got)
	}
	if got := walk(t, e, custodian.CustomerQuery{Search: "ada", Status: custodian.StatusActive}); len(got) != 0 {
		t.Fatalf("search ada status active = %v", got)
	}
	// The index follows updates.
	name := "Ada Byron"
	if _, err := e.svc.UpdateCustomer(e.ctx, a.ID, 0, custodian.CustomerPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got := walk(t, e, custodian.CustomerQuery{Search: "lovelace"}); len(got) != 0 {
		t.Fatalf("old name still found: %v", got)
	}
	if got := walk(t, e, custodian.CustomerQuery{Search: "byron"}); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("new name not found: %v", got)
	}
}

func testNoPlaintextAtRest(t *testing.T, e *env) {
	f := ada()
	f.Name = "Philippa Quennell-Smythe"
	f.Email = "philippa.q@private-mail.example"
	f.Notes = "Allergic to penicillin"
	f.Address.City = "Aberystwyth"
	e.create(t, f)
	raw := e.Raw(t)
	if len(raw) == 0 {
		t.Fatal("raw dump is empty")
	}
	lower := strings.ToLower(string(raw))
	for _, secret := range []string{"philippa", "quennell", "private-mail", "442079460958", "2079460958", "penicillin", "aberystwyth", "analytical engines"} {
		if strings.Contains(lower, secret) {
			t.Errorf("plaintext %q found at rest", secret)
		}
	}
	// The dump is real: non-personal labels are there.
	if !strings.Contains(lower, "newsletter") {
		t.Error("raw dump does not contain the tag; is it reading the right database?")
	}
}

func testSwappedCiphertext(t *testing.T, e *env) {
	a := e.create(t, ada())
	b := e.create(t, custodian.CustomerFields{Name: "Grace Hopper", Email: "grace@navy.example.org"})
	ra, _ := e.Repo.CustomerRecord(e.ctx, a.ID)

	// A's email moved into B's row.
	overwrite := func(id string, change func(r *custodian.CustomerRecord)) {
		t.Helper()
		err := e.Repo.UpdateCustomer(e.ctx, id, func(cur *custodian.CustomerRecord) (*custodian.CustomerRecord, error) {
			change(cur)
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	overwrite(b.ID, func(r *custodian.CustomerRecord) { r.Sealed["email"] = ra.Sealed["email"] })
	_, err := e.svc.Customer(e.ctx, b.ID)
	wantCode(t, err, custodian.EINTERNAL)

	// A's email moved into A's notes column.
	overwrite(a.ID, func(r *custodian.CustomerRecord) { r.Sealed["notes"] = r.Sealed["email"] })
	_, err = e.svc.Customer(e.ctx, a.ID)
	wantCode(t, err, custodian.EINTERNAL)
}

func testWrongKey(t *testing.T, e *env) {
	c := e.create(t, ada())
	_, other := newSealer(t)
	svc := customers.New(e.Repo, other, customers.Options{})
	got, err := svc.Customer(e.ctx, c.ID)
	if got != nil {
		t.Fatalf("a wrong key returned a customer: %+v", got)
	}
	wantCode(t, err, custodian.EINTERNAL)
	if strings.Contains(err.Error(), "Ada") {
		t.Fatalf("error reveals personal data: %v", err)
	}
}

func testImport(t *testing.T, e *env) {
	_, err := e.svc.ImportCustomers(e.ctx, []custodian.CustomerFields{{Name: "Ann"}, {Name: "Bo", Email: "nope"}, {Name: ""}})
	wantInvalid(t, err, "[1].email", "[2].name")
	if got := walk(t, e, custodian.CustomerQuery{}); len(got) != 0 {
		t.Fatalf("a refused import stored %d customers", len(got))
	}
	cs, err := e.svc.ImportCustomers(e.ctx, []custodian.CustomerFields{{Name: "Ann Arbor", Email: "ann@example.com"}, {Name: "Bo Diddley"}})
	if err != nil || len(cs) != 2 {
		t.Fatalf("import: %v", err)
	}
	if got := walk(t, e, custodian.CustomerQuery{Search: "ann@example.com"}); !slices.Equal(got, []string{cs[0].ID}) {
		t.Fatalf("imported customer not searchable: %v", got)
	}
}

func testConcurrentCreates(t *testing.T, e *env) {
	// Many concurrent creates, some of them invalid at the storage level
	// (a repeated id): each caller gets its own outcome, and every
	// acknowledged record is stored.
	c := e.create(t, ada())
	dup, err := e.Repo.CustomerRecord(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	ids := make([]string, n)
	errs := concurrently(n, 1, func(i, _ int) error {
		if i%10 == 3 {
			return e.Repo.InsertCustomers(e.ctx, dup)
		}
		got, err := e.svc.CreateCustomer(e.ctx, custodian.CustomerFields{Name: fmt.Sprintf("Concurrent %d", i)})
		if got != nil {
			ids[i] = got.ID
		}
		return err
	})
	for i := range n {
		if i%10 == 3 {
			if errs[i] == nil {
				t.Fatalf("insert %d of a repeated id succeeded", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if _, err := e.svc.Customer(e.ctx, ids[i]); err != nil {
			t.Fatalf("acknowledged create %d not stored: %v", i, err)
		}
	}
	if got := walk(t, e, custodian.CustomerQuery{Search: "concurrent", Limit: 200}); len(got) != n-4 {
		t.Fatalf("%d concurrent customers stored, want %d", len(got), n-4)
	}
	// A cancelled caller is told so and its record is not half-written.
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.svc.CreateCustomer(ctx, custodian.CustomerFields{Name: "Cancelled Caller"}); err == nil {
		if got := walk(t, e, custodian.CustomerQuery{Search: "cancelled caller"}); len(got) != 1 {
			t.Fatalf("acknowledged cancelled create stored %d times", len(got))
		}
	} else if got := walk(t, e, custodian.CustomerQuery{Search: "cancelled caller"}); len(got) != 0 {
		t.Fatalf("refused create stored: %v", got)
	}
}

// testChangesAreAudited checks that the service records every change with
// who made it and which fields changed, never the values.
func testChangesAreAudited(t *testing.T, e *env) {
	a, ok := e.Repo.(custodian.AuditRepository)
	if !ok {
		t.Fatal("repository does not keep an audit trail")
	}
	ctx := custodian.WithOrigin(e.ctx, custodian.Origin{ClientAddr: "198.51.100.7", RequestID: "req-9"})
	c, err := e.svc.CreateCustomer(ctx, ada())
	if err != nil {
		t.Fatal(err)
	}
	email := "ada@example.org"
	if _, err := e.svc.UpdateCustomer(ctx, c.ID, c.Version, custodian.CustomerPatch{Email: &email}); err != nil {
		t.Fatal(err)
	}
	stale := "x"
	if _, err := e.svc.UpdateCustomer(ctx, c.ID, c.Version, custodian.CustomerPatch{Name: &stale}); custodian.ErrorCode(err) != custodian.EPRECONDITION {
		t.Fatalf("stale update: %v", err)
	}
	if err := e.svc.DeleteCustomer(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	evs, err := a.AuditEvents(e.ctx, custodian.AuditQuery{Subject: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action+" "+strings.Join(ev.Fields, ","))
		if ev.Actor != "usr_test" || ev.ClientAddr != "198.51.100.7" || ev.RequestID != "req-9" {
			t.Errorf("event %d: actor %q from %q (%q)", ev.Seq, ev.Actor, ev.ClientAddr, ev.RequestID)
		}
		if strings.Contains(string(ev.Data), "example") {
			t.Errorf("event %d holds a personal value", ev.Seq)
		}
	}
	want := []string{"customer.delete ", "customer.update email", "customer.create name,email,phone,company,address,notes,tags,status"}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}
