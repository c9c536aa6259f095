package custodian

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultConsentPurposes are the purposes consent is recorded for when the
// operator configures none.
var DefaultConsentPurposes = []string{"marketing_email", "phone_calls", "profiling"}

// ValidPurposeName reports whether s can name a consent purpose: 1 to 40
// lower-case letters, digits and underscores, starting with a letter.
func ValidPurposeName(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Consent states.
const (
	ConsentGiven     = "given"
	ConsentWithdrawn = "withdrawn"
)

// ConsentInput is a consent change as a caller records it. Source (where
// the consent came from, e.g. "web form") and Evidence (e.g. the wording
// agreed to) may be personal and are stored sealed with the customer's data
// key, so erasure destroys them too.
type ConsentInput struct {
	Purpose  string `json:"purpose"`
	State    string `json:"state"`
	Source   string `json:"source"`
	Evidence string `json:"evidence"`
}

// Limits on consent and privacy texts.
const (
	MaxConsentSourceLen   = 200
	MaxConsentEvidenceLen = 2000
	MaxReasonLen          = 500
	MaxPurposeHeaderLen   = 100
)

// ConsentEvent is one entry of a customer's consent history, which is
// append-only. Source and Evidence are empty for an erased customer, whose
// data key no longer exists (Erased).
type ConsentEvent struct {
	Seq      int64     `json:"seq"`
	Purpose  string    `json:"purpose"`
	State    string    `json:"state"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Source   string    `json:"source,omitempty"`
	Evidence string    `json:"evidence,omitempty"`
	// Erased is set on events of an erased customer, whose source and
	// evidence can no longer be decrypted by anyone.
	Erased bool `json:"erased,omitempty"`
}

// ConsentState is the current state of consent for one purpose: the
// latest event for it.
type ConsentState struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
	By    string    `json:"by"`
}

// Consents is a customer's consent: the current state per purpose (only
// purposes with at least one event) and the whole history, oldest first.
type Consents struct {
	CustomerID string                  `json:"customer_id"`
	Current    map[string]ConsentState `json:"current"`
	History    []ConsentEvent          `json:"history"`
}

// CurrentConsents folds a history (oldest first) into the state per
// purpose.
func CurrentConsents(history []ConsentEvent) map[string]ConsentState {
	out := map[string]ConsentState{}
	for _, e := range history {
		out[e.Purpose] = ConsentState{State: e.State, Since: e.Time, By: e.Actor}
	}
	return out
}

// ConsentRecord is a consent event at rest: source and evidence sealed with
// the customer's data key.
type ConsentRecord struct {
	Seq        int64
	CustomerID string
	Purpose    string
	Given      bool
	Time       time.Time
	Actor      string
	SourceCT   []byte
	EvidenceCT []byte
}

// LegalHold suspends retention and erasure of a customer. Reason is an
// operator's text (such as a case number) and must not hold personal data.
type LegalHold struct {
	Since  time.Time `json:"since"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
}

// Erasure mechanisms recorded in tombstones.
const (
	ErasedOnRequest = "erasure"   // someone asked for it
	ErasedRetention = "retention" // the retention policy ran out
)

// Tombstone is what remains of an erased customer: nothing personal. The
// id is pseudonymous (random), so the audit trail about it stays whole.
type Tombstone struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ErasedAt  time.Time `json:"erased_at"`
	ErasedBy  string    `json:"erased_by"`
	Reason    string    `json:"reason"`
	Mechanism string    `json:"mechanism"`
	// KeyDestroyed is false while the customer's shred key still waits
	// to be destroyed (a failure after the erasure committed); the next
	// erasure attempt or retention run finishes it.
	KeyDestroyed bool `json:"key_destroyed"`
}

// CheckReason validates an operator's reason text (erasure, legal hold):
// required, at most MaxReasonLen characters, printable. It returns the
// trimmed text.
func CheckReason(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", &Error{Code: EINVALID, Message: "A reason is required.", Fields: []FieldError{{Field: field, Message: "Give a reason."}}}
	case !PrintableText(s, MaxReasonLen):
		return "", &Error{Code: EINVALID, Message: "The reason is not valid.", Fields: []FieldError{{Field: field, Message: fmt.Sprintf("Must be printable text of at most %d characters.", MaxReasonLen)}}}
	}
	return s, nil
}

// PrintableText reports whether s is valid UTF-8 of at most max characters
// with no control or invisible formatting characters.
func PrintableText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// AccessData is the Data of read, export and erasure audit events: why it
// was done (the caller's stated purpose), and for erasures the reason and
// mechanism. None of it is personal.
type AccessData struct {
	Purpose   string `json:"purpose,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Mechanism string `json:"mechanism,omitempty"`
	State     string `json:"state,omitempty"`
	// Consent names the consent purpose of a consent change.
	Consent string `json:"consent,omitempty"`
}

// Encode returns d as audit Data.
func (d AccessData) Encode() []byte {
	b, _ := json.Marshal(d) // a struct of strings always marshals
	return b
}

// ExportFormat identifies the format of a customer export.
const ExportFormat = "custodian-export/v1"

// ExportEvent is an audit event in an export; Data is the event's detail as
// JSON when it is JSON.
type ExportEvent struct {
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Fields     []string        `json:"fields,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	ClientAddr string          `json:"client_addr,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
}

// Export is everything held about one customer (right of access and
// portability). Customer is null and Erased set for an erased customer,
// whose consent history then carries no source or evidence. AuditEvents are
// every recorded event about the customer, oldest first: who created,
// changed, read, exported or erased the record, and when and why.
type Export struct {
	Format     string     `json:"format"`
	ExportedAt time.Time  `json:"exported_at"`
	ExportedBy string     `json:"exported_by"`
	CustomerID string     `json:"customer_id"`
	Customer   *Customer  `json:"customer"`
	Erased     *Tombstone `json:"erased"`
	LegalHold  *LegalHold `json:"legal_hold"`
	Consents   Consents   `json:"consents"`
	// Activities are the notes, calls, meetings and emails logged on the
	// customer, newest first; none remain for an erased customer.
	Activities []Activity `json:"activities"`
	// Tasks are the follow-up tasks set on the customer, open ones
	// first; none remain for an erased customer.
	Tasks       []Task        `json:"tasks"`
	AuditEvents []ExportEvent `json:"audit_events"`
}

// RetentionPolicy says how long customers are kept after their last
// activity (creation, update or consent change): Default for every status
// not in ByStatus. A zero period keeps customers of that status forever.
type RetentionPolicy struct {
	Default  time.Duration
	ByStatus map[Status]time.Duration
}

// DefaultRetention is seven years (2,555 days).
const DefaultRetention = 2555 * 24 * time.Hour

// Period returns how long customers of status s are kept (0: forever).
func (p RetentionPolicy) Period(s Status) time.Duration {
	if d, ok := p.ByStatus[s]; ok {
		return d
	}
	return p.Default
}

// RetentionCandidate is a customer past its retention period.
type RetentionCandidate struct {
	ID       string
	Status   Status
	Activity time.Time
}

// ShredKeyStore keeps one random secret per customer, outside the customer
// database: each customer's data key is wrapped under its secret as well as
// under a master key, so destroying the secret makes that customer's data
// unreadable in every copy of the customer database, backups included.
type ShredKeyStore interface {
	// PutShredKeys stores new customers' secrets, by customer id, all or
	// none.
	PutShredKeys(ctx context.Context, secrets map[string][]byte) error
	// ShredKeys returns the secrets of the given customers that exist.
	ShredKeys(ctx context.Context, customerIDs []string) (map[string][]byte, error)
	// DestroyShredKey removes a customer's secret; removing one that is
	// not there is not an error.
	DestroyShredKey(ctx context.Context, customerID string) error
}

// PrivacyRepository is what the data-protection features need from
// storage. Every write joins the transaction of an enclosing Audited call.
type PrivacyRepository interface {
	// AppendConsent locks the customer's record, passes it to fn, and
	// appends the event fn returns to the consent history, updates the
	// current state used for filtering and sets the customer's last
	// activity to the event's time. It returns the event's sequence
	// number; ENOTFOUND when there is no such customer.
	AppendConsent(ctx context.Context, customerID string, fn func(cur *CustomerRecord) (*ConsentRecord, error)) (int64, error)
	// ConsentRecords returns a customer's consent history, oldest first.
	ConsentRecords(ctx context.Context, customerID string) ([]ConsentRecord, error)
	// SetLegalHold sets (hold non-nil) or clears a customer's legal hold.
	SetLegalHold(ctx context.Context, customerID string, hold *LegalHold) error
	// EraseCustomer locks the customer's record, passes it to check
	// (whose error aborts), then deletes the record with its tags,
	// blind-index tokens and current consent state, and stores t (its
	// CreatedAt filled in from the record) as the tombstone. When the
	// customer was erased before, it changes nothing and returns the
	// existing tombstone; ENOTFOUND when there never was such a customer.
	EraseCustomer(ctx context.Context, t *Tombstone, check func(cur *CustomerRecord) error) (existing *Tombstone, err error)
	// Tombstone returns the tombstone of an erased customer, or ENOTFOUND.
	Tombstone(ctx context.Context, customerID string) (*Tombstone, error)
	// Tombstones returns the tombstones of those of the customers ids
	// that were erased, in one query, in no particular order.
	Tombstones(ctx context.Context, ids []string) ([]*Tombstone, error)
	// MarkKeyDestroyed records that the customer's shred key is gone.
	MarkKeyDestroyed(ctx context.Context, customerID string) error
	// PendingKeyDestruction lists erased customers whose shred key may
	// still exist.
	PendingKeyDestruction(ctx context.Context, limit int) ([]string, error)
	// RetentionCandidates returns up to limit customers with no legal
	// hold whose last activity is before the cutoff of their status (a
	// status without a cutoff is never a candidate), oldest first.
	RetentionCandidates(ctx context.Context, cutoffs map[Status]time.Time, limit int) ([]RetentionCandidate, error)
}

// PrivacyService carries out the data-protection duties for one customer:
// consent, legal holds, erasure and the export of everything held.
type PrivacyService interface {
	// RecordConsent appends a consent change to the customer's history.
	RecordConsent(ctx context.Context, id string, in ConsentInput) (*ConsentEvent, error)
	// Consents returns the customer's current consent and its history.
	Consents(ctx context.Context, id string) (*Consents, error)
	// SetLegalHold sets (active) or lifts the customer's legal hold; the
	// hold is nil once lifted.
	SetLegalHold(ctx context.Context, id string, active bool, reason string) (*LegalHold, error)
	// EraseCustomer erases the customer for good and returns the
	// tombstone, and whether it was erased before (already).
	EraseCustomer(ctx context.Context, id, reason string) (t *Tombstone, already bool, err error)
	// ExportCustomer returns everything held about the customer.
	ExportCustomer(ctx context.Context, id string) (*Export, error)
	// ConsentPurposes are the purposes consent can be recorded for.
	ConsentPurposes() []string
}
