package custodian

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Audited actions on saved views. Their events name the view and the
// fields that changed, never the search text.
const (
	ActionViewCreate = "view.create"
	ActionViewUpdate = "view.update"
	ActionViewDelete = "view.delete"
)

// ViewIDPrefix starts every saved view id.
const ViewIDPrefix = "vw_"

// NewViewID returns a new random saved view id.
func NewViewID() string { return ViewIDPrefix + randomID() }

// Limits of a saved view.
const (
	// MaxViewNameLen bounds a view's name, in characters.
	MaxViewNameLen = 60
	// MaxSearchLen bounds a search of the customer list, in bytes, as
	// the list itself takes it.
	MaxSearchLen = 256
	// MaxViewsPerOwner bounds how many views one user keeps, and how
	// many the shared set holds.
	MaxViewsPerOwner = 100
)

// ViewState is the state of the customer list a saved view keeps: the
// search text, the filters, the order and the page size. Empty fields are
// the list's defaults.
type ViewState struct {
	Search   string `json:"search"`
	Status   Status `json:"status"`
	Tag      string `json:"tag"`
	Sort     Sort   `json:"sort"`
	PageSize int    `json:"page_size"`
}

// Query returns the list query the state stands for.
func (s ViewState) Query() CustomerQuery {
	return CustomerQuery{Search: s.Search, Status: s.Status, Tag: s.Tag, Sort: s.Sort, Limit: s.PageSize}
}

// check validates s, adding field errors under prefix, and returns it
// normalized: search trimmed, tag lower-cased, the default sort spelled
// out.
func (s ViewState) check(prefix string, errs *fieldErrors) ViewState {
	bad := func(field, format string, args ...any) { errs.add(prefix+field, format, args...) }
	s.Search = strings.TrimSpace(s.Search)
	switch {
	case !utf8.ValidString(s.Search) || strings.ContainsFunc(s.Search, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		bad("search", "Search must be text without control characters.")
	case len(s.Search) > MaxSearchLen:
		bad("search", "Search must be at most %d characters.", MaxSearchLen)
	}
	if s.Status != "" && !s.Status.Valid() {
		bad("status", "Status must be one of lead, active or inactive.")
	}
	s.Tag = strings.ToLower(strings.TrimSpace(s.Tag))
	if s.Tag != "" && ValidTag(s.Tag) != nil {
		bad("tag", "Not a valid tag.")
	}
	if s.Sort == "" {
		s.Sort = DefaultSort
	}
	if !s.Sort.Valid() {
		bad("sort", "Sort must be one of name, created_at or updated_at, optionally preceded by '-' for descending order.")
	}
	if s.PageSize < 0 || s.PageSize > MaxListLimit {
		bad("page_size", "Page size must be between 1 and %d, or 0 for the default.", MaxListLimit)
	}
	return s
}

// checkViewName validates a view's name under field and returns it
// trimmed.
func checkViewName(field, name string, errs *fieldErrors) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		errs.add(field, "Give the view a name.")
	case !PrintableText(name, MaxViewNameLen) || strings.ContainsAny(name, "<>"):
		errs.add(field, "Must be printable text of at most %d characters, without < or >.", MaxViewNameLen)
	}
	return name
}

// View is a saved view of the customer list: a name and the list's state.
// A private view belongs to its owner alone; a shared one, made by someone
// whose role holds PermViewsShare, is seen by everyone who reads
// customers.
type View struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Shared bool      `json:"shared"`
	State  ViewState `json:"state"`
	// Owner is the user a private view belongs to; empty for a shared
	// one.
	Owner string `json:"owner"`
	// CreatedBy is the user who saved the view.
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// ViewInput is a view as a user saves it.
type ViewInput struct {
	Name   string    `json:"name"`
	Shared bool      `json:"shared"`
	State  ViewState `json:"state"`
}

// Check validates in and returns it normalized.
func (in ViewInput) Check() (ViewInput, error) {
	var errs fieldErrors
	in.Name = checkViewName("name", in.Name, &errs)
	in.State = in.State.check("state.", &errs)
	if len(errs) > 0 {
		return in, &Error{Code: EINVALID, Message: "The view has invalid fields.", Fields: errs}
	}
	return in, nil
}

// ViewPatch renames a view or replaces its state; nil leaves either alone.
// Whether a view is shared does not change.
type ViewPatch struct {
	Name  *string    `json:"name"`
	State *ViewState `json:"state"`
}

// Check validates p and returns it normalized, with the names of the
// fields it changes.
func (p ViewPatch) Check() (ViewPatch, []string, error) {
	var errs fieldErrors
	var fields []string
	if p.Name != nil {
		n := checkViewName("name", *p.Name, &errs)
		p.Name, fields = &n, append(fields, "name")
	}
	if p.State != nil {
		st := p.State.check("state.", &errs)
		p.State, fields = &st, append(fields, "state")
	}
	if len(errs) > 0 {
		return p, nil, &Error{Code: EINVALID, Message: "The view has invalid fields.", Fields: errs}
	}
	return p, fields, nil
}

// ViewRecord is a view at rest: its state (the search text above all,
// which may be personal data) sealed under a data key of the view's own,
// wrapped by a master key, as TOTP and webhook secrets are.
type ViewRecord struct {
	ID        string
	Name      string
	Owner     string // user id; empty for a shared view
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
	KeyID     string
	DataKey   []byte
	StateCT   []byte
}

// ViewRepository keeps saved views. A private view goes with its owner:
// removing the user's row removes their views.
type ViewRepository interface {
	// CreateView stores a new view; ECONFLICT when its owner (or the
	// shared set) has a view of that name already, ignoring case, or
	// holds MaxViewsPerOwner views; ENOTFOUND when the owner is no user.
	CreateView(ctx context.Context, r *ViewRecord) error
	// ViewRecords returns the user's own views and the shared ones,
	// shared first, each group by name.
	ViewRecords(ctx context.Context, userID string) ([]ViewRecord, error)
	// ViewRecord returns one view, or ENOTFOUND.
	ViewRecord(ctx context.Context, id string) (*ViewRecord, error)
	// UpdateView reads the view inside a write transaction, passes it to
	// fn and stores what fn returns (name, state, update time and
	// version); ENOTFOUND when there is none, ECONFLICT when the new name
	// is taken.
	UpdateView(ctx context.Context, id string, fn func(cur *ViewRecord) (*ViewRecord, error)) error
	// DeleteView removes the view when fn, given it inside the
	// transaction, allows it; ENOTFOUND when there is none.
	DeleteView(ctx context.Context, id string, fn func(cur *ViewRecord) error) error
}

// ViewService keeps people's saved views of the customer list. Every
// change is audited. A private view is visible to its owner only (others
// get ENOTFOUND); shared views are visible to everyone, and made, changed
// and deleted only by roles that hold PermViewsShare.
type ViewService interface {
	// Views returns p's own views and the shared ones, shared first.
	Views(ctx context.Context, p *Principal) ([]View, error)
	// View returns one view p may see, or ENOTFOUND.
	View(ctx context.Context, p *Principal, id string) (*View, error)
	// CreateView validates in and saves it for p, or in the shared set.
	CreateView(ctx context.Context, p *Principal, in ViewInput) (*View, error)
	// UpdateView applies patch when the view's version equals ifVersion
	// (any when 0); otherwise EPRECONDITION.
	UpdateView(ctx context.Context, p *Principal, id string, ifVersion int64, patch ViewPatch) (*View, error)
	// DeleteView removes a view.
	DeleteView(ctx context.Context, p *Principal, id string) error
}
