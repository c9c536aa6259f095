package http

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/custodian-crm/custodian"
)

// viewPage is the address of the customer list showing view id.
func viewPage(id string) string { return "/customers?view=" + url.QueryEscape(id) }

// handleSaveViewForm saves the list's current state (the hidden fields
// of the "Save view" form: filters, order, page size and the search,
// sealed to the session) as a view under the name given, and opens it. A
// refused name shows the list again with the form and its errors.
func (u *ui) handleSaveViewForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		p := principal(r)
		// The list as it was, for showing it again.
		list := url.Values{}
		for _, k := range []string{"status", "tag", "sort", "size", "s"} {
			if v := strings.TrimSpace(f.Get(k)); v != "" {
				list.Set(k, v)
			}
		}
		st := custodian.ViewState{Status: custodian.Status(f.Get("status")), Tag: f.Get("tag"), Sort: custodian.Sort(f.Get("sort"))}
		st.PageSize, _ = strconv.Atoi(f.Get("size"))
		if s := f.Get("s"); s != "" {
			b, err := u.keys.openState("search", p.SessionHash, s)
			if err != nil {
				redirectWithFlash(w, r, "/customers", "search-expired")
				return
			}
			st.Search = string(b)
		}
		form := viewForm{Name: f.Get("name"), Shared: f.Get("shared") == "on"}
		v, err := u.acc.CreateView(r.Context(), p, custodian.ViewInput{Name: form.Name, Shared: form.Shared, State: st})
		status, ok := clientStatus(err)
		switch {
		case err == nil:
			redirectWithFlash(w, r, viewPage(v.ID), "view-saved")
			return
		case !ok:
			u.fail(w, r, err)
			return
		}
		form.Errors = u.fieldErrors(r, err)
		if len(form.Errors) == 0 {
			form.Error = u.errorMessage(r, err)
		}
		u.showCustomerList(w, r, list, status, func(d *listData) { d.ViewForm = form })
	})
}

// handleRenameViewForm renames a view from the "Manage views" panel and
// opens it; a refused name shows the list again with the error.
func (u *ui) handleRenameViewForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id, name := r.PathValue("id"), r.PostForm.Get("name")
		_, err := u.acc.UpdateView(r.Context(), principal(r), id, 0, custodian.ViewPatch{Name: &name})
		status, ok := clientStatus(err)
		switch {
		case err == nil:
			redirectWithFlash(w, r, viewPage(id), "view-renamed")
			return
		case !ok || status == http.StatusNotFound || status == http.StatusForbidden:
			u.fail(w, r, err)
			return
		}
		text := u.errorMessage(r, err)
		for _, fe := range u.errorFields(r, err) {
			text = u.t(r, "The new name: %s", fe.Message)
		}
		u.showCustomerList(w, r, url.Values{"view": {id}}, status, func(d *listData) { d.ManageError = text })
	})
}

// handleDeleteViewForm deletes a view from the "Manage views" panel.
func (u *ui) handleDeleteViewForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if err := u.acc.DeleteView(r.Context(), principal(r), r.PathValue("id")); err != nil {
			u.fail(w, r, err)
			return
		}
		redirectWithFlash(w, r, "/customers", "view-deleted")
	})
}
