package customers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/custodian-crm/custodian"
)

var _ custodian.BulkCustomerService = (*Service)(nil)

// checkBulk validates a bulk request, returning it with its tags
// normalized and its targets without duplicates.
func (s *Service) checkBulk(req custodian.BulkRequest) (custodian.BulkRequest, error) {
	var errs []custodian.FieldError
	bad := func(field, msg string) { errs = append(errs, custodian.FieldError{Field: field, Message: msg}) }
	switch req.Action {
	case custodian.BulkAddTags, custodian.BulkRemoveTags:
		var tags []string
		if len(req.Tags) == 0 || len(req.Tags) > custodian.MaxTags {
			bad("tags", fmt.Sprintf("Give 1 to %d tags.", custodian.MaxTags))
		}
		for i, t := range req.Tags {
			t = strings.ToLower(strings.TrimSpace(t))
			if err := custodian.ValidTag(t); err != nil {
				bad(fmt.Sprintf("tags[%d]", i), fmt.Sprintf("A tag is 1 to %d letters, digits, spaces, '-', '_' or '.'.", custodian.MaxTagLen))
			} else if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		req.Tags = tags
	case custodian.BulkSetStatus:
		if !req.Status.Valid() {
			bad("status", "Status must be one of lead, active or inactive.")
		}
	case custodian.BulkDelete:
	default:
		bad("action", "Action must be one of add_tags, remove_tags, set_status or delete.")
	}
	switch {
	case req.Filter != nil && len(req.Targets) > 0:
		bad("ids", "Give either ids or a filter, not both.")
	case req.Filter == nil && len(req.Targets) == 0:
		bad("ids", "Give the customers' ids, or a filter.")
	case len(req.Targets) > custodian.MaxBulkIDs:
		bad("ids", fmt.Sprintf("At most %d ids at a time; use a filter for more.", custodian.MaxBulkIDs))
	}
	if req.Filter != nil {
		q := filterQuery(*req.Filter)
		if _, _, _, err := s.parseQuery(&q); err != nil {
			errs = append(errs, custodian.ErrorFields(prefixFields(err, "filter."))...)
		}
	}
	seen := map[string]bool{}
	var targets []custodian.BulkTarget
	for i, t := range req.Targets {
		switch {
		case !custodian.ValidCustomerID(t.ID):
			bad(fmt.Sprintf("ids[%d].id", i), "Not a customer id.")
		case t.IfVersion < 0:
			bad(fmt.Sprintf("ids[%d].if_match", i), `Must be the customer's ETag, such as "3".`)
		case !seen[t.ID]:
			seen[t.ID] = true
			targets = append(targets, t)
		}
	}
	req.Targets = targets
	if len(errs) > 0 {
		return req, &custodian.Error{Code: custodian.EINVALID, Message: "The bulk request has invalid fields; nothing was changed.", Fields: errs}
	}
	return req, nil
}

// matching returns the ids of the customers f selects, as the list would
// (search words checked after decryption), up to MaxBulkMatches; more is
// refused. Reading them is not recorded as a read: nothing is shown.
func (s *Service) matching(ctx context.Context, f custodian.BulkFilter) ([]custodian.BulkTarget, error) {
	q := filterQuery(f)
	rq, sq, _, err := s.parseQuery(&q)
	if err != nil {
		return nil, prefixFields(err, "filter.")
	}
	rq.Limit = 500
	var out []custodian.BulkTarget
	for {
		recs, err := s.repo.ListCustomerRecords(ctx, rq)
		if err != nil {
			return nil, err
		}
		if sq == nil {
			for _, r := range recs {
				out = append(out, custodian.BulkTarget{ID: r.ID})
			}
		} else {
			keep := func(c *custodian.Customer) bool { return sq.matches(s.fields, &c.CustomerFields) }
			items, err := s.openMatching(ctx, recs, keep, nil, len(recs))
			if err != nil {
				return nil, err
			}
			for _, c := range items {
				out = append(out, custodian.BulkTarget{ID: c.ID})
			}
		}
		if len(out) > custodian.MaxBulkMatches {
			return nil, &custodian.Error{Code: custodian.EINVALID, Message: fmt.Sprintf("The filter selects more than %d customers; narrow it and try again.", custodian.MaxBulkMatches),
				Fields: []custodian.FieldError{{Field: "filter", Message: fmt.Sprintf("Selects more than %d customers.", custodian.MaxBulkMatches)}}}
		}
		if len(recs) < rq.Limit {
			return out, nil
		}
		last := recs[len(recs)-1]
		rq.After = &custodian.RecordCursor{Time: last.CreatedAt, ID: last.ID}
	}
}

// filterQuery is the list query a bulk filter stands for.
func filterQuery(f custodian.BulkFilter) custodian.CustomerQuery {
	return custodian.CustomerQuery{Search: f.Search, Status: f.Status, Tag: f.Tag, Consent: f.Consent, Sort: custodian.SortCreatedAt}
}

// prefixFields prefixes the field names of an invalid-input error.
func prefixFields(err error, prefix string) error {
	e, ok := err.(*custodian.Error)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = make([]custodian.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		out.Fields[i] = custodian.FieldError{Field: prefix + f.Field, Message: f.Message}
	}
	return &out
}

// BulkCustomers applies req in batches, each all-or-nothing.
func (s *Service) BulkCustomers(ctx context.Context, req custodian.BulkRequest) (*custodian.BulkResult, error) {
	req, err := s.checkBulk(req)
	if err != nil {
		return nil, err
	}
	targets := req.Targets
	if req.Filter != nil {
		if targets, err = s.matching(ctx, *req.Filter); err != nil {
			return nil, err
		}
	}
	res := &custodian.BulkResult{Action: req.Action, DryRun: req.DryRun, Matched: len(targets), Failures: []custodian.BulkFailure{}}
	if req.DryRun {
		return res, nil
	}
	batches := (len(targets) + custodian.BulkBatchSize - 1) / custodian.BulkBatchSize
	for i := 0; i < batches; i++ {
		if err := ctx.Err(); err != nil {
			for _, t := range targets[i*custodian.BulkBatchSize:] {
				res.Failures = append(res.Failures, custodian.BulkFailure{ID: t.ID, Code: custodian.EUNAVAILABLE, Detail: "Not attempted: the request ended first."})
			}
			break
		}
		batch := targets[i*custodian.BulkBatchSize : min((i+1)*custodian.BulkBatchSize, len(targets))]
		s.bulkBatch(ctx, req, batch, i+1, batches, res)
	}
	res.Batches = batches
	res.Failed = len(res.Failures)
	return res, nil
}

// perCustomer reports whether err is one customer's refusal (gone, at
// another version, on hold, or made invalid by the change), which leaves
// the rest of the batch alone.
func perCustomer(err error) bool {
	switch custodian.ErrorCode(err) {
	case custodian.ENOTFOUND, custodian.EPRECONDITION, custodian.ECONFLICT, custodian.EINVALID, custodian.EGONE:
		return true
	}
	return false
}

// bulkPatch returns the patch that applies the action to a customer's
// current fields.
func bulkPatch(req custodian.BulkRequest) func(custodian.CustomerFields) custodian.CustomerPatch {
	return func(f custodian.CustomerFields) custodian.CustomerPatch {
		var p custodian.CustomerPatch
		switch req.Action {
		case custodian.BulkAddTags:
			tags := slices.Clone(f.Tags)
			for _, t := range req.Tags {
				if !slices.Contains(tags, t) {
					tags = append(tags, t)
				}
			}
			p.Tags = &tags
		case custodian.BulkRemoveTags:
			tags := slices.DeleteFunc(slices.Clone(f.Tags), func(t string) bool { return slices.Contains(req.Tags, t) })
			p.Tags = &tags
		case custodian.BulkSetStatus:
			p.Status = &req.Status
		}
		return p
	}
}

// bulkBatch applies the action to one batch in one transaction, with the
// batch's audit event and each changed customer's, and adds the outcome
// to res.
func (s *Service) bulkBatch(ctx context.Context, req custodian.BulkRequest, batch []custodian.BulkTarget, n, of int, res *custodian.BulkResult) {
	var failures []custodian.BulkFailure
	var changed, unchanged []string
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		failures, changed, unchanged = nil, nil, nil
		var entries []custodian.AuditEntry
		for _, t := range batch {
			var err error
			var entry custodian.AuditEntry
			if req.Action == custodian.BulkDelete {
				err = s.repo.DeleteCustomer(ctx, t.ID, t.IfVersion)
				entry = custodian.AuditEntry{Action: custodian.ActionCustomerDelete, Subject: t.ID}
			} else {
				var out *custodian.Customer
				var fields []string
				err = s.updateWith(ctx, t.ID, t.IfVersion, bulkPatch(req), true, &out, &fields)
				entry = custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: t.ID, Fields: fields}
				if err == nil && len(fields) == 0 {
					unchanged = append(unchanged, t.ID)
					continue
				}
			}
			switch {
			case err == nil:
				changed = append(changed, t.ID)
				entries = append(entries, entry)
			case perCustomer(err):
				failures = append(failures, custodian.BulkFailure{ID: t.ID, Code: custodian.ErrorCode(err), Detail: custodian.ErrorMessage(err)})
			default:
				return nil, err
			}
		}
		data, err := json.Marshal(map[string]any{"action": req.Action, "tags": req.Tags, "status": req.Status, "by_filter": req.Filter != nil,
			"batch": n, "batches": of, "changed": len(changed), "unchanged": len(unchanged), "failed": len(failures)})
		if err != nil {
			return nil, err
		}
		return append(entries, custodian.AuditEntry{Action: custodian.ActionCustomerBulk, Data: data}), nil
	})
	if err != nil {
		for _, t := range batch {
			res.Failures = append(res.Failures, custodian.BulkFailure{ID: t.ID, Code: custodian.ErrorCode(err),
				Detail: "The batch this customer was in was rolled back; nothing in it was changed: " + custodian.ErrorMessage(err)})
		}
		return
	}
	res.Changed += len(changed)
	res.Unchanged += len(unchanged)
	res.Failures = append(res.Failures, failures...)
	if req.Action == custodian.BulkDelete {
		for _, id := range changed {
			if err := s.forgetDeleted(ctx, id); err != nil {
				res.Failures = append(res.Failures, custodian.BulkFailure{ID: id, Code: custodian.EINTERNAL,
					Detail: "The customer was deleted, but its shred key could not be destroyed yet."})
			}
		}
	}
}
