package http

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// TestBrowserBulkActions: in the customer list, ticking rows (or choosing
// every customer matching the filter), picking an action and reviewing
// it shows the count to confirm; confirming shows what was done, and only
// the chosen customers changed.
func TestBrowserBulkActions(t *testing.T) {
	e, parts := newE2E(t)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	if _, err := parts.h.acc.CreateUser(ctx, "bulk.admin@example.com", "Bulk Admin", custodian.RoleAdmin, testPassword); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range []custodian.CustomerFields{
		{Name: "Bulk Alpha", Status: custodian.StatusLead}, {Name: "Bulk Beta", Status: custodian.StatusLead},
		{Name: "Bulk Gamma", Status: custodian.StatusLead}, {Name: "Other Delta", Status: custodian.StatusActive},
	} {
		c, err := e.svc.CreateCustomer(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	e.open("/login?next=%2Fcustomers")
	e.fill("#email", "bulk.admin@example.com", "#password", testPassword)
	e.submit("sign in", "button[type=submit]")
	if loc := e.location(); loc != "/customers" {
		t.Fatalf("after sign-in: %q", loc)
	}

	// Two rows ticked, a tag added.
	e.do("tick two rows", chromedp.Click(chromedp.CSS("#sel-"+ids[0])), chromedp.Click(chromedp.CSS("#sel-"+ids[1])))
	e.fill("#bulk-action", "add_tags", "#bulk-tags", "q3, Spring")
	e.screenshot("customers-bulk")
	e.submit("review", "#bulk-review")
	if got := e.text("#bulk-count"); got != "2" {
		t.Fatalf("confirmation count %q: %s", got, e.text("main"))
	}
	e.screenshot("customers-bulk-confirm")
	for _, id := range ids[:2] {
		if c, _ := e.svc.Customer(ctx, id); len(c.Tags) != 0 {
			t.Fatal("the review changed a customer")
		}
	}
	e.submit("confirm", "#bulk-confirm")
	if got := e.text("#bulk-changed"); got != "2" {
		t.Fatalf("changed %q: %s", got, e.text("main"))
	}
	e.screenshot("customers-bulk-result")
	for i, id := range ids {
		c, err := e.svc.Customer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tagged := slices.Equal(c.Tags, []string{"q3", "spring"}); tagged != (i < 2) {
			t.Errorf("%s tags %v", c.Name, c.Tags)
		}
	}

	// Every lead, by the list's filter, set inactive.
	e.open("/customers?status=lead")
	e.do("every matching customer", chromedp.Click(chromedp.CSS("#scope-filter")))
	e.fill("#bulk-action", "set_status", "#bulk-status", "inactive")
	e.submit("review by filter", "#bulk-review")
	if got := e.text("#bulk-count"); got != "3" {
		t.Fatalf("filter count %q: %s", got, e.text("main"))
	}
	if !strings.Contains(e.text("#bulk-summary"), "every customer matching") {
		t.Fatalf("summary %q", e.text("#bulk-summary"))
	}
	e.submit("confirm by filter", "#bulk-confirm")
	if got := e.text("#bulk-changed"); got != "3" {
		t.Fatalf("changed by filter %q", got)
	}
	for i, id := range ids {
		c, _ := e.svc.Customer(ctx, id)
		if want := map[bool]custodian.Status{true: custodian.StatusInactive, false: custodian.StatusActive}[i < 3]; c.Status != want {
			t.Errorf("%s is %s, want %s", c.Name, c.Status, want)
		}
	}

	// Nothing ticked: told so, nothing changes.
	e.open("/customers")
	e.fill("#bulk-action", "add_tags", "#bulk-tags", "x")
	e.submit("review nothing", "#bulk-review")
	if got := e.text("[role=alert]"); !strings.Contains(got, "Select at least one customer") {
		t.Fatalf("empty selection: %q", got)
	}
	e.checkClean()

	// The webhook settings page: register an endpoint, see its secret once.
	e.open("/settings/webhooks")
	e.fill("#wh-url", "https://93.184.216.34/hook", "#wh-description", "Mailing tool")
	e.do("choose an event", chromedp.Click(chromedp.CSS(`input[value="customer.updated"]`)))
	e.submit("register", "#wh-register")
	if got := e.text("#webhook-secret"); !strings.HasPrefix(got, "whsec_") {
		t.Fatalf("secret %q", got)
	}
	e.screenshot("webhooks")
	e.checkClean()
}
