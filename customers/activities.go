package customers

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
)

// fActivityText is the field name bound into the ciphertext of an
// activity's text.
const fActivityText = "activity.text"

// timelineActions are the audit actions a customer's timeline tells: its
// own changes and consent events.
var timelineActions = []string{custodian.ActionCustomerCreate, custodian.ActionCustomerUpdate, custodian.ActionConsentChange}

// LogActivity validates in and logs it on the customer, authored by the
// context's actor, with its audit event (which names the type, never the
// text), in one transaction. The text is sealed with the customer's data
// key, so erasure destroys it.
func (s *Service) LogActivity(ctx context.Context, id string, in custodian.ActivityInput) (*custodian.Activity, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	now := s.timestamp()
	in, err := in.Check(now)
	if err != nil {
		return nil, err
	}
	a := &custodian.Activity{CustomerID: id, Type: in.Type, Date: in.Date, Text: in.Text, Author: custodian.ActorFrom(ctx), CreatedAt: now}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		seq, err := s.repo.AddActivity(ctx, id, func(cur *custodian.CustomerRecord) (*custodian.ActivityRecord, error) {
			dk, err := s.dataKey(ctx, cur.ID, cur.KeyID, cur.DataKey, nil)
			if err != nil {
				return nil, err
			}
			return &custodian.ActivityRecord{CustomerID: id, Type: a.Type, Date: a.Date, Author: a.Author, CreatedAt: a.CreatedAt,
				TextCT: dk.Seal(fActivityText, []byte(a.Text))}, nil
		})
		a.ID = seq
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), State: a.Type}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionActivityLog, Subject: id, Data: data, Time: now}}, err
	})
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return a, nil
}

// Activities returns the customer's logged activities, newest first, their
// texts opened with the customer's data key.
func (s *Service) Activities(ctx context.Context, id string) ([]custodian.Activity, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	rec, err := s.repo.CustomerRecord(ctx, id)
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return s.activities(ctx, rec)
}

// activities opens the activities of the customer whose record is rec.
func (s *Service) activities(ctx context.Context, rec *custodian.CustomerRecord) ([]custodian.Activity, error) {
	recs, err := s.repo.ActivityRecords(ctx, rec.ID)
	if err != nil || len(recs) == 0 {
		return []custodian.Activity{}, err
	}
	dk, err := s.dataKey(ctx, rec.ID, rec.KeyID, rec.DataKey, nil)
	if err != nil {
		return nil, err
	}
	return openActivities(dk, recs)
}

func openActivities(dk *crypto.DataKey, recs []custodian.ActivityRecord) ([]custodian.Activity, error) {
	out := make([]custodian.Activity, 0, len(recs))
	for _, r := range recs {
		text, err := dk.Open(fActivityText, r.TextCT)
		if err != nil {
			return nil, &custodian.Error{Code: custodian.EINTERNAL, Message: "An activity could not be decrypted.", Err: err}
		}
		out = append(out, custodian.Activity{ID: r.Seq, CustomerID: r.CustomerID, Type: r.Type, Date: r.Date, Text: string(text), Author: r.Author, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// Timeline returns page (from 1) of the customer's story, newest first:
// its logged activities merged with its changes and consent events from
// the audit trail, told by action and changed field names, never values.
func (s *Service) Timeline(ctx context.Context, id string, page int) (*custodian.TimelinePage, error) {
	if page < 1 {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "The page is not valid.", Fields: []custodian.FieldError{{Field: "page", Message: "Must be a whole number from 1."}}}
	}
	acts, err := s.Activities(ctx, id)
	if err != nil {
		return nil, err
	}
	events, err := s.repo.AuditEvents(ctx, custodian.AuditQuery{Subject: id})
	if err != nil {
		return nil, err
	}
	entries := make([]custodian.TimelineEntry, 0, len(acts)+len(events))
	for i := range acts {
		a := &acts[i]
		entries = append(entries, custodian.TimelineEntry{Kind: a.Type, Time: a.Date, Actor: a.Author, Activity: a})
	}
	for _, e := range events {
		if !slices.Contains(timelineActions, e.Action) {
			continue
		}
		te := custodian.TimelineEntry{Kind: custodian.TimelineChange, Time: e.Time, Actor: e.Actor, Action: e.Action, Fields: e.Fields}
		if e.Action == custodian.ActionConsentChange {
			var d custodian.AccessData
			_ = json.Unmarshal(e.Data, &d) // an event without detail still shows
			te.Kind, te.Consent, te.State, te.Fields = custodian.TimelineConsent, d.Consent, d.State, nil
		}
		entries = append(entries, te)
	}
	// Newest first; the sort is stable, so equal times keep activities
	// (newest first already) before trail events (newest first too).
	slices.SortStableFunc(entries, func(a, b custodian.TimelineEntry) int { return b.Time.Compare(a.Time) })
	out := &custodian.TimelinePage{Page: page, Entries: []custodian.TimelineEntry{}}
	start := (page - 1) * custodian.TimelinePageSize
	if start < len(entries) {
		end := min(start+custodian.TimelinePageSize, len(entries))
		out.Entries, out.More = entries[start:end], end < len(entries)
	}
	return out, nil
}
