package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
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
// It is made once from the field table: a string member for each personal
// unit of one field, a raw member for each unit of parts (the address,
// decoded on its own into its bodyParts object so that its field errors
// carry their full path), then tags and status.
var customerBody = newObject(bodyMembers())

// bodyParts holds the object each unit of parts decodes into in a body.
var bodyParts = partObjects(reflect.TypeFor[string]())

// readOnlyMembers are the members of a customer that only the server sets.
var readOnlyMembers = []string{"id", "created_at", "updated_at", "created_by", "updated_by", "version", "legal_hold"}

func bodyMembers() []member {
	var ms []member
	for _, u := range custodian.PersonalUnits() {
		t := reflect.TypeFor[string]()
		if u.HasParts() {
			t = reflect.TypeFor[json.RawMessage]()
		}
		ms = append(ms, member{u.Name, t})
	}
	ms = append(ms, member{"tags", reflect.TypeFor[[]string]()}, member{"status", reflect.TypeFor[custodian.Status]()})
	for _, name := range readOnlyMembers {
		ms = append(ms, member{name, reflect.TypeFor[json.RawMessage]()})
	}
	return ms
}

// partObjects returns, for each unit of parts, an object with one member
// of type t for each part.
func partObjects(t reflect.Type) map[string]object {
	out := map[string]object{}
	for _, u := range custodian.PersonalUnits() {
		if !u.HasParts() {
			continue
		}
		var ms []member
		for _, pf := range u.Fields {
			ms = append(ms, member{pf.Part(), t})
		}
		out[u.Name] = newObject(ms)
	}
	return out
}

// decodeCustomerBody decodes a POST or PUT body. Units of parts are decoded
// on their own so that their field errors carry their full path.
func decodeCustomerBody(b []byte) (custodian.CustomerFields, error) {
	var f custodian.CustomerFields
	body, err := customerBody.decode(b, "")
	if err != nil {
		return f, err
	}
	f.Tags, f.Status = body.get("tags").([]string), body.get("status").(custodian.Status)
	for _, u := range custodian.PersonalUnits() {
		if !u.HasParts() {
			*u.Fields[0].Value(&f) = body.str(u.Name)
			continue
		}
		raw := body.raw(u.Name)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		parts, err := bodyParts[u.Name].decode(raw, u.Name+".")
		if err != nil {
			if custodian.ErrorFields(err) == nil {
				return f, errorf(custodian.EINVALID, "The request has invalid fields.", custodian.FieldError{Field: u.Name, Message: "Must be a JSON object."})
			}
			return f, err
		}
		for _, pf := range u.Fields {
			*pf.Value(&f) = parts.str(pf.Part())
		}
	}
	return f, nil
}

// versionTag is the ETag of a resource at version: a customer, a webhook
// or a saved view, each of which counts its versions from 1.
func versionTag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func etag(c *custodian.Customer) string { return versionTag(c.Version) }

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

// optionalIfMatch reads the If-Match header of a write that may go
// without one: the version it names (0 for none or "*"), or a failed
// precondition when the tag cannot match any version of what (a name such
// as "webhook").
func optionalIfMatch(r *http.Request, what string) (int64, error) {
	version, _ := ifMatch(r)
	if version < 0 {
		return 0, errorf(custodian.EPRECONDITION, "The If-Match header does not match the "+what+"'s current version.")
	}
	return version, nil
}

// writeVersioned answers with a resource that has versions: its ETag, its
// address in Location when location is not empty (a 201), and the
// resource as JSON.
func writeVersioned(w http.ResponseWriter, status int, location string, version int64, v any) {
	if location != "" {
		w.Header().Set("Location", location)
	}
	w.Header().Set("ETag", versionTag(version))
	writeJSON(w, status, v)
}

// writeCustomer answers with one customer, its ETag and a no-store policy.
func writeCustomer(w http.ResponseWriter, status int, c *custodian.Customer) {
	writeVersioned(w, status, "", c.Version, c)
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
		version, err := optionalIfMatch(r, "customer")
		if err == nil {
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
