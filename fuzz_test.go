package custodian_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/custodian-crm/custodian"
)

// FuzzNormalize checks the validator's contract on arbitrary input: a
// refusal is an EINVALID error naming at least one field, and what it
// accepts is already normal (normalizing again changes nothing and is
// accepted).
func FuzzNormalize(f *testing.F) {
	f.Add("Ada Lovelace", "ADA@Example.com ", "020 7946 0958", "Analytical", "1 Main St", "London", "N1", "gb", "notes", "VIP", "lead")
	f.Add("", "not-an-email", "12", "<b>", "", "", "", "XX", "", "", "unknown")
	f.Add("José Ñúñez", "", "+1 415 555 2671", "", "", "", "", "", "\x00", "a,b", "customer")
	f.Fuzz(func(t *testing.T, name, email, phone, company, street, city, postal, country, notes, tag, status string) {
		in := custodian.CustomerFields{Name: name, Email: email, Phone: phone, Company: company,
			Address: custodian.Address{Street: street, City: city, PostalCode: postal, Country: country},
			Notes:   notes, Tags: []string{tag}, Status: custodian.Status(status)}
		v := custodian.Validator{PhoneRegion: "GB"}
		out, err := v.Normalize(in)
		if err != nil {
			var e *custodian.Error
			if !errors.As(err, &e) || e.Code != custodian.EINVALID || len(e.Fields) == 0 {
				t.Fatalf("refusal is not EINVALID with fields: %#v", err)
			}
			return
		}
		again, err := v.Normalize(out)
		if err != nil {
			t.Fatalf("normalized value %+v refused: %v", out, err)
		}
		if !reflect.DeepEqual(again, out) {
			t.Fatalf("not idempotent:\n%+v\n%+v", out, again)
		}
	})
}
