package custodian_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// jsonFields walks the struct type t and calls visit with the dotted JSON
// path and the index of every field whose type is leaf, looking inside
// fields that are structs (or, with pointers, pointers to structs).
func jsonFields(t reflect.Type, leaf reflect.Type, prefix string, index []int, visit func(path string, index []int)) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		path := prefix + name
		idx := append(slices.Clone(index), f.Index...)
		ft := f.Type
		switch {
		case ft == leaf:
			visit(path, idx)
		case ft.Kind() == reflect.Struct:
			jsonFields(ft, leaf, path+".", idx, visit)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			jsonFields(ft.Elem(), leaf, path+".", idx, visit)
		}
	}
}

// TestPersonalFieldsCoverCustomerFields keeps the table and the structs in
// step: every text field of CustomerFields (and of Address) is one row,
// whose Name is its JSON path and whose Value is that very field, and every
// *string of CustomerPatch (and of AddressPatch) is the same row's Patch. A
// field added to a struct without its row, or a row without its field,
// fails here.
func TestPersonalFieldsCoverCustomerFields(t *testing.T) {
	rows := custodian.PersonalFields()
	byName := map[string]custodian.PersonalField{}
	for _, pf := range rows {
		if _, dup := byName[pf.Name]; dup {
			t.Errorf("%s: two rows", pf.Name)
		}
		byName[pf.Name] = pf
	}

	var f custodian.CustomerFields
	fv := reflect.ValueOf(&f).Elem()
	seen := map[string]bool{}
	jsonFields(reflect.TypeFor[custodian.CustomerFields](), reflect.TypeFor[string](), "", nil, func(path string, index []int) {
		pf, ok := byName[path]
		if !ok {
			t.Errorf("CustomerFields.%s (JSON %q) has no row in the personal field table", fv.Type().FieldByIndex(index).Name, path)
			return
		}
		seen[path] = true
		if got, want := reflect.ValueOf(pf.Value(&f)).Pointer(), fv.FieldByIndex(index).Addr().Pointer(); got != want {
			t.Errorf("%s: Value is not the CustomerFields field named %q in JSON", path, path)
		}
	})
	for _, pf := range rows {
		if !seen[pf.Name] {
			t.Errorf("row %s: no text field of CustomerFields has that JSON name", pf.Name)
		}
	}

	seen = map[string]bool{}
	jsonFields(reflect.TypeFor[custodian.CustomerPatch](), reflect.TypeFor[*string](), "", nil, func(path string, index []int) {
		pf, ok := byName[path]
		if !ok {
			t.Errorf("CustomerPatch member %q has no row in the personal field table", path)
			return
		}
		seen[path] = true
		var p custodian.CustomerPatch
		got := reflect.ValueOf(pf.Patch(&p)).Pointer()
		pv := reflect.ValueOf(&p).Elem()
		// Patch made room for the member if it is in a nested patch.
		want := pv.FieldByIndex(index).Addr().Pointer()
		if got != want {
			t.Errorf("%s: Patch is not the CustomerPatch member named %q in JSON", path, path)
		}
	})
	for _, pf := range rows {
		if !seen[pf.Name] {
			t.Errorf("row %s: no *string member of CustomerPatch has that JSON name", pf.Name)
		}
	}
}

var identifier = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// TestPersonalFieldRows checks each row on its own and the units together:
// every row says how it is shown, validated, stored and indexed, units have
// distinct columns, and a unit is either one field of its name or the parts
// of the JSON object of its name.
func TestPersonalFieldRows(t *testing.T) {
	for _, pf := range custodian.PersonalFields() {
		if pf.Label == "" || pf.Autocomplete == "" {
			t.Errorf("%s: no label or autocomplete attribute", pf.Name)
		}
		if pf.Kind < custodian.KindLine || pf.Kind > custodian.KindText {
			t.Errorf("%s: unknown kind %d", pf.Name, pf.Kind)
		}
		if pf.MaxLen <= 0 {
			t.Errorf("%s: no length bound", pf.Name)
		}
		switch pf.Index {
		case custodian.IndexNone:
		case custodian.IndexWordPrefixes:
			if pf.Kind != custodian.KindLine && pf.Kind != custodian.KindText {
				t.Errorf("%s: word prefixes index text, not kind %d", pf.Name, pf.Kind)
			}
		case custodian.IndexEmail:
			if pf.Kind != custodian.KindEmail {
				t.Errorf("%s: an email index needs an email field", pf.Name)
			}
		case custodian.IndexPhone:
			if pf.Kind != custodian.KindPhone {
				t.Errorf("%s: a phone index needs a phone field", pf.Name)
			}
		default:
			t.Errorf("%s: unknown index %d", pf.Name, pf.Index)
		}
		if unit, _, _ := strings.Cut(pf.Name, "."); pf.Unit != unit {
			t.Errorf("%s: unit %q, want the JSON member that holds it, %q", pf.Name, pf.Unit, unit)
		}
		if !identifier.MatchString(pf.Unit) {
			t.Errorf("%s: unit %q is not a column name", pf.Name, pf.Unit)
		}
		// Every kind validates, and a required field must be given.
		_, err := custodian.Validator{}.NormalizeField(pf, "")
		if pf.Required != (err != nil) {
			t.Errorf("%s: required %v, but an empty value gives %v", pf.Name, pf.Required, err)
		}
	}

	columns := map[string]bool{}
	var units []string
	for _, u := range custodian.PersonalUnits() {
		units = append(units, u.Name)
		if columns[u.Column()] {
			t.Errorf("unit %s: column %s used twice", u.Name, u.Column())
		}
		columns[u.Column()] = true
		if !u.HasParts() {
			continue
		}
		parts := map[string]bool{}
		for _, pf := range u.Fields {
			if pf.Part() == "" || strings.Contains(pf.Part(), ".") || parts[pf.Part()] {
				t.Errorf("unit %s: %s is not a distinct part of it", u.Name, pf.Name)
			}
			parts[pf.Part()] = true
		}
	}
	// Units follow the JSON document, as ChangedFields and the columns do.
	if want := []string{"name", "email", "phone", "company", "address", "notes"}; !slices.Equal(units[:min(len(units), len(want))], want) {
		t.Errorf("units %v, want them to begin with %v", units, want)
	}
}

// TestSealedFormatIsUnchanged keeps the at-rest format of every unit: a
// field of its own is sealed as its text, a unit of parts as exactly the
// JSON that encoding/json writes for its struct (for the address, the JSON
// of Address that databases written before hold), and both read back.
func TestSealedFormatIsUnchanged(t *testing.T) {
	for _, v := range []string{"", "Ada", `<b>"&'</b>`, "José\u2028\u2029\u00a0", "a\xffb", "line\nbreak\t"} {
		var f custodian.CustomerFields
		for i, pf := range custodian.PersonalFields() {
			*pf.Value(&f) = v + strings.Repeat("x", i)
		}
		fv := reflect.ValueOf(f)
		for _, u := range custodian.PersonalUnits() {
			i := slices.IndexFunc(reflect.VisibleFields(fv.Type()), func(sf reflect.StructField) bool {
				name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
				return name == u.Name
			})
			if i < 0 {
				t.Fatalf("unit %s is no member of CustomerFields", u.Name)
			}
			want := []byte(fv.Field(i).String())
			if u.HasParts() {
				want, _ = json.Marshal(fv.Field(i).Interface())
			}
			pt := u.Plaintext(&f)
			if string(pt) != string(want) {
				t.Errorf("unit %s of %q sealed as %s, want %s", u.Name, v, pt, want)
			}
			var back custodian.CustomerFields
			if err := u.SetPlaintext(&back, pt); err != nil {
				t.Fatalf("unit %s: %v", u.Name, err)
			}
			for _, pf := range u.Fields {
				if got, want := *pf.Value(&back), *pf.Value(&f); got != want && strings.ToValidUTF8(want, "\ufffd") != got {
					t.Errorf("%s read back as %q, want %q", pf.Name, got, want)
				}
			}
		}
	}
}

// TestPatchFromTable checks ReplaceWith and Apply, which the table drives:
// replacing turns any customer into f, a patch changes exactly the fields
// it sets, and PersonalFields hands out a copy of the table.
func TestPatchFromTable(t *testing.T) {
	f := custodian.CustomerFields{Name: "Ada", Email: "a@example.com", Phone: "+442079460958", Company: "AE",
		Address: custodian.Address{Street: "1 Sq", City: "London", PostalCode: "N1", Country: "GB"}, Notes: "n", Tags: []string{"t"}, Status: custodian.StatusActive}
	other := custodian.CustomerFields{Name: "Bo", Notes: "old", Address: custodian.Address{City: "Paris"}, Tags: []string{"x", "y"}}
	if got := custodian.ReplaceWith(f).Apply(other); !reflect.DeepEqual(got, f) {
		t.Fatalf("replace: %+v, want %+v", got, f)
	}
	city := "Lyon"
	got := custodian.CustomerPatch{Address: &custodian.AddressPatch{City: &city}}.Apply(other)
	want := other
	want.Address.City = "Lyon"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("patch: %+v, want %+v", got, want)
	}
	if got := (custodian.CustomerPatch{}).Apply(other); !reflect.DeepEqual(got, other) {
		t.Fatalf("empty patch changed %+v to %+v", other, got)
	}
	if got := custodian.ChangedFields(other, other); got != nil {
		t.Fatalf("no change reported as %v", got)
	}
	if got, want := custodian.ChangedFields(other, f), []string{"name", "email", "phone", "company", "address", "notes", "tags", "status"}; !slices.Equal(got, want) {
		t.Fatalf("changed %v, want %v", got, want)
	}
	rows := custodian.PersonalFields()
	rows[0].Name = "changed"
	if custodian.PersonalFields()[0].Name == "changed" {
		t.Fatal("PersonalFields hands out the table itself")
	}
}
