package http

import (
	"context"
	"net/http"

	"github.com/custodian-crm/custodian"
)

// Route is one entry of the server's routing table: a net/http ServeMux
// pattern (method and path), the permission a caller needs, and the
// handler. Every route the server answers is listed in routes, and nowhere
// else: NewServer wraps each one in the route chain (pipeline.go), named
// after its pattern and behind the authorization check for its
// permission; tests walk the table with every role, and the OpenAPI
// document is checked against it. A handler marked with signIn gets the
// sign-in rate limit, and one marked with ui.page answers refusals as web
// pages.
type Route struct {
	Method  string
	Path    string
	Perm    custodian.Permission
	Handler http.Handler
}

// Pattern returns the ServeMux pattern of the route.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// routes lists every route with its permission: the access policy.
// Handlers take their dependencies from d, and the web pages from u. It
// builds the table and changes nothing.
func routes(d Deps, u *ui) []Route {
	logger, customers, db, acc := d.Logger, d.Customers, d.DB, d.Accounts
	const (
		public    = custodian.PermPublic
		signedIn  = custodian.PermSignedIn
		read      = custodian.PermCustomersRead
		write     = custodian.PermCustomersWrite
		del       = custodian.PermCustomersDelete
		manageUsr = custodian.PermUsersManage
		settings  = custodian.PermSettingsManage
		erase     = custodian.PermCustomersErase
		auditRead = custodian.PermAuditRead
		importing = custodian.PermCustomersImport
		exporting = custodian.PermCustomersExport
		webhooks  = custodian.PermWebhooksManage
	)
	return []Route{
		{"GET", "/healthz", public, handleHealthz()},
		{"GET", "/readyz", public, handleReadyz(logger, db)},
		{"GET", "/api/openapi.json", public, handleOpenAPI()},

		{"GET", "/setup", public, setupPage(u, acc)},
		{"POST", "/setup", public, setupPage(u, acc)},
		{"GET", "/register", public, registerPage(u, acc)},
		{"POST", "/register", public, registerPage(u, acc)},
		{"GET", "/reset", public, resetPage(u, acc)},
		{"POST", "/reset", public, resetPage(u, acc)},
		{"GET", "/account/email", public, emailConfirmPage(u, acc)},
		{"POST", "/account/email", public, emailConfirmPage(u, acc)},

		{"POST", "/api/auth/login/{$}", public, signIn(handleLogin(logger, acc, d.signals()), refuseTooMany)},
		{"POST", "/api/auth/logout/{$}", signedIn, handleLogout(logger, acc)},
		{"GET", "/api/auth/session/{$}", signedIn, handleSession()},
		{"POST", "/api/auth/setup/{$}", public, handleSetup(logger, acc)},
		{"POST", "/api/auth/register/{$}", public, handleRegister(logger, acc)},
		{"POST", "/api/auth/reset/{$}", public, handleCompleteReset(logger, acc)},
		{"POST", "/api/auth/forgot/{$}", public, signIn(handleForgotPassword(logger, acc), refuseTooMany)},
		{"POST", "/api/auth/password/{$}", signedIn, handleChangePassword(logger, acc)},
		{"POST", "/api/auth/email/{$}", signedIn, handleRequestEmailChange(logger, acc)},
		{"POST", "/api/auth/email/confirm/{$}", public, handleConfirmEmailChange(logger, acc)},
		{"POST", "/api/auth/name/{$}", signedIn, handleChangeName(logger, acc)},
		{"POST", "/api/auth/preferences/{$}", signedIn, handleChangePreferences(logger, acc)},
		{"POST", "/api/auth/2fa/setup/{$}", signedIn, handleBeginTOTP(logger, acc)},
		{"POST", "/api/auth/2fa/enable/{$}", signedIn, handleEnableTOTP(logger, acc)},
		{"POST", "/api/auth/2fa/disable/{$}", signedIn, handleDisableTOTP(logger, acc)},

		{"POST", "/api/auth/passkeys/challenge/{$}", public, signIn(handlePasskeyChallenge(logger, acc), refuseTooMany)},
		{"POST", "/api/auth/passkeys/login/{$}", public, signIn(handlePasskeyLogin(logger, acc, d.signals()), refuseTooMany)},
		{"GET", "/api/auth/passkeys/{$}", signedIn, handleListPasskeys(logger, acc)},
		{"POST", "/api/auth/passkeys/registration/{$}", signedIn, handleBeginPasskeyRegistration(logger, acc)},
		{"POST", "/api/auth/passkeys/{$}", signedIn, handleFinishPasskeyRegistration(logger, acc)},
		{"PATCH", "/api/auth/passkeys/{id}/{$}", signedIn, handleRenamePasskey(logger, acc)},
		{"DELETE", "/api/auth/passkeys/{id}/{$}", signedIn, handleRemovePasskey(logger, acc)},

		{"GET", "/api/tokens/{$}", signedIn, handleListTokens(logger, acc)},
		{"POST", "/api/tokens/{$}", signedIn, handleCreateToken(logger, acc)},
		{"DELETE", "/api/tokens/{id}/{$}", signedIn, handleRevokeToken(logger, acc)},
		{"GET", "/api/auth/sessions/{$}", signedIn, handleListSessions(logger, acc)},
		{"POST", "/api/auth/sessions/end-others/{$}", signedIn, handleEndOtherSessions(logger, acc)},
		{"DELETE", "/api/auth/sessions/{id}/{$}", signedIn, handleEndSession(logger, acc)},

		{"GET", "/api/users/{$}", manageUsr, handleListUsers(logger, acc)},
		{"PATCH", "/api/users/{id}/{$}", manageUsr, handleUpdateUser(logger, acc)},
		{"POST", "/api/users/{id}/reset-2fa/{$}", manageUsr, handleUserAction(logger, resetTOTP(acc))},
		{"POST", "/api/users/{id}/reset-passkeys/{$}", manageUsr, handleUserAction(logger, resetPasskeys(acc))},
		{"POST", "/api/users/{id}/unlock/{$}", manageUsr, handleUserAction(logger, unlock(acc))},
		{"POST", "/api/users/{id}/reset-link/{$}", manageUsr, handleResetLink(logger, acc)},
		{"POST", "/api/invites/{$}", manageUsr, handleInvite(logger, acc)},
		{"GET", "/api/invitations/{$}", manageUsr, handleListInvitations(logger, acc)},
		{"POST", "/api/invitations/{id}/revoke/{$}", manageUsr, handleRevokeInvitation(logger, acc)},
		{"POST", "/api/invitations/{id}/resend/{$}", manageUsr, handleResendInvitation(logger, acc)},
		{"GET", "/api/settings/{$}", settings, handleGetSettings(logger, acc)},
		{"PUT", "/api/settings/{$}", settings, handlePutSettings(logger, acc)},

		{"GET", "/api/audit/{$}", auditRead, handleListAudit(logger, d.Audit)},
		{"GET", "/api/alerts/{$}", auditRead, handleListAlerts(logger, d.Alerts)},
		{"POST", "/api/alerts/{id}/resolve/{$}", settings, handleResolveAlert(logger, d.Alerts)},

		{"GET", "/api/webhooks/{$}", webhooks, handleListWebhooks(logger, d.Webhooks)},
		{"POST", "/api/webhooks/{$}", webhooks, handleCreateWebhook(logger, d.Webhooks)},
		{"GET", "/api/webhooks/{id}/{$}", webhooks, handleGetWebhook(logger, d.Webhooks)},
		{"PATCH", "/api/webhooks/{id}/{$}", webhooks, handleUpdateWebhook(logger, d.Webhooks)},
		{"DELETE", "/api/webhooks/{id}/{$}", webhooks, handleDeleteWebhook(logger, d.Webhooks)},
		{"POST", "/api/webhooks/{id}/rotate-secret/{$}", webhooks, handleRotateWebhookSecret(logger, d.Webhooks)},
		{"GET", "/api/webhooks/{id}/deliveries/{$}", webhooks, handleListDeliveries(logger, d.Webhooks)},

		{"GET", "/api/views/{$}", read, handleListViews(logger, acc)},
		{"POST", "/api/views/{$}", read, handleCreateView(logger, acc)},
		{"GET", "/api/views/{id}/{$}", read, handleGetView(logger, acc)},
		{"PATCH", "/api/views/{id}/{$}", read, handleUpdateView(logger, acc)},
		{"DELETE", "/api/views/{id}/{$}", read, handleDeleteView(logger, acc)},

		{"GET", "/api/customers/{$}", read, handleListCustomers(logger, customers)},
		{"GET", "/api/customers/export", exporting, handleExportList(logger, d.Exports, d.TransferLimiter)},
		{"POST", "/api/imports/{$}", importing, handleStartImport(logger, d.Imports, d.TransferLimiter)},
		{"GET", "/api/imports/{id}/{$}", importing, handleImportJob(logger, d.Imports)},
		{"POST", "/api/imports/{id}/cancel/{$}", importing, handleImportAction(logger, d.Imports, false, d.TransferLimiter)},
		{"POST", "/api/imports/{id}/run/{$}", importing, handleImportAction(logger, d.Imports, true, d.TransferLimiter)},
		{"POST", "/api/customers/bulk/{$}", write, handleBulkCustomers(logger, d.Bulk)},
		{"POST", "/api/customers/{$}", write, handleCreateCustomer(logger, customers)},
		{"GET", "/api/customers/{id}/{$}", read, handleGetCustomer(logger, customers)},
		{"PUT", "/api/customers/{id}/{$}", write, handleUpdateCustomer(logger, customers, true)},
		{"PATCH", "/api/customers/{id}/{$}", write, handleUpdateCustomer(logger, customers, false)},
		{"DELETE", "/api/customers/{id}/{$}", del, handleDeleteCustomer(logger, customers)},
		{"GET", "/api/customers/{id}/consents/{$}", read, handleConsents(logger, d.Privacy)},
		{"POST", "/api/customers/{id}/consents/{$}", write, handleRecordConsent(logger, d.Privacy)},
		{"GET", "/api/customers/{id}/activities/{$}", read, handleActivities(logger, d.Activities)},
		{"POST", "/api/customers/{id}/activities/{$}", write, handleLogActivity(logger, d.Activities)},
		{"GET", "/api/customers/{id}/tasks/{$}", read, handleTasks(logger, d.Tasks)},
		{"POST", "/api/customers/{id}/tasks/{$}", write, handleAddTask(logger, d.Tasks)},
		{"PATCH", "/api/customers/{id}/tasks/{task}/{$}", write, handleUpdateTask(logger, d.Tasks)},
		{"DELETE", "/api/customers/{id}/tasks/{task}/{$}", write, handleDeleteTask(logger, d.Tasks)},
		{"GET", "/api/tasks/mine/{$}", read, handleMyTasks(logger, d.Tasks)},
		{"PUT", "/api/customers/{id}/legal-hold/{$}", erase, handleLegalHold(logger, d.Privacy)},
		{"POST", "/api/customers/{id}/erase/{$}", erase, handleErase(logger, d.Privacy)},
		{"GET", "/api/customers/{id}/export/{$}", erase, handleExport(logger, d.Privacy)},

		// The web interface: HTML pages (see ui_*.go). Page handlers are
		// marked with u.page, so that a refusal redirects to /login or
		// shows a 403 page rather than answering JSON.
		{"GET", "/{$}", public, u.handleHome()},
		{"GET", "/static/{file}", public, handleStatic(u.assets)},
		{"GET", "/login", public, u.handleLoginPage()},
		{"POST", "/login", public, signIn(u.handleLoginSubmit(), u.refuseLogin)},
		{"POST", "/login/passkey", public, signIn(u.handleLoginPasskey(), u.refuseLogin)},
		{"GET", "/forgot", public, u.handleForgotPage()},
		{"POST", "/forgot", public, signIn(u.handleForgotSubmit(), u.refuseForgot)},
		{"POST", "/logout", signedIn, u.page(u.handleLogout())},
		{"GET", "/customers", read, u.page(u.handleCustomerList())},
		{"POST", "/customers", read, u.page(u.handleCustomerSearch())},
		{"POST", "/customers/views", read, u.page(u.handleSaveViewForm())},
		{"POST", "/customers/views/{id}/rename", read, u.page(u.handleRenameViewForm())},
		{"POST", "/customers/views/{id}/delete", read, u.page(u.handleDeleteViewForm())},
		{"GET", "/customers/import", importing, u.page(u.handleImportPage())},
		{"POST", "/customers/import", importing, u.page(u.handleImportUpload())},
		{"GET", "/imports/{id}", importing, u.page(u.handleImportJob())},
		{"POST", "/imports/{id}/run", importing, u.page(u.handleImportAction("run"))},
		{"POST", "/imports/{id}/remap", importing, u.page(u.handleImportAction("remap"))},
		{"POST", "/imports/{id}/cancel", importing, u.page(u.handleImportAction("cancel"))},
		{"POST", "/customers/export", exporting, u.page(u.handleExportListForm())},
		{"POST", "/customers/bulk", write, u.page(u.handleBulkReview())},
		{"POST", "/customers/bulk/apply", write, u.page(u.handleBulkApply())},
		{"GET", "/customers/new", write, u.page(u.handleNewCustomer())},
		{"POST", "/customers/new", write, u.page(u.handleCreateCustomerForm())},
		{"GET", "/customers/{id}", read, u.page(u.handleCustomerDetail())},
		{"GET", "/customers/{id}/edit", write, u.page(u.handleEditCustomer())},
		{"POST", "/customers/{id}/edit", write, u.page(u.handleUpdateCustomerForm())},
		{"POST", "/customers/{id}/consents", write, u.page(u.handleConsentForm())},
		{"POST", "/customers/{id}/activities", write, u.page(u.handleActivityForm())},
		{"POST", "/customers/{id}/tasks", write, u.page(u.handleTaskForm())},
		{"POST", "/customers/{id}/tasks/{task}/done", write, u.page(u.handleTaskDoneForm())},
		{"GET", "/tasks", read, u.page(u.handleMyTasks())},
		{"POST", "/customers/{id}/legal-hold", erase, u.page(u.handleLegalHoldForm())},
		{"POST", "/customers/{id}/export", erase, u.page(u.handleExportForm())},
		{"GET", "/customers/{id}/delete", del, u.page(u.handleDeletePage())},
		{"POST", "/customers/{id}/delete", del, u.page(u.handleDeleteForm())},
		{"GET", "/customers/{id}/erase", erase, u.page(u.handleErasePage())},
		{"POST", "/customers/{id}/erase", erase, u.page(u.handleEraseForm())},
		{"GET", "/audit", auditRead, u.page(u.handleAudit())},
		{"GET", "/security", auditRead, u.page(u.handleSecurity())},
		{"POST", "/security/alerts/{id}/resolve", settings, u.page(u.handleResolveAlertForm())},
		{"GET", "/settings/webhooks", webhooks, u.page(u.handleWebhooks())},
		{"POST", "/settings/webhooks", webhooks, u.page(u.handleCreateWebhookForm())},
		{"POST", "/settings/webhooks/{id}/update", webhooks, u.page(u.handleUpdateWebhookForm())},
		{"POST", "/settings/webhooks/{id}/rotate", webhooks, u.page(u.handleRotateWebhookForm())},
		{"POST", "/settings/webhooks/{id}/delete", webhooks, u.page(u.handleDeleteWebhookForm())},
		{"GET", "/account", signedIn, u.page(u.handleAccount())},
		{"POST", "/account/password", signedIn, u.page(u.handleChangePasswordForm())},
		{"POST", "/account/name", signedIn, u.page(u.handleChangeNameForm())},
		{"POST", "/account/preferences", signedIn, u.page(u.handlePreferencesForm())},
		{"POST", "/account/email/change", signedIn, u.page(u.handleRequestEmailChangeForm())},
		{"POST", "/account/sessions/{id}/end", signedIn, u.page(u.handleEndSessionForm())},
		{"POST", "/account/sessions/end-others", signedIn, u.page(u.handleEndOtherSessionsForm())},
		{"POST", "/account/2fa/setup", signedIn, u.page(u.handleBeginTOTPForm())},
		{"POST", "/account/2fa/enable", signedIn, u.page(u.handleEnableTOTPForm())},
		{"POST", "/account/2fa/disable", signedIn, u.page(u.handleDisableTOTPForm())},
		{"POST", "/account/passkeys", signedIn, u.page(u.handleAddPasskeyForm())},
		{"POST", "/account/passkeys/{id}/rename", signedIn, u.page(u.handleRenamePasskeyForm())},
		{"POST", "/account/passkeys/{id}/remove", signedIn, u.page(u.handleRemovePasskeyForm())},
		{"POST", "/account/tokens", signedIn, u.page(u.handleCreateTokenForm())},
		{"POST", "/account/tokens/{id}/revoke", signedIn, u.page(u.handleRevokeTokenForm())},
		{"GET", "/admin/users", manageUsr, u.page(u.handleUsers())},
		{"POST", "/admin/users/invite", manageUsr, u.page(u.handleInviteForm())},
		{"POST", "/admin/invites/{id}/revoke", manageUsr, u.page(u.handleInviteRevoke())},
		{"POST", "/admin/invites/{id}/resend", manageUsr, u.page(u.handleInviteResend())},
		{"POST", "/admin/users/{id}/role", manageUsr, u.page(u.handleUserForm(setRoleAction(acc)))},
		{"POST", "/admin/users/{id}/active", manageUsr, u.page(u.handleUserForm(setActiveAction(acc)))},
		{"POST", "/admin/users/{id}/unlock", manageUsr, u.page(u.handleUserForm(unlockAction(acc)))},
		{"POST", "/admin/users/{id}/reset-2fa", manageUsr, u.page(u.handleUserForm(resetTOTPAction(acc)))},
		{"POST", "/admin/users/{id}/reset-passkeys", manageUsr, u.page(u.handleUserForm(resetPasskeysAction(acc)))},
	}
}

// resetTOTP and unlock bind account actions, so that a nil custodian.AccountService (as in
// tests that only read the table) is not dereferenced while building it.
func resetTOTP(acc custodian.AccountService) func(context.Context, string) error {
	return func(ctx context.Context, id string) error { return acc.ResetTOTP(ctx, id) }
}

func unlock(acc custodian.AccountService) func(context.Context, string) error {
	return func(ctx context.Context, id string) error { return acc.Unlock(ctx, id) }
}
