package http

import (
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestUIShowsReadableValues: the customer page shows a phone number as
// people write it in its region, and keeps the stored form in the link;
// consent purposes read as words, with the key the API uses kept as the
// title.
func TestUIShowsReadableValues(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Ada Lovelace","phone":"+44 20 7946 0958"}`)["id"].(string)
	c, _ := s.webAs(0, custodian.RoleAgent)
	p := c.get("/customers/" + id)
	for _, want := range []string{
		`<a href="tel:&#43;442079460958"><bdi>&#43;44 20 7946 0958</bdi></a>`,
		`<span title="marketing_email">Marketing email</span>`,
		`<option value="phone_calls">Phone calls</option>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the customer page lacks %s", want)
		}
	}
}

func TestKeyLabelAndPhoneFormat(t *testing.T) {
	for in, want := range map[string]string{"marketing_email": "Marketing email", "profiling": "Profiling", "": "", "a": "A"} {
		if got := keyLabel(in); got != want {
			t.Errorf("keyLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"+442079460958": "+44 20 7946 0958", "+14155550123": "+1 415-555-0123", "not a number": "not a number"} {
		if got := formatPhone(in); got != want {
			t.Errorf("formatPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
