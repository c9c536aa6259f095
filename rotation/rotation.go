// Package rotation re-wraps customers' data keys under the active master
// key, online: in small transactions, while servers keep reading and writing
// the same records. Only the wrapped data keys change; sealed fields, tokens
// and everything else stay as they are, so a rotation costs one small update
// per customer and can be stopped and started again at any point.
//
// A rotation is complete when no data key is wrapped by an older master
// key; then the older keys can be retired from the keyring.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
)

// DefaultBatch is how many data keys one transaction re-wraps by default:
// large enough to amortize the commit, small enough that a transaction
// holds the database (SQLite's single writer) for only milliseconds.
const DefaultBatch = 500

// ErrUnknownKey reports customers whose data keys are wrapped by a master
// key the keyring does not hold: they cannot be re-wrapped, nor read.
var ErrUnknownKey = errors.New("records are under master keys missing from the keyring")

// Progress is the state of a running rotation, reported after each batch.
type Progress struct {
	// Rewrapped counts the data keys re-wrapped so far.
	Rewrapped int64
	// Total is how many data keys were under other keys at the start,
	// plus any found since; Rewrapped never exceeds it.
	Total int64
	// Elapsed is the time since the rotation started.
	Elapsed time.Duration
}

// Options tune a rotation.
type Options struct {
	// Batch is how many data keys each transaction re-wraps
	// (DefaultBatch when 0).
	Batch int
	// OnBatch, when set, is called after every batch.
	OnBatch func(Progress)
}

// Result summarizes a rotation, complete or interrupted.
type Result struct {
	// ActiveKeyID is the master key data keys were re-wrapped under.
	ActiveKeyID string
	// Rewrapped counts the data keys re-wrapped by this run.
	Rewrapped int64
	// Elapsed is how long the run took.
	Elapsed time.Duration
	// Usage is how many customers each master key protects at the end
	// (nil when it could not be read).
	Usage map[string]int64
}

// Rate is the number of data keys re-wrapped per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Rewrapped) / r.Elapsed.Seconds()
}

// Rewrap re-wraps every data key not under sealer's active master key,
// batch after batch, until a batch finds none: records created meanwhile
// under an older key (by a server that has not yet loaded the new keyring)
// are re-wrapped too. It refuses to start when records are under a master
// key the sealer lacks (ErrUnknownKey). When ctx is cancelled it stops after
// at most one batch, which either committed or rolled back, and returns the
// context's error with the result so far: running it again continues.
func Rewrap(ctx context.Context, repo custodian.DataKeyRepository, sealer *crypto.Sealer, o Options) (Result, error) {
	start := time.Now()
	active := sealer.ActiveKeyID()
	res := Result{ActiveKeyID: active}
	finish := func(err error) (Result, error) {
		res.Elapsed = time.Since(start)
		// The usage is read even after a cancellation, for the summary.
		if u, uerr := repo.KeyUsage(context.WithoutCancel(ctx)); uerr == nil {
			res.Usage = u
		}
		return res, err
	}
	usage, err := repo.KeyUsage(ctx)
	if err != nil {
		return finish(fmt.Errorf("rotation: %w", err))
	}
	if missing := MissingKeys(usage, sealer); len(missing) > 0 {
		return finish(fmt.Errorf("rotation: %w: %s", ErrUnknownKey, describe(usage, missing)))
	}
	var total int64
	for id, n := range usage {
		if id != active {
			total += n
		}
	}
	batch := o.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	for {
		if err := ctx.Err(); err != nil {
			return finish(fmt.Errorf("rotation interrupted: %w", err))
		}
		n, err := repo.RewrapDataKeys(ctx, active, batch, sealer.Rewrap)
		if err != nil {
			return finish(fmt.Errorf("rotation: %w", err))
		}
		if n == 0 {
			return finish(nil)
		}
		res.Rewrapped += int64(n)
		total = max(total, res.Rewrapped)
		if o.OnBatch != nil {
			o.OnBatch(Progress{Rewrapped: res.Rewrapped, Total: total, Elapsed: time.Since(start)})
		}
	}
}

// MissingKeys returns, sorted, the master key ids in usage that sealer's
// keyring lacks.
func MissingKeys(usage map[string]int64, sealer *crypto.Sealer) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(usage)) {
		if !sealer.HasMasterKey(id) {
			out = append(out, id)
		}
	}
	return out
}

// describe says how many records each of ids protects.
func describe(usage map[string]int64, ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d under %s", usage[id], id)
	}
	return strings.Join(parts, ", ")
}
