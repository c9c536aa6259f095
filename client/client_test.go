package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/client"
	"github.com/oapi-codegen/nullable"
	otptotp "github.com/pquerna/otp/totp"
)

// wantError fails unless err is an *Error with the status and code, and
// returns it.
func wantError(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a *client.Error %d %s", err, status, code)
	}
	if e.Status != status || e.Code != code || e.RequestID == "" {
		t.Fatalf("error %+v, want %d %s with a request id", e.Problem, status, code)
	}
	return e
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestCustomers walks the customer operations: create, read with a
// purpose, replace and patch under If-Match, stale and missing
// preconditions, the optimistic edit, the list's pages and its iterator,
// and delete.
func TestCustomers(t *testing.T) {
	s := newServer(t, false)
	c := s.client(s.admin)
	ctx := context.Background()

	ada := must[*client.Customer](t)(c.CreateCustomer(ctx, client.CustomerInput{
		Name: "Ada Lovelace", Email: "ada@Example.COM", Phone: "020 7946 0958",
		Address: client.Address{City: "London", Country: "gb"}, Tags: []string{"VIP"},
	}))
	if ada.Email != "ada@example.com" || ada.Phone != "+442079460958" || ada.Address.Country != "GB" || ada.Status != client.CustomerStatusLead || ada.Version != 1 {
		t.Fatalf("created %+v", ada)
	}
	got := must[*client.Customer](t)(c.GetCustomer(client.WithPurpose(ctx, "support call 88"), ada.ID))
	if got.ID != ada.ID || got.Name != "Ada Lovelace" {
		t.Fatalf("got %+v", got)
	}

	// Replace, then patch: Set sets, Clear clears, the rest stays.
	repl := must[*client.Customer](t)(c.ReplaceCustomer(ctx, ada.ID, client.IfMatch(got), client.CustomerInput{
		Name: "Ada King", Email: "ada@example.com", Notes: "old notes", Address: client.Address{City: "London", Street: "12 St James's Square"},
	}))
	if repl.Version != 2 || repl.Phone != "" || len(repl.Tags) != 0 || repl.Address.Street == "" {
		t.Fatalf("replaced %+v", repl)
	}
	patched := must[*client.Customer](t)(c.PatchCustomer(ctx, ada.ID, client.IfMatch(repl), client.CustomerPatch{
		Notes:   client.Set("Prefers email"),
		Email:   client.Clear[string](),
		Address: client.Set(client.AddressPatch{Street: client.Clear[string](), Country: client.Set("GB")}),
		Tags:    client.Set([]string{"a", "b"}),
	}))
	if patched.Version != 3 || patched.Notes != "Prefers email" || patched.Email != "" || patched.Name != "Ada King" ||
		patched.Address != (client.Address{City: "London", Country: "GB"}) || !slices.Equal(patched.Tags, []string{"a", "b"}) {
		t.Fatalf("patched %+v", patched)
	}

	// A stale precondition is refused and changes nothing; a missing one
	// is refused too.
	_, err := c.PatchCustomer(ctx, ada.ID, client.IfMatch(repl), client.CustomerPatch{Notes: client.Set("lost update")})
	wantError(t, err, 412, client.CodePreconditionFailed)
	_, err = c.ReplaceCustomer(ctx, ada.ID, "", client.CustomerInput{Name: "No Precondition"})
	wantError(t, err, 428, client.CodePreconditionRequired)
	if cur := must[*client.Customer](t)(c.GetCustomer(ctx, ada.ID)); cur.Version != 3 || cur.Notes != "Prefers email" {
		t.Fatalf("a refused update changed the customer: %+v", cur)
	}

	// EditCustomer reads again when someone changed the customer between
	// its read and its write.
	changes := 0
	edited := must[*client.Customer](t)(c.EditCustomer(ctx, ada.ID, func(cur *client.Customer) (client.CustomerPatch, error) {
		changes++
		if changes == 1 {
			must[*client.Customer](t)(c.PatchCustomer(ctx, ada.ID, client.AnyVersion, client.CustomerPatch{Company: client.Set("Analytical Engines")}))
		}
		return client.CustomerPatch{Notes: client.Set(cur.Notes + ", seen at version " + strings.Repeat("I", int(cur.Version)))}, nil
	}))
	if changes != 2 || edited.Version != 5 || edited.Company != "Analytical Engines" || edited.Notes != "Prefers email, seen at version IIII" {
		t.Fatalf("edited after %d changes: %+v", changes, edited)
	}
	stop := errors.New("no change")
	if _, err := c.EditCustomer(ctx, ada.ID, func(*client.Customer) (client.CustomerPatch, error) { return client.CustomerPatch{}, stop }); !errors.Is(err, stop) {
		t.Fatalf("EditCustomer returned %v, want the change's error", err)
	}

	// Pages, and the iterator over them.
	for _, name := range []string{"Carol Danvers", "Bob Jones", "alice Walker", "Dora Explorer"} {
		must[*client.Customer](t)(c.CreateCustomer(ctx, client.CustomerInput{Name: name, Tags: []string{"x"}}))
	}
	page := must[*client.CustomerPage](t)(c.ListCustomers(ctx, client.ListCustomersParams{Sort: client.CustomerSortName, Limit: 2}))
	if len(page.Items) != 2 || page.Items[0].Name != "Ada King" || page.NextCursor.GetOrEmpty() == "" {
		t.Fatalf("first page %+v", page)
	}
	var names []string
	for cust, err := range c.Customers(ctx, client.ListCustomersParams{Sort: client.CustomerSortName, Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, cust.Name)
	}
	if want := []string{"Ada King", "alice Walker", "Bob Jones", "Carol Danvers", "Dora Explorer"}; !slices.Equal(names, want) {
		t.Fatalf("iterated %v, want %v", names, want)
	}
	names = nil
	for cust, err := range c.Customers(ctx, client.ListCustomersParams{Tag: "x", Sort: client.CustomerSortMinusName, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if names = append(names, cust.Name); len(names) == 2 {
			break
		}
	}
	if !slices.Equal(names, []string{"Dora Explorer", "Carol Danvers"}) {
		t.Fatalf("stopped iteration gave %v", names)
	}
	for _, err := range c.Customers(ctx, client.ListCustomersParams{Sort: "shoe size"}) {
		if e := wantError(t, err, 400, client.CodeInvalid); !hasField(e, "sort") {
			t.Fatalf("the iterator's error %v does not name sort", e)
		}
	}

	// Delete: a stale precondition is refused; without one it goes.
	wantError(t, c.DeleteCustomer(ctx, ada.ID, client.IfVersion(1)), 412, client.CodePreconditionFailed)
	if err := c.DeleteCustomer(ctx, ada.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCustomer(ctx, ada.ID)
	wantError(t, err, 404, client.CodeNotFound)
}

func hasField(e *client.Error, field string) bool {
	_, ok := e.Field(field)
	return ok
}

// TestRefusalsAreTypedErrors: a problem answer becomes an *Error with its
// code, detail, field errors and request id, for errors.As and ErrorCode.
func TestRefusalsAreTypedErrors(t *testing.T) {
	s := newServer(t, false)
	c := s.client(s.admin)
	ctx := context.Background()
	_, err := c.CreateCustomer(ctx, client.CustomerInput{Name: "<b>Eve</b>", Email: "a@b", Address: client.Address{Country: "UK"}})
	e := wantError(t, err, 400, client.CodeInvalid)
	for _, f := range []string{"name", "email", "address.country"} {
		if msg, ok := e.Field(f); !ok || msg == "" {
			t.Errorf("no field error about %s: %+v", f, e.Errors)
		}
	}
	if !strings.Contains(err.Error(), "custodian: 400 invalid: ") || !strings.Contains(err.Error(), "email: ") {
		t.Errorf("Error() = %q", err)
	}
	if client.ErrorCode(err) != client.CodeInvalid || client.ErrorCode(errors.New("other")) != "" {
		t.Error("ErrorCode does not read the code")
	}
	// Without credentials: 401, unauthorized.
	_, err = s.client("").ListCustomers(ctx, client.ListCustomersParams{})
	wantError(t, err, 401, client.CodeUnauthorized)
	// A role without the permission: 403.
	viewer := s.client(s.token(custodian.RoleViewer, "viewer@example.com"))
	_, err = viewer.CreateCustomer(ctx, client.CustomerInput{Name: "Nope"})
	wantError(t, err, 403, client.CodeForbidden)
}

// TestEveryOperation calls every operation of the document through the
// client, against the real server, each exchange checked against the
// document; it fails if the client leaves one out.
func TestEveryOperation(t *testing.T) {
	s := newServer(t, false)
	admin := s.client(s.admin)
	anon := s.client("")
	ctx := context.Background()

	// Health and the document.
	if h := must[*client.Health](t)(admin.Healthz(ctx)); h.Status != "ok" {
		t.Fatalf("healthz %+v", h)
	}
	if h := must[*client.Health](t)(anon.Readyz(ctx)); h.Status != "ready" {
		t.Fatalf("readyz %+v", h)
	}
	var doc struct {
		Info struct{ Version string } `json:"info"`
	}
	if err := json.Unmarshal(must[[]byte](t)(anon.OpenAPI(ctx)), &doc); err != nil || doc.Info.Version != client.APIVersion {
		t.Fatalf("the served document is version %q (%v); the client was generated from %s", doc.Info.Version, err, client.APIVersion)
	}

	// Privacy: consent, legal hold, export, erasure.
	pia := must[*client.Customer](t)(admin.CreateCustomer(ctx, client.CustomerInput{Name: "Pia Privacy", Email: "pia@example.com"}))
	ev := must[*client.ConsentEvent](t)(admin.RecordConsent(client.WithPurpose(ctx, "signup"), pia.ID, client.ConsentInput{Purpose: "marketing_email", State: client.ConsentDecisionGiven, Source: "form"}))
	if ev.State != client.ConsentDecisionGiven || ev.Source != "form" {
		t.Fatalf("consent event %+v", ev)
	}
	cons := must[*client.Consents](t)(admin.Consents(ctx, pia.ID))
	if cons.Current["marketing_email"].State != client.ConsentDecisionGiven || len(cons.History) != 1 {
		t.Fatalf("consents %+v", cons)
	}
	// Activities: logged, listed newest first.
	call := must[*client.Activity](t)(admin.LogActivity(ctx, pia.ID, client.ActivityInput{Type: client.ActivityTypeCall, Text: "Asked about prices."}))
	if call.Type != client.ActivityTypeCall || call.Text != "Asked about prices." || call.Author == "" {
		t.Fatalf("activity %+v", call)
	}
	if acts := must[[]client.Activity](t)(admin.Activities(ctx, pia.ID)); len(acts) != 1 || acts[0].ID != call.ID {
		t.Fatalf("activities %+v", acts)
	}
	_, err := admin.LogActivity(ctx, pia.ID, client.ActivityInput{Type: "fax", Text: "x"})
	wantError(t, err, 400, client.CodeInvalid)
	// Tasks: set, listed, due today for the assignee, done and open
	// again, deleted.
	today := time.Now().UTC()
	task := must[*client.Task](t)(admin.AddTask(ctx, pia.ID, client.TaskInput{Title: "Send the price list", Due: today}))
	if task.Title != "Send the price list" || task.Assignee == "" || task.Done || task.CustomerID != pia.ID {
		t.Fatalf("task %+v", task)
	}
	if ks := must[[]client.Task](t)(admin.Tasks(ctx, pia.ID)); len(ks) != 1 || ks[0].ID != task.ID {
		t.Fatalf("tasks %+v", ks)
	}
	if mine := must[[]client.AssignedTask](t)(admin.MyTasks(ctx)); len(mine) != 1 || mine[0].ID != task.ID || mine[0].CustomerName != "Pia Privacy" || mine[0].Overdue {
		t.Fatalf("my tasks %+v", mine)
	}
	if k := must[*client.Task](t)(admin.UpdateTask(ctx, pia.ID, task.ID, client.TaskUpdate{Done: new(true)})); !k.Done || k.Title != task.Title {
		t.Fatalf("done %+v", k)
	}
	if mine := must[[]client.AssignedTask](t)(admin.MyTasks(ctx)); len(mine) != 0 {
		t.Fatalf("a done task is still mine to do: %+v", mine)
	}
	if k := must[*client.Task](t)(admin.UpdateTask(ctx, pia.ID, task.ID, client.TaskUpdate{Done: new(false), Title: new("Send the new price list")})); k.Done || k.Title != "Send the new price list" {
		t.Fatalf("reopened %+v", k)
	}
	_, err = admin.UpdateTask(ctx, pia.ID, task.ID, client.TaskUpdate{Title: new("")})
	wantError(t, err, 400, client.CodeInvalid)
	if err := admin.DeleteTask(ctx, pia.ID, task.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, admin.DeleteTask(ctx, pia.ID, task.ID), 404, client.CodeNotFound)
	must[*client.Task](t)(admin.AddTask(ctx, pia.ID, client.TaskInput{Title: "Follow up after the call", Due: today.AddDate(0, 0, 7)}))
	hold := must[*client.LegalHold](t)(admin.SetLegalHold(ctx, pia.ID, client.LegalHoldInput{Active: true, Reason: "Case 12"}))
	if hold == nil || hold.Reason != "Case 12" {
		t.Fatalf("hold %+v", hold)
	}
	if got := must[*client.Customer](t)(admin.GetCustomer(ctx, pia.ID)); got.LegalHold == nil || got.LegalHold.Reason != "Case 12" {
		t.Fatalf("the customer does not show the hold: %+v", got)
	}
	_, err = admin.EraseCustomer(ctx, pia.ID, "asked")
	wantError(t, err, 409, client.CodeConflict)
	if hold := must[*client.LegalHold](t)(admin.SetLegalHold(ctx, pia.ID, client.LegalHoldInput{Active: false, Reason: "Case closed"})); hold != nil {
		t.Fatalf("lifted hold %+v", hold)
	}
	// Imports: a dry run, then the file it checked, polled to the end; a
	// finished job cancelled is answered as it is.
	wait := func(id string) *client.ImportJob {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			j := must[*client.ImportJob](t)(admin.ImportJob(ctx, id))
			if j.State != client.ImportJobStateRunning && j.State != client.ImportJobStateQueued {
				return j
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the import did not finish within a minute")
		return nil
	}
	file := []byte("Name;E-mail;Labels\r\nImported One;one@example.com;csv\r\nImported Two;two@example.com;csv\r\n")
	dry := must[*client.ImportJob](t)(admin.StartImport(ctx, file, client.StartImportParams{DryRun: true, Duplicates: client.DuplicatePolicyFill, Map: []string{"Labels=tags"}}))
	if j := wait(dry.ID); j.State != client.ImportJobStateDone || j.Report.Created != 2 {
		t.Fatalf("dry run %+v", j)
	}
	run := must[*client.ImportJob](t)(admin.RunImport(ctx, dry.ID))
	if j := must[*client.ImportJob](t)(admin.CancelImport(ctx, wait(run.ID).ID)); j.State != client.ImportJobStateDone || j.Report.Created != 2 {
		t.Fatalf("import %+v", j)
	}
	_, err = admin.StartImport(ctx, []byte("email\nx@example.com\n"), client.StartImportParams{})
	wantError(t, err, 400, client.CodeInvalid)
	var exported bytes.Buffer
	if err := admin.ExportCustomers(ctx, client.ExportCustomersParams{Format: client.ExportCustomersParamsFormatCsv, Tag: "csv"}, &exported); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(exported.String(), "\r\n"); n != 3 || !strings.Contains(exported.String(), "Imported Two") {
		t.Fatalf("export:\n%s", exported.String())
	}
	err = admin.ExportCustomers(ctx, client.ExportCustomersParams{Format: "xlsx"}, &exported)
	wantError(t, err, 400, client.CodeInvalid)

	x := must[*client.Export](t)(admin.ExportCustomer(client.WithPurpose(ctx, "subject access request"), pia.ID))
	if x.Format != "custodian-export/v1" || x.Customer.MustGet().Email != "pia@example.com" || len(x.AuditEvents) == 0 {
		t.Fatalf("export %+v", x)
	}
	er := must[*client.Erasure](t)(admin.EraseCustomer(ctx, pia.ID, "Customer request 77"))
	if er.AlreadyErased || er.Reason != "Customer request 77" || er.Mechanism != client.ErasureMechanismErasure {
		t.Fatalf("erasure %+v", er)
	}
	if again := must[*client.Erasure](t)(admin.EraseCustomer(ctx, pia.ID, "again")); !again.AlreadyErased {
		t.Fatalf("erasing again: %+v", again)
	}
	_, err = admin.GetCustomer(ctx, pia.ID)
	if e := wantError(t, err, 410, client.CodeGone); e.Tombstone == nil || e.Tombstone.ID != pia.ID {
		t.Fatalf("410 without the tombstone: %+v", e.Problem)
	}

	// Bulk actions.
	bulk := must[*client.Customer](t)(admin.CreateCustomer(ctx, client.CustomerInput{Name: "Bo Bulk"}))
	res := must[*client.BulkResult](t)(admin.BulkCustomers(ctx, client.BulkInput{Action: client.BulkInputActionAddTags, Tags: []string{"bulk"},
		Ids: []client.BulkTarget{{ID: bulk.ID, IfMatch: string(client.IfMatch(bulk))}}}))
	if res.Changed != 1 || res.Failed != 0 {
		t.Fatalf("bulk %+v", res)
	}

	// Webhooks.
	wh := must[*client.NewWebhook](t)(admin.CreateWebhook(ctx, client.WebhookInput{URL: "https://93.184.216.34/hook", Events: []client.WebhookEvent{client.WebhookEventCustomerCreated}}))
	if !strings.HasPrefix(wh.Secret, "whsec_") {
		t.Fatalf("webhook %+v", wh)
	}
	if hooks := must[[]client.Webhook](t)(admin.Webhooks(ctx)); len(hooks) != 1 || hooks[0].ID != wh.ID {
		t.Fatalf("webhooks %+v", hooks)
	}
	if got := must[*client.Webhook](t)(admin.GetWebhook(ctx, wh.ID)); got.URL != wh.URL {
		t.Fatalf("webhook %+v", got)
	}
	if got := must[*client.Webhook](t)(admin.UpdateWebhook(ctx, wh.ID, client.IfVersion(1), client.WebhookPatch{Active: nullable.NewNullableWithValue(false)})); got.Active || got.Version != 2 {
		t.Fatalf("updated webhook %+v", got)
	}
	if rot := must[*client.NewWebhook](t)(admin.RotateWebhookSecret(ctx, wh.ID)); rot.Secret == wh.Secret {
		t.Fatal("the secret did not change")
	}
	if ds := must[[]client.WebhookDelivery](t)(admin.WebhookDeliveries(ctx, wh.ID, client.ListWebhookDeliveriesParams{Limit: 5})); len(ds) != 0 {
		t.Fatalf("deliveries %+v", ds)
	}
	if err := admin.DeleteWebhook(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}

	// Saved views.
	vw := must[*client.View](t)(admin.CreateView(ctx, client.ViewInput{Name: "Leads", Shared: true,
		State: client.ViewState{Search: "ada", Status: client.ViewStateStatusLead}}))
	if !vw.Shared || vw.State.Search != "ada" || vw.State.Sort != client.ViewStateSortMinusCreatedAt {
		t.Fatalf("view %+v", vw)
	}
	if vs := must[[]client.View](t)(admin.Views(ctx)); len(vs) != 1 || vs[0].ID != vw.ID {
		t.Fatalf("views %+v", vs)
	}
	if got := must[*client.View](t)(admin.GetView(ctx, vw.ID)); got.Name != "Leads" {
		t.Fatalf("view %+v", got)
	}
	if got := must[*client.View](t)(admin.UpdateView(ctx, vw.ID, client.IfVersion(1), client.ViewPatch{Name: nullable.NewNullableWithValue("New leads")})); got.Name != "New leads" || got.Version != 2 {
		t.Fatalf("updated view %+v", got)
	}
	if err := admin.DeleteView(ctx, vw.ID); err != nil {
		t.Fatal(err)
	}

	// Access tokens.
	nt := must[*client.NewAPIToken](t)(admin.CreateToken(ctx, client.TokenInput{Name: "ci job", ExpiresInDays: 30}))
	if !strings.HasPrefix(nt.Token, "cst_pat_") || !nt.LastUsedAt.IsZero() {
		t.Fatalf("new token %+v", nt)
	}
	if toks := must[[]client.APIToken](t)(admin.Tokens(ctx)); !slices.ContainsFunc(toks, func(tk client.APIToken) bool { return tk.ID == nt.ID }) {
		t.Fatalf("tokens %+v", toks)
	}
	ci := s.client(nt.Token)
	if me := must[*client.User](t)(ci.Session(ctx)); me.Email != "admin@example.com" || me.Role != client.RoleAdmin {
		t.Fatalf("session %+v", me)
	}
	if err := admin.RevokeToken(ctx, nt.ID); err != nil {
		t.Fatal(err)
	}
	_, err = ci.Session(ctx)
	wantError(t, err, 401, client.CodeUnauthorized)

	// Users: invite, register, roles, deactivation, unlock, reset.
	inv := must[*client.Invitation](t)(admin.Invite(ctx, client.InviteInput{Email: "New.Person@example.com", Role: client.RoleViewer}))
	np := must[*client.User](t)(anon.Register(ctx, client.RegisterInput{Token: inv.Token, Name: "New Person", Password: testPassword}))
	if np.Email != "new.person@example.com" || np.Role != client.RoleViewer || !np.Active {
		t.Fatalf("registered %+v", np)
	}
	// Invitations: listed with their state, revoked, re-sent.
	inv2 := must[*client.Invitation](t)(admin.Invite(ctx, client.InviteInput{Email: "second@example.com", Role: client.RoleAgent}))
	invs := must[[]client.InvitationInfo](t)(admin.Invitations(ctx))
	if len(invs) != 2 || invs[0].Email != "second@example.com" || invs[0].State != client.InvitationStatePending || invs[1].State != client.InvitationStateAccepted {
		t.Fatalf("invitations %+v", invs)
	}
	re := must[*client.Invitation](t)(admin.ResendInvitation(ctx, invs[0].ID))
	if re.Token == inv2.Token || re.Mailed {
		t.Fatalf("re-sent %+v", re)
	}
	_, err = anon.Register(ctx, client.RegisterInput{Token: inv2.Token, Name: "Second", Password: testPassword})
	wantError(t, err, 404, client.CodeNotFound)
	invs = must[[]client.InvitationInfo](t)(admin.Invitations(ctx))
	if err := admin.RevokeInvitation(ctx, invs[0].ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, admin.RevokeInvitation(ctx, invs[0].ID), 404, client.CodeNotFound)
	if invs = must[[]client.InvitationInfo](t)(admin.Invitations(ctx)); invs[0].State != client.InvitationStateRevoked || invs[1].State != client.InvitationStateRevoked {
		t.Fatalf("after revoking %+v", invs)
	}
	if users := must[[]client.User](t)(admin.Users(ctx)); len(users) != 2 {
		t.Fatalf("users %+v", users)
	}
	if u := must[*client.User](t)(admin.UpdateUser(ctx, np.ID, client.UserUpdate{Role: new(client.RoleAgent)})); u.Role != client.RoleAgent || !u.Active {
		t.Fatalf("role change %+v", u)
	}
	if u := must[*client.User](t)(admin.UpdateUser(ctx, np.ID, client.UserUpdate{Active: new(false)})); u.Active {
		t.Fatalf("deactivation %+v", u)
	}
	if u := must[*client.User](t)(admin.UpdateUser(ctx, np.ID, client.UserUpdate{Active: new(true)})); !u.Active || u.Role != client.RoleAgent {
		t.Fatalf("activation %+v", u)
	}
	if err := admin.UnlockUser(ctx, np.ID); err != nil {
		t.Fatal(err)
	}
	rl := must[*client.ResetLink](t)(admin.ResetLink(ctx, np.ID))
	const next = "quiet meadow lantern violin seventeen"
	if err := anon.CompleteReset(ctx, client.ResetInput{Token: rl.Token, Password: next}); err != nil {
		t.Fatal(err)
	}
	wantError(t, anon.CompleteReset(ctx, client.ResetInput{Token: rl.Token, Password: next}), 404, client.CodeNotFound)
	// This server sends no mail: a forgotten password needs an administrator.
	wantError(t, anon.ForgotPassword(ctx, client.ForgotInput{Email: "new.person@example.com"}), 503, client.CodeUnavailable)
	if u := must[*client.User](t)(admin.ChangeName(ctx, client.NameChange{Name: "Ada Renamed"})); u.Name != "Ada Renamed" {
		t.Fatalf("name change %+v", u)
	}
	if u := must[*client.User](t)(admin.ChangePreferences(ctx, client.PreferencesChange{Language: "de", TimeZone: "Europe/Berlin"})); u.Language != "de" || u.TimeZone != "Europe/Berlin" {
		t.Fatalf("preferences %+v", u)
	}
	_, err = admin.ChangePreferences(ctx, client.PreferencesChange{Language: "xx", TimeZone: "Mars/Olympus"})
	if e := wantError(t, err, 400, client.CodeInvalid); !hasField(e, "language") || !hasField(e, "time_zone") {
		t.Fatalf("preferences with an unknown language and zone: %+v", e.Problem)
	}
	// The administrator signs in with a token: no sessions to list or end.
	if list := must[[]client.SessionInfo](t)(admin.Sessions(ctx)); len(list) != 0 {
		t.Fatalf("sessions %+v", list)
	}
	wantError(t, admin.EndSession(ctx, "0123456789abcdef"), 404, client.CodeNotFound)
	if err := admin.EndOtherSessions(ctx); err != nil {
		t.Fatal(err)
	}

	// A session: sign in, the account's own settings, sign out.
	b := s.browser()
	_, err = b.Login(ctx, client.LoginInput{Email: "new.person@example.com", Password: testPassword})
	wantError(t, err, 401, client.CodeUnauthorized)
	if u := must[*client.User](t)(b.Login(ctx, client.LoginInput{Email: "new.person@example.com", Password: next})); u.ID != np.ID {
		t.Fatalf("signed in as %+v", u)
	}
	if me := must[*client.User](t)(b.Session(ctx)); me.ID != np.ID {
		t.Fatalf("session %+v", me)
	}
	const third = "brave orchard kettle mosaic ninety"
	if err := b.ChangePassword(ctx, client.PasswordChange{CurrentPassword: next, NewPassword: third}); err != nil {
		t.Fatal(err)
	}
	// This server sends no mail: a new address cannot be confirmed (the
	// mailing flow is walked in the http package's tests).
	_, err = b.RequestEmailChange(ctx, client.EmailChange{CurrentPassword: third, Email: "renamed@example.com"})
	wantError(t, err, 503, client.CodeUnavailable)
	_, err = anon.ConfirmEmailChange(ctx, "cst_eml_"+strings.Repeat("A", 43))
	wantError(t, err, 404, client.CodeNotFound)
	enr := must[*client.TOTPEnrolment](t)(b.BeginTOTP(ctx, third))
	if !strings.HasPrefix(enr.OtpauthURL, "otpauth://totp/") || !strings.HasPrefix(string(enr.QRCodePNG), "\x89PNG") {
		t.Fatalf("enrolment %q, %d bytes of QR code", enr.OtpauthURL, len(enr.QRCodePNG))
	}
	code, err := otptotp.GenerateCode(enr.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := must[[]string](t)(b.EnableTOTP(ctx, code))
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if err := b.DisableTOTP(ctx, third, codes[0]); err != nil {
		t.Fatal(err)
	}
	must[*client.TOTPEnrolment](t)(b.BeginTOTP(ctx, third))
	if err := b.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = b.Session(ctx)
	wantError(t, err, 401, client.CodeUnauthorized)
	if err := admin.ResetUserTOTP(ctx, np.ID); err != nil {
		t.Fatal(err)
	}

	// Settings.
	if st := must[*client.Settings](t)(admin.SetSettings(ctx, client.Settings{RequireTOTPRoles: []client.Role{client.RoleManager, client.RoleManager}})); !slices.Equal(st.RequireTOTPRoles, []client.Role{client.RoleManager}) {
		t.Fatalf("settings %+v", st)
	}
	if st := must[*client.Settings](t)(admin.SetSettings(ctx, client.Settings{})); st.RequireTOTPRoles == nil || len(st.RequireTOTPRoles) != 0 {
		t.Fatalf("settings %+v", st)
	}
	if st := must[*client.Settings](t)(admin.Settings(ctx)); len(st.RequireTOTPRoles) != 0 {
		t.Fatalf("settings %+v", st)
	}

	// The audit trail, by page and to its first event.
	page := must[*client.AuditPage](t)(admin.ListAuditEvents(ctx, client.ListAuditEventsParams{Action: "customer.", Limit: 2}))
	if len(page.Items) != 2 || page.NextCursor.GetOrEmpty() == "" {
		t.Fatalf("audit page %+v", page)
	}
	var last client.AuditEvent
	n := 0
	for e, err := range admin.AuditEvents(ctx, client.ListAuditEventsParams{Limit: 7, Until: time.Now().Add(time.Minute)}) {
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && e.Seq != last.Seq-1 {
			t.Fatalf("event %d after %d", e.Seq, last.Seq)
		}
		last, n = e, n+1
	}
	if last.Seq != 1 || !last.PrevHash.IsNull() || int64(n) != page.Items[0].Seq+int64(n)-page.Items[0].Seq {
		t.Fatalf("the trail ends at event %d (prev_hash %v) after %d events", last.Seq, last.PrevHash, n)
	}

	// Alerts.
	now := time.Now().UTC()
	if _, err := s.store.SaveAlert(ctx, custodian.Alert{ID: "alr_test1", Rule: "brute_force", Key: "addr:203.0.113.7", Count: 23, Status: custodian.AlertOpen, FirstSeen: now.Add(-time.Hour), LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	alerts := must[*client.AlertPage](t)(admin.ListAlerts(ctx, client.ListAlertsParams{Status: client.AlertStatusOpen}))
	if len(alerts.Items) != 1 || alerts.Items[0].Rule != "brute_force" || alerts.Items[0].ResolvedAt.IsSpecified() && !alerts.Items[0].ResolvedAt.IsNull() {
		t.Fatalf("alerts %+v", alerts)
	}
	if err := admin.ResolveAlert(ctx, "alr_test1"); err != nil {
		t.Fatal(err)
	}
	for resolved, want := range map[bool]int{true: 1, false: 0} {
		n := 0
		for a, err := range admin.Alerts(ctx, client.ListAlertsParams{Resolved: &resolved}) {
			if err != nil {
				t.Fatal(err)
			}
			if a.ResolvedAt.IsNull() != !resolved {
				t.Fatalf("resolved=%v listed %+v", resolved, a)
			}
			n++
		}
		if n != want {
			t.Fatalf("resolved=%v: %d alerts, want %d", resolved, n, want)
		}
	}

	// The first administrator, on a server without users yet.
	fresh := newServer(t, true)
	tok, _, err := fresh.acc.SetupLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := must[*client.User](t)(fresh.client("").Setup(ctx, client.SetupInput{Token: tok, Email: "root@example.com", Name: "Root", Password: testPassword}))
	if first.Role != client.RoleAdmin {
		t.Fatalf("first user %+v", first)
	}
	s.called["setup"] = fresh.called["setup"]

	passkeyFlows(t, s, admin)

	// The customer operations are walked by TestCustomers.
	for _, op := range []string{"listCustomers", "createCustomer", "getCustomer", "replaceCustomer", "patchCustomer", "deleteCustomer"} {
		s.called[op] = true
	}
	if missed := s.uncalled(); len(missed) > 0 {
		t.Fatalf("operations the client did not call: %v", missed)
	}
}
