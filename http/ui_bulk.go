package http

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/custodian-crm/custodian"
)

// bulkActions are the actions the list offers, with their labels.
var bulkActions = []option{{"add_tags", msg("Add tags")}, {"remove_tags", msg("Remove tags")}, {"set_status", msg("Set status")}, {"delete", msg("Delete")}}

// bulkData is the bulk confirmation and result page's content.
type bulkData struct {
	// The request, carried to the next step in hidden fields.
	Action      string
	ActionLabel string
	Tags        string
	Status      string
	Scope       string // "selected" or "filter"
	IDs         []string
	FilterS     string // the list's sealed search, as in its URL
	FilterState string
	FilterTag   string
	Searched    bool
	// Count is how many customers the request selects (confirmation).
	Count int
	// Result is set once the action ran.
	Result *custodian.BulkResult
	Errors []custodian.FieldError
	Back   string
}

// bulkFromForm reads the list's bulk form (or the confirmation's hidden
// copy of it) into the service's request and the page's data.
func (u *ui) bulkFromForm(r *http.Request) (custodian.BulkRequest, bulkData, error) {
	f := r.PostForm
	d := bulkData{Action: f.Get("action"), Tags: strings.TrimSpace(f.Get("tags")), Status: f.Get("bulk_status"), Scope: f.Get("scope"),
		FilterS: f.Get("s"), FilterState: f.Get("status"), FilterTag: f.Get("tag")}
	for _, o := range bulkActions {
		if o.Value == d.Action {
			d.ActionLabel = o.Label
		}
	}
	back := url.Values{}
	for k, v := range map[string]string{"s": d.FilterS, "status": d.FilterState, "tag": d.FilterTag} {
		if v != "" {
			back.Set(k, v)
		}
	}
	d.Back = withQuery("/customers", back)
	req := custodian.BulkRequest{Action: custodian.BulkAction(d.Action), Status: custodian.Status(d.Status)}
	for _, t := range strings.Split(d.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			req.Tags = append(req.Tags, t)
		}
	}
	if d.Scope == "filter" {
		filter := custodian.BulkFilter{Status: custodian.Status(d.FilterState), Tag: d.FilterTag}
		if d.FilterS != "" {
			b, err := u.keys.openState("search", principal(r).SessionHash, d.FilterS)
			if err != nil {
				return req, d, errorf(custodian.EINVALID, flashMessages["search-expired"])
			}
			filter.Search, d.Searched = string(b), true
		}
		req.Filter = &filter
	} else {
		d.Scope = "selected"
		d.IDs = f["id"]
		if len(d.IDs) == 0 {
			return req, d, errorf(custodian.EINVALID, msg("Select at least one customer, or choose all customers matching the search."), custodian.FieldError{Field: "ids", Message: msg("Select at least one customer.")})
		}
		for _, id := range d.IDs {
			req.Targets = append(req.Targets, custodian.BulkTarget{ID: id})
		}
	}
	if err := mayBulk(r, req.Action); err != nil && req.Action.Valid() {
		return req, d, err
	}
	return req, d, nil
}

// handleBulkReview shows how many customers the bulk form selects and asks
// for confirmation; nothing changes yet.
func (u *ui) handleBulkReview() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		req, d, err := u.bulkFromForm(r)
		if err == nil {
			req.DryRun = true
			var res *custodian.BulkResult
			if res, err = u.bulk.BulkCustomers(r.Context(), req); err == nil {
				d.Count = res.Matched
			}
		}
		u.renderBulk(w, r, d, err)
	})
}

// handleBulkApply runs the confirmed bulk action and shows what it did.
func (u *ui) handleBulkApply() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		req, d, err := u.bulkFromForm(r)
		if err == nil {
			d.Result, err = u.bulk.BulkCustomers(r.Context(), req)
		}
		u.renderBulk(w, r, d, err)
	})
}

// renderBulk shows the confirmation or the result, or why the request
// cannot run.
func (u *ui) renderBulk(w http.ResponseWriter, r *http.Request, d bulkData, err error) {
	status := http.StatusOK
	if err != nil {
		if custodian.ErrorCode(err) != custodian.EINVALID {
			u.fail(w, r, err)
			return
		}
		status = http.StatusBadRequest
		d.Errors = u.errorFields(r, err)
		if len(d.Errors) == 0 {
			d.Errors = []custodian.FieldError{{Message: u.errorMessage(r, err)}}
		}
	}
	title := msg("Confirm the change")
	if d.Result != nil {
		title = msg("Bulk change done")
	}
	u.render(w, r, status, "customers_bulk", uiView{Title: u.t(r, title), Section: "customers", Data: d})
}
