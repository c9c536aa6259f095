package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/sqlstore"
)

// AuditStore is what the audit contract needs from a backend: the trail,
// customer writes to join its transactions, and the chain as the verifier
// reads it. The store seals its trail with the chain it was opened with.
type AuditStore interface {
	custodian.AuditRepository
	custodian.CustomerRepository
	AuditChain(ctx context.Context, after int64) iter.Seq2[hashchain.Event, error]
	AuditHead(ctx context.Context) (hashchain.Anchor, error)
	DB() *sql.DB
	ArchiveRange(ctx context.Context, before time.Time) (hashchain.Anchor, int64, error)
	WriteAuditArchive(ctx context.Context, w io.Writer, key []byte, from hashchain.Anchor, last int64) (hashchain.ArchiveHeader, error)
	RemoveArchived(ctx context.Context, rec sqlstore.ArchiveRecord) error
	AuditArchived(ctx context.Context) (hashchain.Anchor, error)
}

// AuditBackend is a fresh, migrated database for the audit contract.
type AuditBackend struct {
	Store AuditStore
	// Q rewrites "?" placeholders for the backend.
	Q func(query string) string
	// DisableGuard lifts the append-only guard, as an attacker with the
	// database owner's rights could, so that tampering can be simulated.
	DisableGuard func(t *testing.T)
}

// RunAudit runs the audit trail contract against backends made by open,
// whose store must seal its trail with chain.
func RunAudit(t *testing.T, open func(t *testing.T, chain *hashchain.Chain) AuditBackend) {
	tests := []contractTest[*auditEnv]{
		{"AppendRecordsOriginAndOrder", testAuditAppend},
		{"ListFiltersByQuery", testAuditListFilters},
		{"ListPagesBothWaysStableUnderAppends", testAuditPaging},
		{"IntactTrailVerifiesUpToItsHead", testAuditVerifyAndHead},
		{"AuditedChangeAndEventAreOneTransaction", testAuditedIsOneTransaction},
		{"ConcurrentAppendsChainWithoutGaps", testConcurrentAppendsChain},
		{"ConcurrentAppendsKeepEachCallersOrigin", testConcurrentAppendsKeepOrigin},
		{"TrailIsAppendOnly", testTrailIsAppendOnly},
		{"ArchiveMovesOldEventsAndKeepsTheChain", testAuditArchive},
	}
	for _, tc := range Tamperings() {
		tests = append(tests, contractTest[*auditEnv]{"VerifyCatches" + tc.Name, testTampering(tc)})
	}
	runTests(t, func(t *testing.T) *auditEnv { return newAuditEnv(t, open) }, tests)
}

// auditEnv is one audit contract case: the backend, sealing with the
// plain SHA-256 chain, a context that records usr_auditor acting from
// 203.0.113.9 in request req-1, and open, for a case that needs a backend
// sealing with another chain.
type auditEnv struct {
	AuditBackend
	ctx  context.Context
	open func(t *testing.T, chain *hashchain.Chain) AuditBackend
}

// newAuditEnv returns the environment of an audit contract case over a
// backend open makes.
func newAuditEnv(t *testing.T, open func(t *testing.T, chain *hashchain.Chain) AuditBackend) *auditEnv {
	plain, err := hashchain.NewChain(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := custodian.WithOrigin(custodian.WithActor(context.Background(), "usr_auditor"), custodian.Origin{ClientAddr: "203.0.113.9", RequestID: "req-1"})
	return &auditEnv{AuditBackend: open(t, plain), ctx: ctx, open: open}
}

// auditT0 is when the first of the sample events happened.
func auditT0() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC) }

// appendSample appends three events a second apart from auditT0: two by
// the case's actor about cus_a, in one call, then a sign-in by usr_other
// with no origin. It returns the trail, newest first.
func (e *auditEnv) appendSample(t *testing.T) []custodian.AuditEvent {
	t.Helper()
	t0 := auditT0()
	err := e.Store.AppendAudit(e.ctx,
		custodian.AuditEntry{Action: custodian.ActionCustomerCreate, Subject: "cus_a", Fields: []string{"name", "email"}, Time: t0},
		custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: "cus_a", Time: t0.Add(time.Second)},
	)
	if err != nil {
		t.Fatal(err)
	}
	other := custodian.WithActor(context.Background(), "usr_other")
	if err := e.Store.AppendAudit(other, custodian.AuditEntry{Action: custodian.ActionSignIn, Subject: "usr_other", Data: []byte{1, 2}, Time: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	all, err := e.Store.AuditEvents(e.ctx, custodian.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func testAuditAppend(t *testing.T, e *auditEnv) {
	all := e.appendSample(t)
	if got := seqs(all); !slices.Equal(got, []int64{3, 2, 1}) {
		t.Fatalf("seqs = %v, want [3 2 1]", got)
	}
	first := all[2]
	if first.Actor != "usr_auditor" || first.ClientAddr != "203.0.113.9" || first.RequestID != "req-1" || !first.Time.Equal(auditT0()) ||
		!slices.Equal(first.Fields, []string{"name", "email"}) || first.Subject != "cus_a" || len(first.PrevHash) != 0 || len(first.Hash) != 32 {
		t.Fatalf("first event = %+v", first)
	}
	if all[0].Actor != "usr_other" || all[0].ClientAddr != "" || string(all[0].Data) != "\x01\x02" {
		t.Fatalf("third event = %+v", all[0])
	}
}

func testAuditListFilters(t *testing.T, e *auditEnv) {
	e.appendSample(t)
	t0 := auditT0()
	for _, tc := range []struct {
		q    custodian.AuditQuery
		want []int64
	}{
		{custodian.AuditQuery{Actor: "usr_other"}, []int64{3}},
		{custodian.AuditQuery{Subject: "cus_a"}, []int64{2, 1}},
		{custodian.AuditQuery{Action: "customer."}, []int64{2, 1}},
		{custodian.AuditQuery{Action: "customer"}, nil},
		{custodian.AuditQuery{Action: "auth."}, []int64{3}},
		{custodian.AuditQuery{Action: "custom."}, nil},
		{custodian.AuditQuery{Action: "Customer."}, nil},
		{custodian.AuditQuery{Action: "customer%"}, nil},
		{custodian.AuditQuery{Action: custodian.ActionSignIn}, []int64{3}},
		{custodian.AuditQuery{BeforeSeq: 3, Limit: 1}, []int64{2}},
		{custodian.AuditQuery{Since: t0.Add(time.Second)}, []int64{3, 2}},
		{custodian.AuditQuery{Until: t0.Add(time.Second)}, []int64{1}},
		{custodian.AuditQuery{SkipReads: true}, []int64{3, 1}},
		{custodian.AuditQuery{Actor: "usr_auditor", Action: "customer.", Since: t0, Until: t0.Add(time.Hour), SkipReads: true}, []int64{1}},
		{custodian.AuditQuery{AfterSeq: 1, Limit: 1}, []int64{2}},
		{custodian.AuditQuery{AfterSeq: 1}, []int64{3, 2}},
		{custodian.AuditQuery{AfterSeq: 1, Subject: "cus_a"}, []int64{2}},
	} {
		got, err := e.Store.AuditEvents(e.ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), tc.want) {
			t.Errorf("AuditEvents(%+v) = %v, want %v", tc.q, seqs(got), tc.want)
		}
	}
}

// testAuditPaging walks a trail of 25 events in pages of 10, down with
// BeforeSeq and back up with AfterSeq, while new events are appended: the
// pages hold the same events each time, newest first, with no gaps.
func testAuditPaging(t *testing.T, e *auditEnv) {
	appendN := func(n int) {
		t.Helper()
		for i := range n {
			if err := e.Store.AppendAudit(e.ctx, custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: fmt.Sprintf("cus_%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	list := func(q custodian.AuditQuery) []int64 {
		t.Helper()
		q.Action, q.Limit = custodian.ActionCustomerUpdate, 10
		got, err := e.Store.AuditEvents(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return seqs(got)
	}
	span := func(hi, lo int64) []int64 {
		var out []int64
		for s := hi; s >= lo; s-- {
			out = append(out, s)
		}
		return out
	}
	appendN(25)
	if p := list(custodian.AuditQuery{}); !slices.Equal(p, span(25, 16)) {
		t.Fatalf("first page = %v", p)
	}
	appendN(3) // newer events do not move the pages below
	p2 := list(custodian.AuditQuery{BeforeSeq: 16})
	if !slices.Equal(p2, span(15, 6)) {
		t.Fatalf("second page = %v", p2)
	}
	if p3 := list(custodian.AuditQuery{BeforeSeq: 6}); !slices.Equal(p3, span(5, 1)) {
		t.Fatalf("last page = %v", p3)
	}
	if back := list(custodian.AuditQuery{AfterSeq: 15}); !slices.Equal(back, span(25, 16)) {
		t.Fatalf("back from the second page = %v", back)
	}
	if back := list(custodian.AuditQuery{AfterSeq: 5}); !slices.Equal(back, p2) {
		t.Fatalf("back from the last page = %v, want %v", back, p2)
	}
	if top := list(custodian.AuditQuery{AfterSeq: 25}); !slices.Equal(top, span(28, 26)) {
		t.Fatalf("above the first page = %v", top)
	}
}

func testAuditVerifyAndHead(t *testing.T, e *auditEnv) {
	all := e.appendSample(t)
	verify(t, e.Store, nil)
	head, err := e.Store.AuditHead(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != 3 || string(head.Hash) != string(all[0].Hash) {
		t.Fatalf("head = %d %x, want 3 %x", head.Seq, head.Hash, all[0].Hash)
	}
}

func testAuditedIsOneTransaction(t *testing.T, e *auditEnv) {
	s, ctx := e.Store, e.ctx
	rec := rawRecord("cus_atomic")
	boom := errors.New("boom")
	err := s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.InsertCustomers(ctx, rec); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Audited = %v, want boom", err)
	}
	if _, err := s.CustomerRecord(ctx, rec.ID); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("customer after failed Audited: %v, want ENOTFOUND", err)
	}
	// A failure while appending (an entry without an action) rolls
	// back the change it goes with.
	err = s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{{Subject: rec.ID}}, s.InsertCustomers(ctx, rec)
	})
	if err == nil {
		t.Fatal("Audited with an invalid entry succeeded")
	}
	if _, err := s.CustomerRecord(ctx, rec.ID); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("customer after failed append: %v, want ENOTFOUND", err)
	}
	if evs, _ := s.AuditEvents(ctx, custodian.AuditQuery{}); len(evs) != 0 {
		t.Fatalf("events after failures = %d, want 0", len(evs))
	}
	err = s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.InsertCustomers(ctx, rec); err != nil {
			return nil, err
		}
		err := s.UpdateCustomer(ctx, rec.ID, func(cur *custodian.CustomerRecord) (*custodian.CustomerRecord, error) {
			cur.Version++
			return cur, nil
		})
		return []custodian.AuditEntry{{Action: custodian.ActionCustomerCreate, Subject: rec.ID}}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.CustomerRecord(ctx, rec.ID)
	if err != nil || got.Version != 2 {
		t.Fatalf("customer = %+v, %v; want version 2", got, err)
	}
	if evs, _ := s.AuditEvents(ctx, custodian.AuditQuery{Subject: rec.ID}); len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
	// Head and chain survive the rolled-back attempts.
	verify(t, s, nil)
}

func testConcurrentAppendsChain(t *testing.T, e *auditEnv) {
	s := e.Store
	const workers, each = 8, 20
	errs := concurrently(workers, each, func(w, i int) error {
		id := fmt.Sprintf("cus_w%dn%d", w, i)
		return s.Audited(e.ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
			if i%5 == 4 {
				return nil, errors.New("abandoned") // leaves no trace
			}
			return []custodian.AuditEntry{{Action: custodian.ActionCustomerCreate, Subject: id}, {Action: custodian.ActionCustomerRead, Subject: id}},
				s.InsertCustomers(ctx, rawRecord(id))
		})
	})
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if want := workers * each / 5; failed != want {
		t.Fatalf("%d writes failed, want %d", failed, want)
	}
	evs, err := s.AuditEvents(e.ctx, custodian.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := 2 * (workers*each - failed)
	if len(evs) != want || evs[0].Seq != int64(want) || evs[len(evs)-1].Seq != 1 {
		t.Fatalf("%d events from %d to %d, want %d from %d to 1", len(evs), evs[0].Seq, evs[len(evs)-1].Seq, want, want)
	}
	verify(t, s, nil)
}

func testConcurrentAppendsKeepOrigin(t *testing.T, e *auditEnv) {
	s := e.Store
	const workers, each = 16, 25
	errs := concurrently(workers, each, func(w, i int) error {
		ctx := custodian.WithOrigin(custodian.WithActor(context.Background(), fmt.Sprintf("usr_%02d", w)), custodian.Origin{ClientAddr: fmt.Sprintf("192.0.2.%d", w), RequestID: fmt.Sprintf("req-%d", w)})
		return s.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_%02d_%02d", w, i)})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// One call larger than an INSERT statement takes.
	big := make([]custodian.AuditEntry, 1234)
	for i := range big {
		big[i] = custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_big_%d", i)}
	}
	if err := s.AppendAudit(e.ctx, big...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(e.ctx, custodian.AuditEntry{Subject: "cus_x"}); err == nil {
		t.Fatal("an entry without an action was appended")
	}
	evs, err := s.AuditEvents(e.ctx, custodian.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := workers*each + len(big); len(evs) != want || evs[0].Seq != int64(want) {
		t.Fatalf("%d events up to seq %d, want %d", len(evs), evs[0].Seq, want)
	}
	for _, ev := range evs {
		var w, i int
		if _, err := fmt.Sscanf(ev.Subject, "cus_%02d_%02d", &w, &i); err != nil {
			continue // the big call's
		}
		if ev.Actor != fmt.Sprintf("usr_%02d", w) || ev.ClientAddr != fmt.Sprintf("192.0.2.%d", w) || ev.RequestID != fmt.Sprintf("req-%d", w) {
			t.Fatalf("event for %s recorded as %s from %s (%s)", ev.Subject, ev.Actor, ev.ClientAddr, ev.RequestID)
		}
	}
	verify(t, s, nil)
}

func testTrailIsAppendOnly(t *testing.T, e *auditEnv) {
	s := e.Store
	if err := s.AppendAudit(e.ctx, custodian.AuditEntry{Action: custodian.ActionSignIn}, custodian.AuditEntry{Action: custodian.ActionSignOut}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_events SET actor = 'usr_mallory' WHERE seq = 1`,
		`DELETE FROM audit_events WHERE seq = 2`,
		`DELETE FROM audit_events`,
	} {
		if _, err := s.DB().ExecContext(e.ctx, q); err == nil {
			t.Errorf("%s: succeeded on the append-only trail", q)
		}
	}
	evs, _ := s.AuditEvents(e.ctx, custodian.AuditQuery{})
	if len(evs) != 2 || evs[1].Actor != "usr_auditor" {
		t.Fatalf("trail changed: %+v", evs)
	}
	verify(t, s, nil)
}

// testAuditArchive archives the events before a time into an archive
// file: they leave the database, which keeps the chain's continuity, so
// that the archive followed by the database verifies, as does the database
// alone from its archive anchor; only archived events may be deleted.
func testAuditArchive(t *testing.T, e *auditEnv) {
	s := e.Store
	t0 := auditT0()
	for i := range 5 {
		if err := s.AppendAudit(e.ctx, custodian.AuditEntry{Action: custodian.ActionUserUpdate, Subject: fmt.Sprintf("usr_%d", i), Time: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	from, last, err := s.ArchiveRange(e.ctx, t0.Add(150*time.Minute))
	if err != nil || from.Seq != 0 || last != 3 {
		t.Fatalf("range = %+v %d %v, want 0 to 3", from, last, err)
	}
	key := []byte("an archive key of thirty-two by.")
	var file bytes.Buffer
	h, err := s.WriteAuditArchive(e.ctx, &file, key, from, last)
	if err != nil || h.First != 1 || h.Last != 3 {
		t.Fatalf("archive %+v %v", h, err)
	}
	if _, err := s.DB().ExecContext(e.ctx, `DELETE FROM audit_events WHERE seq = 1`); err == nil {
		t.Fatal("an event not yet archived was deleted")
	}
	if err := s.RemoveArchived(e.ctx, sqlstore.ArchiveRecord{First: 1, Last: 3, LastHash: h.LastHash, File: "a.jsonl.gz"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveArchived(e.ctx, sqlstore.ArchiveRecord{First: 1, Last: 3, LastHash: h.LastHash}); err == nil {
		t.Fatal("the same events were archived twice")
	}
	left, err := s.AuditEvents(e.ctx, custodian.AuditQuery{})
	if err != nil || !slices.Equal(seqs(left), []int64{6, 5, 4}) || left[0].Action != custodian.ActionAuditArchive {
		t.Fatalf("left in the database: %v %v", seqs(left), err)
	}
	start, err := s.AuditArchived(e.ctx)
	if err != nil || start.Seq != 3 || !bytes.Equal(start.Hash, h.LastHash) {
		t.Fatalf("archive anchor %+v %v", start, err)
	}
	chain := &hashchain.Chain{}
	if brk, err := chain.VerifyFrom(start, s.AuditChain(e.ctx, start.Seq)); brk != nil || err != nil {
		t.Fatalf("the database from its anchor: %v %v", brk, err)
	}
	if _, err := hashchain.CheckArchive(bytes.NewReader(file.Bytes()), key); err != nil {
		t.Fatal(err)
	}
	both := func(yield func(hashchain.Event, error) bool) {
		for _, part := range []iter.Seq2[hashchain.Event, error]{hashchain.ArchiveEvents(bytes.NewReader(file.Bytes())), s.AuditChain(e.ctx, start.Seq)} {
			for ev, err := range part {
				if !yield(ev, err) {
					return
				}
			}
		}
	}
	if brk, err := chain.Verify(both); brk != nil || err != nil {
		t.Fatalf("the archive then the database: %v %v", brk, err)
	}
	if _, err := s.DB().ExecContext(e.ctx, `DELETE FROM audit_events WHERE seq = 4`); err == nil {
		t.Fatal("an event after the archive was deleted")
	}
}

// Tampering is an attack on a stored trail of five or more events that
// verification must catch: the statements an attacker with the database
// owner's rights runs, and the break a verifier must report. The trail is
// read in sequence order and the sequence number is sealed into each hash,
// so a moved or forged row shows as a broken link at the position it
// occupies.
type Tampering struct {
	Name string
	// SQL are the attacker's statements, with "?" placeholders.
	SQL []string
	// Rehash, when not 0, is the event whose hash the attacker then
	// recomputes without the chain key (as a plain chain would), relinking
	// its successor: only a keyed trail catches the edit.
	Rehash int64
	// Seq and Kind are the break verification must report.
	Seq  int64
	Kind hashchain.BreakKind
}

// Tamperings returns the attacks the contract simulates, which the
// command-line verifier must catch too.
func Tamperings() []Tampering {
	return []Tampering{
		{Name: "EditedContent", SQL: []string{`UPDATE audit_events SET actor = 'usr_mallory' WHERE seq = 3`}, Seq: 3, Kind: hashchain.Edited},
		{Name: "EditedTime", SQL: []string{`UPDATE audit_events SET time_us = time_us + 1 WHERE seq = 2`}, Seq: 2, Kind: hashchain.Edited},
		{Name: "Deleted", SQL: []string{`DELETE FROM audit_events WHERE seq = 3`}, Seq: 3, Kind: hashchain.Deleted},
		{Name: "Reordered", SQL: []string{
			`UPDATE audit_events SET seq = -1 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = -1`,
		}, Seq: 3, Kind: hashchain.Edited},
		{Name: "Inserted", SQL: []string{
			`UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3`,
			`UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103`,
			`INSERT INTO audit_events (seq, time_us, actor, action, subject, client_addr, request_id, fields, data, prev_hash, hash)
				SELECT 3, time_us, 'usr_mallory', action, subject, client_addr, request_id, fields, data, hash, hash FROM audit_events WHERE seq = 2`,
		}, Seq: 3, Kind: hashchain.Edited},
		// With a chain key, an edit whose hash is recomputed without the
		// key (as SHA-256) is still caught.
		{Name: "RehashedWithoutKey", SQL: []string{`UPDATE audit_events SET actor = 'usr_mallory' WHERE seq = 2`}, Rehash: 2, Seq: 2, Kind: hashchain.Edited},
	}
}

// Tamper carries out tc on the backend's trail: it lifts the append-only
// guard, runs the attacker's statements and, where tc says, rehashes.
func (b AuditBackend) Tamper(t *testing.T, tc Tampering) {
	t.Helper()
	ctx := context.Background()
	b.DisableGuard(t)
	for _, q := range tc.SQL {
		if _, err := b.Store.DB().ExecContext(ctx, b.Q(q)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if tc.Rehash == 0 {
		return
	}
	var e hashchain.Event
	for ev, err := range b.Store.AuditChain(ctx, tc.Rehash-1) {
		if err != nil {
			t.Fatal(err)
		}
		e = ev
		break
	}
	(&hashchain.Chain{}).Seal(e.PrevHash, &e)
	for _, q := range []struct {
		sql string
		arg []any
	}{
		{`UPDATE audit_events SET hash = ? WHERE seq = ?`, []any{e.Hash, tc.Rehash}},
		{`UPDATE audit_events SET prev_hash = ? WHERE seq = ?`, []any{e.Hash, tc.Rehash + 1}},
	} {
		if _, err := b.Store.DB().ExecContext(ctx, b.Q(q.sql), q.arg...); err != nil {
			t.Fatal(err)
		}
	}
}

// testTampering appends five events, checks that they verify, carries out
// tc and checks that Verify reports the break where tc says. A case that
// rehashes runs on a keyed trail.
func testTampering(tc Tampering) func(t *testing.T, e *auditEnv) {
	return func(t *testing.T, e *auditEnv) {
		// chain stays nil, the plain chain's verifier, unless keyed.
		var chain *hashchain.Chain
		if tc.Rehash != 0 {
			var err error
			chain, err = hashchain.NewChain([]byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			e.AuditBackend = e.open(t, chain)
		}
		s := e.Store
		for i := range 5 {
			if err := s.AppendAudit(e.ctx, custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		verify(t, s, chain)
		e.Tamper(t, tc)
		brk := verifyChain(t, s, chain)
		if brk == nil {
			t.Fatal("Verify found no break after tampering")
		}
		if brk.Seq != tc.Seq || brk.Kind != tc.Kind {
			t.Fatalf("break = seq %d %s (%s), want seq %d %s", brk.Seq, brk.Kind, brk.Msg, tc.Seq, tc.Kind)
		}
	}
}

// verify checks that s's trail verifies with chain (nil: the plain chain).
func verify(t *testing.T, s AuditStore, chain *hashchain.Chain) {
	t.Helper()
	if brk := verifyChain(t, s, chain); brk != nil {
		t.Fatalf("intact chain reported broken: %v", brk)
	}
}

// verifyChain verifies s's whole trail with chain (nil: the plain chain)
// and returns the break, nil if none.
func verifyChain(t *testing.T, s AuditStore, chain *hashchain.Chain) *hashchain.Break {
	t.Helper()
	if chain == nil {
		chain = &hashchain.Chain{}
	}
	brk, err := chain.Verify(s.AuditChain(context.Background(), 0))
	if err != nil {
		t.Fatal(err)
	}
	return brk
}

func seqs(evs []custodian.AuditEvent) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// rawRecord is a minimal sealed record; its bytes are not real ciphertext,
// which the repository neither knows nor checks.
func rawRecord(id string) *custodian.CustomerRecord {
	now := time.Now().UTC().Truncate(time.Microsecond)
	x := []byte{1}
	sealed := custodian.SealedFields{}
	for _, u := range custodian.PersonalUnits() {
		sealed[u.Name] = x
	}
	return &custodian.CustomerRecord{ID: id, Status: custodian.StatusLead, CreatedAt: now, UpdatedAt: now, CreatedBy: "usr_auditor", UpdatedBy: "usr_auditor",
		Version: 1, KeyID: "k1", DataKey: x, Sealed: sealed}
}

// BenchVerify measures verifying a keyed audit trail of n events, read
// back from the database in sequence order: the cost of
// `custodian audit verify`. open returns a fresh store sealing its trail
// with chain. Report events/s with -benchtime 1x.
func BenchVerify(b *testing.B, open func(b *testing.B, chain *hashchain.Chain) AuditStore, n int) {
	chain, err := hashchain.NewChain([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	s := open(b, chain)
	ctx := custodian.WithActor(context.Background(), "usr_bench")
	const batch = 2000
	for i := 0; i < n; i += batch {
		entries := make([]custodian.AuditEntry, min(batch, n-i))
		for j := range entries {
			entries[j] = custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: fmt.Sprintf("cus_%d", i+j), Data: []byte(`{"purpose":"bench"}`)}
		}
		if err := s.AppendAudit(ctx, entries...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		brk, err := chain.Verify(s.AuditChain(ctx, 0))
		if err != nil || brk != nil {
			b.Fatalf("verify: %v %v", brk, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
