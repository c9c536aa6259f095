package accounts_test

import (
	"context"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestChangePreferences: a language offered and a zone of the time zone
// database are stored and audited with the fields that changed; anything
// else is refused with the field at fault and changes nothing; saving the
// same again records nothing.
func TestChangePreferences(t *testing.T) {
	e := newEnv(t)
	ctx := custodian.WithActor(context.Background(), "usr_admin")
	u, err := e.svc.CreateUser(ctx, "pat@example.com", "Pat", custodian.RoleViewer, pw)
	if err != nil {
		t.Fatal(err)
	}
	p := &custodian.Principal{User: u}
	tr := &trail{t: t, repo: e.repo}
	tr.since()

	for _, tc := range []struct{ lang, zone, field string }{
		{"fr", "", "language"},
		{"de-AT", "", "language"},
		{"", "Mars/Olympus", "time_zone"},
		{"", "Local", "time_zone"},
		{"", "/etc/localtime", "time_zone"},
		{"", "../../etc/passwd", "time_zone"},
	} {
		_, err := e.svc.ChangePreferences(ctx, p, tc.lang, tc.zone)
		fes := custodian.ErrorFields(err)
		if custodian.ErrorCode(err) != custodian.EINVALID || len(fes) != 1 || fes[0].Field != tc.field {
			t.Errorf("ChangePreferences(%q, %q) = %v %+v; want %s refused", tc.lang, tc.zone, err, fes, tc.field)
		}
	}
	tr.none("refused preferences")

	got, err := e.svc.ChangePreferences(ctx, p, "de", " Europe/Berlin ")
	if err != nil || got.Language != "de" || got.TimeZone != "Europe/Berlin" || got.Version != u.Version+1 {
		t.Fatalf("ChangePreferences = %+v, %v", got, err)
	}
	tr.next(custodian.ActionUserUpdate, u.ID, "usr_admin", "language", "time_zone")
	if _, err := e.svc.ChangePreferences(ctx, p, "de", "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	tr.none("the same preferences again")
	if got, err = e.svc.ChangePreferences(ctx, p, "de", ""); err != nil || got.TimeZone != "" {
		t.Fatalf("clear the zone: %+v, %v", got, err)
	}
	tr.next(custodian.ActionUserUpdate, u.ID, "usr_admin", "time_zone")
}
