package http

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// uiPageSize is how many customers a list page shows unless the user
// chooses another of uiPageSizes.
const uiPageSize = 25

// uiPageSizes are the page sizes the list offers.
var uiPageSizes = []int{25, 50, 100}

// countUpTo bounds the list's total: counted exactly up to it, then shown
// as "more than", so the count costs the same however large the list.
const countUpTo = 1000

// maxBackCursors bounds the cursors of earlier pages the list's address
// keeps for its Previous link.
const maxBackCursors = 50

// searchStateTTL bounds how long a sealed search stays usable: a session's
// longest life.
const searchStateTTL = 12 * time.Hour

// option is one choice of a select.
type option struct{ Value, Label string }

var (
	statusOptions = []option{{"", msg("Any status")}, {"lead", msg("Lead")}, {"active", msg("Active")}, {"inactive", msg("Inactive")}}
	sortOptions   = []option{{"-created_at", msg("Newest first")}, {"created_at", msg("Oldest first")}, {"name", msg("Name A–Z")}, {"-name", msg("Name Z–A")}, {"-updated_at", msg("Recently updated")}}
	formStatuses  = statusOptions[1:]
)

// listData is the customer list page's content.
type listData struct {
	Items    []*custodian.Customer
	Search   string
	Status   string
	Tag      string
	Sort     string
	Statuses []option
	Sorts    []option
	Filtered bool
	Paged    bool
	NextURL  string
	FirstURL string
	PrevURL  string
	// Count is how many customers the list selects, exactly up to
	// countUpTo; CountErr is set when it could not be counted.
	Count    custodian.CustomerCount
	CountErr bool
	// Size is the page size and Sizes the choices.
	Size   int
	Sizes  []int
	Errors []custodian.FieldError
	// SealedSearch is the search as the list's address holds it (sealed
	// to the session), for the export form and for the bulk form to act
	// on every matching customer.
	SealedSearch string
	BulkActions  []option
	FormStatuses []option
	// Views are the user's saved views and the shared ones; View is the
	// one the list shows, if any; CanShare says whether the user may
	// save and change shared views. ViewForm is the save form, and
	// ManageError what refused a rename.
	Views       []custodian.View
	View        *custodian.View
	CanShare    bool
	ViewForm    viewForm
	ManageError string
	ViewsErr    bool
}

// viewForm is the "Save view" form, with its values and errors.
type viewForm struct {
	Name   string
	Shared bool
	Errors map[string]string
	Error  string
}

// handleCustomerList shows a page of customers. Filters, order and the
// cursor are in the query string; a search term never is: it arrives
// sealed (see handleCustomerSearch), readable only by this session. A
// saved view is opened by its id (view=): its state, search included,
// comes from the view, so the address can be bookmarked and shared with
// whoever may see the view without carrying the search.
func (u *ui) handleCustomerList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.showCustomerList(w, r, r.URL.Query(), http.StatusOK, func(*listData) {})
	})
}

// showCustomerList renders the customer list for the query qv, answering
// status unless the list query itself is refused; adjust sets what a
// refused form adds (its values and errors).
func (u *ui) showCustomerList(w http.ResponseWriter, r *http.Request, qv url.Values, status int, adjust func(*listData)) {
	p := principal(r)
	d := listData{Status: qv.Get("status"), Tag: qv.Get("tag"), Sort: qv.Get("sort"), Statuses: statusOptions, Sorts: sortOptions,
		BulkActions: bulkActions, FormStatuses: formStatuses, CanShare: p.User.Role.Can(custodian.PermViewsShare)}
	var flash string
	// Views that cannot be read (a view under a master key gone from the
	// keyring) leave the list itself usable: the bar says so, the log
	// says why.
	views, err := u.acc.Views(r.Context(), p)
	if err != nil {
		u.logger.ErrorContext(r.Context(), "saved views could not be read", "request_id", requestID(r.Context()), "err", err)
		d.ViewsErr = true
	}
	d.Views = views
	d.Size, d.Sizes = uiPageSize, uiPageSizes
	if n, err := strconv.Atoi(qv.Get("size")); err == nil && slices.Contains(uiPageSizes, n) {
		d.Size = n
	}
	if id := qv.Get("view"); id != "" {
		v, err := u.acc.View(r.Context(), p, id)
		switch {
		case custodian.ErrorCode(err) == custodian.ENOTFOUND:
			flash = flashMessages["view-not-found"]
			qv = cloneValues(qv)
			qv.Del("view")
		case err != nil:
			u.fail(w, r, err)
			return
		default:
			d.View = v
			d.Status, d.Tag, d.Sort, d.Search = string(v.State.Status), v.State.Tag, string(v.State.Sort), v.State.Search
			if slices.Contains(uiPageSizes, v.State.PageSize) {
				d.Size = v.State.PageSize
			}
			if d.Search != "" {
				d.SealedSearch = u.keys.sealState("search", p.SessionHash, []byte(d.Search), searchStateTTL)
			}
		}
	}
	if d.Sort == "" {
		d.Sort = string(custodian.DefaultSort)
	}
	if s := qv.Get("s"); s != "" && d.View == nil {
		b, err := u.keys.openState("search", p.SessionHash, s)
		if err != nil {
			flash = flashMessages["search-expired"]
		} else {
			d.Search, d.SealedSearch = string(b), s
		}
	}
	d.Filtered = d.Search != "" || d.Status != "" || d.Tag != ""
	d.Paged = qv.Get("cursor") != ""
	adjust(&d)
	q := custodian.CustomerQuery{Search: d.Search, Status: custodian.Status(d.Status), Tag: d.Tag,
		Sort: custodian.Sort(d.Sort), Cursor: qv.Get("cursor"), Limit: d.Size}
	page, err := u.customers.ListCustomers(r.Context(), q)
	switch {
	case custodian.ErrorCode(err) == custodian.EINVALID:
		status, d.Errors = http.StatusBadRequest, u.errorFields(r, err)
	case err != nil:
		u.fail(w, r, err)
		return
	default:
		d.Items = page.Items
		base := listQuery(qv)
		// back holds the cursors of the pages before this one, oldest
		// first: the last leads to the previous page.
		var back []string
		if b := qv.Get("back"); b != "" {
			back = strings.Split(b, ".")
		}
		if d.Paged {
			d.FirstURL = withQuery("/customers", base)
			prev := cloneValues(base)
			if len(back) > 0 {
				prev.Set("cursor", back[len(back)-1])
				if len(back) > 1 {
					prev.Set("back", strings.Join(back[:len(back)-1], "."))
				}
			}
			d.PrevURL = withQuery("/customers", prev)
		}
		if page.NextCursor != "" {
			next := cloneValues(base)
			next.Set("cursor", page.NextCursor)
			if d.Paged {
				back = append(back, qv.Get("cursor"))
				if len(back) > maxBackCursors {
					back = back[len(back)-maxBackCursors:]
				}
				next.Set("back", strings.Join(back, "."))
			}
			d.NextURL = withQuery("/customers", next)
		}
		c, err := u.customers.CountCustomers(r.Context(), q, countUpTo)
		if err != nil {
			u.logger.WarnContext(r.Context(), "the customer list could not be counted", "request_id", requestID(r.Context()), "err", err)
			d.CountErr = true
		}
		d.Count = c
	}
	u.render(w, r, status, "customers", uiView{Title: u.t(r, "Customers"), Section: "customers", Flash: flash, Data: d})
}

// cloneValues copies a query.
func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// withQuery is path with the query q, if any.
func withQuery(path string, q url.Values) string {
	if enc := q.Encode(); enc != "" {
		return path + "?" + enc
	}
	return path
}

// listQuery keeps the list parameters that survive paging.
func listQuery(qv url.Values) url.Values {
	out := url.Values{}
	keys := []string{"status", "tag", "sort", "s", "size"}
	if v := qv.Get("view"); v != "" {
		keys = []string{"view"} // the view holds the rest
	}
	for _, k := range keys {
		if v := qv.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// handleCustomerSearch takes the search form (posted, so the term is in no
// URL and no request log) and redirects to the list with the term sealed
// to this session, so the result can be reloaded and paged.
func (u *ui) handleCustomerSearch() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		q := url.Values{}
		for _, k := range []string{"status", "tag", "sort", "size"} {
			if v := strings.TrimSpace(f.Get(k)); v != "" {
				q.Set(k, v)
			}
		}
		if term := strings.TrimSpace(f.Get("q")); term != "" {
			q.Set("s", u.keys.sealState("search", principal(r).SessionHash, []byte(term), searchStateTTL))
		}
		http.Redirect(w, r, withQuery("/customers", q), http.StatusSeeOther)
	})
}

// formField is one input of the customer form.
type formField struct {
	Name, Label, Type, Value, Error, Autocomplete, Hint string
	Max                                                 int
	Multiline                                           bool
}

// customerFormData is the create and edit form's content.
type customerFormData struct {
	ID     string
	Action string
	Fields []formField
	// StatusAt is the index in Fields before which the status is chosen
	// (len(Fields) for after them all).
	StatusAt int
	Status   string
	Statuses []option
	Version  int64
	Error    string
	Conflict *custodian.Customer
	Errors   []custodian.FieldError
}

// customerFields lists the form's inputs with their values from f: the
// single-line personal fields in table order, the tags, then (after the
// status, see StatusAt) the free-text fields.
func customerFields(f custodian.CustomerFields) []formField {
	var lines, texts []formField
	for _, pf := range custodian.PersonalFields() {
		ff := formField{Name: pf.Name, Label: pf.Label, Type: pf.Kind.InputType(), Value: *pf.Value(&f), Autocomplete: pf.Autocomplete, Hint: pf.Hint, Max: pf.MaxLen}
		if pf.Kind == custodian.KindText {
			ff.Multiline = true
			texts = append(texts, ff)
			continue
		}
		lines = append(lines, ff)
	}
	lines = append(lines, formField{Name: "tags", Label: msg("Tags"), Type: "text", Value: strings.Join(f.Tags, ", "), Autocomplete: "off", Hint: msg("Separated by commas.")})
	return append(lines, texts...)
}

// statusAt is where the status goes among fields: before the first
// free-text field.
func statusAt(fields []formField) int {
	for i, f := range fields {
		if f.Multiline {
			return i
		}
	}
	return len(fields)
}

// fieldsFromForm reads the customer form.
func fieldsFromForm(f url.Values) custodian.CustomerFields {
	var tags []string
	for _, t := range strings.Split(f.Get("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	out := custodian.CustomerFields{Tags: tags, Status: custodian.Status(f.Get("status"))}
	for _, pf := range custodian.PersonalFields() {
		*pf.Value(&out) = f.Get(pf.Name)
	}
	return out
}

// personalItem is one personal unit of a customer as a page shows it: a
// field of its own, or the parts of the address.
type personalItem struct {
	// Name is the unit's name: "email", "address".
	Name  string
	Label string
	// Type is the input type of a field of its own ("text", "email",
	// "tel", "textarea"), and empty for a unit of parts.
	Type string
	// Value is the field's value, or the unit's parts that are set,
	// joined; empty when none is.
	Value string
}

// None says that the unit is empty, for a section of its own: "No notes."
func (it personalItem) None() string { return "No " + strings.ToLower(it.Label) + "." }

// titleUnit is the unit a customer page has as its heading rather than
// among its details.
const titleUnit = "name"

// personalItems returns the units of f in the order of the form, split
// into single-line units and free-text ones. A unit of parts is labelled
// by its name ("Address").
func personalItems(f custodian.CustomerFields) (lines, texts []personalItem) {
	var items []personalItem
	for _, pf := range custodian.PersonalFields() {
		v := *pf.Value(&f)
		if pf.Part() == "" {
			items = append(items, personalItem{Name: pf.Unit, Label: pf.Label, Type: pf.Kind.InputType(), Value: v})
			continue
		}
		i := slices.IndexFunc(items, func(it personalItem) bool { return it.Name == pf.Unit })
		if i < 0 {
			i = len(items)
			items = append(items, personalItem{Name: pf.Unit, Label: strings.ToUpper(pf.Unit[:1]) + strings.ReplaceAll(pf.Unit[1:], "_", " ")})
		}
		if it := &items[i]; v != "" {
			if it.Value != "" {
				it.Value += ", "
			}
			it.Value += v
		}
	}
	for _, it := range items {
		if it.Type == "textarea" {
			texts = append(texts, it)
		} else {
			lines = append(lines, it)
		}
	}
	return lines, texts
}

// Details are the single-line units the customer page lists, all but its
// title.
func (d customerData) Details() []personalItem {
	lines, _ := personalItems(d.C.CustomerFields)
	return slices.DeleteFunc(lines, func(it personalItem) bool { return it.Name == titleUnit })
}

// Texts are the free-text units the customer page shows in sections of
// their own.
func (d customerData) Texts() []personalItem {
	_, texts := personalItems(d.C.CustomerFields)
	return texts
}

// ConflictLines and ConflictTexts are the units of the version someone else
// saved meanwhile, shown beside the form: single-line, then free text.
func (d customerFormData) ConflictLines() []personalItem {
	lines, _ := personalItems(d.Conflict.CustomerFields)
	return lines
}

// ConflictTexts: see ConflictLines.
func (d customerFormData) ConflictTexts() []personalItem {
	_, texts := personalItems(d.Conflict.CustomerFields)
	return texts
}

// keepTyped shows the tags exactly as typed when the form comes back.
func keepTyped(fields []formField, f url.Values) {
	for i := range fields {
		if fields[i].Name == "tags" {
			fields[i].Value = f.Get("tags")
		}
	}
}

// formWithErrors places each field error next to its field; errors for
// parts of a field (a single tag) go to the field.
func (u *ui) formWithErrors(r *http.Request, d *customerFormData, err error) {
	d.Errors = u.errorFields(r, err)
	for _, fe := range d.Errors {
		for i := range d.Fields {
			name := d.Fields[i].Name
			if fe.Field == name || strings.HasPrefix(fe.Field, name+"[") || strings.HasPrefix(fe.Field, name+".") {
				if d.Fields[i].Error == "" {
					d.Fields[i].Error = fe.Message
				}
			}
		}
	}
	d.Error = u.errorMessage(r, err)
}

func (u *ui) renderCustomerForm(w http.ResponseWriter, r *http.Request, status int, title string, d customerFormData) {
	d.Statuses = formStatuses
	d.StatusAt = statusAt(d.Fields)
	if d.Status == "" {
		d.Status = string(custodian.StatusLead)
	}
	u.render(w, r, status, "customer_form", uiView{Title: title, Section: "customers", Data: d})
}

// handleNewCustomer shows the empty form.
func (u *ui) handleNewCustomer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderCustomerForm(w, r, http.StatusOK, u.t(r, "New customer"), customerFormData{Action: "/customers/new", Fields: customerFields(custodian.CustomerFields{})})
	})
}

// handleCreateCustomerForm creates a customer; invalid input comes back
// with every entered value and a message next to each field at fault.
func (u *ui) handleCreateCustomerForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := fieldsFromForm(r.PostForm)
		c, err := u.customers.CreateCustomer(r.Context(), f)
		if err != nil {
			if custodian.ErrorCode(err) != custodian.EINVALID {
				u.fail(w, r, err)
				return
			}
			d := customerFormData{Action: "/customers/new", Fields: customerFields(f), Status: string(f.Status)}
			keepTyped(d.Fields, r.PostForm)
			u.formWithErrors(r, &d, err)
			u.renderCustomerForm(w, r, http.StatusBadRequest, u.t(r, "New customer"), d)
			return
		}
		redirectWithFlash(w, r, uiCustomerPath(c.ID), "customer-created")
	})
}

func uiCustomerPath(id string) string { return "/customers/" + url.PathEscape(id) }

// handleEditCustomer shows the edit form with the customer's version, which
// the save sends back for optimistic concurrency.
func (u *ui) handleEditCustomer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.customers.Customer(r.Context(), r.PathValue("id"))
		if err != nil {
			u.failCustomer(w, r, r.PathValue("id"), err)
			return
		}
		u.renderCustomerForm(w, r, http.StatusOK, u.t(r, "Edit %s", c.Name), customerFormData{
			ID: c.ID, Action: uiCustomerPath(c.ID) + "/edit", Fields: customerFields(c.CustomerFields), Status: string(c.Status), Version: c.Version,
		})
	})
}

// handleUpdateCustomerForm saves an edit if nobody changed the customer
// since the form was shown. If somebody did, the form comes back with the
// person's input kept and the current values beside it, and with the
// current version, so saving again replaces them knowingly.
func (u *ui) handleUpdateCustomerForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		f := fieldsFromForm(r.PostForm)
		d := customerFormData{ID: id, Action: uiCustomerPath(id) + "/edit", Fields: customerFields(f), Status: string(f.Status)}
		keepTyped(d.Fields, r.PostForm)
		version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
		if err != nil || version < 1 {
			u.errorPage(w, r, http.StatusBadRequest, msg("The form could not be read"), msg("Go back, reload the page and try again."))
			return
		}
		d.Version = version
		c, err := u.customers.UpdateCustomer(r.Context(), id, version, custodian.ReplaceWith(f))
		switch custodian.ErrorCode(err) {
		case "":
			redirectWithFlash(w, r, uiCustomerPath(c.ID), "customer-saved")
		case custodian.EINVALID:
			u.formWithErrors(r, &d, err)
			u.renderCustomerForm(w, r, http.StatusBadRequest, u.t(r, "Edit customer"), d)
		case custodian.EPRECONDITION:
			cur, err := u.customers.Customer(r.Context(), id)
			if err != nil {
				u.fail(w, r, err)
				return
			}
			d.Conflict, d.Version = cur, cur.Version
			d.Error = msg("Someone else changed this customer while you were editing. Their version is shown below and your changes are still in the form: saving again will replace their version with yours.")
			u.renderCustomerForm(w, r, http.StatusConflict, u.t(r, "Edit %s", cur.Name), d)
		default:
			u.fail(w, r, err)
		}
	})
}
