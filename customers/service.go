// Package customers provides Custodian's CustomerService: it validates input,
// seals personal fields with the customer's own data key on the way into a
// repository, opens them on the way out, and answers searches through
// blind-index tokens, checking every candidate after decryption. Storage
// backends never see a personal value in plaintext.
package customers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	lru "github.com/hashicorp/golang-lru/v2"
)

// MaxSearchLen bounds a search query.
const MaxSearchLen = custodian.MaxSearchLen

// Service implements custodian.CustomerService.
type Service struct {
	repo      custodian.CustomerRepository
	sealer    *crypto.Sealer
	validator custodian.Validator
	now       func() time.Time
	names     *lru.Cache[string, nameKey]
	shred     custodian.ShredKeyStore
	purposes  []string
	units     []custodian.PersonalUnit  // what is sealed, unit by unit
	fields    []custodian.PersonalField // what is searched (recordTerms)
}

// nameKey is a customer's folded name at one version, cached so that
// ordering by name does not decrypt every name on every request.
type nameKey struct {
	version int64
	key     string
}

// Options configure a Service.
type Options struct {
	// Validator checks and normalizes customer fields.
	Validator custodian.Validator
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
	// NameCache bounds how many folded names are kept for ordering by
	// name (200,000 when 0).
	NameCache int
	// Shred keeps each customer's shred secret, outside the customer
	// database, so that erasure reaches backups. Without it, data keys
	// are wrapped by the master key alone.
	Shred custodian.ShredKeyStore
	// ConsentPurposes are the purposes consent can be recorded for
	// (custodian.DefaultConsentPurposes when empty).
	ConsentPurposes []string
}

// New returns a Service storing customers in repo, sealed by sealer.
func New(repo custodian.CustomerRepository, sealer *crypto.Sealer, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NameCache <= 0 {
		o.NameCache = 200_000
	}
	if len(o.ConsentPurposes) == 0 {
		o.ConsentPurposes = custodian.DefaultConsentPurposes
	}
	names, _ := lru.New[string, nameKey](o.NameCache) // size is positive
	return &Service{repo: repo, sealer: sealer, validator: o.Validator, now: o.Now, names: names,
		shred: o.Shred, purposes: slices.Clone(o.ConsentPurposes), units: custodian.PersonalUnits(), fields: custodian.PersonalFields()}
}

var _ custodian.CustomerService = (*Service)(nil)

// nameUnit is the unit of the customer's name, which lists ordered by name
// open on their own (CustomerNameEntries).
const nameUnit = "name"

// sealRecord builds the at-rest record of c under the data key dk: each
// personal unit sealed under its own name, and the blind-index tokens.
func (s *Service) sealRecord(c *custodian.Customer, dk *crypto.DataKey, keyID string, wrapped []byte) (*custodian.CustomerRecord, error) {
	terms := recordTerms(s.fields, &c.CustomerFields)
	tokens := make([]int64, 0, len(terms))
	seen := make(map[int64]bool, len(terms))
	for _, t := range terms {
		tok := s.sealer.Token(t[0], t[1])
		if !seen[tok] {
			seen[tok] = true
			tokens = append(tokens, tok)
		}
	}
	sealed := make(custodian.SealedFields, len(s.units))
	for _, u := range s.units {
		sealed[u.Name] = dk.Seal(u.Name, u.Plaintext(&c.CustomerFields))
	}
	return &custodian.CustomerRecord{
		ID: c.ID, Status: c.Status, Tags: c.Tags,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, CreatedBy: c.CreatedBy, UpdatedBy: c.UpdatedBy, ActivityAt: c.UpdatedAt,
		Version: c.Version, KeyID: keyID, DataKey: wrapped,
		Sealed: sealed,
		Tokens: tokens,
	}, nil
}

// secrets returns the shred secrets of the records whose data keys are not
// cached, in one lookup, so that opening a page of records costs one
// round trip to the key store at most.
func (s *Service) secrets(ctx context.Context, recs []*custodian.CustomerRecord) (map[string][]byte, error) {
	if s.shred == nil {
		return nil, nil
	}
	var ids []string
	for _, r := range recs {
		if !s.sealer.HasDataKey(r.ID, r.DataKey) {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.shred.ShredKeys(ctx, ids)
}

// dataKey opens a customer's data key, taking its shred secret from pre
// when it was fetched already, else from the key store.
func (s *Service) dataKey(ctx context.Context, id, keyID string, wrapped []byte, pre map[string][]byte) (*crypto.DataKey, error) {
	dk, err := s.sealer.OpenCustomerKey(id, keyID, wrapped, func() ([]byte, error) {
		if sec, ok := pre[id]; ok {
			return sec, nil
		}
		if s.shred == nil {
			return nil, nil
		}
		m, err := s.shred.ShredKeys(ctx, []string{id})
		return m[id], err
	})
	if err != nil {
		if custodian.ErrorCode(err) == custodian.EUNAVAILABLE {
			return nil, err
		}
		return nil, &custodian.Error{Code: custodian.EINTERNAL, Message: "A customer record could not be decrypted.", Err: err}
	}
	return dk, nil
}

// openRecord decrypts a record, taking shred secrets from pre where it
// has them. A record that does not open is an internal error that names
// the customer, never a customer with empty fields.
func (s *Service) openRecord(ctx context.Context, r *custodian.CustomerRecord, pre map[string][]byte) (*custodian.Customer, error) {
	dk, err := s.dataKey(ctx, r.ID, r.KeyID, r.DataKey, pre)
	if err != nil {
		return nil, err
	}
	c := &custodian.Customer{
		ID: r.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		CreatedBy: r.CreatedBy, UpdatedBy: r.UpdatedBy, Version: r.Version, LegalHold: r.LegalHold,
	}
	c.Status, c.Tags = r.Status, nonNil(r.Tags)
	for _, u := range s.units {
		ct, ok := r.Sealed[u.Name]
		if !ok {
			continue // a unit added since the record was written: empty
		}
		pt, err := dk.Open(u.Name, ct)
		if err == nil {
			err = u.SetPlaintext(&c.CustomerFields, pt)
		}
		if err != nil {
			return nil, &custodian.Error{Code: custodian.EINTERNAL, Message: "A customer record could not be decrypted.", Err: fmt.Errorf("customer %s: %s: %w", r.ID, u.Name, err)}
		}
	}
	return c, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// timestamp returns the current time at the precision both backends keep.
func (s *Service) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newCustomer makes a new customer from normalized fields, with a fresh
// id and a fresh data key, and its sealed record. With a shred store, the
// data key is wrapped under a fresh shred secret too, which it adds to
// secrets for the caller to store before the record.
func (s *Service) newCustomer(ctx context.Context, f custodian.CustomerFields, secrets map[string][]byte) (*custodian.Customer, *custodian.CustomerRecord, error) {
	c := s.newCustomerOnly(ctx, f)
	rec, err := s.sealNew(c, secrets)
	return c, rec, err
}

// newCustomerOnly makes a new customer from normalized fields, with a
// fresh id, not yet sealed (sealNew).
func (s *Service) newCustomerOnly(ctx context.Context, f custodian.CustomerFields) *custodian.Customer {
	now, actor := s.timestamp(), custodian.ActorFrom(ctx)
	return &custodian.Customer{ID: custodian.NewCustomerID(), CustomerFields: f, CreatedAt: now, UpdatedAt: now, CreatedBy: actor, UpdatedBy: actor, Version: 1}
}

// sealNew gives the new customer c a fresh data key and returns its
// sealed record. With a shred store, the data key is wrapped under a
// fresh shred secret too, which it adds to secrets for the caller to
// store before the record.
func (s *Service) sealNew(c *custodian.Customer, secrets map[string][]byte) (*custodian.CustomerRecord, error) {
	var dk *crypto.DataKey
	var keyID string
	var wrapped []byte
	var err error
	if s.shred != nil {
		secret := crypto.NewShredSecret()
		secrets[c.ID] = secret
		dk, keyID, wrapped, err = s.sealer.NewShreddableDataKey(c.ID, secret)
	} else {
		dk, keyID, wrapped, err = s.sealer.NewDataKey(c.ID)
	}
	if err != nil {
		return nil, err
	}
	return s.sealRecord(c, dk, keyID, wrapped)
}

// putSecrets stores new customers' shred secrets. It runs before their
// records are stored: a record is never committed without its secret (a
// secret whose record then fails to commit protects nothing and is
// harmless).
func (s *Service) putSecrets(ctx context.Context, secrets map[string][]byte) error {
	if s.shred == nil || len(secrets) == 0 {
		return nil
	}
	return s.shred.PutShredKeys(ctx, secrets)
}

// CreateCustomer validates f and stores a new customer.
func (s *Service) CreateCustomer(ctx context.Context, f custodian.CustomerFields) (*custodian.Customer, error) {
	f, err := s.validator.Normalize(f)
	if err != nil {
		return nil, err
	}
	secrets := map[string][]byte{}
	c, rec, err := s.newCustomer(ctx, f, secrets)
	if err != nil {
		return nil, err
	}
	if err := s.putSecrets(ctx, secrets); err != nil {
		return nil, err
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{createEntry(c)}, s.repo.InsertCustomers(ctx, rec)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// createEntry is the audit entry of a new customer: the fields it was
// created with, by name.
func createEntry(c *custodian.Customer) custodian.AuditEntry {
	return custodian.AuditEntry{Action: custodian.ActionCustomerCreate, Subject: c.ID, Fields: custodian.ChangedFields(custodian.CustomerFields{}, c.CustomerFields), Time: c.CreatedAt}
}

// ImportCustomers validates every entry and then stores them all in one
// transaction: either every customer is created or none is. Field errors
// name the entry, as in "[3].email".
func (s *Service) ImportCustomers(ctx context.Context, fs []custodian.CustomerFields) ([]*custodian.Customer, error) {
	var errs []custodian.FieldError
	out := make([]*custodian.Customer, 0, len(fs))
	recs := make([]*custodian.CustomerRecord, 0, len(fs))
	secrets := map[string][]byte{}
	for i, f := range fs {
		f, err := s.validator.Normalize(f)
		if err != nil {
			for _, fe := range custodian.ErrorFields(err) {
				errs = append(errs, custodian.FieldError{Field: fmt.Sprintf("[%d].%s", i, fe.Field), Message: fe.Message})
			}
			continue
		}
		c, rec, err := s.newCustomer(ctx, f, secrets)
		if err != nil {
			return nil, err
		}
		out, recs = append(out, c), append(recs, rec)
	}
	if len(errs) > 0 {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "Some customers have invalid fields; nothing was imported.", Fields: errs}
	}
	if err := s.putSecrets(ctx, secrets); err != nil {
		return nil, err
	}
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		entries := make([]custodian.AuditEntry, len(out))
		for i, c := range out {
			entries[i] = createEntry(c)
		}
		return entries, s.repo.InsertCustomers(ctx, recs...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Customer returns the customer with id; ENOTFOUND, or EGONE with the
// tombstone of an erased customer. The read is recorded in the audit trail
// (with the caller's stated purpose) before the customer is returned: a
// read that cannot be recorded fails.
func (s *Service) Customer(ctx context.Context, id string) (*custodian.Customer, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	r, err := s.repo.CustomerRecord(ctx, id)
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	c, err := s.openRecord(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	if err := s.recordReads(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateCustomer applies p to the customer. With ifVersion set, a customer
// at another version is left alone (EPRECONDITION). The read, the check and
// the write happen in one transaction that excludes other writers, so
// concurrent updates are applied one after another and none is lost.
func (s *Service) UpdateCustomer(ctx context.Context, id string, ifVersion int64, p custodian.CustomerPatch) (*custodian.Customer, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	var out *custodian.Customer
	var changed []string
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.update(ctx, id, ifVersion, p, &out, &changed)
		en := custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: id, Fields: changed}
		if out != nil {
			// The change's own time, as for creations and consent, so the
			// timeline orders it with them.
			en.Time = out.UpdatedAt
		}
		return []custodian.AuditEntry{en}, err
	})
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return out, nil
}

// update applies p in the repository, setting *out to the updated customer
// and *changed to the names of the fields that changed.
func (s *Service) update(ctx context.Context, id string, ifVersion int64, p custodian.CustomerPatch, out **custodian.Customer, changed *[]string) error {
	return s.updateWith(ctx, id, ifVersion, func(custodian.CustomerFields) custodian.CustomerPatch { return p }, false, out, changed)
}

// updateWith is update with the patch made from the customer's current
// fields. With skipUnchanged, a patch that changes nothing stores nothing
// (the version stays) and leaves *out nil.
func (s *Service) updateWith(ctx context.Context, id string, ifVersion int64, patch func(custodian.CustomerFields) custodian.CustomerPatch, skipUnchanged bool, out **custodian.Customer, changed *[]string) error {
	return s.repo.UpdateCustomer(ctx, id, func(cur *custodian.CustomerRecord) (*custodian.CustomerRecord, error) {
		if ifVersion != 0 && cur.Version != ifVersion {
			return nil, custodian.Errorf(custodian.EPRECONDITION, "The customer was changed by someone else; reload it and try again.")
		}
		c, err := s.openRecord(ctx, cur, nil)
		if err != nil {
			return nil, err
		}
		f, err := s.validator.Normalize(patch(c.CustomerFields).Apply(c.CustomerFields))
		if err != nil {
			return nil, err
		}
		*changed = custodian.ChangedFields(c.CustomerFields, f)
		if skipUnchanged && len(*changed) == 0 {
			return cur, nil
		}
		c.CustomerFields = f
		c.UpdatedAt, c.UpdatedBy, c.Version = s.timestamp(), custodian.ActorFrom(ctx), cur.Version+1
		dk, err := s.dataKey(ctx, cur.ID, cur.KeyID, cur.DataKey, nil)
		if err != nil {
			return nil, err
		}
		*out = c
		return s.sealRecord(c, dk, cur.KeyID, cur.DataKey)
	})
}

// DeleteCustomer removes the customer, with its index entries, unless a
// legal hold is on it (ECONFLICT), then destroys its shred secret. Delete
// keeps no tombstone: EraseCustomer is the data-protection erasure.
func (s *Service) DeleteCustomer(ctx context.Context, id string, ifVersion int64) error {
	if !custodian.ValidCustomerID(id) {
		return errNoCustomer
	}
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{{Action: custodian.ActionCustomerDelete, Subject: id}}, s.repo.DeleteCustomer(ctx, id, ifVersion)
	})
	if err != nil {
		return s.goneOr(ctx, id, err)
	}
	return s.forgetDeleted(ctx, id)
}

// forgetDeleted drops a deleted customer's cached keys and name and
// destroys its shred secret.
func (s *Service) forgetDeleted(ctx context.Context, id string) error {
	s.sealer.Forget(id)
	s.names.Remove(id)
	if s.shred != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyDestroyTimeout)
		defer cancel()
		if err := s.shred.DestroyShredKey(ctx, id); err != nil {
			return fmt.Errorf("customer %s was deleted, but its shred key was not destroyed: %w", id, err)
		}
	}
	return nil
}

// cursor is what a sealed list cursor carries.
type cursor struct {
	Sort custodian.Sort `json:"s"`
	Time int64          `json:"t,omitempty"`
	Name string         `json:"n,omitempty"`
	ID   string         `json:"i"`
}

// parseQuery validates a list query, returning the repository query and
// the parsed search.
func (s *Service) parseQuery(q *custodian.CustomerQuery) (custodian.RecordQuery, *query, *cursor, error) {
	var errs []custodian.FieldError
	bad := func(field, msg string) { errs = append(errs, custodian.FieldError{Field: field, Message: msg}) }
	if q.Sort == "" {
		q.Sort = custodian.DefaultSort
	}
	if !q.Sort.Valid() {
		bad("sort", "Sort must be one of name, created_at or updated_at, optionally preceded by '-' for descending order.")
	}
	switch {
	case q.Limit == 0:
		q.Limit = custodian.DefaultListLimit
	case q.Limit < 1 || q.Limit > custodian.MaxListLimit:
		bad("limit", fmt.Sprintf("Limit must be between 1 and %d.", custodian.MaxListLimit))
	}
	if q.Status != "" && !q.Status.Valid() {
		bad("status", "Status must be one of lead, active or inactive.")
	}
	if q.Consent != "" && !slices.Contains(s.purposes, q.Consent) {
		bad("consent", s.purposeMessage())
	}
	q.Tag = strings.ToLower(strings.TrimSpace(q.Tag))
	if q.Tag != "" && custodian.ValidTag(q.Tag) != nil {
		bad("tag", "Not a valid tag.")
	}
	var sq *query
	search := strings.TrimSpace(q.Search)
	switch {
	case !utf8.ValidString(search) || strings.ContainsFunc(search, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		bad("search", "Search must be text without control characters.")
	case len(search) > MaxSearchLen:
		bad("search", fmt.Sprintf("Search must be at most %d characters.", MaxSearchLen))
	case search != "":
		sq = s.parseSearch(search)
		if sq == nil {
			bad("search", fmt.Sprintf("Search must contain a letter or digit and at most %d words.", maxQueryWords))
		}
	}
	var cur *cursor
	if q.Cursor != "" {
		b, err := s.sealer.OpenCursor(q.Cursor)
		cur = new(cursor)
		if err != nil || json.Unmarshal(b, cur) != nil {
			bad("cursor", "The cursor is not valid; start again from the first page.")
		} else if cur.Sort != q.Sort {
			bad("cursor", "The cursor belongs to another sort order; start again from the first page.")
		}
	}
	if len(errs) > 0 {
		return custodian.RecordQuery{}, nil, nil, &custodian.Error{Code: custodian.EINVALID, Message: "The list query has invalid parameters.", Fields: errs}
	}
	rq := custodian.RecordQuery{Status: q.Status, Tag: q.Tag, Consent: q.Consent, SortKey: q.Sort.Key(), Descending: q.Sort.Descending()}
	if sq != nil {
		// Longest words first: they match fewest customers, and the
		// repository walks the first token's index.
		terms := sq.terms()
		slices.SortStableFunc(terms, func(a, b [2]string) int { return len(b[1]) - len(a[1]) })
		for _, t := range terms {
			rq.Tokens = append(rq.Tokens, s.sealer.Token(t[0], t[1]))
		}
	}
	return rq, sq, cur, nil
}

// parseSearch returns the search a query asks for, or nil when it has no
// searchable word.
func (s *Service) parseSearch(q string) *query {
	if strings.Contains(q, "@") {
		return &query{email: normalizeEmail(q)}
	}
	if looksLikePhone(q) {
		// Phone fields are all normalized alike: the first one reads q.
		if i := slices.IndexFunc(s.fields, func(pf custodian.PersonalField) bool { return pf.Index == custodian.IndexPhone }); i >= 0 {
			if phone, err := s.validator.NormalizeField(s.fields[i], q); err == nil {
				return &query{phone: phone}
			}
		}
	}
	w := words(fold(q))
	if len(w) == 0 || len(w) > maxQueryWords {
		return nil
	}
	return &query{words: w}
}

// ListCustomers returns one page of the customers q selects.
func (s *Service) ListCustomers(ctx context.Context, q custodian.CustomerQuery) (*custodian.CustomerPage, error) {
	rq, sq, cur, err := s.parseQuery(&q)
	if err != nil {
		return nil, err
	}
	keep := func(c *custodian.Customer) bool {
		return sq == nil || sq.matches(s.fields, &c.CustomerFields)
	}
	var page *custodian.CustomerPage
	if q.Sort.Key() == "name" {
		page, err = s.listByName(ctx, q, rq, cur, keep)
	} else {
		page, err = s.listByTime(ctx, q, rq, cur, keep)
	}
	if err != nil {
		return nil, err
	}
	if err := s.recordReads(ctx, page.Items...); err != nil {
		return nil, err
	}
	return page, nil
}

// CountCustomers counts what q selects up to upTo, on the database's
// indexes: nothing is decrypted, and no read is recorded (a count shows no
// one's data).
func (s *Service) CountCustomers(ctx context.Context, q custodian.CustomerQuery, upTo int) (custodian.CustomerCount, error) {
	q.Cursor = ""
	rq, sq, _, err := s.parseQuery(&q)
	if err != nil {
		return custodian.CustomerCount{}, err
	}
	if upTo < 1 {
		upTo = 1
	}
	n, err := s.repo.CountCustomerRecords(ctx, rq, upTo+1)
	if err != nil {
		return custodian.CustomerCount{}, err
	}
	c := custodian.CustomerCount{N: min(n, upTo), More: n > upTo, Approximate: sq != nil && !sq.exact()}
	return c, nil
}

// sortTime picks the time a list is ordered by.
func sortTime(created, updated time.Time, key string) time.Time {
	if key == "updated_at" {
		return updated
	}
	return created
}

// listByTime pages through records in the database's order, decrypting and
// checking candidates until the page is full.
func (s *Service) listByTime(ctx context.Context, q custodian.CustomerQuery, rq custodian.RecordQuery, cur *cursor, keep func(*custodian.Customer) bool) (*custodian.CustomerPage, error) {
	if cur != nil {
		rq.After = &custodian.RecordCursor{Time: time.UnixMicro(cur.Time).UTC(), ID: cur.ID}
	}
	rq.Limit = q.Limit + 1
	items := make([]*custodian.Customer, 0, rq.Limit)
	for len(items) <= q.Limit {
		recs, err := s.repo.ListCustomerRecords(ctx, rq)
		if err != nil {
			return nil, err
		}
		if items, err = s.openMatching(ctx, recs, keep, items, q.Limit); err != nil {
			return nil, err
		}
		if len(recs) < rq.Limit {
			break
		}
		last := recs[len(recs)-1]
		rq.After = &custodian.RecordCursor{Time: sortTime(last.CreatedAt, last.UpdatedAt, rq.SortKey), ID: last.ID}
	}
	return s.page(items, q.Limit, func(last *custodian.Customer) cursor {
		return cursor{Sort: q.Sort, Time: sortTime(last.CreatedAt, last.UpdatedAt, rq.SortKey).UnixMicro(), ID: last.ID}
	}), nil
}

// openMatching decrypts recs, with the shred secrets they need fetched in
// one lookup, and appends the customers keep accepts to items until items
// holds more than limit (one more than a page shows tells that there is a
// next page).
func (s *Service) openMatching(ctx context.Context, recs []*custodian.CustomerRecord, keep func(*custodian.Customer) bool, items []*custodian.Customer, limit int) ([]*custodian.Customer, error) {
	pre, err := s.secrets(ctx, recs)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if len(items) > limit {
			break
		}
		c, err := s.openRecord(ctx, r, pre)
		if err != nil {
			return nil, err
		}
		if keep(c) {
			items = append(items, c)
		}
	}
	return items, nil
}

// page makes a page of the first limit items, with a cursor made by at
// from its last item when items holds more.
func (s *Service) page(items []*custodian.Customer, limit int, at func(last *custodian.Customer) cursor) *custodian.CustomerPage {
	page := &custodian.CustomerPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		b, _ := json.Marshal(at(page.Items[limit-1])) // a struct of strings and integers always marshals
		page.NextCursor = s.sealer.SealCursor(b)
	}
	return page
}

// listByName orders the selected customers by folded name. Names are
// sealed, so the order is made here: every selected name is decrypted once
// per version and cached, then sorted; only the page's records are read in
// full.
func (s *Service) listByName(ctx context.Context, q custodian.CustomerQuery, rq custodian.RecordQuery, cur *cursor, keep func(*custodian.Customer) bool) (*custodian.CustomerPage, error) {
	entries, err := s.repo.CustomerNameEntries(ctx, rq)
	if err != nil {
		return nil, err
	}
	pre, err := s.nameSecrets(ctx, entries)
	if err != nil {
		return nil, err
	}
	type keyed struct{ key, id string }
	order := make([]keyed, 0, len(entries))
	for _, e := range entries {
		k, err := s.nameKey(ctx, e, pre)
		if err != nil {
			return nil, err
		}
		order = append(order, keyed{k, e.ID})
	}
	less := func(a, b keyed) int { return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.id, b.id)) }
	desc := q.Sort.Descending()
	slices.SortFunc(order, func(a, b keyed) int {
		if desc {
			return less(b, a)
		}
		return less(a, b)
	})
	start := 0
	if cur != nil {
		at := keyed{cur.Name, cur.ID}
		start, _ = slices.BinarySearchFunc(order, at, func(e, t keyed) int {
			if desc {
				return less(t, e)
			}
			return less(e, t)
		})
		if start < len(order) && order[start] == at {
			start++
		}
	}
	items := make([]*custodian.Customer, 0, q.Limit+1)
	for start < len(order) && len(items) <= q.Limit {
		end := min(start+q.Limit+1-len(items), len(order))
		ids := make([]string, 0, end-start)
		for _, o := range order[start:end] {
			ids = append(ids, o.id)
		}
		recs, err := s.repo.CustomerRecords(ctx, ids)
		if err != nil {
			return nil, err
		}
		if items, err = s.openMatching(ctx, recs, keep, items, q.Limit); err != nil {
			return nil, err
		}
		start = end
	}
	return s.page(items, q.Limit, func(last *custodian.Customer) cursor {
		return cursor{Sort: q.Sort, Name: fold(last.Name), ID: last.ID}
	}), nil
}

// nameSecrets fetches, in one lookup, the shred secrets needed to open
// the names that neither the name cache nor the data-key cache has.
func (s *Service) nameSecrets(ctx context.Context, entries []custodian.NameEntry) (map[string][]byte, error) {
	if s.shred == nil {
		return nil, nil
	}
	var ids []string
	for _, e := range entries {
		if k, ok := s.names.Peek(e.ID); ok && k.version == e.Version {
			continue
		}
		if !s.sealer.HasDataKey(e.ID, e.DataKey) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.shred.ShredKeys(ctx, ids)
}

// nameKey returns the folded name of an entry, from the cache when the
// version matches.
func (s *Service) nameKey(ctx context.Context, e custodian.NameEntry, pre map[string][]byte) (string, error) {
	if k, ok := s.names.Get(e.ID); ok && k.version == e.Version {
		return k.key, nil
	}
	dk, err := s.dataKey(ctx, e.ID, e.KeyID, e.DataKey, pre)
	if err == nil {
		var name []byte
		if name, err = dk.Open(nameUnit, e.Name); err == nil {
			k := fold(string(name))
			s.names.Add(e.ID, nameKey{version: e.Version, key: k})
			return k, nil
		}
	}
	return "", &custodian.Error{Code: custodian.EINTERNAL, Message: "A customer record could not be decrypted.", Err: err}
}
