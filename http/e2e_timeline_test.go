package http

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// TestBrowserTimeline logs a call on a customer through the page, sees it
// on the timeline with the customer's own change, finds it in the export,
// erases the customer and finds it gone.
func TestBrowserTimeline(t *testing.T) {
	e, parts := newE2E(t)
	signInAsAdmin(e, parts)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	c, err := parts.svc.CreateCustomer(ctx, custodian.CustomerFields{Name: "Grace Timeline", Email: "grace@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	page := "/customers/" + c.ID
	e.open(page)
	e.do("form", chromedp.WaitVisible(chromedp.CSS("#activity-text")))
	e.do("type", chromedp.SetValue(chromedp.CSS("#activity-type"), "call"))
	// The date field starts empty: now.
	if v := e.value("#activity-date"); v != "" {
		t.Fatalf("date field %q", v)
	}
	e.fill("#activity-text", "Called about the invoice; she will pay on Friday.")
	e.submit("log activity", ".activity-form button[type=submit]")
	e.do("timeline", chromedp.WaitVisible(chromedp.CSS("#timeline-entries")))
	got := e.text("#timeline-entries")
	if !strings.Contains(got, "Call") || !strings.Contains(got, "she will pay on Friday") || !strings.Contains(got, "Ada Admin") || !strings.Contains(got, "Created") {
		t.Fatalf("timeline %q", got)
	}
	if first := e.text("#timeline-entries li:first-child"); !strings.Contains(first, "Call") {
		t.Fatalf("newest first: the first entry is %q", first)
	}
	e.screenshot("customer-timeline")

	x, err := parts.svc.(custodian.PrivacyService).ExportCustomer(ctx, c.ID)
	if err != nil || len(x.Activities) != 1 || x.Activities[0].Text != "Called about the invoice; she will pay on Friday." {
		t.Fatalf("export %+v %v", x, err)
	}

	e.open(page + "/erase")
	e.fill("#erase-reason", "Erasure request ER-2026-077")
	e.do("confirm", chromedp.Click(chromedp.CSS("#erase-confirm"), chromedp.NodeVisible))
	e.submit("erase", "form[action$='/erase'] button[type=submit]")
	e.do("tombstone", chromedp.WaitVisible(chromedp.CSS("#tombstone")))
	if body := e.text("body"); strings.Contains(body, "invoice") {
		t.Fatal("the call shows after erasure")
	}
	x, err = parts.svc.(custodian.PrivacyService).ExportCustomer(ctx, c.ID)
	if err != nil || len(x.Activities) != 0 || x.Erased == nil {
		t.Fatalf("export after erasure %+v %v", x, err)
	}
	if _, err := parts.svc.(custodian.ActivityService).Activities(ctx, c.ID); custodian.ErrorCode(err) != custodian.EGONE {
		t.Fatalf("activities after erasure: %v", err)
	}
}
