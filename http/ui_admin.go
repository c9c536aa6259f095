package http

import (
	"net/http"
	"strings"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
)

// usersData is the user administration page's content.
type usersData struct {
	Users      []*custodian.User
	Roles      []custodian.Role
	InviteLink string
	InviteTo   string
	// Invitations lists every invitation with its state.
	Invitations []custodian.Invitation
	// InviteMailed says the invitation link was also e-mailed.
	InviteMailed bool
	Email        string
	Role         string
	Error        string
	EmailError   string
}

func (u *ui) renderUsers(w http.ResponseWriter, r *http.Request, status int, d usersData) {
	users, err := u.acc.ListUsers(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	invites, err := u.acc.ListInvitations(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d.Users, d.Invitations, d.Roles = users, invites, custodian.Roles()
	if d.Role == "" {
		d.Role = string(custodian.RoleAgent)
	}
	u.render(w, r, status, "users", uiView{Title: u.t(r, "Users"), Section: "users", Data: d})
}

func (u *ui) handleUsers() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderUsers(w, r, http.StatusOK, usersData{})
	})
}

// usersError shows the users page with err's message.
func (u *ui) usersError(w http.ResponseWriter, r *http.Request, err error, d usersData) {
	status, ok := clientStatus(err)
	if !ok {
		u.fail(w, r, err)
		return
	}
	d.Error, d.EmailError = u.errorMessage(r, err), u.fieldErrors(r, err)["email"]
	u.renderUsers(w, r, status, d)
}

// handleInviteForm invites a person; the link is shown once.
func (u *ui) handleInviteForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		email, role := r.PostForm.Get("email"), r.PostForm.Get("role")
		tok, _, err := u.acc.Invite(r.Context(), email, custodian.Role(role))
		if err != nil {
			u.usersError(w, r, err, usersData{Email: email, Role: role})
			return
		}
		u.renderUsers(w, r, http.StatusCreated, usersData{InviteLink: siteURL(r) + "/register?token=" + tok, InviteTo: strings.TrimSpace(email), InviteMailed: u.acc.MailsLinks()})
	})
}

// handleInviteRevoke revokes a pending invitation.
func (u *ui) handleInviteRevoke() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if err := u.acc.RevokeInvitation(r.Context(), r.PathValue("id")); err != nil {
			u.usersError(w, r, err, usersData{})
			return
		}
		redirectWithFlash(w, r, "/admin/users", "invite-revoked")
	})
}

// handleInviteResend replaces an invitation with a new link (the old one
// stops working), mailed when the server sends mail, and shows it once.
func (u *ui) handleInviteResend() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		tok, _, err := u.acc.ResendInvitation(r.Context(), r.PathValue("id"))
		if err != nil {
			u.usersError(w, r, err, usersData{})
			return
		}
		u.renderUsers(w, r, http.StatusCreated, usersData{InviteLink: siteURL(r) + "/register?token=" + tok, InviteTo: r.PostForm.Get("email"), InviteMailed: u.acc.MailsLinks()})
	})
}

// siteURL is the address the request reached, for links shown to copy.
func siteURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || edge.IsHTTPSFrom(r.Context()) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleUserForm runs one administrative action on a user and returns to
// the list. Nobody changes their own role or deactivates themselves.
func (u *ui) handleUserForm(act func(r *http.Request, id string) (flash string, err error)) http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		flash, err := act(r, r.PathValue("id"))
		if err != nil {
			u.usersError(w, r, err, usersData{})
			return
		}
		redirectWithFlash(w, r, "/admin/users", flash)
	})
}

var errSelf = errorf(custodian.ECONFLICT, msg("You cannot change your own role or deactivate yourself; ask another administrator."))

func setRoleAction(acc custodian.AccountService) func(*http.Request, string) (string, error) {
	return func(r *http.Request, id string) (string, error) {
		role := custodian.Role(r.PostForm.Get("role"))
		if p := principal(r); p.User.ID == id && role != p.User.Role {
			return "", errSelf
		}
		_, err := acc.SetRole(r.Context(), id, role)
		return "user-role", err
	}
}

func setActiveAction(acc custodian.AccountService) func(*http.Request, string) (string, error) {
	return func(r *http.Request, id string) (string, error) {
		active := r.PostForm.Get("active") == "true"
		if principal(r).User.ID == id && !active {
			return "", errSelf
		}
		if _, err := acc.SetActive(r.Context(), id, active); err != nil {
			return "", err
		}
		if active {
			return "user-activated", nil
		}
		return "user-deactivated", nil
	}
}

func unlockAction(acc custodian.AccountService) func(*http.Request, string) (string, error) {
	return func(r *http.Request, id string) (string, error) {
		return "user-unlocked", acc.Unlock(r.Context(), id)
	}
}

func resetTOTPAction(acc custodian.AccountService) func(*http.Request, string) (string, error) {
	return func(r *http.Request, id string) (string, error) {
		return "user-totp-reset", acc.ResetTOTP(r.Context(), id)
	}
}

func resetPasskeysAction(acc custodian.AccountService) func(*http.Request, string) (string, error) {
	return func(r *http.Request, id string) (string, error) {
		return "user-passkeys-reset", acc.ResetPasskeys(r.Context(), id)
	}
}
