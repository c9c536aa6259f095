package custodian

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Status is where a customer stands in the relationship.
type Status string

// The statuses a customer may have.
const (
	StatusLead     Status = "lead"
	StatusActive   Status = "active"
	StatusInactive Status = "inactive"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusLead, StatusActive, StatusInactive:
		return true
	}
	return false
}

// Address is a customer's postal address. Country is an ISO 3166-1 alpha-2
// code in upper case.
type Address struct {
	Street     string `json:"street"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// IsZero reports whether no part of the address is set.
func (a Address) IsZero() bool { return a == Address{} }

// CustomerFields are the parts of a customer record that people edit. Its
// text fields (Name, Email, Phone, Company, the parts of Address and Notes)
// are personal data, described one by one in PersonalFields and only ever
// stored sealed; Tags and Status are labels used for filtering.
type CustomerFields struct {
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Phone   string   `json:"phone"`
	Company string   `json:"company"`
	Address Address  `json:"address"`
	Notes   string   `json:"notes"`
	Tags    []string `json:"tags"`
	Status  Status   `json:"status"`
}

// Customer is a customer record as the service returns it: the editable
// fields plus identity, bookkeeping and the version used for optimistic
// concurrency.
type Customer struct {
	ID string `json:"id"`
	CustomerFields
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedBy string    `json:"updated_by"`
	Version   int64     `json:"version"`
	// LegalHold is present while a legal hold suspends retention and
	// erasure of the customer.
	LegalHold *LegalHold `json:"legal_hold,omitempty"`
}

// AddressPatch changes some parts of an address; nil leaves a part as it is.
type AddressPatch struct {
	Street     *string `json:"street"`
	City       *string `json:"city"`
	PostalCode *string `json:"postal_code"`
	Country    *string `json:"country"`
}

// CustomerPatch changes some fields of a customer; nil leaves a field as it
// is. A full replacement is a patch with every field set.
type CustomerPatch struct {
	Name    *string       `json:"name"`
	Email   *string       `json:"email"`
	Phone   *string       `json:"phone"`
	Company *string       `json:"company"`
	Address *AddressPatch `json:"address"`
	Notes   *string       `json:"notes"`
	Tags    *[]string     `json:"tags"`
	Status  *Status       `json:"status"`
}

// FieldKind says how a personal field is validated and normalized (see
// Validator.Normalize) and which input edits it in a form. The zero
// FieldKind is no kind: every row of the table must choose one.
type FieldKind int

// The kinds of personal field.
const (
	// KindLine is one line of text: surrounding spaces trimmed, at most
	// MaxLen characters, and no < or > (refused, never stripped).
	KindLine FieldKind = iota + 1
	// KindEmail is an email address such as name@example.com, at most
	// MaxLen bytes; its domain is lower-cased.
	KindEmail
	// KindPhone is a phone number, at most MaxLen bytes as typed, stored
	// in E.164; numbers without a country code take the Validator's
	// PhoneRegion.
	KindPhone
	// KindPostalCode is a line of at most MaxLen letters, digits, spaces
	// and hyphens.
	KindPostalCode
	// KindCountry is an ISO 3166-1 alpha-2 code, upper-cased. MaxLen only
	// bounds the form input.
	KindCountry
	// KindText is free text over several lines, at most MaxLen
	// characters, kept exactly as given.
	KindText
)

// InputType returns the form input that edits a field of kind k: "text",
// "email", "tel", or "textarea" for free text.
func (k FieldKind) InputType() string {
	switch k {
	case KindEmail:
		return "email"
	case KindPhone:
		return "tel"
	case KindText:
		return "textarea"
	}
	return "text"
}

// IndexKind says whether and how a personal field is blind-indexed, so that
// search can find a customer by it without reading plaintext.
type IndexKind int

// The kinds of blind index.
const (
	// IndexNone: the field is not searchable.
	IndexNone IndexKind = iota
	// IndexWordPrefixes: a query matches when each of its words begins a
	// word of the field (or of another field indexed so), ignoring case
	// and accents.
	IndexWordPrefixes
	// IndexEmail: a query containing "@" matches when it equals the field,
	// ignoring case and surrounding spaces.
	IndexEmail
	// IndexPhone: a query that is a phone number matches when it equals
	// the field, both in E.164.
	IndexPhone
)

// PersonalField describes one personal field of a customer: everything the
// API, the validator, the sealing, the search, storage and the web
// interface need to know about it. PersonalFields lists them, and those
// parts go through the table rather than naming fields one by one (only
// features of one field name it: ordering by name, the address's postal
// layout on a page). Adding a field is adding it to CustomerFields and
// CustomerPatch and a row to the table, its column in a migration and its
// entry in the OpenAPI document; fields_test.go fails until the structs
// and the table agree.
type PersonalField struct {
	// Name is the field's name in the API's JSON, in field errors and as
	// the form input's name; a part of a JSON object is dotted:
	// "address.city".
	Name string
	// Label names the field in forms and on the customer page.
	Label string
	// Kind says how the field is validated and normalized, and which form
	// input edits it.
	Kind FieldKind
	// MaxLen bounds the field's length (see Kind) and the form input's.
	MaxLen int
	// Required fields must not be empty: "<Label> is required."
	Required bool
	// Unit is the sealed unit the field is stored in: the name bound into
	// the unit's ciphertext, the column <Unit>_ct, and the member of the
	// customer's JSON document that holds the field. A unit is either one
	// field of the same name, sealed as its text, or the parts of a JSON
	// object ("address.street", "address.city"...), sealed as that object.
	Unit string
	// Index says whether and how the field is blind-indexed for search.
	Index IndexKind
	// Autocomplete is the form input's autocomplete attribute. Staff type
	// other people's details here, so the browser should not offer
	// their own.
	Autocomplete string
	// Hint, when set, is shown with the form input.
	Hint string
	// Value returns where f holds the field's value.
	Value func(f *CustomerFields) *string
	// Patch returns where p holds the field's new value (nil leaves the
	// field alone). For a part of the address it first gives p an empty
	// AddressPatch when p has none, which changes nothing.
	Patch func(p *CustomerPatch) **string
}

// Part returns the field's name within its JSON object: "city" for
// "address.city", or "" for a field that is not a part.
func (pf PersonalField) Part() string {
	_, part, _ := strings.Cut(pf.Name, ".")
	return part
}

// address returns p's address patch, adding an empty one when p has none.
func (p *CustomerPatch) address() *AddressPatch {
	if p.Address == nil {
		p.Address = &AddressPatch{}
	}
	return p.Address
}

// personalFields is the table of personal fields, in the order forms show
// them and validation reports them. It is never written.
var personalFields = [...]PersonalField{
	{Name: "name", Label: "Name", Kind: KindLine, MaxLen: MaxNameLen, Required: true, Unit: "name", Index: IndexWordPrefixes, Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Name }, Patch: func(p *CustomerPatch) **string { return &p.Name }},
	{Name: "company", Label: "Company", Kind: KindLine, MaxLen: MaxCompanyLen, Unit: "company", Index: IndexWordPrefixes, Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Company }, Patch: func(p *CustomerPatch) **string { return &p.Company }},
	{Name: "email", Label: "Email", Kind: KindEmail, MaxLen: MaxEmailLen, Unit: "email", Index: IndexEmail, Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Email }, Patch: func(p *CustomerPatch) **string { return &p.Email }},
	{Name: "phone", Label: "Phone", Kind: KindPhone, MaxLen: MaxPhoneInputLen, Unit: "phone", Index: IndexPhone, Autocomplete: "off",
		Hint:  "With the country code, such as +44 20 7946 0958.",
		Value: func(f *CustomerFields) *string { return &f.Phone }, Patch: func(p *CustomerPatch) **string { return &p.Phone }},
	{Name: "address.street", Label: "Street", Kind: KindLine, MaxLen: MaxStreetLen, Unit: "address", Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Address.Street }, Patch: func(p *CustomerPatch) **string { return &p.address().Street }},
	{Name: "address.city", Label: "City", Kind: KindLine, MaxLen: MaxCityLen, Unit: "address", Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Address.City }, Patch: func(p *CustomerPatch) **string { return &p.address().City }},
	{Name: "address.postal_code", Label: "Postal code", Kind: KindPostalCode, MaxLen: MaxPostalCodeLen, Unit: "address", Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Address.PostalCode }, Patch: func(p *CustomerPatch) **string { return &p.address().PostalCode }},
	{Name: "address.country", Label: "Country", Kind: KindCountry, MaxLen: 2, Unit: "address", Autocomplete: "off",
		Hint:  "Two-letter code, such as GB or DE.",
		Value: func(f *CustomerFields) *string { return &f.Address.Country }, Patch: func(p *CustomerPatch) **string { return &p.address().Country }},
	{Name: "notes", Label: "Notes", Kind: KindText, MaxLen: MaxNotesLen, Unit: "notes", Autocomplete: "off",
		Value: func(f *CustomerFields) *string { return &f.Notes }, Patch: func(p *CustomerPatch) **string { return &p.Notes }},
}

// PersonalFields returns the table of personal fields, in the order forms
// show them and validation reports them. The slice is the caller's own.
func PersonalFields() []PersonalField { return slices.Clone(personalFields[:]) }

// PersonalUnit is one sealed unit of personal data and the fields stored in
// it. It is also one member of a customer's JSON document: a field of its
// own ("email"), or an object of parts ("address").
type PersonalUnit struct {
	// Name is the unit's name: its member in the JSON document, the name
	// bound into its ciphertext, and its column's name without "_ct".
	Name string
	// Fields are the unit's fields, in table order.
	Fields []PersonalField
}

// Column returns the name of the database column that holds the unit's
// ciphertext.
func (u PersonalUnit) Column() string { return u.Name + "_ct" }

// HasParts reports whether the unit is a JSON object of parts (the
// address) rather than a field of its own.
func (u PersonalUnit) HasParts() bool { return len(u.Fields) != 1 || u.Fields[0].Name != u.Name }

// customerMembers are the JSON names of CustomerFields' members, in the
// order encoding/json writes them: the order of a customer's JSON document.
var customerMembers = jsonNames(reflect.TypeFor[CustomerFields]())

// jsonNames returns the JSON names of the fields of the struct type t, in
// order.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// personalUnits groups the table by unit, in the order of the JSON
// document (a unit that is no member of it, which the table's test
// forbids, comes last rather than being lost). It is never written.
var personalUnits = groupUnits()

func groupUnits() []PersonalUnit {
	order := func(unit string) int {
		if i := slices.Index(customerMembers, unit); i >= 0 {
			return i
		}
		return len(customerMembers)
	}
	var units []PersonalUnit
	for _, pf := range personalFields {
		i := slices.IndexFunc(units, func(u PersonalUnit) bool { return u.Name == pf.Unit })
		if i < 0 {
			i = len(units)
			units = append(units, PersonalUnit{Name: pf.Unit})
		}
		units[i].Fields = append(units[i].Fields, pf)
	}
	slices.SortStableFunc(units, func(a, b PersonalUnit) int { return order(a.Name) - order(b.Name) })
	return units
}

// PersonalUnits returns the sealed units of personal data, in the order of
// a customer's JSON document (name, email, phone, company, address, notes),
// each with its fields in table order. The slices are the caller's own.
func PersonalUnits() []PersonalUnit {
	out := slices.Clone(personalUnits)
	for i := range out {
		out[i].Fields = slices.Clone(out[i].Fields)
	}
	return out
}

// ReplaceWith returns the patch that turns any customer into f.
func ReplaceWith(f CustomerFields) CustomerPatch {
	tags := f.Tags
	if tags == nil {
		tags = []string{}
	}
	p := CustomerPatch{Tags: &tags, Status: &f.Status}
	for _, pf := range personalFields {
		*pf.Patch(&p) = pf.Value(&f)
	}
	return p
}

// Apply returns f with the patch applied. It does not validate.
func (p CustomerPatch) Apply(f CustomerFields) CustomerFields {
	for _, pf := range personalFields {
		if v := *pf.Patch(&p); v != nil {
			*pf.Value(&f) = *v
		}
	}
	if p.Tags != nil {
		f.Tags = append([]string(nil), (*p.Tags)...)
	}
	if p.Status != nil {
		f.Status = *p.Status
	}
	return f
}

// Sort orders a customer list. A leading "-" means descending.
type Sort string

// The orders a customer list supports.
const (
	SortName          Sort = "name"
	SortNameDesc      Sort = "-name"
	SortCreatedAt     Sort = "created_at"
	SortCreatedAtDesc Sort = "-created_at"
	SortUpdatedAt     Sort = "updated_at"
	SortUpdatedAtDesc Sort = "-updated_at"
	DefaultSort            = SortCreatedAtDesc
	DefaultListLimit       = 50
	MaxListLimit           = 200
)

// Valid reports whether s is a supported order.
func (s Sort) Valid() bool {
	switch s {
	case SortName, SortNameDesc, SortCreatedAt, SortCreatedAtDesc, SortUpdatedAt, SortUpdatedAtDesc:
		return true
	}
	return false
}

// Descending reports whether s orders from high to low.
func (s Sort) Descending() bool { return len(s) > 0 && s[0] == '-' }

// Key returns the sort key without its direction.
func (s Sort) Key() string {
	if s.Descending() {
		return string(s[1:])
	}
	return string(s)
}

// CustomerQuery selects and orders a page of customers.
//
// Search matches a customer when the whole query equals its email address
// (case-insensitively), or is a phone number equal to its phone, or when
// every word of the query is the beginning of a word of its name or company
// (case- and accent-insensitively). Status and Tag filter exactly; Consent
// keeps customers whose current consent for that purpose is given. Cursor
// continues a previous page; Limit bounds the page size (default 50, max 200).
type CustomerQuery struct {
	Search string
	Status Status
	Tag    string
	// Consent keeps only customers whose current consent for this
	// purpose is given.
	Consent string
	Sort    Sort
	Cursor  string
	Limit   int
}

// CustomerPage is one page of a customer list. NextCursor is empty on the
// last page.
type CustomerPage struct {
	Items      []*Customer `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

// CustomerService manages customer records. Every method validates its
// input and either succeeds completely or changes nothing.
type CustomerService interface {
	// CreateCustomer validates f and stores a new customer.
	CreateCustomer(ctx context.Context, f CustomerFields) (*Customer, error)
	// Customer returns the customer with the given id, or ENOTFOUND.
	Customer(ctx context.Context, id string) (*Customer, error)
	// UpdateCustomer applies p to the customer when its version equals
	// ifVersion (any version when ifVersion is 0); otherwise EPRECONDITION.
	UpdateCustomer(ctx context.Context, id string, ifVersion int64, p CustomerPatch) (*Customer, error)
	// DeleteCustomer removes the customer when its version equals ifVersion
	// (any version when ifVersion is 0).
	DeleteCustomer(ctx context.Context, id string, ifVersion int64) error
	// ListCustomers returns one page of the customers q selects.
	ListCustomers(ctx context.Context, q CustomerQuery) (*CustomerPage, error)
	// CountCustomers counts the customers q selects (its cursor, sort and
	// limit aside), exactly up to upTo and no further, so that a count
	// costs the same however many customers match.
	CountCustomers(ctx context.Context, q CustomerQuery, upTo int) (CustomerCount, error)
}

// CustomerName is how a page that mentions a customer by id, such as the
// audit trail, names it: its name, or that it was erased or deleted.
type CustomerName struct {
	ID   string
	Name string
	// Erased says the customer was erased (its tombstone remains);
	// Deleted that it is gone without one. Name is empty for both.
	Erased, Deleted bool
}

// CustomerNamer names customers for display, reading and decrypting them
// when asked, so that no name is ever copied into the audit trail.
type CustomerNamer interface {
	// CustomerNames returns the name of each customer among ids (one
	// batched read), keyed by id; ids that are not customer ids are left
	// out. The customers whose names it returns are recorded as read, as
	// one read record, like a list page.
	CustomerNames(ctx context.Context, ids []string) (map[string]CustomerName, error)
}

// CustomerCount is how many customers a query selects: N, or more than N
// when More is set. Approximate reports a search whose words are matched
// on blind-index tokens, which can count a customer the full match would
// leave out (a word that only begins like the search).
type CustomerCount struct {
	N           int
	More        bool
	Approximate bool
}

// Pinger reports whether a dependency, such as the database, answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ChangedFields names the members of the JSON document (as the API spells
// them, in its order) whose values differ between old and new: what an
// update's audit event records, without the values. A unit of parts (the
// address) is one member. Comparing with the zero CustomerFields names
// every member a new customer has.
func ChangedFields(old, new CustomerFields) []string {
	var out []string
	for _, m := range customerMembers {
		var changed bool
		switch m {
		case "tags":
			changed = !slices.Equal(old.Tags, new.Tags)
		case "status":
			changed = old.Status != new.Status
		default:
			for _, pf := range personalFields {
				if pf.Unit == m && *pf.Value(&old) != *pf.Value(&new) {
					changed = true
				}
			}
		}
		if changed {
			out = append(out, m)
		}
	}
	return out
}
