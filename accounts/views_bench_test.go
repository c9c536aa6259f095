package accounts_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testdb"
)

// BenchmarkViews lists a user's 100 saved views and 100 shared ones, each
// opened from its sealed state: what every customer list page pays for
// its views bar.
// go test -run '^$' -bench Views -benchtime 200x ./accounts
func BenchmarkViews(b *testing.B) {
	store, _ := testdb.SQLite(b)
	e := envWith(b, store, nil)
	ctx := context.Background()
	p := func(email string, role custodian.Role) *custodian.Principal {
		u, err := e.svc.CreateUser(ctx, email, "N", role, pw)
		if err != nil {
			b.Fatal(err)
		}
		return &custodian.Principal{User: u}
	}
	agent, manager := p("a@example.com", custodian.RoleAgent), p("m@example.com", custodian.RoleManager)
	for i := range custodian.MaxViewsPerOwner {
		st := custodian.ViewState{Search: fmt.Sprintf("customer%03d@example.com", i), Status: custodian.StatusLead}
		if _, err := e.svc.CreateView(ctx, agent, custodian.ViewInput{Name: fmt.Sprintf("Mine %d", i), State: st}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.CreateView(ctx, manager, custodian.ViewInput{Name: fmt.Sprintf("Team %d", i), Shared: true, State: st}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		vs, err := e.svc.Views(ctx, agent)
		if err != nil || len(vs) != 2*custodian.MaxViewsPerOwner {
			b.Fatalf("%d views, %v", len(vs), err)
		}
	}
}
