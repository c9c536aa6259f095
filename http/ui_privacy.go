package http

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/custodian-crm/custodian"
)

// historyLimit is how many audit events the customer page shows; the
// audit trail page has the rest.
const historyLimit = 20

// customerData is the detail page's content. Consent, the data-protection
// actions and the audit history appear to the roles that may use them.
type customerData struct {
	C        *custodian.Customer
	CanWrite bool
	// Consent is nil when the server has no consent records.
	Consent    *consentView
	Hold       holdForm
	HoldByName string
	// Timeline is one page of the customer's story and the form to log
	// an activity.
	Timeline *timelineView
	// Tasks are the customer's follow-up tasks and the form to add one.
	Tasks *tasksView
	customerExtras
}

// customerExtras are the parts of the customer and tombstone pages shown
// to the roles that may use them.
type customerExtras struct {
	// CanErase shows export, legal hold and erasure.
	CanErase bool
	// CanAudit shows the customer's audit history.
	CanAudit    bool
	History     auditTable
	MoreHistory bool
}

// extras returns the customerExtras of customer id for the request's
// role, reading the audit history when the role may see it.
func (u *ui) extras(r *http.Request, id string, names *actorNames) (customerExtras, error) {
	role := principal(r).User.Role
	x := customerExtras{CanErase: u.privacy != nil && role.Can(custodian.PermCustomersErase), CanAudit: u.audit != nil && role.Can(custodian.PermAuditRead)}
	if !x.CanAudit {
		return x, nil
	}
	events, err := u.audit.AuditEvents(r.Context(), custodian.AuditQuery{Subject: id, Limit: historyLimit + 1})
	if err != nil {
		return x, err
	}
	reads, err := u.audit.Reads(r.Context(), custodian.ReadQuery{Customer: id, Limit: historyLimit + 1})
	if err != nil {
		return x, err
	}
	events = custodian.MergeReads(events, reads, id, historyLimit+1)
	if x.MoreHistory = len(events) > historyLimit; x.MoreHistory {
		events = events[:historyLimit]
	}
	x.History = auditTable{ID: "customer-history", Caption: msg("Audit events about this customer, newest first"), Rows: auditRows(events, names)}
	return x, nil
}

// consentView is the consent section: the state per configured purpose,
// the history (newest first), and the form to record a change.
type consentView struct {
	Current  []consentRow
	History  []consentEvent
	Form     consentForm
	Purposes []string
}

// consentRow is the current state for one purpose; State is empty when
// nothing was ever recorded for it.
type consentRow struct {
	Purpose string
	custodian.ConsentState
	ByName string
}

// consentEvent is a history entry with its actor's name.
type consentEvent struct {
	custodian.ConsentEvent
	ByName string
}

// consentForm is the consent form's values and the errors next to them.
type consentForm struct {
	custodian.ConsentInput
	Errors map[string]string
	Error  string
}

// holdForm is the legal hold form's reason and its error.
type holdForm struct {
	Reason string
	Error  string
}

// handleCustomerDetail shows one customer. The read goes through the same
// service call as the API's, so it is recorded in the audit trail the same
// way; an erased customer shows its tombstone with 410.
func (u *ui) handleCustomerDetail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.showCustomer(w, r, http.StatusOK, r.PathValue("id"), customerForms{})
	})
}

// customerForms are the forms of the customer page that come back with
// their values and errors: consent and activity when set, the legal hold.
type customerForms struct {
	consent  *consentForm
	activity *activityForm
	task     *taskForm
	hold     holdForm
}

// customerFormDone answers the post of one of the customer page's forms:
// back to the page's section with a flash when err is nil; for refused
// input the page again (400) with the forms again makes, keeping the
// values and showing the errors; any other error as failCustomer shows it.
func (u *ui) customerFormDone(w http.ResponseWriter, r *http.Request, id string, err error, section, flash string, again func() customerForms) {
	switch custodian.ErrorCode(err) {
	case "":
		redirectWithFlash(w, r, uiCustomerPath(id)+"#"+section, flash)
	case custodian.EINVALID:
		u.showCustomer(w, r, http.StatusBadRequest, id, again())
	default:
		u.failCustomer(w, r, id, err)
	}
}

// showCustomer renders the detail page with status and the forms that
// come back.
func (u *ui) showCustomer(w http.ResponseWriter, r *http.Request, status int, id string, forms customerForms) {
	form, hold := forms.consent, forms.hold
	ctx := r.Context()
	c, err := u.customers.Customer(ctx, id)
	if err != nil {
		u.failCustomer(w, r, id, err)
		return
	}
	names := u.actorNames(ctx)
	d := customerData{C: c, CanWrite: principal(r).User.Role.Can(custodian.PermCustomersWrite), Hold: hold}
	if d.customerExtras, err = u.extras(r, id, names); err != nil {
		u.fail(w, r, err)
		return
	}
	if c.LegalHold != nil {
		d.HoldByName = names.name(c.LegalHold.By)
	}
	if d.Timeline, err = u.timeline(r, id, timelinePage(r), names, forms.activity); err != nil {
		u.fail(w, r, err)
		return
	}
	if d.Tasks, err = u.tasks(r, id, names, forms.task); err != nil {
		u.fail(w, r, err)
		return
	}
	if u.privacy != nil {
		cons, err := u.privacy.Consents(ctx, id)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Consent = newConsentView(cons, u.privacy.ConsentPurposes(), names)
		if form != nil {
			d.Consent.Form = *form
			// A purpose that is not offered comes back as it was sent,
			// next to its error.
			if form.Purpose != "" && !slices.Contains(d.Consent.Purposes, form.Purpose) {
				d.Consent.Purposes = append(d.Consent.Purposes, form.Purpose)
			}
		}
	}
	u.render(w, r, status, "customer", uiView{Title: c.Name, Section: "customers", Data: d})
}

func newConsentView(c *custodian.Consents, purposes []string, names *actorNames) *consentView {
	v := &consentView{Purposes: purposes, Form: consentForm{ConsentInput: custodian.ConsentInput{State: custodian.ConsentGiven}}}
	seen := map[string]bool{}
	add := func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		st := c.Current[p]
		v.Current = append(v.Current, consentRow{Purpose: p, ConsentState: st, ByName: names.name(st.By)})
	}
	for _, p := range purposes {
		add(p)
	}
	// Purposes recorded before the configuration dropped them still show.
	var old []string
	for p := range c.Current {
		if !seen[p] {
			old = append(old, p)
		}
	}
	slices.Sort(old)
	for _, p := range old {
		add(p)
	}
	for i := len(c.History) - 1; i >= 0; i-- {
		e := c.History[i]
		v.History = append(v.History, consentEvent{ConsentEvent: e, ByName: names.name(e.Actor)})
	}
	return v
}

// actorNames maps actor ids to names, for showing who did what on one
// page. The users are listed at most once, and only when the page shows
// an actor other than a system one, so a page with nobody to name costs
// no query. Without accounts (or when they cannot be listed) ids are shown
// as they are.
type actorNames struct {
	ctx    context.Context
	u      *ui
	names  map[string]string
	listed bool
}

func (u *ui) actorNames(ctx context.Context) *actorNames {
	return &actorNames{ctx: ctx, u: u, names: map[string]string{custodian.ActorCLI: msg("command line"), custodian.ActorMonitor: msg("attack detector")}}
}

// name is the display name of an actor id ("" for none).
func (a *actorNames) name(id string) string {
	if id == "" {
		return ""
	}
	if n, ok := a.names[id]; ok {
		return n
	}
	if n, ok := a.all()[id]; ok {
		return n
	}
	return id
}

// all returns every actor id known, with its name.
func (a *actorNames) all() map[string]string {
	if a.listed || a.u.acc == nil {
		return a.names
	}
	a.listed = true
	users, err := a.u.acc.ListUsers(a.ctx)
	if err != nil {
		a.u.logger.WarnContext(a.ctx, "list users for names", "request_id", requestID(a.ctx), "err", err)
		return a.names
	}
	for _, usr := range users {
		a.names[usr.ID] = usr.Name
	}
	return a.names
}

// failCustomer renders a customer page's error: the tombstone for an
// erased customer, else as fail does.
func (u *ui) failCustomer(w http.ResponseWriter, r *http.Request, id string, err error) {
	gone, ok := errors.AsType[*custodian.GoneError](err)
	if !ok || gone.Tombstone == nil || custodian.ErrorCode(err) != custodian.EGONE {
		u.fail(w, r, err)
		return
	}
	t := gone.Tombstone
	names := u.actorNames(r.Context())
	d := erasedData{T: t, ByName: names.name(t.ErasedBy)}
	if d.customerExtras, err = u.extras(r, id, names); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusGone, "customer_erased", uiView{Title: u.t(r, "Erased customer"), Section: "customers", Data: d})
}

// erasedData is the page of an erased customer: what remains.
type erasedData struct {
	T      *custodian.Tombstone
	ByName string
	customerExtras
}

// handleConsentForm records a consent change. Invalid input (an unknown
// purpose, a missing state, overlong text) comes back on the customer
// page with the values kept and a message next to each field.
func (u *ui) handleConsentForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id, f := r.PathValue("id"), r.PostForm
		in := custodian.ConsentInput{Purpose: f.Get("purpose"), State: f.Get("state"), Source: f.Get("source"), Evidence: f.Get("evidence")}
		_, err := u.privacy.RecordConsent(r.Context(), id, in)
		u.customerFormDone(w, r, id, err, "consent", "consent-recorded", func() customerForms {
			return customerForms{consent: &consentForm{ConsentInput: in, Errors: u.fieldErrors(r, err), Error: u.errorMessage(r, err)}}
		})
	})
}

// handleLegalHoldForm sets or lifts a legal hold, with a reason.
func (u *ui) handleLegalHoldForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id, reason := r.PathValue("id"), r.PostForm.Get("reason")
		active := r.PostForm.Get("active") == "true"
		_, err := u.privacy.SetLegalHold(r.Context(), id, active, reason)
		flash := "hold-lifted"
		if active {
			flash = "hold-set"
		}
		u.customerFormDone(w, r, id, err, "privacy", flash, func() customerForms {
			msg := u.fieldErrors(r, err)["reason"]
			if msg == "" {
				msg = u.errorMessage(r, err)
			}
			return customerForms{hold: holdForm{Reason: reason, Error: msg}}
		})
	})
}

// handleExportForm downloads everything held about the customer as JSON,
// through the same service call as the API's export, which records it in
// the audit trail. It is a form post so that no link prefetch or crawler
// can cause an export.
func (u *ui) handleExportForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		e, err := u.privacy.ExportCustomer(r.Context(), r.PathValue("id"))
		if err != nil {
			u.fail(w, r, err)
			return
		}
		writeExport(w, e)
	})
}

// eraseData is the erasure confirmation page's content.
type eraseData struct {
	C       *custodian.Customer
	Reason  string
	Errors  map[string]string
	Error   string
	Confirm bool
}

// handleErasePage asks for confirmation and a reason before erasing.
func (u *ui) handleErasePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.showErase(w, r, http.StatusOK, eraseData{})
	})
}

func (u *ui) showErase(w http.ResponseWriter, r *http.Request, status int, d eraseData) {
	id := r.PathValue("id")
	c, err := u.customers.Customer(r.Context(), id)
	if err != nil {
		u.failCustomer(w, r, id, err)
		return
	}
	d.C = c
	u.render(w, r, status, "customer_erase", uiView{Title: u.t(r, "Erase %s", c.Name), Section: "customers", Data: d})
}

// confirmErase is the value of the confirmation checkbox.
const confirmErase = "erase"

// handleEraseForm erases the customer when the confirmation is ticked and
// a reason given, then shows the tombstone. Erasing an erased customer
// again changes nothing and says so.
func (u *ui) handleEraseForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id, f := r.PathValue("id"), r.PostForm
		d := eraseData{Reason: f.Get("reason"), Confirm: f.Get("confirm") == confirmErase, Errors: map[string]string{}}
		if !d.Confirm {
			d.Errors["confirm"] = msg("Tick this box to confirm that the erasure cannot be undone.")
		}
		if _, err := custodian.CheckReason("reason", d.Reason); err != nil {
			d.Errors["reason"] = u.fieldErrors(r, err)["reason"]
		}
		if len(d.Errors) > 0 {
			d.Error = msg("Nothing was erased.")
			u.showErase(w, r, http.StatusBadRequest, d)
			return
		}
		_, again, err := u.privacy.EraseCustomer(r.Context(), id, d.Reason)
		switch custodian.ErrorCode(err) {
		case "":
			flash := "customer-erased"
			if again {
				flash = "customer-erased-already"
			}
			redirectWithFlash(w, r, uiCustomerPath(id), flash)
		case custodian.ECONFLICT:
			d.Error = u.errorMessage(r, err)
			u.showErase(w, r, http.StatusConflict, d)
		default:
			u.failCustomer(w, r, id, err)
		}
	})
}
