package http

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/csvio"
)

// importFormFields are the small fields of the import form, read before
// its file part (the form puts the file last).
var importFormFields = []string{csrfField, "duplicates", "encoding", "all_or_nothing"}

// maxImportFormField bounds each small field of the import form.
const maxImportFormField = 1 << 10

// importPageData is the import pages' content: the upload form, or a job.
type importPageData struct {
	Policies  []option
	Encodings []option
	MaxMiB    int
	Job       *custodian.ImportJob
	Running   bool
	Percent   int
	Fields    []option // what a column may map to
	Errors    []custodian.FieldError
}

var (
	policyOptions   = []option{{"skip", msg("Skip them (leave the existing customer alone)")}, {"fill", msg("Fill in what the existing customer lacks")}, {"overwrite", msg("Overwrite with the file's values")}}
	encodingOptions = []option{{"", "Detect"}, {"utf-8", "UTF-8"}, {"windows-1252", "Windows-1252 (Western European)"}}
)

// mappingOptions are the fields a column may map to, with "" to ignore it.
func mappingOptions() []option {
	out := []option{{"", "(ignore)"}}
	for _, f := range csvio.Fields() {
		out = append(out, option{f, f})
	}
	return out
}

func (u *ui) importForm(errs []custodian.FieldError) importPageData {
	return importPageData{Policies: policyOptions, Encodings: encodingOptions, MaxMiB: custodian.MaxImportFileSize >> 20, Errors: errs}
}

// handleImportPage shows the upload form.
func (u *ui) handleImportPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.render(w, r, http.StatusOK, "import", uiView{Title: u.t(r, "Import customers"), Section: "customers", Data: u.importForm(nil)})
	})
}

// handleImportUpload takes the upload form (multipart: its small fields,
// the CSRF token first, then the file, streamed to the importer) and
// starts a dry run, then shows its page.
func (u *ui) handleImportUpload() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		job, err := u.startImportForm(w, r)
		if errors.Is(err, errFormRefused) {
			return
		}
		if err != nil {
			status, ok := clientStatus(err)
			if !ok {
				u.fail(w, r, err)
				return
			}
			errs := u.errorFields(r, err)
			if len(errs) == 0 {
				errs = []custodian.FieldError{{Field: "file", Message: u.errorMessage(r, err)}}
			}
			u.render(w, r, status, "import", uiView{Title: u.t(r, "Import customers"), Section: "customers", Data: u.importForm(errs)})
			return
		}
		http.Redirect(w, r, "/imports/"+url.PathEscape(job.ID), http.StatusSeeOther)
	})
}

// errFormRefused says that the form was answered already (a bad CSRF
// token, a rate limit).
var errFormRefused = errors.New("form refused")

// startImportForm reads the import form and starts its dry run.
func (u *ui) startImportForm(w http.ResponseWriter, r *http.Request) (*custodian.ImportJob, error) {
	if u.imports == nil {
		return nil, errNoTransfers
	}
	r.Body = http.MaxBytesReader(w, r.Body, custodian.MaxImportFileSize+64<<10)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		u.errorPage(w, r, http.StatusBadRequest, msg("The form could not be read"), msg("Go back and try again."))
		return nil, errFormRefused
	}
	mr, err := r.MultipartReader()
	if err != nil {
		u.errorPage(w, r, http.StatusBadRequest, msg("The form could not be read"), msg("Go back and try again."))
		return nil, errFormRefused
	}
	values := url.Values{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			if tooLarge(err) {
				return nil, tooLargeError()
			}
			return nil, errorf(custodian.EINVALID, msg("Choose a file."), custodian.FieldError{Field: "file", Message: msg("Choose a CSV file.")})
		}
		name := part.FormName()
		if name != "file" {
			if slices.Contains(importFormFields, name) {
				b, _ := io.ReadAll(io.LimitReader(part, maxImportFormField))
				values.Set(name, string(b))
			}
			continue
		}
		p := principal(r)
		if p == nil || !u.keys.check("session", p.SessionHash, values.Get(csrfField)) {
			u.logger.WarnContext(r.Context(), "form refused: bad CSRF token", "request_id", requestID(r.Context()), "path", r.URL.EscapedPath())
			u.errorPage(w, r, http.StatusForbidden, msg("This form has expired"), msg("The form was too old or did not come from this site, so nothing was changed. Go back, reload the page and try again."))
			return nil, errFormRefused
		}
		values.Set("dry_run", "true")
		o, err := importOptions(values)
		if err != nil {
			return nil, err
		}
		if !u.allowTransferPage(w, r) {
			return nil, errFormRefused
		}
		job, err := u.imports.StartImport(r.Context(), part, o)
		if err != nil && (tooLarge(err) || errors.Is(err, custodian.ErrFileTooLarge)) {
			return nil, tooLargeError()
		}
		return job, err
	}
}

// allowTransferPage applies the transfer limit, answering a refusal with
// a page.
func (u *ui) allowTransferPage(w http.ResponseWriter, r *http.Request) bool {
	if u.transfers == nil {
		return true
	}
	key := "transfer:"
	if p := principal(r); p != nil && p.User != nil {
		key += p.User.ID
	}
	d, err := u.transfers.Allow(r.Context(), key)
	if err != nil || d.Allowed {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds())+1))
	u.errorPage(w, r, http.StatusTooManyRequests, msg("Too many imports and exports"), msg("Wait a while before the next one."))
	return false
}

// handleImportJob shows an import job: its progress while it runs (the
// page reloads itself every second), then its report, and for a dry run
// the mapping to change and the button that imports the file.
func (u *ui) handleImportJob() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u.imports == nil {
			u.fail(w, r, errNoTransfers)
			return
		}
		job, err := u.imports.ImportJob(r.Context(), r.PathValue("id"))
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d := u.importForm(nil)
		d.Job, d.Running, d.Fields = job, !job.Finished(), mappingOptions()
		if job.Report.FileRows > 0 {
			d.Percent = job.Report.Rows * 100 / job.Report.FileRows
		} else if job.Size > 0 {
			d.Percent = int(job.Read * 100 / job.Size)
		}
		if d.Running {
			w.Header().Set("Refresh", "1")
		}
		u.render(w, r, http.StatusOK, "import", uiView{Title: u.t(r, "Import customers"), Section: "customers", Flash: takeFlash(w, r), Data: d})
	})
}

// handleImportAction runs, rechecks (with the posted mapping) or cancels
// an import job, then shows the job it leads to.
func (u *ui) handleImportAction(action string) http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if u.imports == nil {
			u.fail(w, r, errNoTransfers)
			return
		}
		id := r.PathValue("id")
		var job *custodian.ImportJob
		var err error
		switch action {
		case "run":
			if !u.allowTransferPage(w, r) {
				return
			}
			job, err = u.imports.RunDryRun(r.Context(), id)
		case "remap":
			m := map[string]string{}
			for k, v := range r.PostForm {
				if h, ok := strings.CutPrefix(k, "map:"); ok && len(v) == 1 {
					m[h] = v[0]
				}
			}
			job, err = u.imports.RecheckImport(r.Context(), id, m)
		default:
			job, err = u.imports.CancelImport(r.Context(), id)
		}
		if err != nil {
			if custodian.ErrorCode(err) == custodian.ECONFLICT || custodian.ErrorCode(err) == custodian.EINVALID {
				u.errorPage(w, r, http.StatusConflict, msg("The import could not go on"), u.errorMessage(r, err))
				return
			}
			u.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/imports/"+url.PathEscape(job.ID), http.StatusSeeOther)
	})
}

// handleExportListForm is the list's export button: the list's filters, with
// the search sealed to the session as the list has it, streamed as a file.
func (u *ui) handleExportListForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		q := custodian.CustomerQuery{Status: custodian.Status(f.Get("status")), Tag: f.Get("tag"), Sort: custodian.Sort(f.Get("sort"))}
		if s := f.Get("s"); s != "" {
			b, err := u.keys.openState("search", principal(r).SessionHash, s)
			if err != nil {
				redirectWithFlash(w, r, "/customers", "search-expired")
				return
			}
			q.Search = string(b)
		}
		format := f.Get("format")
		if format != "jsonl" {
			format = "csv"
		}
		if u.exports == nil {
			u.fail(w, r, errNoTransfers)
			return
		}
		if !u.allowTransferPage(w, r) {
			return
		}
		if err := streamExport(r.Context(), w, u.exports, q, format, u.now()); err != nil {
			u.fail(w, r, err)
		}
	})
}
