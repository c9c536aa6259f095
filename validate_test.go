package custodian_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

func TestNormalize(t *testing.T) {
	v := custodian.Validator{PhoneRegion: "DE"}
	tests := []struct {
		name   string
		in     custodian.CustomerFields
		want   custodian.CustomerFields
		fields []string
	}{
		{"minimal", custodian.CustomerFields{Name: "  Ada  "}, custodian.CustomerFields{Name: "Ada", Tags: []string{}, Status: "lead"}, nil},
		{"phone with region", custodian.CustomerFields{Name: "A", Phone: "030 901820"}, custodian.CustomerFields{Name: "A", Phone: "+4930901820", Tags: []string{}, Status: "lead"}, nil},
		{"phone international", custodian.CustomerFields{Name: "A", Phone: "+44 (0)20 7946 0958"}, custodian.CustomerFields{Name: "A", Phone: "+442079460958", Tags: []string{}, Status: "lead"}, nil},
		{"email domain lower-cased, local part kept", custodian.CustomerFields{Name: "A", Email: " John.Doe@Example.COM "}, custodian.CustomerFields{Name: "A", Email: "John.Doe@example.com", Tags: []string{}, Status: "lead"}, nil},
		{"notes kept exactly", custodian.CustomerFields{Name: "A", Notes: "  <b>hi</b>\r\n\ttab  "}, custodian.CustomerFields{Name: "A", Notes: "  <b>hi</b>\r\n\ttab  ", Tags: []string{}, Status: "lead"}, nil},
		{"right-to-left names allowed", custodian.CustomerFields{Name: "\u200fمحمد"}, custodian.CustomerFields{Name: "\u200fمحمد", Tags: []string{}, Status: "lead"}, nil},
		{"tags folded and deduplicated", custodian.CustomerFields{Name: "A", Tags: []string{" VIP", "vip", "Key Account"}}, custodian.CustomerFields{Name: "A", Tags: []string{"vip", "key account"}, Status: "lead"}, nil},
		{"country upper-cased", custodian.CustomerFields{Name: "A", Address: custodian.Address{Country: "de", PostalCode: "10115"}}, custodian.CustomerFields{Name: "A", Address: custodian.Address{Country: "DE", PostalCode: "10115"}, Tags: []string{}, Status: "lead"}, nil},

		{"name required", custodian.CustomerFields{Name: "   "}, custodian.CustomerFields{}, []string{"name"}},
		{"name too long", custodian.CustomerFields{Name: strings.Repeat("é", 201)}, custodian.CustomerFields{}, []string{"name"}},
		{"markup refused not stripped", custodian.CustomerFields{Name: "Bob <b>", Company: "x>y", Address: custodian.Address{Street: "<", City: ">"}}, custodian.CustomerFields{}, []string{"name", "company", "address.street", "address.city"}},
		{"bidi override in name", custodian.CustomerFields{Name: "abc\u202edcb"}, custodian.CustomerFields{}, []string{"name"}},
		{"control in notes", custodian.CustomerFields{Name: "A", Notes: "a\x1bb"}, custodian.CustomerFields{}, []string{"notes"}},
		{"invalid utf-8", custodian.CustomerFields{Name: "a\xffb"}, custodian.CustomerFields{}, []string{"name"}},
		{"email shapes", custodian.CustomerFields{Name: "A", Email: "Ada <ada@example.com>"}, custodian.CustomerFields{}, []string{"email"}},
		{"email without dot", custodian.CustomerFields{Name: "A", Email: "ada@localhost"}, custodian.CustomerFields{}, []string{"email"}},
		{"email 255 chars", custodian.CustomerFields{Name: "A", Email: strings.Repeat("a", 243) + "@example.com"}, custodian.CustomerFields{}, []string{"email"}},
		{"phone invalid", custodian.CustomerFields{Name: "A", Phone: "+44 12"}, custodian.CustomerFields{}, []string{"phone"}},
		{"reserved country", custodian.CustomerFields{Name: "A", Address: custodian.Address{Country: "UK"}}, custodian.CustomerFields{}, []string{"address.country"}},
		{"postal code punctuation", custodian.CustomerFields{Name: "A", Address: custodian.Address{PostalCode: "1234;"}}, custodian.CustomerFields{}, []string{"address.postal_code"}},
		{"too many tags", custodian.CustomerFields{Name: "A", Tags: make([]string, 21)}, custodian.CustomerFields{}, []string{"tags"}},
		{"bad tag", custodian.CustomerFields{Name: "A", Tags: []string{"ok", "a/b", ""}}, custodian.CustomerFields{}, []string{"tags[1]", "tags[2]"}},
		{"status", custodian.CustomerFields{Name: "A", Status: "Active"}, custodian.CustomerFields{}, []string{"status"}},
		{"notes too long", custodian.CustomerFields{Name: "A", Notes: strings.Repeat("x", custodian.MaxNotesLen+1)}, custodian.CustomerFields{}, []string{"notes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Normalize(tt.in)
			var fields []string
			for _, f := range custodian.ErrorFields(err) {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Fatalf("field errors %v, want %v (%v)", fields, tt.fields, err)
			}
			if tt.fields != nil {
				if custodian.ErrorCode(err) != custodian.EINVALID {
					t.Fatalf("code %q", custodian.ErrorCode(err))
				}
				return
			}
			if got.Name != tt.want.Name || got.Email != tt.want.Email || got.Phone != tt.want.Phone || got.Notes != tt.want.Notes ||
				got.Address != tt.want.Address || !slices.Equal(got.Tags, tt.want.Tags) || got.Status != tt.want.Status {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPhoneWithoutRegionNeedsCountryCode(t *testing.T) {
	_, err := custodian.Validator{}.Normalize(custodian.CustomerFields{Name: "A", Phone: "020 7946 0958"})
	fe := custodian.ErrorFields(err)
	if len(fe) != 1 || !strings.Contains(fe[0].Message, "country code") {
		t.Fatalf("errors %v", fe)
	}
}

func TestCountries(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if custodian.ValidCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Fatalf("%d assigned codes, want 249", n)
	}
	for _, c := range []string{"UK", "EU", "XK", "ZZ", "SU", "gb", "G", "GBR", "D "} {
		if custodian.ValidCountry(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestCustomerIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := custodian.NewCustomerID()
		if !custodian.ValidCustomerID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "cus_", "cus_AAAAAAAAAAAAAAAAAAAAAAAAAA", "cus_aaaaaaaaaaaaaaaaaaaaaaaaa1", "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa", "1"} {
		if custodian.ValidCustomerID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
