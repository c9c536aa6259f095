package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/sqlstore"
)

// ReadLogBackend is a fresh, migrated database for the read log contract.
type ReadLogBackend struct {
	// Store is the store under test, opened with the options the case
	// asked for.
	Store *sqlstore.Store
	// Open opens another store over the same database with o, as a
	// restarted server would; it is closed when the test ends.
	Open func(t *testing.T, o sqlstore.Options) *sqlstore.Store
}

// RunReadLog runs the read log contract against backends made by open,
// whose store must be opened with o (its audit trail sealed by o's
// chain).
func RunReadLog(t *testing.T, open func(t *testing.T, o sqlstore.Options) ReadLogBackend) {
	tests := []contractTest[*readLogEnv]{
		{"EveryReadIsRecordedAndVerifies", testReadsRecordedAndVerified},
		{"ReadsAreDurableWithinTheFlushInterval", testReadsDurableWithinWindow},
		{"CloseWritesAndSealsPendingReads", testCloseFlushesReads},
		{"PurgeRemovesOldReadsAndVerifies", testPurgeReads},
		{"ReadsFilterAndPageBothWays", testReadsFilterAndPage},
		{"ReadsPageUpPastManyBatches", testReadsPageUpPastManyBatches},
	}
	for _, tc := range readTamperings() {
		tests = append(tests, contractTest[*readLogEnv]{"VerifyCatches" + tc.name, testReadTampering(tc)})
	}
	runTests(t, func(t *testing.T) *readLogEnv { return newReadLogEnv(t, open) }, tests)
}

// readLogEnv is one read log contract case: the backend, and contexts of
// two readers with their origins and purposes.
type readLogEnv struct {
	ReadLogBackend
	open     func(t *testing.T, o sqlstore.Options) ReadLogBackend
	ann, bob context.Context
}

// quickReads are read log options for cases that wait for a write.
var quickReads = sqlstore.ReadLogOptions{FlushInterval: 10 * time.Millisecond, SealInterval: time.Hour}

func newReadLogEnv(t *testing.T, open func(t *testing.T, o sqlstore.Options) ReadLogBackend) *readLogEnv {
	reader := func(actor, addr, req, purpose string) context.Context {
		ctx := custodian.WithOrigin(custodian.WithActor(context.Background(), actor), custodian.Origin{ClientAddr: addr, RequestID: req})
		return custodian.WithPurpose(ctx, purpose)
	}
	return &readLogEnv{
		ReadLogBackend: open(t, sqlstore.Options{AuditChain: &hashchain.Chain{}, ReadLog: quickReads}),
		open:           open,
		ann:            reader("usr_ann", "203.0.113.7", "0123456789abcdef01234567", "support call 12"),
		bob:            reader("usr_bob", "2001:db8::5", "req-free-form", ""),
	}
}

// record records a read of ids as ctx's caller.
func record(t *testing.T, s *sqlstore.Store, ctx context.Context, ids ...string) {
	t.Helper()
	if err := s.RecordRead(ctx, ids...); err != nil {
		t.Fatal(err)
	}
}

// verifyReads verifies s's chain and its read log against the seals the
// chain holds, failing on a broken chain.
func verifyReads(t *testing.T, s *sqlstore.Store) sqlstore.ReadsVerification {
	t.Helper()
	ctx := context.Background()
	var rs sqlstore.ReadSeals
	var addErr error
	events := func(yield func(hashchain.Event, error) bool) {
		for e, err := range s.AuditChain(ctx, 0) {
			if err == nil && addErr == nil {
				addErr = rs.Add(e)
			}
			if !yield(e, err) {
				return
			}
		}
	}
	brk, err := (&hashchain.Chain{}).Verify(events)
	if err != nil || addErr != nil {
		t.Fatal(err, addErr)
	}
	if brk != nil {
		t.Fatalf("chain broken: %v", brk)
	}
	v, err := s.VerifyReads(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// testReadsFilterAndPage lists reads by reader, customer and time, and
// pages through them down and back up; the filters combine, and reads
// recorded meanwhile do not move the pages.
func testReadsFilterAndPage(t *testing.T, e *readLogEnv) {
	s := e.Store
	a, b := custodian.NewCustomerID(), custodian.NewCustomerID()
	var marks []time.Time
	step := func() {
		time.Sleep(3 * time.Millisecond)
		marks = append(marks, time.Now())
		time.Sleep(3 * time.Millisecond)
	}
	record(t, s, e.ann, a) // 1
	step()
	record(t, s, e.bob, a, b) // 2: a list page
	step()
	record(t, s, e.ann, b)                                    // 3
	if err := s.SealReads(context.Background()); err != nil { // later records in another batch
		t.Fatal(err)
	}
	record(t, s, e.bob, b) // 4
	list := func(q custodian.ReadQuery) []int64 {
		t.Helper()
		got, err := s.Reads(e.ann, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range got {
			out = append(out, r.Seq)
		}
		return out
	}
	all := list(custodian.ReadQuery{})
	if len(all) != 4 {
		t.Fatalf("reads = %v", all)
	}
	n := func(i int64) int64 { return all[3] + i - 1 } // the i-th read's seq
	for _, tc := range []struct {
		name string
		q    custodian.ReadQuery
		want []int64
	}{
		{"actor", custodian.ReadQuery{Actor: "usr_ann"}, []int64{n(3), n(1)}},
		{"unknown actor", custodian.ReadQuery{Actor: "usr_nobody"}, nil},
		{"customer", custodian.ReadQuery{Customer: a}, []int64{n(2), n(1)}},
		{"customer and actor", custodian.ReadQuery{Customer: b, Actor: "usr_bob"}, []int64{n(4), n(2)}},
		{"since", custodian.ReadQuery{Since: marks[1]}, []int64{n(4), n(3)}},
		{"until", custodian.ReadQuery{Until: marks[0]}, []int64{n(1)}},
		{"between", custodian.ReadQuery{Since: marks[0], Until: marks[1]}, []int64{n(2)}},
		{"since and customer", custodian.ReadQuery{Since: marks[0], Customer: a}, []int64{n(2)}},
		{"before", custodian.ReadQuery{BeforeSeq: n(4), Limit: 2}, []int64{n(3), n(2)}},
		{"before by customer", custodian.ReadQuery{BeforeSeq: n(4), Customer: b, Limit: 1}, []int64{n(3)}},
		{"after", custodian.ReadQuery{AfterSeq: n(1), Limit: 2}, []int64{n(3), n(2)}},
		{"after, all", custodian.ReadQuery{AfterSeq: n(1)}, []int64{n(4), n(3), n(2)}},
		{"after by actor", custodian.ReadQuery{AfterSeq: n(1), Actor: "usr_bob", Limit: 1}, []int64{n(2)}},
		{"after by customer", custodian.ReadQuery{AfterSeq: n(2), Customer: b}, []int64{n(4), n(3)}},
	} {
		if got := list(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Reads(%+v) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
	record(t, s, e.ann, a) // a newer read leaves the pages as they were
	if got := list(custodian.ReadQuery{BeforeSeq: n(3), Limit: 2}); !slices.Equal(got, []int64{n(2), n(1)}) {
		t.Errorf("second page after a new read = %v", got)
	}
	if got := list(custodian.ReadQuery{AfterSeq: n(2), Limit: 2}); !slices.Equal(got, []int64{n(4), n(3)}) {
		t.Errorf("back to the first page after a new read = %v", got)
	}
}

// testReadsPageUpPastManyBatches pages up from a read with more than a
// query's worth of batches (each Reads writes the queued reads as one)
// before it: the walk passes them and returns the later reads, whether or
// not a customer narrows it.
func testReadsPageUpPastManyBatches(t *testing.T, e *readLogEnv) {
	s := e.Store
	a := custodian.NewCustomerID()
	const n = 80
	var seqs []int64
	for range n {
		record(t, s, e.ann, a)
		got, err := s.Reads(e.ann, custodian.ReadQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, got[0].Seq)
	}
	ctx, cancel := context.WithTimeout(e.ann, 20*time.Second)
	defer cancel()
	for _, q := range []custodian.ReadQuery{
		{AfterSeq: seqs[n-3]},
		{AfterSeq: seqs[n-3], Customer: a},
	} {
		got, err := s.Reads(ctx, q)
		if err != nil {
			t.Fatalf("Reads(%+v): %v", q, err)
		}
		var out []int64
		for _, r := range got {
			out = append(out, r.Seq)
		}
		if want := []int64{seqs[n-1], seqs[n-2]}; !slices.Equal(out, want) {
			t.Errorf("Reads(%+v) = %v, want %v", q, out, want)
		}
	}
}

func seal(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	if err := s.SealReads(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// testReadsRecordedAndVerified records reads of one customer and of a
// page, by two readers: each is one record with who, when, why and from
// where, found by every customer it names; sealed, every record verifies,
// with one trail event per seal; records after the seal are pending.
func testReadsRecordedAndVerified(t *testing.T, e *readLogEnv) {
	s := e.Store
	a, b, c := custodian.NewCustomerID(), custodian.NewCustomerID(), "cus_legacy-7"
	before := time.Now().Add(-time.Millisecond)
	record(t, s, e.ann, a)
	record(t, s, e.bob, a, b, c) // a list page: one record
	reads, err := s.Reads(e.ann, custodian.ReadQuery{Customer: a})
	if err != nil {
		t.Fatal(err)
	}
	if len(reads) != 2 {
		t.Fatalf("reads of a: %+v", reads)
	}
	page, one := reads[0], reads[1] // newest first
	if one.Actor != "usr_ann" || one.ClientAddr != "203.0.113.7" || one.RequestID != "0123456789abcdef01234567" || one.Purpose != "support call 12" ||
		!slices.Equal(one.Customers, []string{a}) || one.Time.Before(before) || one.Time.After(time.Now()) {
		t.Fatalf("single read recorded as %+v", one)
	}
	if page.Actor != "usr_bob" || page.ClientAddr != "2001:db8::5" || page.RequestID != "req-free-form" || page.Purpose != "" ||
		!slices.Equal(page.Customers, []string{a, b, c}) || page.Seq != one.Seq+1 {
		t.Fatalf("page read recorded as %+v", page)
	}
	for _, id := range []string{b, c} {
		got, err := s.Reads(e.ann, custodian.ReadQuery{Customer: id})
		if err != nil || len(got) != 1 || got[0].Seq != page.Seq {
			t.Fatalf("reads of %s: %+v %v", id, got, err)
		}
	}
	if got, err := s.Reads(e.ann, custodian.ReadQuery{Customer: custodian.NewCustomerID()}); err != nil || len(got) != 0 {
		t.Fatalf("reads of a customer never read: %+v %v", got, err)
	}
	// Concurrent readers: every read recorded once.
	const workers, each = 6, 20
	ids := make([]string, workers*each)
	for i := range ids {
		ids[i] = custodian.NewCustomerID()
	}
	for i, err := range concurrently(workers, each, func(w, i int) error { return s.RecordRead(e.bob, ids[w*each+i]) }) {
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	all, err := s.Reads(e.ann, custodian.ReadQuery{})
	if err != nil || len(all) != 2+len(ids) {
		t.Fatalf("%d reads listed, want %d: %v", len(all), 2+len(ids), err)
	}
	for i := range all[1:] {
		if all[i].Seq != all[i+1].Seq+1 {
			t.Fatalf("sequence numbers %d then %d", all[i].Seq, all[i+1].Seq)
		}
	}
	if got, err := s.Reads(e.ann, custodian.ReadQuery{BeforeSeq: all[0].Seq, Limit: 5}); err != nil || len(got) != 5 || got[0].Seq != all[1].Seq {
		t.Fatalf("a page of reads: %+v %v", got, err)
	}

	seal(t, s)
	record(t, s, e.ann, b)
	seals, err := s.AuditEvents(e.ann, custodian.AuditQuery{Action: custodian.ActionReadsSeal})
	if err != nil || len(seals) != 1 || seals[0].Actor != custodian.ActorReadLog {
		t.Fatalf("seal events %+v %v", seals, err)
	}
	if _, err := s.Reads(e.ann, custodian.ReadQuery{}); err != nil { // writes the last read
		t.Fatal(err)
	}
	v := verifyReads(t, s)
	if v.Break != "" || v.Verified != int64(len(all)) || v.Pending != 1 || v.Seals != 1 {
		t.Fatalf("verification %+v, want %d verified, 1 pending", v, len(all))
	}
	seal(t, s)
	if v := verifyReads(t, s); v.Break != "" || v.Verified != int64(len(all))+1 || v.Pending != 0 || v.Seals != 2 {
		t.Fatalf("after the second seal: %+v", v)
	}
}

// testReadsDurableWithinWindow records reads and, without closing the
// store (as if the process died), opens another store over the database
// after the flush interval: the reads are there.
func testReadsDurableWithinWindow(t *testing.T, e *readLogEnv) {
	id := custodian.NewCustomerID()
	record(t, e.Store, e.ann, id)
	time.Sleep(10 * quickReads.FlushInterval)
	other := e.Open(t, sqlstore.Options{AuditChain: &hashchain.Chain{}, ReadLog: quickReads})
	reads, err := other.Reads(e.bob, custodian.ReadQuery{Customer: id})
	if err != nil || len(reads) != 1 || reads[0].Actor != "usr_ann" {
		t.Fatalf("after the flush interval another process sees %+v (%v)", reads, err)
	}
}

// testCloseFlushesReads records reads in a store that would write them only
// after an hour and closes it: the reads are written and sealed, and a
// store opened afterwards lists and verifies them.
func testCloseFlushesReads(t *testing.T, e *readLogEnv) {
	slow := sqlstore.Options{AuditChain: &hashchain.Chain{}, ReadLog: sqlstore.ReadLogOptions{FlushInterval: time.Hour, SealInterval: time.Hour}}
	s := e.Open(t, slow)
	id := custodian.NewCustomerID()
	for range 3 {
		record(t, s, e.ann, id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRead(e.ann, id); err == nil {
		t.Fatal("a closed store recorded a read")
	}
	again := e.Open(t, slow)
	reads, err := again.Reads(e.bob, custodian.ReadQuery{Customer: id})
	if err != nil || len(reads) != 3 {
		t.Fatalf("after close: %+v %v", reads, err)
	}
	if v := verifyReads(t, again); v.Break != "" || v.Verified != 3 || v.Pending != 0 {
		t.Fatalf("after close: %+v", v)
	}
}

// testPurgeReads purges the reads older than a time: the sealed records
// before it go, at a seal's boundary, with an event in the trail, and
// what remains verifies.
func testPurgeReads(t *testing.T, e *readLogEnv) {
	s := e.Store
	old := custodian.NewCustomerID()
	record(t, s, e.ann, old)
	record(t, s, e.ann, old)
	seal(t, s)
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	recent := custodian.NewCustomerID()
	record(t, s, e.bob, recent)
	seal(t, s)
	record(t, s, e.bob, old) // not sealed yet: never purged
	if _, err := s.Reads(e.ann, custodian.ReadQuery{}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PurgeReads(e.ann, time.Now().Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("purge of everything sealed: %d %v", n, err)
	}
	if n, err := s.PurgeReads(e.ann, cut); err != nil || n != 0 {
		t.Fatalf("purge again: %d %v", n, err)
	}
	reads, err := s.Reads(e.ann, custodian.ReadQuery{Customer: old})
	if err != nil || len(reads) != 1 || reads[0].Actor != "usr_bob" {
		t.Fatalf("after the purge, reads of the old customer: %+v %v", reads, err)
	}
	purges, err := s.AuditEvents(e.ann, custodian.AuditQuery{Action: custodian.ActionReadsPurge})
	if err != nil || len(purges) != 1 {
		t.Fatalf("purge events %+v %v", purges, err)
	}
	if v := verifyReads(t, s); v.Break != "" || v.Verified != 0 || v.Pending != 1 {
		t.Fatalf("after the purge: %+v", v)
	}
}

// readTampering is an attack on the read log by someone who can write its
// database: what they do, given the log's first batches (one record in
// the first, three in the second, one in the third).
type readTampering struct {
	name   string
	attack func(t *testing.T, db *sql.DB, q func(string) string)
}

func readTamperings() []readTampering {
	exec := func(t *testing.T, db *sql.DB, query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	blob := func(t *testing.T, db *sql.DB, q func(string) string, first int64) (int, []byte) {
		t.Helper()
		var n int
		var b []byte
		if err := db.QueryRowContext(context.Background(), q(`SELECT n, recs FROM read_batches WHERE first_seq = ?`), first).Scan(&n, &b); err != nil {
			t.Fatal(err)
		}
		return n, b
	}
	return []readTampering{
		{"ChangedReader", func(t *testing.T, db *sql.DB, q func(string) string) {
			exec(t, db, q(`UPDATE read_names SET name = ? WHERE name = ?`), "usr_mallory", "usr_bob")
		}},
		{"ChangedRecordBytes", func(t *testing.T, db *sql.DB, q func(string) string) {
			_, b := blob(t, db, q, 2)
			b[len(b)-1] ^= 0x01 // the last customer id's last byte
			exec(t, db, q(`UPDATE read_batches SET recs = ? WHERE first_seq = 2`), b)
		}},
		{"RemovedRecords", func(t *testing.T, db *sql.DB, q func(string) string) {
			exec(t, db, q(`DELETE FROM read_batches WHERE first_seq = 2`))
		}},
		{"RemovedLastRecord", func(t *testing.T, db *sql.DB, q func(string) string) {
			exec(t, db, q(`DELETE FROM read_batches WHERE first_seq = 5`))
		}},
		{"InsertedRecords", func(t *testing.T, db *sql.DB, q func(string) string) {
			n, b := blob(t, db, q, 2)
			exec(t, db, q(`UPDATE read_batches SET n = ?, recs = ? WHERE first_seq = 1`), n, b)
		}},
		{"TruncatedBatch", func(t *testing.T, db *sql.DB, q func(string) string) {
			exec(t, db, q(`UPDATE read_batches SET n = n - 1 WHERE first_seq = 2`))
		}},
	}
}

// testReadTampering writes three batches of reads, seals them, checks that
// they verify, carries out tc and checks that verification breaks.
func testReadTampering(tc readTampering) func(t *testing.T, e *readLogEnv) {
	return func(t *testing.T, e *readLogEnv) {
		// Written only when asked, so that the batches are as described.
		s := e.Open(t, sqlstore.Options{AuditChain: &hashchain.Chain{}, ReadLog: sqlstore.ReadLogOptions{FlushInterval: time.Hour, SealInterval: time.Hour}})
		flush := func() {
			if _, err := s.Reads(e.ann, custodian.ReadQuery{Limit: 1}); err != nil {
				t.Fatal(err)
			}
		}
		record(t, s, e.ann, custodian.NewCustomerID())
		flush()
		for i := range 3 {
			record(t, s, e.bob, custodian.NewCustomerID(), fmt.Sprintf("cus_page_%d", i))
		}
		flush()
		record(t, s, e.ann, custodian.NewCustomerID())
		seal(t, s)
		if v := verifyReads(t, s); v.Break != "" || v.Verified != 5 {
			t.Fatalf("before tampering: %+v", v)
		}
		tc.attack(t, s.ReadLogDB(), s.Rebind)
		if v := verifyReads(t, s); v.Break == "" {
			t.Fatalf("verification missed the tampering: %+v", v)
		}
	}
}
