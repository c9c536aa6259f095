package http

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// uiPageSize is how many customers a list page shows.
const uiPageSize = 25

// searchStateTTL bounds how long a sealed search stays usable: a session's
// longest life.
const searchStateTTL = 12 * time.Hour

// option is one choice of a select.
type option struct{ Value, Label string }

var (
	statusOptions = []option{{"", "Any status"}, {"lead", "Lead"}, {"active", "Active"}, {"inactive", "Inactive"}}
	sortOptions   = []option{{"-created_at", "Newest first"}, {"created_at", "Oldest first"}, {"name", "Name A–Z"}, {"-name", "Name Z–A"}, {"-updated_at", "Recently updated"}}
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
	Errors   []custodian.FieldError
}

// handleCustomerList shows a page of customers. Filters, order and the
// cursor are in the query string; a search term never is: it arrives
// sealed (see handleCustomerSearch), readable only by this session.
func (u *ui) handleCustomerList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qv := r.URL.Query()
		d := listData{Status: qv.Get("status"), Tag: qv.Get("tag"), Sort: qv.Get("sort"), Statuses: statusOptions, Sorts: sortOptions}
		if d.Sort == "" {
			d.Sort = string(custodian.DefaultSort)
		}
		var flash string
		if s := qv.Get("s"); s != "" {
			b, err := u.keys.openState("search", principal(r).SessionHash, s)
			if err != nil {
				flash = flashMessages["search-expired"]
			} else {
				d.Search = string(b)
			}
		}
		d.Filtered = d.Search != "" || d.Status != "" || d.Tag != ""
		d.Paged = qv.Get("cursor") != ""
		page, err := u.customers.ListCustomers(r.Context(), custodian.CustomerQuery{
			Search: d.Search, Status: custodian.Status(d.Status), Tag: d.Tag,
			Sort: custodian.Sort(d.Sort), Cursor: qv.Get("cursor"), Limit: uiPageSize,
		})
		status := http.StatusOK
		switch {
		case custodian.ErrorCode(err) == custodian.EINVALID:
			status, d.Errors = http.StatusBadRequest, custodian.ErrorFields(err)
		case err != nil:
			u.fail(w, r, err)
			return
		default:
			d.Items = page.Items
			base := listQuery(qv)
			if d.Paged {
				d.FirstURL = withQuery("/customers", base)
			}
			if page.NextCursor != "" {
				base.Set("cursor", page.NextCursor)
				d.NextURL = withQuery("/customers", base)
			}
		}
		u.render(w, r, status, "customers", uiView{Title: "Customers", Section: "customers", Flash: flash, Data: d})
	})
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
	for _, k := range []string{"status", "tag", "sort", "s"} {
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !u.checkForm(w, r) {
			return
		}
		f := r.PostForm
		q := url.Values{}
		for _, k := range []string{"status", "tag", "sort"} {
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
	ID       string
	Action   string
	Fields   []formField
	Status   string
	Statuses []option
	Version  int64
	Error    string
	Conflict *custodian.Customer
	Errors   []custodian.FieldError
}

// customerFields lists the form's inputs with their values from f.
func customerFields(f custodian.CustomerFields) []formField {
	return []formField{
		{Name: "name", Label: "Name", Type: "text", Value: f.Name, Autocomplete: "off", Max: custodian.MaxNameLen},
		{Name: "company", Label: "Company", Type: "text", Value: f.Company, Autocomplete: "off", Max: custodian.MaxCompanyLen},
		{Name: "email", Label: "Email", Type: "email", Value: f.Email, Autocomplete: "off", Max: custodian.MaxEmailLen},
		{Name: "phone", Label: "Phone", Type: "tel", Value: f.Phone, Autocomplete: "off", Max: custodian.MaxPhoneInputLen, Hint: "With the country code, such as +44 20 7946 0958."},
		{Name: "address.street", Label: "Street", Type: "text", Value: f.Address.Street, Autocomplete: "off", Max: custodian.MaxStreetLen},
		{Name: "address.city", Label: "City", Type: "text", Value: f.Address.City, Autocomplete: "off", Max: custodian.MaxCityLen},
		{Name: "address.postal_code", Label: "Postal code", Type: "text", Value: f.Address.PostalCode, Autocomplete: "off", Max: custodian.MaxPostalCodeLen},
		{Name: "address.country", Label: "Country", Type: "text", Value: f.Address.Country, Autocomplete: "off", Max: 2, Hint: "Two-letter code, such as GB or DE."},
		{Name: "tags", Label: "Tags", Type: "text", Value: strings.Join(f.Tags, ", "), Autocomplete: "off", Hint: "Separated by commas."},
		{Name: "notes", Label: "Notes", Value: f.Notes, Multiline: true, Max: custodian.MaxNotesLen},
	}
}

// fieldsFromForm reads the customer form.
func fieldsFromForm(f url.Values) custodian.CustomerFields {
	var tags []string
	for _, t := range strings.Split(f.Get("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return custodian.CustomerFields{
		Name: f.Get("name"), Company: f.Get("company"), Email: f.Get("email"), Phone: f.Get("phone"),
		Address: custodian.Address{Street: f.Get("address.street"), City: f.Get("address.city"), PostalCode: f.Get("address.postal_code"), Country: f.Get("address.country")},
		Notes:   f.Get("notes"), Tags: tags, Status: custodian.Status(f.Get("status")),
	}
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
func formWithErrors(d *customerFormData, err error) {
	d.Errors = custodian.ErrorFields(err)
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
	d.Error = custodian.ErrorMessage(err)
}

func (u *ui) renderCustomerForm(w http.ResponseWriter, r *http.Request, status int, title string, d customerFormData) {
	d.Statuses = formStatuses
	if d.Status == "" {
		d.Status = string(custodian.StatusLead)
	}
	u.render(w, r, status, "customer_form", uiView{Title: title, Section: "customers", Data: d})
}

// handleNewCustomer shows the empty form.
func (u *ui) handleNewCustomer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderCustomerForm(w, r, http.StatusOK, "New customer", customerFormData{Action: "/customers/new", Fields: customerFields(custodian.CustomerFields{})})
	})
}

// handleCreateCustomerForm creates a customer; invalid input comes back
// with every entered value and a message next to each field at fault.
func (u *ui) handleCreateCustomerForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !u.checkForm(w, r) {
			return
		}
		f := fieldsFromForm(r.PostForm)
		c, err := u.customers.CreateCustomer(r.Context(), f)
		if err != nil {
			if custodian.ErrorCode(err) != custodian.EINVALID {
				u.fail(w, r, err)
				return
			}
			d := customerFormData{Action: "/customers/new", Fields: customerFields(f), Status: string(f.Status)}
			keepTyped(d.Fields, r.PostForm)
			formWithErrors(&d, err)
			u.renderCustomerForm(w, r, http.StatusBadRequest, "New customer", d)
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
		u.renderCustomerForm(w, r, http.StatusOK, "Edit "+c.Name, customerFormData{
			ID: c.ID, Action: uiCustomerPath(c.ID) + "/edit", Fields: customerFields(c.CustomerFields), Status: string(c.Status), Version: c.Version,
		})
	})
}

// handleUpdateCustomerForm saves an edit if nobody changed the customer
// since the form was shown. If somebody did, the form comes back with the
// person's input kept and the current values beside it, and with the
// current version, so saving again replaces them knowingly.
func (u *ui) handleUpdateCustomerForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !u.checkForm(w, r) {
			return
		}
		id := r.PathValue("id")
		f := fieldsFromForm(r.PostForm)
		d := customerFormData{ID: id, Action: uiCustomerPath(id) + "/edit", Fields: customerFields(f), Status: string(f.Status)}
		keepTyped(d.Fields, r.PostForm)
		version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
		if err != nil || version < 1 {
			u.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back, reload the page and try again.")
			return
		}
		d.Version = version
		c, err := u.customers.UpdateCustomer(r.Context(), id, version, custodian.ReplaceWith(f))
		switch custodian.ErrorCode(err) {
		case "":
			redirectWithFlash(w, r, uiCustomerPath(c.ID), "customer-saved")
		case custodian.EINVALID:
			formWithErrors(&d, err)
			u.renderCustomerForm(w, r, http.StatusBadRequest, "Edit customer", d)
		case custodian.EPRECONDITION:
			cur, err := u.customers.Customer(r.Context(), id)
			if err != nil {
				u.fail(w, r, err)
				return
			}
			d.Conflict, d.Version = cur, cur.Version
			d.Error = "Someone else changed this customer while you were editing. Their version is shown below and your changes are still in the form: saving again will replace their version with yours."
			u.renderCustomerForm(w, r, http.StatusConflict, "Edit "+cur.Name, d)
		default:
			u.fail(w, r, err)
		}
	})
}
