package http

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/custodian-crm/custodian"
)

// bulkBody is what POST /api/customers/bulk/ accepts.
type bulkBody struct {
	Action custodian.BulkAction `json:"action"`
	Tags   []string             `json:"tags"`
	Status custodian.Status     `json:"status"`
	IDs    []struct {
		ID string `json:"id"`
		// IfMatch is the customer's ETag ("\"3\"", or 3 without the
		// quotes); absent or "*" for any version.
		IfMatch string `json:"if_match"`
	} `json:"ids"`
	Filter *custodian.BulkFilter `json:"filter"`
	DryRun bool                  `json:"dry_run"`
}

// versionOf reads an ETag as If-Match does: 0 for none or "*", -1 for one
// that names no version.
func versionOf(tag string) int64 {
	tag = strings.TrimSpace(tag)
	if tag == "" || tag == "*" {
		return 0
	}
	tag = strings.TrimSuffix(strings.TrimPrefix(tag, `"`), `"`)
	if v, err := strconv.ParseInt(tag, 10, 64); err == nil && v > 0 {
		return v
	}
	return -1
}

// bulkRequest turns a body into the service's request.
func (b *bulkBody) request() custodian.BulkRequest {
	req := custodian.BulkRequest{Action: b.Action, Tags: b.Tags, Status: b.Status, Filter: b.Filter, DryRun: b.DryRun}
	for _, t := range b.IDs {
		req.Targets = append(req.Targets, custodian.BulkTarget{ID: t.ID, IfVersion: versionOf(t.IfMatch)})
	}
	return req
}

// mayBulk refuses an action the caller's role does not allow: the route
// needs customers:write, and deleting also customers:delete.
func mayBulk(r *http.Request, a custodian.BulkAction) error {
	if p := principal(r); p == nil || !p.User.Role.Can(a.Permission()) {
		return errorf(custodian.EFORBIDDEN, "Your role does not allow deleting customers.")
	}
	return nil
}

func handleBulkCustomers(logger *slog.Logger, svc custodian.BulkCustomerService) http.Handler {
	return handle(logger, func(r *http.Request, b *bulkBody) (int, any, error) {
		if err := mayBulk(r, b.Action); err != nil {
			return 0, nil, err
		}
		res, err := svc.BulkCustomers(r.Context(), b.request())
		return http.StatusOK, res, err
	})
}
