package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/custodian-crm/custodian"
)

// pageJSON is a list page; next_cursor is null on the last page.
type pageJSON struct {
	Items      []*custodian.Customer `json:"items"`
	NextCursor *string               `json:"next_cursor"`
}

// customerBody is what POST and PUT accept: every editable field, plus the
// read-only fields a client may send back unchanged from a GET (ignored).
type customerBody struct {
	Name    string           `json:"name"`
	Email   string           `json:"email"`
	Phone   string           `json:"phone"`
	Company string           `json:"company"`
	Address json.RawMessage  `json:"address"`
	Notes   string           `json:"notes"`
	Tags    []string         `json:"tags"`
	Status  custodian.Status `json:"status"`

	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	CreatedBy json.RawMessage `json:"created_by"`
	UpdatedBy json.RawMessage `json:"updated_by"`
	Version   json.RawMessage `json:"version"`
	LegalHold json.RawMessage `json:"legal_hold"`
}

// decodeCustomerBody decodes a POST or PUT body. The address is decoded on
// its own so that its field errors carry their full path.
func decodeCustomerBody(b []byte) (custodian.CustomerFields, error) {
	var body customerBody
	if err := decodeStrict(b, &body, ""); err != nil {
		return custodian.CustomerFields{}, err
	}
	f := custodian.CustomerFields{Name: body.Name, Email: body.Email, Phone: body.Phone, Company: body.Company, Notes: body.Notes, Tags: body.Tags, Status: body.Status}
	if len(body.Address) > 0 && string(body.Address) != "null" {
		if err := decodeStrict(body.Address, &f.Address, "address."); err != nil {
			if custodian.ErrorFields(err) == nil {
				return f, errorf(custodian.EINVALID, "The request has invalid fields.", custodian.FieldError{Field: "address", Message: "Must be a JSON object."})
			}
			return f, err
		}
	}
	return f, nil
}

func etag(c *custodian.Customer) string { return `"` + strconv.FormatInt(c.Version, 10) + `"` }

// ifMatch reads an If-Match header: the version it names, 0 for "*", and
// whether the header was present. A tag that is not one of ours (a weak
// tag, a list, garbage) cannot match any version, so it yields -1.
func ifMatch(r *http.Request) (version int64, present bool) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, false
	}
	if h == "*" {
		return 0, true
	}
	if len(h) >= 2 && h[0] == '"' && h[len(h)-1] == '"' {
		if v, err := strconv.ParseInt(h[1:len(h)-1], 10, 64); err == nil && v > 0 {
			return v, true
		}
	}
	return -1, true
}

// writeCustomer answers with one customer, its ETag and a no-store policy.
func writeCustomer(w http.ResponseWriter, status int, c *custodian.Customer) {
	w.Header().Set("ETag", etag(c))
	writeJSON(w, status, c)
}

func customerPath(id string) string { return "/api/customers/" + url.PathEscape(id) + "/" }

func handleCreateCustomer(logger *slog.Logger, svc custodian.CustomerService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := readJSON(w, r)
		var f custodian.CustomerFields
		if err == nil {
			f, err = decodeCustomerBody(b)
		}
		var c *custodian.Customer
		if err == nil {
			c, err = svc.CreateCustomer(r.Context(), f)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.Header().Set("Location", customerPath(c.ID))
		writeCustomer(w, http.StatusCreated, c)
	})
}

func handleGetCustomer(logger *slog.Logger, svc custodian.CustomerService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := svc.Customer(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag(c) || inm == "W/"+etag(c) || inm == "*") {
			w.Header().Set("ETag", etag(c))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeCustomer(w, http.StatusOK, c)
	})
}

// handleUpdateCustomer serves PUT (full replacement) and PATCH (JSON merge
// patch, RFC 7396). Both require If-Match, so that two people editing one
// customer never silently overwrite each other.
func handleUpdateCustomer(logger *slog.Logger, svc custodian.CustomerService, replace bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version, present := ifMatch(r)
		if !present {
			writeError(w, r, logger, errorf(custodian.EREQUIRED, `Send the customer's ETag in an If-Match header (or "*" to overwrite whatever is there).`))
			return
		}
		var p custodian.CustomerPatch
		b, err := readJSON(w, r, "application/merge-patch+json")
		if err == nil && replace {
			var f custodian.CustomerFields
			if f, err = decodeCustomerBody(b); err == nil {
				p = custodian.ReplaceWith(f)
			}
		} else if err == nil {
			p, err = decodeMergePatch(b)
		}
		if err == nil && version < 0 {
			err = errorf(custodian.EPRECONDITION, "The If-Match header does not match the customer's current version.")
		}
		var c *custodian.Customer
		if err == nil {
			c, err = svc.UpdateCustomer(r.Context(), r.PathValue("id"), version, p)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeCustomer(w, http.StatusOK, c)
	})
}

func handleDeleteCustomer(logger *slog.Logger, svc custodian.CustomerService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version, _ := ifMatch(r)
		var err error
		if version < 0 {
			err = errorf(custodian.EPRECONDITION, "The If-Match header does not match the customer's current version.")
		} else {
			err = svc.DeleteCustomer(r.Context(), r.PathValue("id"), version)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func handleListCustomers(logger *slog.Logger, svc custodian.CustomerService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := listCustomers(r, svc)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		out := pageJSON{Items: page.Items}
		if out.Items == nil {
			out.Items = []*custodian.Customer{}
		}
		if page.NextCursor != "" {
			out.NextCursor = &page.NextCursor
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// listCustomers reads a list query, refusing any parameter it does not
// know, so a misspelt filter is an error rather than a silently unfiltered
// list, and lists the page.
func listCustomers(r *http.Request, svc custodian.CustomerService) (*custodian.CustomerPage, error) {
	values, fields, err := query(r, "search", "status", "tag", "consent", "sort", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	q := custodian.CustomerQuery{
		Search: values.Get("search"), Status: custodian.Status(values.Get("status")), Tag: values.Get("tag"), Consent: values.Get("consent"),
		Sort: custodian.Sort(values.Get("sort")), Cursor: values.Get("cursor"), Limit: listLimit(values, &fields),
	}
	if len(fields) > 0 {
		return nil, errorf(custodian.EINVALID, "The list query has invalid parameters.", fields...)
	}
	return svc.ListCustomers(r.Context(), q)
}
