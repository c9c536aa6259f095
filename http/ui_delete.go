package http

import (
	"net/http"
	"strconv"

	"github.com/custodian-crm/custodian"
)

// deleteData is the delete confirmation page's content.
type deleteData struct {
	C        *custodian.Customer
	CanErase bool
	Error    string
}

// handleDeletePage asks to confirm the deletion of a customer, and says
// how deleting differs from erasure.
func (u *ui) handleDeletePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.showDelete(w, r, http.StatusOK, "")
	})
}

func (u *ui) showDelete(w http.ResponseWriter, r *http.Request, status int, msg string) {
	id := r.PathValue("id")
	c, err := u.customers.Customer(r.Context(), id)
	if err != nil {
		u.failCustomer(w, r, id, err)
		return
	}
	d := deleteData{C: c, CanErase: principal(r).User.Role.Can(custodian.PermCustomersErase), Error: msg}
	u.render(w, r, status, "customer_delete", uiView{Title: u.t(r, "Delete %s", c.Name), Section: "customers", Data: d})
}

// handleDeleteForm deletes the customer at the version the confirmation
// page showed: if someone changed the customer meanwhile, nothing is
// deleted and the page shows the customer as it is now.
func (u *ui) handleDeleteForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
		if err != nil || version < 1 {
			u.showDelete(w, r, http.StatusBadRequest, msg("The form lacked the customer's version; nothing was deleted. Try again."))
			return
		}
		err = u.customers.DeleteCustomer(r.Context(), id, version)
		switch custodian.ErrorCode(err) {
		case "":
			redirectWithFlash(w, r, "/customers", "customer-deleted")
		case custodian.EPRECONDITION:
			u.showDelete(w, r, http.StatusPreconditionFailed, msg("Someone changed this customer since you opened this page; nothing was deleted. Check the customer below and confirm again."))
		case custodian.ECONFLICT:
			u.showDelete(w, r, http.StatusConflict, u.errorMessage(r, err))
		default:
			u.failCustomer(w, r, id, err)
		}
	})
}
