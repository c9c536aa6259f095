package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/csvio"
	"github.com/custodian-crm/custodian/ratelimit"
)

// DefaultTransferLimit is the per-user limit on starting imports and
// exports: each reads or writes a whole customer list.
const DefaultTransferLimit = "30/h,burst=10"

// transferLimiter returns the limiter of imports and exports: d's, or a
// local one at DefaultTransferLimit.
func (d Deps) transferLimiter() ratelimit.Limiter {
	if d.TransferLimiter != nil {
		return d.TransferLimiter
	}
	l, _ := ratelimit.ParseLimit(DefaultTransferLimit) // a valid constant
	lim, _ := ratelimit.NewLocal(l, ratelimit.LocalConfig{})
	return lim
}

// allowTransfer applies the transfer limit to the signed-in user, and
// answers 429 when it refuses. A limiter that fails lets the request
// through, as the API's does.
func allowTransfer(w http.ResponseWriter, r *http.Request, logger *slog.Logger, l ratelimit.Limiter) bool {
	if l == nil {
		return true
	}
	key := "transfer:"
	if p := principal(r); p != nil && p.User != nil {
		key += p.User.ID
	}
	d, err := l.Allow(r.Context(), key)
	if err != nil {
		logger.WarnContext(r.Context(), "transfer rate limiter failed; request let through", "request_id", requestID(r.Context()), "err", err)
		return true
	}
	if !d.Allowed {
		refuseTooMany(w, r, d)
		return false
	}
	return true
}

// errNoTransfers is the answer of a route whose service the server was built
// without.
var errNoTransfers = errorf(custodian.EUNAVAILABLE, "Imports and exports are not available on this server.")

// importOptions reads an import's options from query parameters (the API)
// or form values (the web interface): dry_run, duplicates, all_or_nothing,
// encoding, delimiter, and map (repeatable HEADER=FIELD).
func importOptions(values url.Values) (custodian.ImportOptions, error) {
	var fields []custodian.FieldError
	boolean := func(name string) bool {
		switch v := values.Get(name); v {
		case "", "false", "0":
			return false
		case "true", "1", "on":
			return true
		default:
			fields = append(fields, custodian.FieldError{Field: name, Message: "Must be true or false."})
			return false
		}
	}
	o := custodian.ImportOptions{
		DryRun: boolean("dry_run"), AllOrNothing: boolean("all_or_nothing"),
		Policy: custodian.DuplicatePolicy(values.Get("duplicates")), Encoding: values.Get("encoding"), Delimiter: values.Get("delimiter"),
	}
	if o.Policy == "" {
		o.Policy = custodian.DuplicatesSkip
	}
	if !o.Policy.Valid() {
		fields = append(fields, custodian.FieldError{Field: "duplicates", Message: "Must be one of skip, fill or overwrite."})
	}
	if !csvio.ValidEncoding(o.Encoding) {
		fields = append(fields, custodian.FieldError{Field: "encoding", Message: "Must be utf-8 or windows-1252 (or empty to detect it)."})
	}
	if o.Delimiter != "" && o.Delimiter != "," && o.Delimiter != ";" {
		fields = append(fields, custodian.FieldError{Field: "delimiter", Message: "Must be a comma or a semicolon (or empty to detect it)."})
	}
	for _, m := range values["map"] {
		h, f, ok := strings.Cut(m, "=")
		if !ok || strings.TrimSpace(h) == "" {
			fields = append(fields, custodian.FieldError{Field: "map", Message: "Each map is HEADER=FIELD (FIELD empty ignores the column)."})
			continue
		}
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(csvio.Fields(), f) {
			fields = append(fields, custodian.FieldError{Field: "map", Message: "A field is one of " + strings.Join(csvio.Fields(), ", ") + "."})
			continue
		}
		if o.Map == nil {
			o.Map = map[string]string{}
		}
		o.Map[strings.TrimSpace(h)] = f
	}
	if len(fields) > 0 {
		return o, errorf(custodian.EINVALID, "The import options are not valid.", fields...)
	}
	return o, nil
}

// importFile returns the CSV file a request carries: its body as text/csv,
// or the part named file of a multipart/form-data body, at most
// custodian.MaxImportFileSize bytes (a larger one fails with 413 when
// read).
func importFile(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	body := http.MaxBytesReader(w, r.Body, custodian.MaxImportFileSize+64<<10)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
	case mt == "text/csv":
		return body, nil
	case mt == "multipart/form-data" && params["boundary"] != "":
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				if tooLarge(err) {
					return nil, tooLargeError()
				}
				return nil, errorf(custodian.EINVALID, "The request has no file.", custodian.FieldError{Field: "file", Message: "Send the CSV file in a part named file."})
			}
			if part.FormName() == "file" {
				return part, nil
			}
		}
	}
	return nil, errorf(codeUnsupportedMedia, "The request body must be text/csv, or multipart/form-data with the file in a part named file.")
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func tooLargeError() error {
	return errorf(codeTooLarge, fmt.Sprintf("The file must be at most %d MiB; split it.", custodian.MaxImportFileSize>>20))
}

// startImport starts an import of the file r carries with options o.
func startImport(w http.ResponseWriter, r *http.Request, svc custodian.ImportService, o custodian.ImportOptions) (*custodian.ImportJob, error) {
	if svc == nil {
		return nil, errNoTransfers
	}
	file, err := importFile(w, r)
	if err != nil {
		return nil, err
	}
	job, err := svc.StartImport(r.Context(), file, o)
	if err != nil && (tooLarge(err) || errors.Is(err, custodian.ErrFileTooLarge)) {
		return nil, tooLargeError()
	}
	return job, err
}

func importPath(id string) string { return "/api/imports/" + url.PathEscape(id) + "/" }

// handleStartImport is POST /api/imports/: 202 with the job.
func handleStartImport(logger *slog.Logger, svc custodian.ImportService, lim ratelimit.Limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, fields, err := query(r, "dry_run", "duplicates", "all_or_nothing", "encoding", "delimiter", "map")
		if err == nil && len(fields) > 0 {
			// map may repeat.
			fields = slices.DeleteFunc(fields, func(f custodian.FieldError) bool { return f.Field == "map" && len(values["map"]) > 1 })
			if len(fields) > 0 {
				err = errorf(custodian.EINVALID, "The import options are not valid.", fields...)
			}
		}
		var o custodian.ImportOptions
		if err == nil {
			o, err = importOptions(values)
		}
		if err == nil && !allowTransfer(w, r, logger, lim) {
			return
		}
		var job *custodian.ImportJob
		if err == nil {
			job, err = startImport(w, r, svc, o)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.Header().Set("Location", importPath(job.ID))
		writeJSON(w, http.StatusAccepted, job)
	})
}

// handleImportJob is GET /api/imports/{id}/.
func handleImportJob(logger *slog.Logger, svc custodian.ImportService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if svc == nil {
			writeError(w, r, logger, errNoTransfers)
			return
		}
		job, err := svc.ImportJob(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, job)
	})
}

// handleImportAction is POST /api/imports/{id}/cancel/ and
// /api/imports/{id}/run/: 202 with the job (for run, the new one).
func handleImportAction(logger *slog.Logger, svc custodian.ImportService, run bool, lim ratelimit.Limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if svc == nil {
			writeError(w, r, logger, errNoTransfers)
			return
		}
		var job *custodian.ImportJob
		var err error
		if run {
			if !allowTransfer(w, r, logger, lim) {
				return
			}
			job, err = svc.RunDryRun(r.Context(), r.PathValue("id"))
		} else {
			job, err = svc.CancelImport(r.Context(), r.PathValue("id"))
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if run {
			w.Header().Set("Location", importPath(job.ID))
		}
		writeJSON(w, http.StatusAccepted, job)
	})
}

// exportQuery reads an export's format and list query: format (csv or
// jsonl), search, status, tag, consent and sort, refusing anything else.
func exportQuery(values url.Values, fields []custodian.FieldError) (string, custodian.CustomerQuery, error) {
	format := values.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "jsonl" {
		fields = append(fields, custodian.FieldError{Field: "format", Message: "Format must be csv or jsonl."})
	}
	q := custodian.CustomerQuery{Search: values.Get("search"), Status: custodian.Status(values.Get("status")), Tag: values.Get("tag"), Consent: values.Get("consent"), Sort: custodian.Sort(values.Get("sort"))}
	if len(fields) > 0 {
		return "", q, errorf(custodian.EINVALID, "The export query has invalid parameters.", fields...)
	}
	return format, q, nil
}

// streamExport writes the customers q selects in format, streamed: the
// headers go out with the first customer (or at the end of an empty list),
// so that an invalid query is still a problem. A failure after the
// first customer aborts the response, so that a client never takes a cut
// file for a whole one.
func streamExport(ctx context.Context, w http.ResponseWriter, exp custodian.CustomerExporter, q custodian.CustomerQuery, format string, now time.Time) error {
	started := false
	var write func(*custodian.Customer) error
	var flush func() error
	start := func() error {
		started = true
		h := w.Header()
		ext, ct := "csv", "text/csv; charset=utf-8"
		if format == "jsonl" {
			ext, ct = "jsonl", "application/x-ndjson"
		}
		h.Set("Content-Type", ct)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="customers-%s.%s"`, now.UTC().Format("2006-01-02"), ext))
		w.WriteHeader(http.StatusOK)
		if format == "jsonl" {
			enc := json.NewEncoder(w)
			write = func(c *custodian.Customer) error { return enc.Encode(c) }
			flush = func() error { return nil }
			return nil
		}
		cw := csvio.NewWriter(w)
		write, flush = cw.Write, cw.Flush
		return cw.WriteHeader()
	}
	_, err := exp.ExportCustomers(ctx, q, format, func(c *custodian.Customer) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		return write(c)
	})
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		err = flush()
	}
	if err != nil && started {
		panic(http.ErrAbortHandler)
	}
	return err
}

// handleExportList is GET /api/customers/export: the list as a file.
func handleExportList(logger *slog.Logger, exp custodian.CustomerExporter, lim ratelimit.Limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, fields, err := query(r, "format", "search", "status", "tag", "consent", "sort")
		var format string
		var q custodian.CustomerQuery
		if err == nil {
			format, q, err = exportQuery(values, fields)
		}
		if err == nil && exp == nil {
			err = errNoTransfers
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if !allowTransfer(w, r, logger, lim) {
			return
		}
		if err := streamExport(r.Context(), w, exp, q, format, time.Now()); err != nil {
			writeError(w, r, logger, err)
		}
	})
}
