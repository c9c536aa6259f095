package customers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/custodian-crm/custodian"
)

var (
	_ custodian.CustomerImporter = (*Service)(nil)
	_ custodian.CustomerExporter = (*Service)(nil)
)

// seenKey is the digest under which an import remembers a row's email
// address or phone number: keyed with the import's random key, so that it
// tells nothing once the import is over.
func seenKey(st *custodian.ImportState, domain, value string) string {
	m := hmac.New(sha256.New, st.Key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return string(m.Sum(nil)[:16])
}

// importPlan is what a batch does with one valid row.
type importPlan struct {
	row    custodian.ImportRow
	fields custodian.CustomerFields // normalized
	keys   []string                 // the row's digests
}

// ImportBatch validates rows, finds their duplicates and stores the batch
// in one transaction (see custodian.CustomerImporter). Duplicates among
// existing customers are found through the blind-index tokens of the
// rows' email addresses and phone numbers; only the few customers whose
// tokens match are decrypted, to confirm the match. Within the file, rows
// are matched through keyed digests kept in st.
func (s *Service) ImportBatch(ctx context.Context, st *custodian.ImportState, rows []custodian.ImportRow) (custodian.ImportBatchResult, error) {
	var res custodian.ImportBatchResult
	if !st.Policy.Valid() {
		return res, &custodian.Error{Code: custodian.EINVALID, Message: "The duplicate policy is not valid.", Fields: []custodian.FieldError{{Field: "duplicates", Message: "Must be one of skip, fill or overwrite."}}}
	}
	if st.Key == nil {
		st.Key = make([]byte, 32)
		_, _ = rand.Read(st.Key) // crypto/rand.Read never returns an error
	}
	if st.Seen == nil {
		st.Seen = map[string]int{}
	}
	v := s.validator
	if st.Validator != nil {
		v = *st.Validator
	}
	res.Rows = len(rows)
	refuse := func(line int, field, reason string) {
		res.Refused++
		res.Issues = append(res.Issues, custodian.ImportIssue{Line: line, Field: field, Reason: reason})
	}

	// Validate, and collect the tokens of every valid row.
	plans := make([]importPlan, 0, len(rows))
	var tokens []int64
	for _, row := range rows {
		f, err := v.Normalize(row.Fields)
		if err != nil {
			fes := custodian.ErrorFields(err)
			if len(fes) == 0 {
				return res, err
			}
			res.Refused++
			for _, fe := range fes {
				res.Issues = append(res.Issues, custodian.ImportIssue{Line: row.Line, Field: fe.Field, Reason: fe.Message})
			}
			continue
		}
		p := importPlan{row: row, fields: f}
		for _, t := range duplicateTerms(s.fields, &f) {
			tokens = append(tokens, s.sealer.Token(t[0], t[1]))
			p.keys = append(p.keys, seenKey(st, t[0], t[1]))
		}
		plans = append(plans, p)
	}
	existing, err := s.duplicates(ctx, tokens)
	if err != nil {
		return res, err
	}

	secrets := map[string][]byte{}
	var creates []*custodian.Customer
	created := map[string]*custodian.Customer{} // this batch's new customers, by id
	batchLines := map[int]string{}              // and by line
	type update struct {
		id  string
		row importPlan
	}
	var updates []update
	for _, p := range plans {
		// The customer the row duplicates: an existing one (found by
		// token, confirmed on its decrypted fields), or one an earlier
		// row of the file made.
		var targets []string
		line := 0
		for _, m := range existing {
			if matches(s.fields, &m.CustomerFields, &p.fields) && !slices.Contains(targets, m.ID) {
				targets = append(targets, m.ID)
			}
		}
		var inFile []int
		for _, k := range p.keys {
			if l, ok := st.Seen[k]; ok && !slices.Contains(inFile, l) {
				inFile = append(inFile, l)
			}
		}
		for _, l := range inFile {
			line = l
			id := st.Created[l]
			if id == "" {
				id = batchLines[l]
			}
			if id != "" && !slices.Contains(targets, id) {
				targets = append(targets, id)
			}
		}
		switch {
		case len(targets) > 1 || len(inFile) > 1:
			refuse(p.row.Line, "", "The email address and the phone number belong to different customers; import this row by hand.")
			continue
		case len(targets) == 0 && line == 0:
			// A new customer. A dry run keeps it for the batch's later
			// rows, not for the next batch's.
			c := s.newCustomerOnly(ctx, p.fields)
			created[c.ID], batchLines[p.row.Line] = c, c.ID
			res.Created++
			if st.DryRun {
				s.remember(st, p, "")
				continue
			}
			creates = append(creates, c)
			s.remember(st, p, c.ID)
			continue
		}
		if st.Policy == custodian.DuplicatesSkip {
			res.Skipped++
			continue
		}
		if len(targets) == 0 {
			// A duplicate of an earlier row in a dry run: what it would
			// change is not known without the customer.
			res.Updated++
			continue
		}
		id := targets[0]
		if c, ok := created[id]; ok {
			f, err := v.Normalize(merge(s.fields, st.Policy, c.CustomerFields, p))
			if err != nil {
				refuse(p.row.Line, fieldOf(err), "Merged with the earlier row of the same customer: "+messageOf(err))
				continue
			}
			if len(custodian.ChangedFields(c.CustomerFields, f)) == 0 {
				res.Skipped++
				continue
			}
			c.CustomerFields = f
			res.Updated++
			continue
		}
		if cur := findCustomer(existing, id); cur != nil {
			f, err := v.Normalize(merge(s.fields, st.Policy, cur.CustomerFields, p))
			if err != nil {
				refuse(p.row.Line, fieldOf(err), "Merged with the existing customer: "+messageOf(err))
				continue
			}
			if len(custodian.ChangedFields(cur.CustomerFields, f)) == 0 {
				res.Skipped++
				continue
			}
		}
		res.Updated++
		if !st.DryRun {
			updates = append(updates, update{id, p})
		}
	}
	if st.DryRun || (len(creates) == 0 && len(updates) == 0) {
		return res, nil
	}

	// Seal the new customers and store everything in one transaction.
	recs := make([]*custodian.CustomerRecord, 0, len(creates))
	for _, c := range creates {
		rec, err := s.sealNew(c, secrets)
		if err != nil {
			return res, err
		}
		recs = append(recs, rec)
	}
	if err := s.putSecrets(ctx, secrets); err != nil {
		return res, err
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		entries := make([]custodian.AuditEntry, 0, len(creates)+len(updates))
		for _, c := range creates {
			entries = append(entries, createEntry(c))
		}
		if len(recs) > 0 {
			if err := s.repo.InsertCustomers(ctx, recs...); err != nil {
				return nil, err
			}
		}
		for _, u := range updates {
			var changed []string
			err := s.repo.UpdateCustomer(ctx, u.id, func(cur *custodian.CustomerRecord) (*custodian.CustomerRecord, error) {
				c, err := s.openRecord(ctx, cur, nil)
				if err != nil {
					return nil, err
				}
				f, err := v.Normalize(merge(s.fields, st.Policy, c.CustomerFields, u.row))
				if err != nil {
					return nil, err
				}
				changed = custodian.ChangedFields(c.CustomerFields, f)
				c.CustomerFields = f
				c.UpdatedAt, c.UpdatedBy, c.Version = s.timestamp(), custodian.ActorFrom(ctx), cur.Version+1
				dk, err := s.dataKey(ctx, cur.ID, cur.KeyID, cur.DataKey, nil)
				if err != nil {
					return nil, err
				}
				s.names.Remove(cur.ID)
				return s.sealRecord(c, dk, cur.KeyID, cur.DataKey)
			})
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", u.row.row.Line, err)
			}
			entries = append(entries, custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: u.id, Fields: changed})
		}
		return entries, nil
	})
	if err != nil {
		return res, err
	}
	return res, nil
}

// remember records p's digests in st, with the customer it created.
func (s *Service) remember(st *custodian.ImportState, p importPlan, id string) {
	for _, k := range p.keys {
		if _, ok := st.Seen[k]; !ok {
			st.Seen[k] = p.row.Line
		}
	}
	if id != "" {
		if st.Created == nil {
			st.Created = map[int]string{}
		}
		st.Created[p.row.Line] = id
	}
}

func findCustomer(cs []*custodian.Customer, id string) *custodian.Customer {
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// fieldOf and messageOf give the first field error of err.
func fieldOf(err error) string {
	if fes := custodian.ErrorFields(err); len(fes) > 0 {
		return fes[0].Field
	}
	return ""
}

func messageOf(err error) string {
	if fes := custodian.ErrorFields(err); len(fes) > 0 {
		return fes[0].Message
	}
	return "invalid"
}

// duplicateTerms are the blind-index terms a duplicate is found by: the
// email addresses and phone numbers of f.
func duplicateTerms(fields []custodian.PersonalField, f *custodian.CustomerFields) [][2]string {
	var out [][2]string
	for _, v := range indexedValues(fields, f, custodian.IndexEmail) {
		if v != "" {
			out = append(out, [2]string{domainEmail, normalizeEmail(v)})
		}
	}
	for _, v := range indexedValues(fields, f, custodian.IndexPhone) {
		if v != "" {
			out = append(out, [2]string{domainPhone, v})
		}
	}
	return out
}

// matches reports whether a and b share an email address or a phone
// number.
func matches(fields []custodian.PersonalField, a, b *custodian.CustomerFields) bool {
	ta := duplicateTerms(fields, a)
	for _, t := range duplicateTerms(fields, b) {
		if slices.Contains(ta, t) {
			return true
		}
	}
	return false
}

// duplicates returns the existing customers that carry any of tokens:
// candidates, which the caller confirms on their fields. Only they are
// decrypted.
func (s *Service) duplicates(ctx context.Context, tokens []int64) ([]*custodian.Customer, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	ids, err := s.repo.CustomerIDsByTokens(ctx, tokens)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	recs, err := s.repo.CustomerRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	pre, err := s.secrets(ctx, recs)
	if err != nil {
		return nil, err
	}
	out := make([]*custodian.Customer, 0, len(recs))
	for _, r := range recs {
		c, err := s.openRecord(ctx, r, pre)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// merge applies an imported row to a customer it duplicates, by policy:
// fill sets the fields cur has empty and adds the row's tags; overwrite
// sets every field the row has a value for.
func merge(fields []custodian.PersonalField, policy custodian.DuplicatePolicy, cur custodian.CustomerFields, p importPlan) custodian.CustomerFields {
	out := cur
	out.Tags = slices.Clone(cur.Tags)
	for _, pf := range fields {
		if !p.row.Has(pf.Name) {
			continue
		}
		if policy == custodian.DuplicatesOverwrite || *pf.Value(&out) == "" {
			*pf.Value(&out) = *pf.Value(&p.fields)
		}
	}
	if p.row.Has("tags") {
		if policy == custodian.DuplicatesOverwrite {
			out.Tags = slices.Clone(p.fields.Tags)
		} else {
			for _, t := range p.fields.Tags {
				if !slices.Contains(out.Tags, t) {
					out.Tags = append(out.Tags, t)
				}
			}
		}
	}
	if p.row.Has("status") && policy == custodian.DuplicatesOverwrite {
		out.Status = p.fields.Status
	}
	return out
}

// Atomically runs fn in one transaction that every batch imported with
// its context joins.
func (s *Service) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) { return nil, fn(ctx) })
}

// RecordTransfer appends the audit event of an import or export.
func (s *Service) RecordTransfer(ctx context.Context, e custodian.AuditEntry) error {
	return s.repo.AppendAudit(ctx, e)
}

// How many customers an export reads at a time: more when ordered by
// name, since each page of that order sorts every selected name (from the
// name cache) again.
const (
	exportPage       = 1000
	exportPageByName = 5000
)

// ExportData is the detail of an export's audit event: the filter (a
// search is recorded as given or not, since its words may be personal),
// the format and the count.
type ExportData struct {
	Format  string `json:"format"`
	Search  bool   `json:"search,omitempty"`
	Status  string `json:"status,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Consent string `json:"consent,omitempty"`
	Sort    string `json:"sort"`
	Count   int    `json:"count"`
}

// ExportCustomers streams every customer q selects to emit, page by page,
// and records one audit event with the filter and the count (also when
// emit fails part way: what was emitted was read).
func (s *Service) ExportCustomers(ctx context.Context, q custodian.CustomerQuery, format string, emit func(*custodian.Customer) error) (int, error) {
	q.Cursor, q.Limit = "", custodian.MaxListLimit
	rq, sq, _, err := s.parseQuery(&q)
	if err != nil {
		return 0, err
	}
	keep := func(c *custodian.Customer) bool { return sq == nil || sq.matches(s.fields, &c.CustomerFields) }
	count := 0
	var cur *cursor
	q.Limit = exportPage
	if q.Sort.Key() == "name" {
		q.Limit = exportPageByName
	}
	for {
		var page *custodian.CustomerPage
		if q.Sort.Key() == "name" {
			page, err = s.listByName(ctx, q, rq, cur, keep)
		} else {
			page, err = s.listByTime(ctx, q, rq, cur, keep)
		}
		if err == nil {
			for _, c := range page.Items {
				if err = emit(c); err != nil {
					break
				}
				count++
			}
		}
		if err != nil || page.NextCursor == "" {
			break
		}
		b, oerr := s.sealer.OpenCursor(page.NextCursor)
		cur = new(cursor)
		if oerr != nil || json.Unmarshal(b, cur) != nil {
			err = fmt.Errorf("export: reopen own cursor: %v", oerr)
			break
		}
	}
	data, _ := json.Marshal(ExportData{Format: format, Search: q.Search != "", Status: string(q.Status), Tag: q.Tag, Consent: q.Consent, Sort: string(q.Sort), Count: count}) // strings and ints always marshal
	if aerr := s.repo.AppendAudit(context.WithoutCancel(ctx), custodian.AuditEntry{Action: custodian.ActionCustomersExport, Data: data}); aerr != nil && err == nil {
		err = aerr
	}
	return count, err
}
