package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
)

// PrivacyBackend is a fresh, migrated database and a separate shred key
// store for the data-protection contract.
type PrivacyBackend struct {
	// Repo is the customer repository under test.
	Repo custodian.CustomerRepository
	// Shred is the shred key store, in a database of its own.
	Shred custodian.ShredKeyStore
	// Snapshot copies the customer database as a backup would (the files,
	// or every row), and returns a repository over the copy.
	Snapshot func(t *testing.T) custodian.CustomerRepository
	// DB is the customer database, for statements the contract runs
	// itself; Q rewrites "?" placeholders for it.
	DB *sql.DB
	Q  func(string) string
}

// privacyEnv is one privacy contract case: a service over the backend,
// with a clock the case can set and a shred store that can be made to
// fail.
type privacyEnv struct {
	PrivacyBackend
	customerEnv
	shred *flakyShred
}

// newPrivacyEnv returns the environment of a privacy contract case over b,
// acting as usr_dpo for a stated purpose.
func newPrivacyEnv(t *testing.T, b PrivacyBackend) *privacyEnv {
	t.Helper()
	shred := &flakyShred{ShredKeyStore: b.Shred}
	ce := newCustomerEnv(t, b.Repo, customers.Options{Shred: shred, ConsentPurposes: purposes()})
	ce.ctx = custodian.WithPurpose(custodian.WithActor(context.Background(), "usr_dpo"), "contract test")
	return &privacyEnv{PrivacyBackend: b, customerEnv: ce, shred: shred}
}

// flakyShred is the backend's real shred store with one injected
// failure: while failDestroy is set, destroying a key fails, as when the
// key store is unreachable just after an erasure committed.
type flakyShred struct {
	custodian.ShredKeyStore
	failDestroy atomic.Bool
}

func (f *flakyShred) DestroyShredKey(ctx context.Context, id string) error {
	if f.failDestroy.Load() {
		return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "The key store is unavailable.", Err: errors.New("injected failure")}
	}
	return f.ShredKeyStore.DestroyShredKey(ctx, id)
}

// purposes returns the consent purposes the contract configures.
func purposes() []string { return []string{"marketing_email", "phone_calls", "profiling"} }

// RunPrivacy runs the data-protection contract (consent, legal holds,
// retention, erasure with the backup-copy proof, exports and the record of
// processing) against backends made by open.
func RunPrivacy(t *testing.T, open func(t *testing.T) PrivacyBackend) {
	runTests(t, func(t *testing.T) *privacyEnv { return newPrivacyEnv(t, open(t)) }, []contractTest[*privacyEnv]{
		{"ConsentHistoryAndFilter", testConsentHistoryAndFilter},
		{"ConsentHistoryIsAppendOnly", testConsentAppendOnly},
		{"EraseDefeatsBackupCopy", testEraseDefeatsBackupCopy},
		{"EraseTwiceAndErasedExport", testEraseTwiceAndErasedExport},
		{"EraseFinishesKeyDestructionLater", testEraseFinishesKeyDestruction},
		{"EraseRacesUpdate", testEraseRacesUpdate},
		{"LegalHold", testLegalHold},
		{"RetentionRun", testRetentionRun},
		{"RetentionInterruptedAndResumed", testRetentionInterrupted},
		{"ReadsAreRecorded", testReadsAreRecorded},
		{"CustomerNamesForDisplay", testCustomerNames},
		{"RetentionRemovesOldReads", testRetentionRemovesOldReads},
		{"ExportIsComplete", testExportIsComplete},
		{"ConcurrentShredKeyPutsAreEachAllOrNothing", testConcurrentShredKeyPuts},
		{"ActivitiesSealedAndListed", testActivitiesSealedAndListed},
		{"Timeline", testTimeline},
		{"ActivitiesGoWithTheCustomer", testActivitiesGoWithTheCustomer},
		{"Tasks", testTasks},
	})
}

// testConcurrentShredKeyPuts stores secrets from many callers at once, as
// concurrent creates do: every call that can be stored is, with its own
// secrets, and a call that clashes with a stored id fails alone and stores
// none of its secrets, while the calls written beside it succeed.
func testConcurrentShredKeyPuts(t *testing.T, e *privacyEnv) {
	taken := custodian.NewCustomerID()
	if err := e.Shred.PutShredKeys(e.ctx, map[string][]byte{taken: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	ids := make([][2]string, workers*each)
	errs := concurrently(workers, each, func(w, i int) error {
		k := w*each + i
		ids[k] = [2]string{custodian.NewCustomerID(), custodian.NewCustomerID()}
		secrets := map[string][]byte{ids[k][0]: []byte(ids[k][0]), ids[k][1]: []byte(ids[k][1])}
		if k%10 == 3 {
			secrets[taken] = []byte("clash") // this call must fail, whole
		}
		return e.Shred.PutShredKeys(e.ctx, secrets)
	})
	var all []string
	for k, err := range errs {
		all = append(all, ids[k][0], ids[k][1])
		if clash := k%10 == 3; (err != nil) != clash {
			t.Fatalf("call %d (clash %v): %v", k, clash, err)
		}
	}
	got, err := e.Shred.ShredKeys(e.ctx, append(all, taken))
	if err != nil {
		t.Fatal(err)
	}
	for k := range ids {
		for _, id := range ids[k] {
			sec, ok := got[id]
			if clash := k%10 == 3; clash == ok || ok && string(sec) != id {
				t.Fatalf("call %d: secret of %s stored %v (%q)", k, id, ok, sec)
			}
		}
	}
	if string(got[taken]) != "first" {
		t.Fatalf("the stored secret was replaced: %q", got[taken])
	}
}

// create creates a customer named name, with an email address made of the
// name, and tags.
func (e *privacyEnv) create(t *testing.T, name string, tags ...string) *custodian.Customer {
	t.Helper()
	return e.customerEnv.create(t, custodian.CustomerFields{Name: name, Email: strings.ReplaceAll(strings.ToLower(name), " ", ".") + "@example.com", Tags: tags})
}

func (e *privacyEnv) consent(t *testing.T, id, purpose, state string) *custodian.ConsentEvent {
	t.Helper()
	ev, err := e.svc.RecordConsent(e.ctx, id, custodian.ConsentInput{Purpose: purpose, State: state, Source: "web form " + id[:8], Evidence: "I agree to emails.\nSigned by the customer."})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e *privacyEnv) list(t *testing.T, q custodian.CustomerQuery) []string {
	t.Helper()
	page, err := e.svc.ListCustomers(e.ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range page.Items {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func (e *privacyEnv) events(t *testing.T, subject, action string) []custodian.AuditEvent {
	t.Helper()
	evs, err := e.Repo.AuditEvents(e.ctx, custodian.AuditQuery{Subject: subject, Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// wantExportActions checks that x holds audit events of the actions in
// want, in order.
func wantExportActions(t *testing.T, x *custodian.Export, want ...string) {
	t.Helper()
	var actions []string
	for _, ev := range x.AuditEvents {
		actions = append(actions, ev.Action)
	}
	if !slices.Equal(actions, want) {
		t.Fatalf("export events %v, want %v", actions, want)
	}
}

// tombstoneOf returns the tombstone err carries as a
// *custodian.GoneError, or nil.
func tombstoneOf(err error) *custodian.Tombstone {
	if gone, ok := errors.AsType[*custodian.GoneError](err); ok {
		return gone.Tombstone
	}
	return nil
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func testConsentHistoryAndFilter(t *testing.T, e *privacyEnv) {
	a, b, c := e.create(t, "Ann Given"), e.create(t, "Ben Withdrawn"), e.create(t, "Cat Never")
	e.consent(t, a.ID, "marketing_email", custodian.ConsentGiven)
	e.consent(t, b.ID, "marketing_email", custodian.ConsentGiven)
	e.consent(t, b.ID, "phone_calls", custodian.ConsentGiven)
	e.consent(t, b.ID, "marketing_email", custodian.ConsentWithdrawn)

	// The mailing list holds only the customer whose current state is given.
	if got := e.list(t, custodian.CustomerQuery{Consent: "marketing_email"}); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("consent=marketing_email lists %v, want only %s", got, a.ID)
	}
	if got := e.list(t, custodian.CustomerQuery{Consent: "phone_calls"}); !slices.Equal(got, []string{b.ID}) {
		t.Fatalf("consent=phone_calls lists %v", got)
	}
	if got := e.list(t, custodian.CustomerQuery{Consent: "profiling"}); len(got) != 0 {
		t.Fatalf("consent=profiling lists %v", got)
	}
	// With search and sort by name too.
	if got := e.list(t, custodian.CustomerQuery{Consent: "marketing_email", Search: "ann", Sort: custodian.SortName}); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("search + consent lists %v", got)
	}
	if got := e.list(t, custodian.CustomerQuery{Consent: "marketing_email", Search: "ben"}); len(got) != 0 {
		t.Fatalf("a withdrawn customer is found by search + consent: %v", got)
	}

	cs, err := e.svc.Consents(e.ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.History) != 3 || cs.History[0].Purpose != "marketing_email" || cs.History[2].State != custodian.ConsentWithdrawn ||
		cs.History[0].Source != "web form "+b.ID[:8] || !strings.HasPrefix(cs.History[0].Evidence, "I agree") || cs.History[0].Actor != "usr_dpo" {
		t.Fatalf("history = %+v", cs.History)
	}
	if cs.Current["marketing_email"].State != custodian.ConsentWithdrawn || cs.Current["phone_calls"].State != custodian.ConsentGiven || len(cs.Current) != 2 {
		t.Fatalf("current = %+v", cs.Current)
	}
	if cs, err := e.svc.Consents(e.ctx, c.ID); err != nil || len(cs.History) != 0 || len(cs.Current) != 0 {
		t.Fatalf("no consent: %+v %v", cs, err)
	}

	// Each change is audited, without the texts.
	evs := e.events(t, b.ID, custodian.ActionConsentChange)
	if len(evs) != 3 {
		t.Fatalf("%d consent events audited, want 3", len(evs))
	}
	for _, ev := range evs {
		if strings.Contains(string(ev.Data), "web form") || strings.Contains(string(ev.Data), "agree") || !strings.Contains(string(ev.Data), `"consent":"`) {
			t.Fatalf("audit data %s", ev.Data)
		}
	}

	// Bad input: every field named, allowed purposes listed, nothing stored.
	_, err = e.svc.RecordConsent(e.ctx, c.ID, custodian.ConsentInput{Purpose: "telepathy", State: "maybe", Source: "x\x00"})
	wantCode(t, err, custodian.EINVALID)
	fe := custodian.ErrorFields(err)
	if len(fe) != 3 || fe[0].Field != "purpose" || !strings.Contains(fe[0].Message, "marketing_email, phone_calls, profiling") || fe[1].Field != "state" || fe[2].Field != "source" {
		t.Fatalf("field errors %+v", fe)
	}
	_, err = e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{Consent: "telepathy"})
	wantCode(t, err, custodian.EINVALID)
	if fe := custodian.ErrorFields(err); len(fe) != 1 || fe[0].Field != "consent" || !strings.Contains(fe[0].Message, "profiling") {
		t.Fatalf("list field errors %+v", fe)
	}
	_, err = e.svc.RecordConsent(e.ctx, custodian.NewCustomerID(), custodian.ConsentInput{Purpose: "profiling", State: custodian.ConsentGiven})
	wantCode(t, err, custodian.ENOTFOUND)
	if cs, _ := e.svc.Consents(e.ctx, c.ID); len(cs.History) != 0 {
		t.Fatalf("refused consent stored: %+v", cs.History)
	}
	if got := len(e.events(t, c.ID, custodian.ActionConsentChange)); got != 0 {
		t.Fatalf("refused consent audited %d times", got)
	}
}

func testConsentAppendOnly(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Dora Append")
	e.consent(t, c.ID, "profiling", custodian.ConsentGiven)
	for _, q := range []string{`UPDATE consent_events SET given = 0`, `DELETE FROM consent_events`} {
		if _, err := e.DB.ExecContext(context.Background(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: %v, want the append-only guard", q, err)
		}
	}
	if cs, _ := e.svc.Consents(e.ctx, c.ID); len(cs.History) != 1 || cs.Current["profiling"].State != custodian.ConsentGiven {
		t.Fatalf("history changed: %+v", cs)
	}
}

// fresh returns a service over repo with the same keyring and shred store
// as the server, and nothing cached: what the server's keys can decrypt.
func (e *privacyEnv) fresh(t *testing.T, repo custodian.CustomerRepository) *customers.Service {
	t.Helper()
	return newService(repo, sealerOf(t, e.keys), customers.Options{Shred: e.Shred, ConsentPurposes: purposes()})
}

func testEraseDefeatsBackupCopy(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Erin Erased", "vip")
	keep := e.create(t, "Kim Kept", "vip")
	e.consent(t, c.ID, "marketing_email", custodian.ConsentGiven)

	// A backup taken before the erasure, which the server's keys read.
	backup := e.Snapshot(t)
	before, err := e.fresh(t, backup).Customer(e.ctx, c.ID)
	if err != nil || before.Name != "Erin Erased" {
		t.Fatalf("the backup copy does not read before erasure: %+v %v", before, err)
	}

	tomb, again, err := e.svc.EraseCustomer(e.ctx, c.ID, "Customer asked, ticket 4711")
	if err != nil || again {
		t.Fatalf("erase: %v (again %v)", err, again)
	}
	if tomb.ID != c.ID || tomb.Reason != "Customer asked, ticket 4711" || tomb.Mechanism != custodian.ErasedOnRequest || tomb.ErasedBy != "usr_dpo" ||
		!tomb.KeyDestroyed || !tomb.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("tombstone %+v", tomb)
	}

	// The proof: the copy taken before, read with every key the server
	// holds after the erasure, no longer decrypts.
	srv := e.fresh(t, backup)
	_, err = srv.Customer(e.ctx, c.ID)
	if !errors.Is(err, crypto.ErrShredded) {
		t.Fatalf("the backup copy still opens after erasure: %v", err)
	}
	rec, err := backup.CustomerRecord(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := e.Shred.ShredKeys(e.ctx, []string{c.ID, keep.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := secrets[c.ID]; ok || secrets[keep.ID] == nil {
		t.Fatalf("shred keys after erasure: erased present %v, kept present %v", secrets[c.ID] != nil, secrets[keep.ID] != nil)
	}
	if _, err := e.sealer.OpenCustomerKey(c.ID, rec.KeyID, rec.DataKey, func() ([]byte, error) { return secrets[c.ID], nil }); !errors.Is(err, crypto.ErrShredded) {
		t.Fatalf("the copy's data key opens: %v", err)
	}
	// The consent evidence in the copy went with it; the other customer
	// in the same copy still reads.
	if _, err := srv.Consents(e.ctx, c.ID); err == nil {
		t.Fatal("the copy's consent evidence still opens")
	}
	if k, err := srv.Customer(e.ctx, keep.ID); err != nil || k.Name != "Kim Kept" {
		t.Fatalf("another customer in the copy: %+v %v", k, err)
	}

	// Live: 410 with the tombstone, out of lists, searches and tag and
	// consent filters; no index entries or tags remain.
	_, err = e.svc.Customer(e.ctx, c.ID)
	wantCode(t, err, custodian.EGONE)
	if got := tombstoneOf(err); got == nil || got.ID != c.ID || got.Reason != tomb.Reason {
		t.Fatalf("gone without its tombstone: %+v", got)
	}
	for _, q := range []custodian.CustomerQuery{{}, {Search: "erin"}, {Search: "erin.erased@example.com"}, {Tag: "vip"}, {Consent: "marketing_email"}, {Sort: custodian.SortName}} {
		if got := e.list(t, q); slices.Contains(got, c.ID) {
			t.Fatalf("erased customer listed for %+v", q)
		}
	}
	for _, table := range []string{"customer_tokens", "customer_tags", "customer_consents"} {
		var n int
		if err := e.DB.QueryRowContext(context.Background(), e.Q(`SELECT COUNT(*) FROM `+table+` t JOIN customers c ON c.seq = t.customer_seq WHERE c.id = ?`), c.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s: %d rows left (%v)", table, n, err)
		}
		var orphans int
		if err := e.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE customer_seq NOT IN (SELECT seq FROM customers)`).Scan(&orphans); err != nil || orphans != 0 {
			t.Fatalf("%s: %d orphaned rows (%v)", table, orphans, err)
		}
	}
	evs := e.events(t, c.ID, custodian.ActionCustomerErase)
	if len(evs) != 1 || evs[0].Actor != "usr_dpo" || !strings.Contains(string(evs[0].Data), `"reason":"Customer asked, ticket 4711"`) ||
		!strings.Contains(string(evs[0].Data), `"purpose":"contract test"`) || strings.Contains(string(evs[0].Data), "Erin") {
		t.Fatalf("erase events %+v", evs)
	}
}

func testEraseTwiceAndErasedExport(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Tom Twice")
	e.consent(t, c.ID, "phone_calls", custodian.ConsentGiven)
	_, _, err := e.svc.EraseCustomer(e.ctx, c.ID, "  ")
	wantCode(t, err, custodian.EINVALID)
	first, _, err := e.svc.EraseCustomer(e.ctx, c.ID, "request")
	if err != nil {
		t.Fatal(err)
	}
	second, again, err := e.svc.EraseCustomer(e.ctx, c.ID, "another reason")
	if err != nil || !again || second.Reason != "request" || !second.ErasedAt.Equal(first.ErasedAt) {
		t.Fatalf("erase twice: %+v again=%v %v", second, again, err)
	}
	if n := len(e.events(t, c.ID, custodian.ActionCustomerErase)); n != 1 {
		t.Fatalf("%d erase events, want 1", n)
	}
	_, _, err = e.svc.EraseCustomer(e.ctx, custodian.NewCustomerID(), "x")
	wantCode(t, err, custodian.ENOTFOUND)

	// Everything that would change an erased customer answers gone.
	name := "Back Again"
	_, err = e.svc.UpdateCustomer(e.ctx, c.ID, 0, custodian.CustomerPatch{Name: &name})
	wantCode(t, err, custodian.EGONE)
	wantCode(t, e.svc.DeleteCustomer(e.ctx, c.ID, 0), custodian.EGONE)
	_, err = e.svc.RecordConsent(e.ctx, c.ID, custodian.ConsentInput{Purpose: "profiling", State: custodian.ConsentGiven})
	wantCode(t, err, custodian.EGONE)
	_, err = e.svc.SetLegalHold(e.ctx, c.ID, true, "case 1")
	wantCode(t, err, custodian.EGONE)

	// The export of an erased customer: the tombstone and the history that
	// is not personal.
	x, err := e.svc.ExportCustomer(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if x.Customer != nil || x.Erased == nil || x.Erased.Reason != "request" || x.Format != custodian.ExportFormat {
		t.Fatalf("export %+v", x)
	}
	if len(x.Consents.History) != 1 || !x.Consents.History[0].Erased || x.Consents.History[0].Source != "" || x.Consents.History[0].Evidence != "" ||
		x.Consents.Current["phone_calls"].State != custodian.ConsentGiven {
		t.Fatalf("erased consents %+v", x.Consents)
	}
	wantExportActions(t, x, "customer.create", "consent.change", "customer.erase", "customer.export")
	b, _ := json.Marshal(x)
	if strings.Contains(string(b), "Tom") || strings.Contains(string(b), "tom.twice") {
		t.Fatalf("the erased export holds personal data: %s", b)
	}
}

func testEraseFinishesKeyDestruction(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Fay Flaky")
	e.shred.failDestroy.Store(true)
	tomb, _, err := e.svc.EraseCustomer(e.ctx, c.ID, "request")
	wantCode(t, err, custodian.EUNAVAILABLE)
	if tomb == nil || tomb.KeyDestroyed {
		t.Fatalf("tombstone after a failed key destruction: %+v", tomb)
	}
	// The erasure itself committed: the customer is gone, and says its key
	// is still pending.
	_, err = e.svc.Customer(e.ctx, c.ID)
	if wantCode(t, err, custodian.EGONE); tombstoneOf(err).KeyDestroyed {
		t.Fatal("the tombstone claims the key is destroyed")
	}
	if m, _ := e.Shred.ShredKeys(e.ctx, []string{c.ID}); m[c.ID] == nil {
		t.Fatal("the key is gone although destroying it failed")
	}
	e.shred.failDestroy.Store(false)
	// Erasing again finishes it.
	tomb, again, err := e.svc.EraseCustomer(e.ctx, c.ID, "retry")
	if err != nil || !again || !tomb.KeyDestroyed {
		t.Fatalf("erase again: %+v %v %v", tomb, again, err)
	}
	if m, _ := e.Shred.ShredKeys(e.ctx, []string{c.ID}); m[c.ID] != nil {
		t.Fatal("the key survived")
	}
	// So does the retention job's sweep, for erasures nobody retries.
	d := e.create(t, "Gus Sweep")
	e.shred.failDestroy.Store(true)
	if _, _, err := e.svc.EraseCustomer(e.ctx, d.ID, "request"); custodian.ErrorCode(err) != custodian.EUNAVAILABLE {
		t.Fatal(err)
	}
	e.shred.failDestroy.Store(false)
	res, err := e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: custodian.RetentionPolicy{Default: custodian.DefaultRetention}})
	if err != nil || res.KeysFinished != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if m, _ := e.Shred.ShredKeys(e.ctx, []string{d.ID}); m[d.ID] != nil {
		t.Fatal("the swept key survived")
	}
}

func testEraseRacesUpdate(t *testing.T, e *privacyEnv) {
	for i := range 8 {
		c := e.create(t, "Rita Race")
		var wg sync.WaitGroup
		var upErr, erErr error
		var up *custodian.Customer
		wg.Add(2)
		name := "Rita Renamed"
		go func() {
			defer wg.Done()
			up, upErr = e.svc.UpdateCustomer(e.ctx, c.ID, 0, custodian.CustomerPatch{Name: &name})
		}()
		go func() {
			defer wg.Done()
			_, _, erErr = e.svc.EraseCustomer(e.ctx, c.ID, "race")
		}()
		wg.Wait()
		if erErr != nil {
			t.Fatalf("round %d: erase lost to an update: %v", i, erErr)
		}
		// The update either happened before the erasure, or was told the
		// customer is gone; never anything in between.
		switch {
		case upErr == nil && up.Name == name:
		case custodian.ErrorCode(upErr) == custodian.EGONE:
		default:
			t.Fatalf("round %d: update %+v %v", i, up, upErr)
		}
		_, err := e.svc.Customer(e.ctx, c.ID)
		wantCode(t, err, custodian.EGONE)
		if evs := e.events(t, c.ID, custodian.ActionCustomerUpdate); (upErr == nil) != (len(evs) == 1) {
			t.Fatalf("round %d: update audited %d times, update error %v", i, len(evs), upErr)
		}
	}
}

func testLegalHold(t *testing.T, e *privacyEnv) {
	old := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	e.clock.set(old)
	c := e.create(t, "Hal Hold")
	e.clock.set(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))

	_, err := e.svc.SetLegalHold(e.ctx, c.ID, true, "")
	wantCode(t, err, custodian.EINVALID)
	hold, err := e.svc.SetLegalHold(e.ctx, c.ID, true, "Case 2026-14")
	if err != nil || hold.Reason != "Case 2026-14" || hold.By != "usr_dpo" {
		t.Fatalf("hold: %+v %v", hold, err)
	}
	got, err := e.svc.Customer(e.ctx, c.ID)
	if err != nil || got.LegalHold == nil || got.LegalHold.Reason != "Case 2026-14" || got.Version != c.Version+1 {
		t.Fatalf("customer under hold: %+v %v", got, err)
	}
	// A hold suspends erasure, deletion and retention.
	_, _, err = e.svc.EraseCustomer(e.ctx, c.ID, "request")
	wantCode(t, err, custodian.ECONFLICT)
	wantCode(t, e.svc.DeleteCustomer(e.ctx, c.ID, 0), custodian.ECONFLICT)
	res, err := e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: custodian.RetentionPolicy{Default: custodian.DefaultRetention}})
	if err != nil || len(res.Candidates) != 0 || res.Anonymized != 0 {
		t.Fatalf("retention touched a held customer: %+v %v", res, err)
	}
	if _, err := e.svc.Customer(e.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// Lifting it, with a reason, lets retention run.
	if hold, err := e.svc.SetLegalHold(e.ctx, c.ID, false, "Case closed"); err != nil || hold != nil {
		t.Fatalf("lift: %+v %v", hold, err)
	}
	res, err = e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: custodian.RetentionPolicy{Default: custodian.DefaultRetention}})
	if err != nil || res.Anonymized != 1 {
		t.Fatalf("retention after lifting: %+v %v", res, err)
	}
	var states []string
	for _, ev := range e.events(t, c.ID, custodian.ActionLegalHold) {
		var d custodian.AccessData
		json.Unmarshal(ev.Data, &d)
		states = append(states, d.State+":"+d.Reason)
	}
	if want := []string{"lifted:Case closed", "set:Case 2026-14"}; !slices.Equal(states, want) {
		t.Fatalf("hold events %v, want %v", states, want)
	}
}

func testRetentionRun(t *testing.T, e *privacyEnv) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	e.clock.set(now.AddDate(-8, 0, 0))
	oldLead := e.create(t, "Old Lead")
	oldActive := e.create(t, "Old Active")
	consented := e.create(t, "Old Consented")
	updated := e.create(t, "Old Updated")
	e.clock.set(now.AddDate(0, -2, 0))
	recentLead := e.create(t, "Recent Lead")
	e.clock.set(now.AddDate(0, 0, -10))
	e.consent(t, consented.ID, "marketing_email", custodian.ConsentGiven)
	name := "Old Updated Again"
	if _, err := e.svc.UpdateCustomer(e.ctx, updated.ID, 0, custodian.CustomerPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	active := custodian.StatusActive
	e.clock.set(now.AddDate(-8, 0, 0))
	if _, err := e.svc.UpdateCustomer(e.ctx, oldActive.ID, 0, custodian.CustomerPatch{Status: &active}); err != nil {
		t.Fatal(err)
	}
	e.clock.set(now)

	// Leads are kept 30 days, active customers forever, others 7 years.
	policy := custodian.RetentionPolicy{Default: custodian.DefaultRetention, ByStatus: map[custodian.Status]time.Duration{custodian.StatusLead: 30 * 24 * time.Hour, custodian.StatusActive: 0}}
	dry, err := e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: policy, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range dry.Candidates {
		ids = append(ids, c.ID)
	}
	if want := sorted(oldLead.ID, recentLead.ID); !slices.Equal(sorted(ids...), want) || dry.Anonymized != 0 {
		t.Fatalf("dry run candidates %v, want %v (%+v)", ids, want, dry)
	}
	if _, err := e.svc.Customer(e.ctx, oldLead.ID); err != nil {
		t.Fatalf("dry run changed something: %v", err)
	}
	res, err := e.svc.RunRetention(custodian.WithActor(e.ctx, customers.RetentionActor), customers.RetentionOptions{Policy: policy})
	if err != nil || res.Anonymized != 2 || res.Skipped != 0 {
		t.Fatalf("run: %+v %v", res, err)
	}
	for _, id := range []string{oldLead.ID, recentLead.ID} {
		_, err := e.svc.Customer(e.ctx, id)
		wantCode(t, err, custodian.EGONE)
		if tb := tombstoneOf(err); tb.Mechanism != custodian.ErasedRetention || tb.Reason != "retention" || tb.ErasedBy != customers.RetentionActor || !tb.KeyDestroyed {
			t.Fatalf("tombstone %+v", tb)
		}
	}
	for _, c := range []*custodian.Customer{oldActive, consented, updated} {
		if _, err := e.svc.Customer(e.ctx, c.ID); err != nil {
			t.Fatalf("%s was not due: %v", c.Name, err)
		}
	}
	// Nothing is left to do.
	if res, err := e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: policy}); err != nil || len(res.Candidates) != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}
}

func testRetentionInterrupted(t *testing.T, e *privacyEnv) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	e.clock.set(now.AddDate(-10, 0, 0))
	var all []string
	for range 12 {
		all = append(all, e.create(t, "Due Customer").ID)
	}
	e.clock.set(now)
	policy := custodian.RetentionPolicy{Default: custodian.DefaultRetention}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	res, err := e.svc.RunRetention(ctx, customers.RetentionOptions{Policy: policy, OnProgress: func(p customers.RetentionProgress) {
		if p.Done == 5 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || res.Anonymized != 5 {
		t.Fatalf("interrupted run: %+v %v", res, err)
	}
	// Every customer is wholly anonymized or untouched.
	secrets, err := e.Shred.ShredKeys(e.ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	erased := 0
	for _, id := range all {
		_, err := e.svc.Customer(e.ctx, id)
		switch custodian.ErrorCode(err) {
		case custodian.EGONE:
			erased++
			if !tombstoneOf(err).KeyDestroyed || secrets[id] != nil {
				t.Fatalf("%s erased but its key remains", id)
			}
			if n := len(e.events(t, id, custodian.ActionCustomerErase)); n != 1 {
				t.Fatalf("%s: %d erase events", id, n)
			}
		case "":
			if secrets[id] == nil {
				t.Fatalf("%s untouched but its key is gone", id)
			}
		default:
			t.Fatalf("%s: %v", id, err)
		}
	}
	if erased != 5 {
		t.Fatalf("%d erased, want 5", erased)
	}
	// A new run finishes.
	res, err = e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: policy})
	if err != nil || res.Anonymized != 7 {
		t.Fatalf("resumed run: %+v %v", res, err)
	}
}

// testCustomerNames names a page's customers in one call: present ones by
// name, erased and deleted ones as such, ids of no customer left out;
// the names shown are one read record, and nothing reaches the trail.
func testCustomerNames(t *testing.T, e *privacyEnv) {
	ann, bea, gone, del := e.create(t, "Ann Named"), e.create(t, "Bea Named"), e.create(t, "Erased Person"), e.create(t, "Deleted Person")
	if _, _, err := e.svc.EraseCustomer(e.ctx, gone.ID, "asked"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteCustomer(e.ctx, del.ID, 0); err != nil {
		t.Fatal(err)
	}
	before, err := e.Repo.AuditEvents(e.ctx, custodian.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.CustomerNames(e.ctx, []string{ann.ID, bea.ID, ann.ID, gone.ID, del.ID, "usr_someone", "cus_short"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]custodian.CustomerName{
		ann.ID: {ID: ann.ID, Name: "Ann Named"}, bea.ID: {ID: bea.ID, Name: "Bea Named"},
		gone.ID: {ID: gone.ID, Erased: true}, del.ID: {ID: del.ID, Deleted: true},
	}
	if !maps.Equal(got, want) {
		t.Fatalf("names = %+v, want %+v", got, want)
	}
	reads, err := e.Repo.Reads(e.ctx, custodian.ReadQuery{Limit: 2})
	if err != nil || len(reads) == 0 || reads[0].Actor != "usr_dpo" || !slices.Equal(sorted(reads[0].Customers...), sorted(ann.ID, bea.ID)) {
		t.Fatalf("names recorded as %+v (%v), want one read of the two named", reads, err)
	}
	after, err := e.Repo.AuditEvents(e.ctx, custodian.AuditQuery{Limit: 1})
	if err != nil || after[0].Seq != before[0].Seq {
		t.Fatalf("naming wrote to the trail: %+v %v", after, err)
	}
	if ts, err := e.Repo.Tombstones(e.ctx, []string{ann.ID, gone.ID, del.ID}); err != nil || len(ts) != 1 || ts[0].ID != gone.ID {
		t.Fatalf("tombstones = %+v %v", ts, err)
	}
	if none, err := e.svc.CustomerNames(e.ctx, []string{"usr_x"}); err != nil || len(none) != 0 {
		t.Fatalf("no customer ids: %+v %v", none, err)
	}
}

func testReadsAreRecorded(t *testing.T, e *privacyEnv) {
	var ids []string
	for _, n := range []string{"Rea One", "Rea Two", "Rea Three"} {
		ids = append(ids, e.create(t, n).ID)
	}
	if _, err := e.svc.Customer(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	reads, err := e.Repo.Reads(e.ctx, custodian.ReadQuery{Customer: ids[0]})
	if err != nil || len(reads) != 1 || reads[0].Actor != "usr_dpo" || reads[0].Purpose != "contract test" {
		t.Fatalf("reads %+v %v", reads, err)
	}
	// A list is one record naming every customer returned.
	page, err := e.svc.ListCustomers(custodian.WithPurpose(e.ctx, "mailing"), custodian.CustomerQuery{Search: "rea"})
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("list: %v %v", page, err)
	}
	reads, err = e.Repo.Reads(e.ctx, custodian.ReadQuery{Limit: 1})
	if err != nil || len(reads) != 1 || reads[0].Purpose != "mailing" || !slices.Equal(sorted(reads[0].Customers...), sorted(ids...)) {
		t.Fatalf("list recorded as %+v (%v), want one record of %v", reads, err, ids)
	}
	// Nothing of it is written to the trail.
	if evs := e.events(t, ids[0], custodian.ActionCustomerRead); len(evs) != 0 {
		t.Fatalf("reads in the trail: %+v", evs)
	}
	// Who has seen this person's data.
	log, err := e.svc.AccessLog(e.ctx, ids[0])
	if err != nil || len(log) != 2 || log[0].Action != custodian.ActionCustomerRead || string(log[1].Data) != `{"purpose":"mailing"}` {
		t.Fatalf("access log %+v %v", log, err)
	}
}

// testRetentionRemovesOldReads runs retention with a retention for reads:
// the sealed read records older than it go, the customers' own retention
// aside; a dry run and a retention of 0 keep them.
func testRetentionRemovesOldReads(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Ola Old")
	if _, err := e.svc.Customer(e.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	sealer, ok := e.Repo.(interface{ SealReads(context.Context) error })
	if !ok {
		t.Fatal("the repository cannot seal its read log")
	}
	if err := sealer.SealReads(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.set(time.Now().AddDate(0, 0, 40))
	keep := customers.RetentionOptions{ReadRetention: 0}
	for _, o := range []customers.RetentionOptions{keep, {ReadRetention: 30 * 24 * time.Hour, DryRun: true}, {ReadRetention: 60 * 24 * time.Hour}} {
		if res, err := e.svc.RunRetention(e.ctx, o); err != nil || res.ReadsPurged != 0 {
			t.Fatalf("%+v: %+v %v", o, res, err)
		}
	}
	res, err := e.svc.RunRetention(e.ctx, customers.RetentionOptions{ReadRetention: 30 * 24 * time.Hour})
	if err != nil || res.ReadsPurged != 1 {
		t.Fatalf("retention of reads: %+v %v", res, err)
	}
	if reads, err := e.Repo.Reads(e.ctx, custodian.ReadQuery{Customer: c.ID}); err != nil || len(reads) != 0 {
		t.Fatalf("reads left: %+v %v", reads, err)
	}
	if _, err := e.svc.Customer(e.ctx, c.ID); err != nil { // the customer stays
		t.Fatal(err)
	}
}

func testExportIsComplete(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Eva Export", "vip")
	e.consent(t, c.ID, "marketing_email", custodian.ConsentGiven)
	if _, err := e.svc.SetLegalHold(e.ctx, c.ID, true, "Case 7"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Customer(e.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	x, err := e.svc.ExportCustomer(custodian.WithPurpose(e.ctx, "subject access request"), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if x.Format != "custodian-export/v1" || x.Customer == nil || x.Customer.Name != "Eva Export" || x.Customer.Email != "eva.export@example.com" ||
		x.Erased != nil || x.LegalHold == nil || x.LegalHold.Reason != "Case 7" || x.ExportedBy != "usr_dpo" {
		t.Fatalf("export %+v", x)
	}
	if len(x.Consents.History) != 1 || x.Consents.History[0].Evidence == "" || x.Consents.Current["marketing_email"].State != custodian.ConsentGiven {
		t.Fatalf("export consents %+v", x.Consents)
	}
	wantExportActions(t, x, "customer.create", "consent.change", "customer.legal_hold", "customer.read", "customer.export")
	if last := x.AuditEvents[len(x.AuditEvents)-1]; string(last.Data) != `{"purpose":"subject access request"}` {
		t.Fatalf("export event data %s", last.Data)
	}
	if _, err := json.Marshal(x); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ExportCustomer(e.ctx, custodian.NewCustomerID())
	wantCode(t, err, custodian.ENOTFOUND)
}
