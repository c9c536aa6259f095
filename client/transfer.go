package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// StartImport uploads a CSV file (at most 32 MiB) and returns its import
// job, which runs on the server: poll it with ImportJob until it has
// finished. A malformed file is refused at once (an *Error with a field
// error on file naming the line). With p.DryRun the job writes nothing,
// and RunImport then imports the file it checked.
func (c *Client) StartImport(ctx context.Context, csv []byte, p StartImportParams) (*ImportJob, error) {
	maps := p.Map
	p.Map = nil
	q := queryOf(p)
	for _, m := range maps {
		q.Add("map", m)
	}
	if csv == nil {
		csv = []byte{}
	}
	return answer[ImportJob](ctx, c, call{method: http.MethodPost, path: pathOf("imports"), query: q, raw: csv, contentType: "text/csv"})
}

// ImportJob returns an import job: its state, progress and report.
func (c *Client) ImportJob(ctx context.Context, id string) (*ImportJob, error) {
	return answer[ImportJob](ctx, c, call{method: http.MethodGet, path: pathOf("imports", id)})
}

// CancelImport asks a running import to stop between batches.
func (c *Client) CancelImport(ctx context.Context, id string) (*ImportJob, error) {
	return answer[ImportJob](ctx, c, call{method: http.MethodPost, path: pathOf("imports", id, "cancel")})
}

// RunImport imports the file the finished dry run id checked, and returns
// the new job.
func (c *Client) RunImport(ctx context.Context, id string) (*ImportJob, error) {
	return answer[ImportJob](ctx, c, call{method: http.MethodPost, path: pathOf("imports", id, "run")})
}

// ExportCustomers streams the customers p selects to w, as CSV (formula
// cells neutralized) or, with p.Format "jsonl", JSON Lines. A server that
// fails part way cuts the connection, which is an error here: w then holds
// a partial file.
func (c *Client) ExportCustomers(ctx context.Context, p ExportCustomersParams, w io.Writer) error {
	cl := call{method: http.MethodGet, path: "/api/customers/export", query: queryOf(p)}
	resp, err := c.send(ctx, cl, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("client: read the export: %w", err)
	}
	return nil
}
