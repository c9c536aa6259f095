package customers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
)

// keyDestroyTimeout bounds destroying a shred secret after an erasure has
// committed. It runs even when the caller's context has ended, so that an
// interrupted erasure does not leave its key behind.
const keyDestroyTimeout = 10 * time.Second

// Field names bound into the ciphertexts of consent texts.
const (
	fConsentSource   = "consent.source"
	fConsentEvidence = "consent.evidence"
)

// errNoCustomer answers for a customer that does not exist, and for an id
// that cannot be a customer's, which is refused before any lookup.
var errNoCustomer = custodian.Errorf(custodian.ENOTFOUND, "Customer not found.")

// goneOr turns ENOTFOUND for a customer that was erased into EGONE with
// its tombstone; other errors pass unchanged.
func (s *Service) goneOr(ctx context.Context, id string, err error) error {
	if custodian.ErrorCode(err) != custodian.ENOTFOUND {
		return err
	}
	t, terr := s.repo.Tombstone(ctx, id)
	switch {
	case terr == nil:
		return custodian.Gone(t)
	case custodian.ErrorCode(terr) == custodian.ENOTFOUND:
		return err
	}
	return terr
}

// recordReads records that the caller read the full records of cs, with
// the stated purpose: one record of the read log naming them all.
func (s *Service) recordReads(ctx context.Context, cs ...*custodian.Customer) error {
	if len(cs) == 0 {
		return nil
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return s.repo.RecordRead(ctx, ids...)
}

// customerEvents returns the trail's events about customer id merged with
// its reads from the read log, newest first.
func (s *Service) customerEvents(ctx context.Context, id string) ([]custodian.AuditEvent, error) {
	events, err := s.repo.AuditEvents(ctx, custodian.AuditQuery{Subject: id})
	if err != nil {
		return nil, err
	}
	reads, err := s.repo.Reads(ctx, custodian.ReadQuery{Customer: id})
	if err != nil {
		return nil, err
	}
	return custodian.MergeReads(events, reads, id, 0), nil
}

// ConsentPurposes returns the purposes consent can be recorded for.
func (s *Service) ConsentPurposes() []string { return slices.Clone(s.purposes) }

func (s *Service) purposeMessage() string {
	return "Unknown consent purpose; use one of " + strings.Join(s.purposes, ", ") + "."
}

// multilineText reports whether s is valid UTF-8 of at most max
// characters whose only control characters are newlines and tabs.
func multilineText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checkConsent validates a consent change, naming every field at fault;
// an unknown purpose's message lists the allowed ones.
func (s *Service) checkConsent(in custodian.ConsentInput) (custodian.ConsentInput, error) {
	var errs []custodian.FieldError
	in.Purpose = strings.TrimSpace(in.Purpose)
	in.Source, in.Evidence = strings.TrimSpace(in.Source), strings.TrimSpace(in.Evidence)
	if !slices.Contains(s.purposes, in.Purpose) {
		errs = append(errs, custodian.FieldError{Field: "purpose", Message: s.purposeMessage()})
	}
	if in.State != custodian.ConsentGiven && in.State != custodian.ConsentWithdrawn {
		errs = append(errs, custodian.FieldError{Field: "state", Message: "State must be given or withdrawn."})
	}
	if !custodian.PrintableText(in.Source, custodian.MaxConsentSourceLen) {
		errs = append(errs, custodian.FieldError{Field: "source", Message: fmt.Sprintf("Must be printable text of at most %d characters.", custodian.MaxConsentSourceLen)})
	}
	if !multilineText(in.Evidence, custodian.MaxConsentEvidenceLen) {
		errs = append(errs, custodian.FieldError{Field: "evidence", Message: fmt.Sprintf("Must be text of at most %d characters.", custodian.MaxConsentEvidenceLen)})
	}
	if len(errs) > 0 {
		return in, &custodian.Error{Code: custodian.EINVALID, Message: "The consent has invalid fields.", Fields: errs}
	}
	return in, nil
}

// RecordConsent appends a consent change to the customer's history, with
// its audit event, in one transaction. Source and evidence are sealed with
// the customer's data key.
func (s *Service) RecordConsent(ctx context.Context, id string, in custodian.ConsentInput) (*custodian.ConsentEvent, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	in, err := s.checkConsent(in)
	if err != nil {
		return nil, err
	}
	ev := &custodian.ConsentEvent{Purpose: in.Purpose, State: in.State, Time: s.timestamp(), Actor: custodian.ActorFrom(ctx), Source: in.Source, Evidence: in.Evidence}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		seq, err := s.repo.AppendConsent(ctx, id, func(cur *custodian.CustomerRecord) (*custodian.ConsentRecord, error) {
			dk, err := s.dataKey(ctx, cur.ID, cur.KeyID, cur.DataKey, nil)
			if err != nil {
				return nil, err
			}
			return &custodian.ConsentRecord{CustomerID: id, Purpose: ev.Purpose, Given: ev.State == custodian.ConsentGiven, Time: ev.Time, Actor: ev.Actor,
				SourceCT: dk.Seal(fConsentSource, []byte(ev.Source)), EvidenceCT: dk.Seal(fConsentEvidence, []byte(ev.Evidence))}, nil
		})
		ev.Seq = seq
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), State: ev.State, Consent: ev.Purpose}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionConsentChange, Subject: id, Data: data, Time: ev.Time}}, err
	})
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return ev, nil
}

// Consents returns the customer's consent history and current state. For
// an erased customer it returns what remains: purposes, states, times and
// actors, without source or evidence, which no one can decrypt any more.
func (s *Service) Consents(ctx context.Context, id string) (*custodian.Consents, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	rec, err := s.repo.CustomerRecord(ctx, id)
	if err != nil {
		if err = s.goneOr(ctx, id, err); custodian.ErrorCode(err) != custodian.EGONE {
			return nil, err
		}
		rec = nil
	}
	return s.consents(ctx, id, rec)
}

// consents builds a customer's consents from the history, opening source
// and evidence with the record's data key (rec nil: erased).
func (s *Service) consents(ctx context.Context, id string, rec *custodian.CustomerRecord) (*custodian.Consents, error) {
	recs, err := s.repo.ConsentRecords(ctx, id)
	if err != nil {
		return nil, err
	}
	var dk *crypto.DataKey
	if rec != nil && len(recs) > 0 {
		if dk, err = s.dataKey(ctx, rec.ID, rec.KeyID, rec.DataKey, nil); err != nil {
			return nil, err
		}
	}
	out := &custodian.Consents{CustomerID: id, History: make([]custodian.ConsentEvent, 0, len(recs))}
	for _, r := range recs {
		ev := custodian.ConsentEvent{Seq: r.Seq, Purpose: r.Purpose, State: custodian.ConsentWithdrawn, Time: r.Time, Actor: r.Actor, Erased: rec == nil}
		if r.Given {
			ev.State = custodian.ConsentGiven
		}
		if dk != nil {
			src, err := dk.Open(fConsentSource, r.SourceCT)
			if err != nil {
				return nil, &custodian.Error{Code: custodian.EINTERNAL, Message: "A consent record could not be decrypted.", Err: err}
			}
			evd, err := dk.Open(fConsentEvidence, r.EvidenceCT)
			if err != nil {
				return nil, &custodian.Error{Code: custodian.EINTERNAL, Message: "A consent record could not be decrypted.", Err: err}
			}
			ev.Source, ev.Evidence = string(src), string(evd)
		}
		out.History = append(out.History, ev)
	}
	out.Current = custodian.CurrentConsents(out.History)
	return out, nil
}

// SetLegalHold sets (active) or lifts a legal hold on a customer, with a
// required reason, and records it in the audit trail in the same
// transaction. A hold suspends retention, erasure and deletion.
func (s *Service) SetLegalHold(ctx context.Context, id string, active bool, reason string) (*custodian.LegalHold, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	reason, err := custodian.CheckReason("reason", reason)
	if err != nil {
		return nil, err
	}
	var hold *custodian.LegalHold
	state := "lifted"
	if active {
		hold, state = &custodian.LegalHold{Since: s.timestamp(), By: custodian.ActorFrom(ctx), Reason: reason}, "set"
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), Reason: reason, State: state}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionLegalHold, Subject: id, Data: data}}, s.repo.SetLegalHold(ctx, id, hold)
	})
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return hold, nil
}

// errOnHold refuses to erase a customer under a legal hold.
func errOnHold() error {
	return custodian.Errorf(custodian.ECONFLICT, "The customer is under a legal hold and cannot be deleted or erased until it is lifted.")
}

// EraseCustomer erases a customer's personal data for good (the right to
// erasure): in one transaction with its audit event, the record, its tags,
// blind-index tokens and current consent state are deleted and a tombstone
// without personal data is kept; then the customer's shred secret is
// destroyed, so no copy of the database, backups included, can be
// decrypted any more. A customer under a legal hold is refused
// (ECONFLICT). Erasing again changes nothing and returns the existing
// tombstone with again set (finishing the key destruction if it had
// failed).
func (s *Service) EraseCustomer(ctx context.Context, id, reason string) (t *custodian.Tombstone, again bool, err error) {
	if !custodian.ValidCustomerID(id) {
		return nil, false, errNoCustomer
	}
	reason, err = custodian.CheckReason("reason", reason)
	if err != nil {
		return nil, false, err
	}
	return s.erase(ctx, id, reason, custodian.ErasedOnRequest, func(cur *custodian.CustomerRecord) error {
		if cur.LegalHold != nil {
			return errOnHold()
		}
		return nil
	})
}

// erase is the one erasure mechanism, for requests and retention alike.
func (s *Service) erase(ctx context.Context, id, reason, mechanism string, check func(*custodian.CustomerRecord) error) (*custodian.Tombstone, bool, error) {
	t := &custodian.Tombstone{ID: id, ErasedAt: s.timestamp(), ErasedBy: custodian.ActorFrom(ctx), Reason: reason, Mechanism: mechanism, KeyDestroyed: s.shred == nil}
	var existing *custodian.Tombstone
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		var err error
		existing, err = s.repo.EraseCustomer(ctx, t, check)
		if err != nil || existing != nil {
			return nil, err
		}
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), Reason: reason, Mechanism: mechanism}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionCustomerErase, Subject: id, Data: data, Time: t.ErasedAt}}, nil
	})
	if err != nil {
		return nil, false, err
	}
	s.sealer.Forget(id)
	s.names.Remove(id)
	if existing != nil {
		t = existing
	}
	if !t.KeyDestroyed {
		if err := s.destroyKey(ctx, id); err != nil {
			return t, existing != nil, err
		}
		t.KeyDestroyed = true
	}
	return t, existing != nil, nil
}

// destroyKey destroys an erased customer's shred secret and records that
// it is gone, even when ctx has ended.
func (s *Service) destroyKey(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyDestroyTimeout)
	defer cancel()
	if s.shred != nil {
		if err := s.shred.DestroyShredKey(ctx, id); err != nil {
			return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "The customer was erased, but destroying their key failed; erase again, or run the retention job, to finish.", Err: err}
		}
	}
	return s.repo.MarkKeyDestroyed(ctx, id)
}

// FinishKeyDestruction destroys the shred secrets of erased customers whose
// erasure committed but whose key destruction did not finish. It returns
// how many it destroyed.
func (s *Service) FinishKeyDestruction(ctx context.Context) (int, error) {
	n := 0
	for {
		ids, err := s.repo.PendingKeyDestruction(ctx, 500)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			if err := s.destroyKey(ctx, id); err != nil {
				return n, err
			}
			n++
		}
	}
}

// ExportCustomer returns everything held about a customer (right of access
// and portability), and records the export in the audit trail first, so
// the export lists itself. An erased customer's export holds the
// tombstone, the consent history without its sealed texts, and the audit
// events.
func (s *Service) ExportCustomer(ctx context.Context, id string) (*custodian.Export, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	out := &custodian.Export{Format: custodian.ExportFormat, ExportedAt: s.timestamp(), ExportedBy: custodian.ActorFrom(ctx), CustomerID: id}
	rec, err := s.repo.CustomerRecord(ctx, id)
	switch {
	case err == nil:
		if out.Customer, err = s.openRecord(ctx, rec, nil); err != nil {
			return nil, err
		}
		out.LegalHold = rec.LegalHold
	case custodian.ErrorCode(err) == custodian.ENOTFOUND:
		if out.Erased, err = s.repo.Tombstone(ctx, id); err != nil {
			return nil, err
		}
		rec = nil
	default:
		return nil, err
	}
	consents, err := s.consents(ctx, id, rec)
	if err != nil {
		return nil, err
	}
	out.Consents = *consents
	out.Activities, out.Tasks = []custodian.Activity{}, []custodian.Task{}
	if rec != nil {
		if out.Activities, err = s.activities(ctx, rec); err != nil {
			return nil, err
		}
		if out.Tasks, err = s.tasks(ctx, rec); err != nil {
			return nil, err
		}
	}
	data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx)}.Encode()
	if err := s.repo.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerExport, Subject: id, Data: data}); err != nil {
		return nil, err
	}
	events, err := s.customerEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	out.AuditEvents = make([]custodian.ExportEvent, 0, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		ee := custodian.ExportEvent{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Fields: e.Fields, ClientAddr: e.ClientAddr, RequestID: e.RequestID}
		if len(e.Data) > 0 && json.Valid(e.Data) {
			ee.Data = e.Data
		} else if len(e.Data) > 0 {
			ee.Data, _ = json.Marshal(e.Data) // base64 in a JSON string
		}
		out.AuditEvents = append(out.AuditEvents, ee)
	}
	return out, nil
}

// accessActions are the events that say someone saw or handled a
// customer's personal data.
var accessActions = []string{custodian.ActionCustomerRead, custodian.ActionCustomerExport, custodian.ActionCustomerErase}

// AccessLog answers "who has seen this person's data": the reads, exports
// and erasure of the customer, oldest first.
func (s *Service) AccessLog(ctx context.Context, id string) ([]custodian.AuditEvent, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	events, err := s.customerEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []custodian.AuditEvent
	for i := len(events) - 1; i >= 0; i-- {
		if slices.Contains(accessActions, events[i].Action) {
			out = append(out, events[i])
		}
	}
	return out, nil
}

// CustomerNames names the customers among ids for a page that mentions
// them: one query for the records (decrypted with their shred secrets
// fetched in one lookup), one for the tombstones of those missing. The
// names shown are a read of personal data, recorded as one read record
// naming the customers found, before any name is returned.
func (s *Service) CustomerNames(ctx context.Context, ids []string) (map[string]custodian.CustomerName, error) {
	var valid []string
	seen := map[string]bool{}
	for _, id := range ids {
		if custodian.ValidCustomerID(id) && !seen[id] {
			seen[id] = true
			valid = append(valid, id)
		}
	}
	out := make(map[string]custodian.CustomerName, len(valid))
	if len(valid) == 0 {
		return out, nil
	}
	recs, err := s.repo.CustomerRecords(ctx, valid)
	if err != nil {
		return nil, err
	}
	pre, err := s.secrets(ctx, recs)
	if err != nil {
		return nil, err
	}
	found := make([]*custodian.Customer, 0, len(recs))
	for _, r := range recs {
		c, err := s.openRecord(ctx, r, pre)
		if err != nil {
			return nil, err
		}
		found = append(found, c)
		out[c.ID] = custodian.CustomerName{ID: c.ID, Name: c.Name}
	}
	var missing []string
	for _, id := range valid {
		if _, ok := out[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		ts, err := s.repo.Tombstones(ctx, missing)
		if err != nil {
			return nil, err
		}
		erased := map[string]bool{}
		for _, t := range ts {
			erased[t.ID] = true
		}
		for _, id := range missing {
			out[id] = custodian.CustomerName{ID: id, Erased: erased[id], Deleted: !erased[id]}
		}
	}
	if err := s.recordReads(ctx, found...); err != nil {
		return nil, err
	}
	return out, nil
}
