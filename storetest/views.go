package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/password"
)

// ViewsBackend is a fresh, migrated database for the saved views contract.
type ViewsBackend struct {
	// Repo is the account repository under test.
	Repo custodian.AccountRepository
	// DB is its database, for statements the contract runs itself (what
	// an attacker with the database sees, a user's row removed); Q
	// rewrites "?" placeholders for it.
	DB *sql.DB
	Q  func(string) string
}

// RunViews runs the saved views contract, through the account service,
// against backends made by open.
func RunViews(t *testing.T, open func(t *testing.T) ViewsBackend) {
	runTests(t, func(t *testing.T) *viewsEnv { return newViewsEnv(t, open(t)) }, []contractTest[*viewsEnv]{
		{"ViewsArePrivateOrShared", testViewsPrivateOrShared},
		{"ViewNamesAreUniquePerOwner", testViewNamesUnique},
		{"ViewsAreChangedOnlyByWhoMayChangeThem", testViewsChangedByOwner},
		{"InvalidViewsChangeNothing", testInvalidViews},
		{"ViewStateIsSealedAtRest", testViewStateSealed},
		{"ViewsGoWithTheirUser", testViewsGoWithTheirUser},
		{"ViewChangesAreAuditedWithoutTheSearch", testViewChangesAudited},
	})
}

// viewsEnv is one saved views contract case: the account service over
// the backend, two agents (a, b) and a manager (m).
type viewsEnv struct {
	ViewsBackend
	svc     *accounts.Service
	a, b, m *custodian.Principal
}

func newViewsEnv(t *testing.T, b ViewsBackend) *viewsEnv {
	t.Helper()
	_, sealer := newSealer(t)
	hasher, err := password.NewHasher(password.Config{Params: password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := accounts.New(b.Repo, hasher, sealer, accounts.Config{Now: func() time.Time { return time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ae := newAccountsEnv(b.Repo)
	user := func(email string, role custodian.Role) *custodian.Principal {
		u := ae.user(email)
		u.Role = role
		if err := b.Repo.CreateUser(ae.ctx, u); err != nil {
			t.Fatal(err)
		}
		return &custodian.Principal{User: &u.User}
	}
	return &viewsEnv{ViewsBackend: b, svc: svc, a: user("a@example.com", custodian.RoleAgent),
		b: user("b@example.com", custodian.RoleAgent), m: user("m@example.com", custodian.RoleManager)}
}

// ctx is the context p acts in.
func (e *viewsEnv) ctx(p *custodian.Principal) context.Context {
	return custodian.WithActor(context.Background(), p.User.ID)
}

// save saves a view for p and returns it.
func (e *viewsEnv) save(t *testing.T, p *custodian.Principal, name string, shared bool, st custodian.ViewState) *custodian.View {
	t.Helper()
	v, err := e.svc.CreateView(e.ctx(p), p, custodian.ViewInput{Name: name, Shared: shared, State: st})
	if err != nil {
		t.Fatalf("CreateView(%q): %v", name, err)
	}
	return v
}

// names lists the names of the views p sees, in order.
func (e *viewsEnv) names(t *testing.T, p *custodian.Principal) []string {
	t.Helper()
	vs, err := e.svc.Views(e.ctx(p), p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

// rows counts the stored views.
func (e *viewsEnv) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM saved_views`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testViewsPrivateOrShared(t *testing.T, e *viewsEnv) {
	st := custodian.ViewState{Search: " alice@example.com ", Status: custodian.StatusLead, Tag: " VIP ", PageSize: 50}
	mine := e.save(t, e.a, "My leads", false, st)
	want := custodian.ViewState{Search: "alice@example.com", Status: custodian.StatusLead, Tag: "vip", Sort: custodian.DefaultSort, PageSize: 50}
	if mine.State != want || mine.Shared || mine.Owner != e.a.User.ID || mine.CreatedBy != e.a.User.ID || mine.Version != 1 ||
		!strings.HasPrefix(mine.ID, custodian.ViewIDPrefix) {
		t.Fatalf("saved view %+v", mine)
	}
	e.save(t, e.a, "Active by name", false, custodian.ViewState{Status: custodian.StatusActive, Sort: custodian.SortName})
	e.save(t, e.b, "B's own", false, custodian.ViewState{Tag: "b"})
	shared := e.save(t, e.m, "Team: new leads", true, custodian.ViewState{Status: custodian.StatusLead, Sort: custodian.SortCreatedAtDesc})
	if !shared.Shared || shared.Owner != "" || shared.CreatedBy != e.m.User.ID {
		t.Fatalf("shared view %+v", shared)
	}
	// Each sees the shared set first, then their own, by name; never
	// another's private view.
	if got := e.names(t, e.a); !slices.Equal(got, []string{"Team: new leads", "Active by name", "My leads"}) {
		t.Fatalf("a sees %v", got)
	}
	if got := e.names(t, e.b); !slices.Equal(got, []string{"Team: new leads", "B's own"}) {
		t.Fatalf("b sees %v", got)
	}
	if got := e.names(t, e.m); !slices.Equal(got, []string{"Team: new leads"}) {
		t.Fatalf("m sees %v", got)
	}
	got, err := e.svc.View(e.ctx(e.a), e.a, mine.ID)
	if err != nil || got.State != want || got.Name != "My leads" {
		t.Fatalf("View = %+v, %v", got, err)
	}
	_, err = e.svc.View(e.ctx(e.b), e.b, mine.ID)
	wantCode(t, err, custodian.ENOTFOUND)
	if v, err := e.svc.View(e.ctx(e.b), e.b, shared.ID); err != nil || v.State.Status != custodian.StatusLead {
		t.Fatalf("shared View = %+v, %v", v, err)
	}
	// A role that may not share views cannot save a shared one.
	_, err = e.svc.CreateView(e.ctx(e.a), e.a, custodian.ViewInput{Name: "Everyone's", Shared: true})
	wantCode(t, err, custodian.EFORBIDDEN)
	if n := e.rows(t); n != 4 {
		t.Fatalf("%d views stored, want 4", n)
	}
}

func testViewNamesUnique(t *testing.T, e *viewsEnv) {
	e.save(t, e.a, "Leads", false, custodian.ViewState{})
	// The same name, in any case, is refused for the same owner...
	_, err := e.svc.CreateView(e.ctx(e.a), e.a, custodian.ViewInput{Name: " LEADS "})
	wantCode(t, err, custodian.ECONFLICT)
	if f := custodian.ErrorFields(err); len(f) != 1 || f[0].Field != "name" {
		t.Fatalf("conflict fields %v", f)
	}
	// ...and free for another user and for the shared set, once.
	e.save(t, e.b, "Leads", false, custodian.ViewState{})
	e.save(t, e.m, "Leads", true, custodian.ViewState{})
	_, err = e.svc.CreateView(e.ctx(e.m), e.m, custodian.ViewInput{Name: "leads", Shared: true})
	wantCode(t, err, custodian.ECONFLICT)
	// Renaming onto a taken name is refused too.
	other := e.save(t, e.a, "Other", false, custodian.ViewState{})
	name := "Leads"
	_, err = e.svc.UpdateView(e.ctx(e.a), e.a, other.ID, 0, custodian.ViewPatch{Name: &name})
	wantCode(t, err, custodian.ECONFLICT)
	if got := e.names(t, e.a); !slices.Equal(got, []string{"Leads", "Leads", "Other"}) {
		t.Fatalf("a sees %v", got)
	}
	// One owner keeps at most MaxViewsPerOwner views.
	for i := 1; i < custodian.MaxViewsPerOwner; i++ { // b has one already
		if _, err := e.svc.CreateView(e.ctx(e.b), e.b, custodian.ViewInput{Name: fmt.Sprintf("View %d", i)}); err != nil {
			t.Fatalf("view %d: %v", i, err)
		}
	}
	_, err = e.svc.CreateView(e.ctx(e.b), e.b, custodian.ViewInput{Name: "One too many"})
	wantCode(t, err, custodian.ECONFLICT)
}

func testViewsChangedByOwner(t *testing.T, e *viewsEnv) {
	mine := e.save(t, e.a, "Mine", false, custodian.ViewState{Search: "ada"})
	shared := e.save(t, e.m, "Shared", true, custodian.ViewState{})
	rename := func(s string) custodian.ViewPatch { return custodian.ViewPatch{Name: &s} }

	// Another user's private view is not found, to change or delete.
	_, err := e.svc.UpdateView(e.ctx(e.b), e.b, mine.ID, 0, rename("Taken over"))
	wantCode(t, err, custodian.ENOTFOUND)
	wantCode(t, e.svc.DeleteView(e.ctx(e.b), e.b, mine.ID), custodian.ENOTFOUND)
	wantCode(t, e.svc.DeleteView(e.ctx(e.m), e.m, mine.ID), custodian.ENOTFOUND)
	// A shared view is changed and deleted only by a role that shares.
	_, err = e.svc.UpdateView(e.ctx(e.a), e.a, shared.ID, 0, rename("Mine now"))
	wantCode(t, err, custodian.EFORBIDDEN)
	wantCode(t, e.svc.DeleteView(e.ctx(e.a), e.a, shared.ID), custodian.EFORBIDDEN)

	// The owner renames, and replaces the state; a stale version is
	// refused and changes nothing.
	v, err := e.svc.UpdateView(e.ctx(e.a), e.a, mine.ID, 1, rename("Renamed"))
	if err != nil || v.Name != "Renamed" || v.Version != 2 || v.State.Search != "ada" {
		t.Fatalf("rename = %+v, %v", v, err)
	}
	_, err = e.svc.UpdateView(e.ctx(e.a), e.a, mine.ID, 1, rename("Stale"))
	wantCode(t, err, custodian.EPRECONDITION)
	st := custodian.ViewState{Search: "lovelace", Sort: custodian.SortName}
	v, err = e.svc.UpdateView(e.ctx(e.a), e.a, mine.ID, 0, custodian.ViewPatch{State: &st})
	if err != nil || v.Name != "Renamed" || v.Version != 3 || v.State.Search != "lovelace" || v.State.Sort != custodian.SortName {
		t.Fatalf("new state = %+v, %v", v, err)
	}
	if got, err := e.svc.View(e.ctx(e.a), e.a, mine.ID); err != nil || got.State != v.State || got.Name != "Renamed" {
		t.Fatalf("View = %+v, %v", got, err)
	}
	// A patch that changes nothing makes no new version; it is still
	// refused to whoever may not change the view.
	if got, err := e.svc.UpdateView(e.ctx(e.a), e.a, mine.ID, 3, custodian.ViewPatch{}); err != nil || got.Version != 3 {
		t.Fatalf("empty patch = %+v, %v", got, err)
	}
	_, err = e.svc.UpdateView(e.ctx(e.b), e.b, mine.ID, 0, custodian.ViewPatch{})
	wantCode(t, err, custodian.ENOTFOUND)
	_, err = e.svc.UpdateView(e.ctx(e.a), e.a, shared.ID, 0, custodian.ViewPatch{})
	wantCode(t, err, custodian.EFORBIDDEN)
	if _, err := e.svc.UpdateView(e.ctx(e.m), e.m, shared.ID, 0, rename("Shared, renamed")); err != nil {
		t.Fatal(err)
	}

	wantCode(t, e.svc.DeleteView(e.ctx(e.m), e.m, shared.ID), "")
	wantCode(t, e.svc.DeleteView(e.ctx(e.a), e.a, mine.ID), "")
	wantCode(t, e.svc.DeleteView(e.ctx(e.a), e.a, mine.ID), custodian.ENOTFOUND)
	if n := e.rows(t); n != 0 {
		t.Fatalf("%d views left", n)
	}
}

func testInvalidViews(t *testing.T, e *viewsEnv) {
	long := strings.Repeat("n", custodian.MaxViewNameLen+1)
	for _, tt := range []struct {
		in   custodian.ViewInput
		want []string
	}{
		{custodian.ViewInput{Name: "  "}, []string{"name"}},
		{custodian.ViewInput{Name: long}, []string{"name"}},
		{custodian.ViewInput{Name: "<b>"}, []string{"name"}},
		{custodian.ViewInput{Name: "Tab\there"}, []string{"name"}},
		{custodian.ViewInput{Name: "ok", State: custodian.ViewState{Search: "a\x00b"}}, []string{"state.search"}},
		{custodian.ViewInput{Name: "ok", State: custodian.ViewState{Search: strings.Repeat("a", custodian.MaxSearchLen+1)}}, []string{"state.search"}},
		{custodian.ViewInput{Name: "ok", State: custodian.ViewState{Status: "gone", Tag: "no <tags>", Sort: "age", PageSize: custodian.MaxListLimit + 1}},
			[]string{"state.status", "state.tag", "state.sort", "state.page_size"}},
	} {
		_, err := e.svc.CreateView(e.ctx(e.a), e.a, tt.in)
		wantInvalid(t, err, tt.want...)
	}
	v := e.save(t, e.a, "Fine", false, custodian.ViewState{Search: "ada"})
	empty := ""
	_, err := e.svc.UpdateView(e.ctx(e.a), e.a, v.ID, 0, custodian.ViewPatch{Name: &empty, State: &custodian.ViewState{Sort: "x"}})
	wantInvalid(t, err, "name", "state.sort")
	if got, err := e.svc.View(e.ctx(e.a), e.a, v.ID); err != nil || got.Name != "Fine" || got.Version != 1 || got.State.Search != "ada" {
		t.Fatalf("after refused update: %+v, %v", got, err)
	}
	if n := e.rows(t); n != 1 {
		t.Fatalf("%d views stored, want 1", n)
	}
}

func testViewStateSealed(t *testing.T, e *viewsEnv) {
	const secret = "alice.secret@example.com"
	one := e.save(t, e.a, "Alice", false, custodian.ViewState{Search: secret, Tag: "confidential-tag"})
	two := e.save(t, e.a, "Other", false, custodian.ViewState{Search: "bob"})
	ctx := context.Background()
	rows, err := e.DB.QueryContext(ctx, `SELECT * FROM saved_views`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var all bytes.Buffer
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch x := v.(type) {
			case []byte:
				all.Write(x)
			case string:
				all.WriteString(x)
			}
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{secret, "alice.secret", "confidential-tag"} {
		if bytes.Contains(all.Bytes(), []byte(plain)) {
			t.Fatalf("%q is stored in plaintext", plain)
		}
	}
	// A sealed state moved to another view does not open: it fails
	// loudly rather than showing another view's search.
	if _, err := e.DB.ExecContext(ctx, e.Q(`UPDATE saved_views SET state_ct = (SELECT state_ct FROM saved_views WHERE id = ?) WHERE id = ?`), one.ID, two.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.View(e.ctx(e.a), e.a, two.ID)
	wantCode(t, err, custodian.EINTERNAL)
	if v, err := e.svc.View(e.ctx(e.a), e.a, one.ID); err != nil || v.State.Search != secret {
		t.Fatalf("View = %+v, %v", v, err)
	}
}

func testViewsGoWithTheirUser(t *testing.T, e *viewsEnv) {
	e.save(t, e.a, "A's", false, custodian.ViewState{Search: "ada"})
	e.save(t, e.b, "B's", false, custodian.ViewState{})
	e.save(t, e.a, "A's second", false, custodian.ViewState{})
	e.save(t, e.m, "Team", true, custodian.ViewState{})
	// A view of a user that does not exist is refused.
	ghost := &custodian.Principal{User: &custodian.User{ID: custodian.NewUserID(), Role: custodian.RoleAgent}}
	_, err := e.svc.CreateView(e.ctx(ghost), ghost, custodian.ViewInput{Name: "Ghost's"})
	wantCode(t, err, custodian.ENOTFOUND)
	// Removing users removes their private views, not the shared ones
	// (the manager who made one included).
	for _, p := range []*custodian.Principal{e.a, e.m} {
		if _, err := e.DB.ExecContext(context.Background(), e.Q(`DELETE FROM users WHERE id = ?`), p.User.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.rows(t); n != 2 {
		t.Fatalf("%d views left, want B's and the shared one", n)
	}
	if got := e.names(t, e.b); !slices.Equal(got, []string{"Team", "B's"}) {
		t.Fatalf("b sees %v", got)
	}
}

func testViewChangesAudited(t *testing.T, e *viewsEnv) {
	const search = "carol@example.com"
	v := e.save(t, e.a, "Carol", false, custodian.ViewState{Search: search})
	name := "Carol's list"
	st := custodian.ViewState{Search: search + " again"}
	if _, err := e.svc.UpdateView(e.ctx(e.a), e.a, v.ID, 0, custodian.ViewPatch{Name: &name, State: &st}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteView(e.ctx(e.a), e.a, v.ID); err != nil {
		t.Fatal(err)
	}
	// A refused change records nothing.
	_, err := e.svc.CreateView(e.ctx(e.a), e.a, custodian.ViewInput{Name: "Shared", Shared: true, State: custodian.ViewState{Search: search}})
	wantCode(t, err, custodian.EFORBIDDEN)
	evs, err := e.Repo.AuditEvents(context.Background(), custodian.AuditQuery{Action: "view."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Actor != e.a.User.ID || ev.Subject != v.ID {
			t.Fatalf("event %+v", ev)
		}
		if bytes.Contains(ev.Data, []byte("carol")) || slices.ContainsFunc(ev.Fields, func(f string) bool { return strings.Contains(f, "carol") }) {
			t.Fatalf("event %s holds the search: %s", ev.Action, ev.Data)
		}
		got = append(got, ev.Action+" "+strings.Join(ev.Fields, ","))
	}
	want := []string{custodian.ActionViewDelete + " ", custodian.ActionViewUpdate + " name,state", custodian.ActionViewCreate + " name,state"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}
