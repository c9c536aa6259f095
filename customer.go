package custodian

import (
	"context"
	"slices"
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

// CustomerFields are the parts of a customer record that people edit. Name,
// Email, Phone, Company, Address and Notes are personal data and are only
// ever stored sealed; Tags and Status are labels used for filtering.
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

// ReplaceWith returns the patch that turns any customer into f.
func ReplaceWith(f CustomerFields) CustomerPatch {
	tags := f.Tags
	if tags == nil {
		tags = []string{}
	}
	return CustomerPatch{
		Name: &f.Name, Email: &f.Email, Phone: &f.Phone, Company: &f.Company,
		Address: &AddressPatch{Street: &f.Address.Street, City: &f.Address.City, PostalCode: &f.Address.PostalCode, Country: &f.Address.Country},
		Notes:   &f.Notes, Tags: &tags, Status: &f.Status,
	}
}

// Apply returns f with the patch applied. It does not validate.
func (p CustomerPatch) Apply(f CustomerFields) CustomerFields {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&f.Name, p.Name)
	set(&f.Email, p.Email)
	set(&f.Phone, p.Phone)
	set(&f.Company, p.Company)
	set(&f.Notes, p.Notes)
	if p.Address != nil {
		set(&f.Address.Street, p.Address.Street)
		set(&f.Address.City, p.Address.City)
		set(&f.Address.PostalCode, p.Address.PostalCode)
		set(&f.Address.Country, p.Address.Country)
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
}

// Pinger reports whether a dependency, such as the database, answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ChangedFields names the fields (as the API spells them) whose values
// differ between old and new: what an update's audit event records,
// without the values. Comparing with the zero CustomerFields names every
// field a new customer has.
func ChangedFields(old, new CustomerFields) []string {
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	add("name", old.Name != new.Name)
	add("email", old.Email != new.Email)
	add("phone", old.Phone != new.Phone)
	add("company", old.Company != new.Company)
	add("address", old.Address != new.Address)
	add("notes", old.Notes != new.Notes)
	add("tags", !slices.Equal(old.Tags, new.Tags))
	add("status", old.Status != new.Status)
	return out
}
