package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
)

// logActivity logs an activity of type typ on customer id, dated at.
func (e *privacyEnv) logActivity(t *testing.T, id, typ string, at time.Time, text string) *custodian.Activity {
	t.Helper()
	a, err := e.svc.LogActivity(custodian.WithActor(e.ctx, "usr_sales"), id, custodian.ActivityInput{Type: typ, Date: at, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// activityRows counts the stored activities of customer id, by the
// customer's row key when it still exists, and every activity whose
// customer is gone.
func (e *privacyEnv) activityRows(t *testing.T, id string) (mine, orphans int) {
	t.Helper()
	ctx := context.Background()
	if err := e.DB.QueryRowContext(ctx, e.Q(`SELECT COUNT(*) FROM customer_activities a JOIN customers c ON c.seq = a.customer_seq WHERE c.id = ?`), id).Scan(&mine); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM customer_activities WHERE customer_seq NOT IN (SELECT seq FROM customers)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	return mine, orphans
}

// testActivitiesSealedAndListed logs activities and reads them back newest
// first by date; the text is stored sealed, the audit event names the type
// but not the text, and bad input stores nothing.
func testActivitiesSealedAndListed(t *testing.T, e *privacyEnv) {
	c := e.create(t, "Ada Activity")
	day := time.Date(2025, 12, 1, 9, 0, 0, 0, time.UTC)
	e.logActivity(t, c.ID, custodian.ActivityCall, day, "Called about the renewal; she wants a quote.")
	e.logActivity(t, c.ID, custodian.ActivityNote, day.Add(48*time.Hour), "Prefers mornings.\nAllergic to cold calls.")
	e.logActivity(t, c.ID, custodian.ActivityMeeting, day.Add(24*time.Hour), "Met at the fair.")

	got, err := e.svc.Activities(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, a := range got {
		types = append(types, a.Type)
		if a.Author != "usr_sales" || a.CustomerID != c.ID || a.ID == 0 {
			t.Fatalf("activity %+v", a)
		}
	}
	if !slices.Equal(types, []string{"note", "meeting", "call"}) || got[0].Text != "Prefers mornings.\nAllergic to cold calls." || !got[2].Date.Equal(day) {
		t.Fatalf("activities %+v", got)
	}

	// At rest: no plaintext.
	rows, err := e.DB.QueryContext(context.Background(), `SELECT text_ct FROM customer_activities`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var ct []byte
		if err := rows.Scan(&ct); err != nil {
			t.Fatal(err)
		}
		n++
		for _, word := range []string{"renewal", "mornings", "fair"} {
			if bytes.Contains(ct, []byte(word)) {
				t.Fatalf("plaintext %q at rest", word)
			}
		}
	}
	rows.Close()
	if n != 3 {
		t.Fatalf("%d rows stored, want 3", n)
	}
	evs := e.events(t, c.ID, custodian.ActionActivityLog)
	if len(evs) != 3 || evs[0].Actor != "usr_sales" || strings.Contains(string(evs[0].Data), "renewal") || strings.Contains(string(evs[2].Data), "renewal") {
		t.Fatalf("activity events %+v", evs)
	}

	for _, tc := range []struct {
		name  string
		in    custodian.ActivityInput
		field string
	}{
		{"unknown type", custodian.ActivityInput{Type: "fax", Text: "x"}, "type"},
		{"empty text", custodian.ActivityInput{Type: "call", Text: "  "}, "text"},
		{"control character", custodian.ActivityInput{Type: "call", Text: "a\x00b"}, "text"},
		{"too long", custodian.ActivityInput{Type: "note", Text: strings.Repeat("x", custodian.MaxActivityTextLen+1)}, "text"},
		{"future", custodian.ActivityInput{Type: "note", Text: "x", Date: time.Now().AddDate(1, 0, 0)}, "date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.LogActivity(e.ctx, c.ID, tc.in)
			var ce *custodian.Error
			if !errors.As(err, &ce) || ce.Code != custodian.EINVALID || len(ce.Fields) == 0 || ce.Fields[0].Field != tc.field {
				t.Fatalf("error %v, want EINVALID on %s", err, tc.field)
			}
		})
	}
	if mine, _ := e.activityRows(t, c.ID); mine != 3 {
		t.Fatalf("invalid input stored rows: %d", mine)
	}
	_, err = e.svc.LogActivity(e.ctx, custodian.NewCustomerID(), custodian.ActivityInput{Type: "call", Text: "nobody"})
	wantCode(t, err, custodian.ENOTFOUND)
}

// testTimeline merges logged activities with the customer's changes and
// consent events, newest first, 20 to a page, naming changed fields but
// never their values.
func testTimeline(t *testing.T, e *privacyEnv) {
	e.clock.set(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	c := e.create(t, "Tim Timeline")
	other := e.create(t, "Olga Other")
	e.clock.set(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	email := "tim.new@example.com"
	if _, err := e.svc.UpdateCustomer(e.ctx, c.ID, 0, custodian.CustomerPatch{Email: &email}); err != nil {
		t.Fatal(err)
	}
	e.clock.set(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	e.consent(t, c.ID, "marketing_email", custodian.ConsentGiven)
	e.clock.set(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	// A call dated between the update and the consent.
	e.logActivity(t, c.ID, custodian.ActivityCall, time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC), "Asked to change the address.")
	e.logActivity(t, other.ID, custodian.ActivityNote, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), "Not Tim's.")

	p, err := e.svc.Timeline(e.ctx, c.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, en := range p.Entries {
		kinds = append(kinds, en.Kind+":"+en.Action)
	}
	want := []string{"consent:consent.change", "call:", "change:customer.update", "change:customer.create"}
	if !slices.Equal(kinds, want) || p.More || p.Page != 1 {
		t.Fatalf("timeline %v (more %v), want %v", kinds, p.More, want)
	}
	if en := p.Entries[0]; en.Consent != "marketing_email" || en.State != custodian.ConsentGiven {
		t.Fatalf("consent entry %+v", en)
	}
	if en := p.Entries[1]; en.Activity == nil || en.Activity.Text != "Asked to change the address." || en.Actor != "usr_sales" {
		t.Fatalf("activity entry %+v", en)
	}
	if en := p.Entries[2]; !slices.Equal(en.Fields, []string{"email"}) {
		t.Fatalf("update entry fields %v", en.Fields)
	}
	for _, en := range p.Entries {
		if en.Activity != nil {
			continue
		}
		for _, f := range en.Fields {
			if strings.Contains(f, "@") || strings.Contains(f, "Tim") {
				t.Fatalf("a value in the timeline: %+v", en)
			}
		}
	}

	// Paging: 4 entries so far, 21 more activities make 25: 20 then 5.
	for i := range 21 {
		e.logActivity(t, c.ID, custodian.ActivityNote, time.Date(2026, 3, 5, i, 0, 0, 0, time.UTC), "note")
	}
	p1, err := e.svc.Timeline(e.ctx, c.ID, 1)
	if err != nil || len(p1.Entries) != custodian.TimelinePageSize || !p1.More {
		t.Fatalf("page 1: %d entries, more %v, %v", len(p1.Entries), p1.More, err)
	}
	p2, err := e.svc.Timeline(e.ctx, c.ID, 2)
	if err != nil || len(p2.Entries) != 5 || p2.More || p2.Entries[4].Action != custodian.ActionCustomerCreate {
		t.Fatalf("page 2: %+v %v", p2, err)
	}
	if !p1.Entries[19].Time.After(p2.Entries[0].Time) && !p1.Entries[19].Time.Equal(p2.Entries[0].Time) {
		t.Fatal("pages out of order")
	}
	p3, err := e.svc.Timeline(e.ctx, c.ID, 3)
	if err != nil || len(p3.Entries) != 0 || p3.More {
		t.Fatalf("page 3: %+v %v", p3, err)
	}
	_, err = e.svc.Timeline(e.ctx, c.ID, 0)
	wantCode(t, err, custodian.EINVALID)
	_, err = e.svc.Timeline(e.ctx, custodian.NewCustomerID(), 1)
	wantCode(t, err, custodian.ENOTFOUND)
}

// testActivitiesGoWithTheCustomer checks that a customer's activities are
// exported, and that erasure, deletion and retention's anonymization
// delete their rows in the same transaction; the texts in a backup taken
// before the erasure no longer open.
func testActivitiesGoWithTheCustomer(t *testing.T, e *privacyEnv) {
	day := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	erased := e.create(t, "Erik Erased")
	deleted := e.create(t, "Dora Deleted")
	kept := e.create(t, "Kai Kept")
	for _, c := range []*custodian.Customer{erased, deleted, kept} {
		e.logActivity(t, c.ID, custodian.ActivityEmail, day, "Sent the contract to "+c.Name+".")
	}

	x, err := e.svc.ExportCustomer(e.ctx, erased.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Activities) != 1 || x.Activities[0].Text != "Sent the contract to Erik Erased." || x.Activities[0].Type != custodian.ActivityEmail {
		t.Fatalf("export activities %+v", x.Activities)
	}

	backup := e.Snapshot(t)
	if _, _, err := e.svc.EraseCustomer(e.ctx, erased.ID, "request"); err != nil {
		t.Fatal(err)
	}
	if mine, orphans := e.activityRows(t, erased.ID); mine != 0 || orphans != 0 {
		t.Fatalf("after erasure: %d rows, %d orphans", mine, orphans)
	}
	if _, err := e.fresh(t, backup).Activities(e.ctx, erased.ID); !errors.Is(err, crypto.ErrShredded) {
		t.Fatalf("the backup copy's activities still open: %v", err)
	}
	_, err = e.svc.Activities(e.ctx, erased.ID)
	wantCode(t, err, custodian.EGONE)
	x, err = e.svc.ExportCustomer(e.ctx, erased.ID)
	if err != nil || x.Activities == nil || len(x.Activities) != 0 {
		t.Fatalf("erased export activities %+v %v", x, err)
	}

	if err := e.svc.DeleteCustomer(e.ctx, deleted.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, orphans := e.activityRows(t, deleted.ID); orphans != 0 {
		t.Fatalf("after deletion: %d orphaned rows", orphans)
	}
	if got, err := e.svc.Activities(e.ctx, kept.ID); err != nil || len(got) != 1 {
		t.Fatalf("another customer's activities: %+v %v", got, err)
	}

	// Retention anonymizes the kept customer years later.
	e.clock.set(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	res, err := e.svc.RunRetention(e.ctx, customers.RetentionOptions{Policy: custodian.RetentionPolicy{Default: custodian.DefaultRetention}})
	if err != nil || res.Anonymized != 1 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	if mine, orphans := e.activityRows(t, kept.ID); mine != 0 || orphans != 0 {
		t.Fatalf("after retention: %d rows, %d orphans", mine, orphans)
	}
	var n int
	if err := e.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM customer_activities`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d activity rows left (%v)", n, err)
	}
}
