package custodian

import (
	"context"
	"encoding/json"
	"time"
)

// SealedFields holds a customer's personal data as ciphertext, one per
// PersonalUnit, keyed by the unit's name. Each is bound to its customer and
// unit so that a value copied to another row or column fails to decrypt. A
// unit missing from the map was never sealed for this record: its column
// was added after the record was last written.
type SealedFields map[string][]byte

// Plaintext returns what is sealed for unit u of f: the text of a field of
// its own, or for a unit of parts the JSON object of the parts, keyed by
// part in table order, byte for byte what encoding/json writes for the
// Address struct.
func (u PersonalUnit) Plaintext(f *CustomerFields) []byte {
	if !u.HasParts() {
		return []byte(*u.Fields[0].Value(f))
	}
	b := []byte{'{'}
	for i, pf := range u.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(pf.Part())    // a string always marshals
		v, _ := json.Marshal(*pf.Value(f)) // likewise
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}')
}

// SetPlaintext sets the fields of unit u in f from pt, what Plaintext
// returned. Parts missing from pt (added to the unit after it was sealed)
// are left empty.
func (u PersonalUnit) SetPlaintext(f *CustomerFields, pt []byte) error {
	if !u.HasParts() {
		*u.Fields[0].Value(f) = string(pt)
		return nil
	}
	var parts map[string]string
	if err := json.Unmarshal(pt, &parts); err != nil {
		return err
	}
	for _, pf := range u.Fields {
		*pf.Value(f) = parts[pf.Part()]
	}
	return nil
}

// CustomerRecord is the at-rest form of a customer: what storage backends
// persist. It carries no personal value in plaintext: personal fields are
// sealed under the customer's own data key, which is stored wrapped by a
// master key (KeyID names it), and search works through Tokens, keyed blind
// index values derived from normalized fields.
type CustomerRecord struct {
	ID        string
	Status    Status
	Tags      []string
	CreatedAt time.Time
	UpdatedAt time.Time
	CreatedBy string
	UpdatedBy string
	Version   int64
	// ActivityAt is the customer's last activity: creation, update or
	// consent change. Retention counts from it.
	ActivityAt time.Time
	// LegalHold, when set, suspends retention and erasure.
	LegalHold *LegalHold

	KeyID   string // the master key that wrapped DataKey
	DataKey []byte // the customer's data key, wrapped
	Sealed  SealedFields
	Tokens  []int64 // blind index tokens; all in [0, 2^32)
}

// RecordCursor is a position in a list ordered by a time column and id.
type RecordCursor struct {
	Time time.Time
	ID   string
}

// RecordQuery selects customer records. A record matches when it carries
// every token in Tokens, has Status and Tag when they are set. Results are
// ordered by SortKey ("created_at" or "updated_at") then id, in the given
// direction, starting after After when it is set; Limit bounds the count
// (0 means no bound).
type RecordQuery struct {
	Tokens     []int64
	Status     Status
	Tag        string
	Consent    string // a purpose whose current state must be given
	SortKey    string
	Descending bool
	After      *RecordCursor
	Limit      int
}

// NameEntry is the part of a record needed to order customers by name
// without reading whole records: the sealed name and the key to open it.
type NameEntry struct {
	ID      string
	Version int64
	KeyID   string
	DataKey []byte
	Name    []byte
}

// RewrapFunc re-wraps one customer's data key: given the customer id, the
// master key id and the wrapped data key as stored, it returns the new
// master key id and wrapped key. The data key itself must not change, so
// the customer's sealed fields stay valid.
type RewrapFunc func(id, keyID string, wrapped []byte) (newKeyID string, newWrapped []byte, err error)

// DataKeyRepository is what master key rotation needs from storage: which
// master keys protect how many customers, and re-wrapping data keys in
// place without touching anything else.
type DataKeyRepository interface {
	// KeyUsage returns, for each master key id that wraps at least one
	// customer's data key, how many customers it wraps.
	KeyUsage(ctx context.Context) (map[string]int64, error)
	// RewrapDataKeys re-wraps, in one transaction, up to batch data keys
	// that are not under activeKeyID, through rewrap. Each row is updated
	// only if its key id and wrapped key are still those that were read
	// (compare-and-set), so a concurrent change is never overwritten, and
	// only key_id and data_key change. It returns how many it re-wrapped;
	// 0 (with a nil error) means that no data key under another master key
	// was left when it looked. An error from rewrap aborts the batch.
	RewrapDataKeys(ctx context.Context, activeKeyID string, batch int, rewrap RewrapFunc) (int, error)
}

// CustomerRepository persists customer records. Implementations make every
// call atomic: it either takes effect completely or not at all.
type CustomerRepository interface {
	DataKeyRepository
	// PrivacyRepository keeps consent, legal holds and tombstones.
	PrivacyRepository
	// AuditRepository records every change with the change itself.
	AuditRepository
	// ReadRepository records every read of personal data.
	ReadRepository
	// ActivityRepository keeps the activities logged on customers.
	ActivityRepository
	// TaskRepository keeps follow-up tasks on customers.
	TaskRepository
	// InsertCustomers stores new records in one transaction.
	InsertCustomers(ctx context.Context, recs ...*CustomerRecord) error
	// CustomerRecord returns the record with id, or ENOTFOUND.
	CustomerRecord(ctx context.Context, id string) (*CustomerRecord, error)
	// CustomerRecords returns the records with the given ids that exist,
	// in the order of ids.
	CustomerRecords(ctx context.Context, ids []string) ([]*CustomerRecord, error)
	// UpdateCustomer reads the record with id inside a write transaction
	// that holds it against other writers, passes it to fn, and stores the
	// record fn returns (with its tags and tokens) in the same transaction.
	// An error from fn aborts and is returned; ENOTFOUND when there is no
	// such record.
	UpdateCustomer(ctx context.Context, id string, fn func(cur *CustomerRecord) (*CustomerRecord, error)) error
	// DeleteCustomer removes the record when its version equals ifVersion
	// (any version when ifVersion is 0).
	DeleteCustomer(ctx context.Context, id string, ifVersion int64) error
	// ListCustomerRecords returns the records q selects, in q's order.
	ListCustomerRecords(ctx context.Context, q RecordQuery) ([]*CustomerRecord, error)
	// CountCustomerRecords counts the records q selects (ignoring its
	// cursor and order), stopping at limit.
	CountCustomerRecords(ctx context.Context, q RecordQuery, limit int) (int, error)
	// CustomerIDsByTokens returns the ids of the customers that carry any
	// of the blind-index tokens, each once, in no particular order.
	CustomerIDsByTokens(ctx context.Context, tokens []int64) ([]string, error)
	// CustomerNameEntries returns the name entries of every record q
	// selects (ignoring q's order, cursor and limit).
	CustomerNameEntries(ctx context.Context, q RecordQuery) ([]NameEntry, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}
