package custodian

import "context"

// BulkAction is what a bulk request does to every customer it selects.
type BulkAction string

// The bulk actions.
const (
	BulkAddTags    BulkAction = "add_tags"
	BulkRemoveTags BulkAction = "remove_tags"
	BulkSetStatus  BulkAction = "set_status"
	BulkDelete     BulkAction = "delete"
)

// Valid reports whether a is a known bulk action.
func (a BulkAction) Valid() bool {
	switch a {
	case BulkAddTags, BulkRemoveTags, BulkSetStatus, BulkDelete:
		return true
	}
	return false
}

// Permission is what a caller needs to run the action: deleting needs
// PermCustomersDelete, the others PermCustomersWrite.
func (a BulkAction) Permission() Permission {
	if a == BulkDelete {
		return PermCustomersDelete
	}
	return PermCustomersWrite
}

// Bounds of a bulk request.
const (
	// MaxBulkIDs bounds the ids one request names.
	MaxBulkIDs = 1000
	// MaxBulkMatches bounds the customers a filter may select: a larger
	// selection is refused, to be narrowed.
	MaxBulkMatches = 10000
	// BulkBatchSize is how many customers one transaction changes.
	BulkBatchSize = 100
)

// ActionCustomerBulk is the audit event of one batch of a bulk action
// (each customer it changes has its own event too).
const ActionCustomerBulk = "customer.bulk"

// BulkTarget is one customer a bulk request names, with the version it
// must be at (0: any), as If-Match does for one customer.
type BulkTarget struct {
	ID        string
	IfVersion int64
}

// BulkFilter selects customers as the list does (CustomerQuery's search
// and filters).
type BulkFilter struct {
	Search  string `json:"search"`
	Status  Status `json:"status"`
	Tag     string `json:"tag"`
	Consent string `json:"consent"`
}

// BulkRequest is one bulk action on either the customers Targets names or
// those Filter selects (exactly one of the two).
type BulkRequest struct {
	Action  BulkAction
	Tags    []string // add_tags, remove_tags
	Status  Status   // set_status
	Targets []BulkTarget
	Filter  *BulkFilter
	// DryRun selects and counts without changing anything.
	DryRun bool
}

// BulkFailure is a customer a bulk action did not change, and why.
type BulkFailure struct {
	ID     string `json:"id"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// BulkResult counts what a bulk action did. Matched customers are either
// Changed, Unchanged (already as asked) or listed in Failures.
type BulkResult struct {
	Action    BulkAction    `json:"action"`
	DryRun    bool          `json:"dry_run"`
	Matched   int           `json:"matched"`
	Changed   int           `json:"changed"`
	Unchanged int           `json:"unchanged"`
	Failed    int           `json:"failed"`
	Batches   int           `json:"batches"`
	Failures  []BulkFailure `json:"failures"`
}

// BulkCustomerService acts on many customers at once.
type BulkCustomerService interface {
	// BulkCustomers validates req and applies it in batches of
	// BulkBatchSize, each batch in one transaction with one audit event
	// of its own plus each customer's. A customer that is gone, at
	// another version than asked, or under a legal hold (delete) is
	// listed as failed and the rest of its batch goes on; any other
	// failure rolls the whole batch back and lists its customers as
	// failed.
	BulkCustomers(ctx context.Context, req BulkRequest) (*BulkResult, error)
}
