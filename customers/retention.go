package customers

import (
	"context"
	"errors"
	"time"

	"github.com/custodian-crm/custodian"
)

// RetentionActor is the actor recorded for erasures made by the retention
// job inside the server.
const RetentionActor = "system:retention"

// RetentionOptions configure a retention run.
type RetentionOptions struct {
	Policy custodian.RetentionPolicy
	// DryRun lists the candidates and changes nothing.
	DryRun bool
	// Limit bounds how many candidates one run handles (0: all).
	Limit int
	// OnProgress, when set, is called after each candidate.
	OnProgress func(RetentionProgress)
	// ReadRetention is how long records of reads are kept, apart from
	// the customers' own retention: older read records are removed (0:
	// kept forever).
	ReadRetention time.Duration
}

// RetentionProgress is how far a retention run has come.
type RetentionProgress struct {
	Done, Total int
	Elapsed     time.Duration
}

// RetentionResult summarizes a retention run.
type RetentionResult struct {
	// Candidates are the customers past their retention period when the
	// run started, oldest activity first.
	Candidates []custodian.RetentionCandidate
	// Anonymized counts the customers this run erased; Skipped those that
	// were no longer eligible when their turn came (changed, put on hold
	// or erased meanwhile, by someone else or another instance).
	Anonymized, Skipped int
	// KeysFinished counts shred keys of earlier erasures destroyed now.
	KeysFinished int
	// ReadsPurged counts the read records removed for ReadRetention.
	ReadsPurged int64
	Elapsed     time.Duration
}

// cutoffs returns, per status with a retention period, the time before
// which a customer's last activity makes it a candidate.
func cutoffs(p custodian.RetentionPolicy, now time.Time) map[custodian.Status]time.Time {
	out := map[custodian.Status]time.Time{}
	for _, st := range []custodian.Status{custodian.StatusLead, custodian.StatusActive, custodian.StatusInactive} {
		if d := p.Period(st); d > 0 {
			out[st] = now.Add(-d)
		}
	}
	return out
}

// eligible reports whether a customer is past its retention period now
// and free of legal holds.
func eligible(p custodian.RetentionPolicy, now time.Time, r *custodian.CustomerRecord) bool {
	d := p.Period(r.Status)
	return r.LegalHold == nil && d > 0 && r.ActivityAt.Before(now.Add(-d))
}

// errNotEligible aborts the erasure of a candidate that changed since it
// was listed.
var errNotEligible = custodian.Errorf(custodian.ECONFLICT, "The customer is no longer past its retention period.")

// RunRetention anonymizes every customer past its retention period: the
// same erasure as EraseCustomer, with reason and mechanism "retention".
// It first finishes the key destruction of earlier erasures and removes
// the read records older than o.ReadRetention, then lists
// the candidates, then erases each in its own transaction that re-reads
// the customer under lock and re-checks eligibility, so that several
// instances can run it at once and a customer changed or put on hold in
// between is left alone. When ctx ends it stops between customers: each
// is either wholly anonymized or untouched, and a new run continues.
func (s *Service) RunRetention(ctx context.Context, o RetentionOptions) (RetentionResult, error) {
	start := time.Now()
	var res RetentionResult
	var err error
	if !o.DryRun {
		if res.KeysFinished, err = s.FinishKeyDestruction(ctx); err != nil {
			return res, err
		}
	}
	now := s.timestamp()
	if !o.DryRun && o.ReadRetention > 0 {
		if res.ReadsPurged, err = s.repo.PurgeReads(ctx, now.Add(-o.ReadRetention)); err != nil {
			return res, err
		}
	}
	cuts := cutoffs(o.Policy, now)
	if len(cuts) == 0 {
		return res, nil
	}
	if res.Candidates, err = s.repo.RetentionCandidates(ctx, cuts, o.Limit); err != nil {
		return res, err
	}
	if o.DryRun {
		res.Elapsed = time.Since(start)
		return res, nil
	}
	for i, c := range res.Candidates {
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
		_, again, err := s.erase(ctx, c.ID, custodian.ErasedRetention, custodian.ErasedRetention, func(cur *custodian.CustomerRecord) error {
			if !eligible(o.Policy, s.timestamp(), cur) {
				return errNotEligible
			}
			return nil
		})
		switch {
		case errors.Is(err, errNotEligible) || custodian.ErrorCode(err) == custodian.ENOTFOUND || (err == nil && again):
			res.Skipped++
		case err != nil:
			res.Elapsed = time.Since(start)
			return res, err
		default:
			res.Anonymized++
		}
		if o.OnProgress != nil {
			o.OnProgress(RetentionProgress{Done: i + 1, Total: len(res.Candidates), Elapsed: time.Since(start)})
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}
