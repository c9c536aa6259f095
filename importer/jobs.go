package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// DefaultMaxFileSize bounds a file imported through the API or the web
// interface.
const DefaultMaxFileSize = custodian.MaxImportFileSize

// Defaults of JobsOptions.
const (
	DefaultMaxRunning = 2
	DefaultKeepFor    = time.Hour
	DefaultMaxKept    = 2
)

// JobsOptions configure Jobs.
type JobsOptions struct {
	// Logger reports failures of the background work (discarded when
	// nil). It never receives a personal value.
	Logger *slog.Logger
	// MaxFileSize bounds a file (DefaultMaxFileSize when 0).
	MaxFileSize int64
	// MaxRunning bounds the jobs running at once (DefaultMaxRunning).
	MaxRunning int
	// KeepFor is how long the file of a finished dry run is kept in
	// memory so that the import it checked can be run
	// (DefaultKeepFor), and MaxKept how many such files are kept
	// (DefaultMaxKept); the oldest goes first.
	KeepFor time.Duration
	MaxKept int
	// Batch is the rows per batch (DefaultBatch when 0).
	Batch int
	// Now returns the time (time.Now when nil).
	Now func() time.Time
}

// Jobs runs imports in the background: it implements
// custodian.ImportService. A running job's state is kept in memory and
// saved to the repository as it progresses (by a saver of its own, so
// that an all-or-nothing import holding the database's write lock is
// never waiting on its own progress); finished jobs are read from the
// repository. Files are held in memory only, never stored.
type Jobs struct {
	imp  custodian.CustomerImporter
	repo custodian.ImportJobRepository
	o    JobsOptions

	mu      sync.Mutex
	running map[string]*runningJob
	kept    map[string]keptFile
	wg      sync.WaitGroup
	closed  bool
}

type runningJob struct {
	job    custodian.ImportJob
	cancel context.CancelFunc
	dirty  chan struct{}
}

type keptFile struct {
	data    []byte
	job     custodian.ImportJob
	expires time.Time
}

var _ custodian.ImportService = (*Jobs)(nil)

// NewJobs returns a job runner importing through imp and keeping jobs in
// repo.
func NewJobs(imp custodian.CustomerImporter, repo custodian.ImportJobRepository, o JobsOptions) *Jobs {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxRunning <= 0 {
		o.MaxRunning = DefaultMaxRunning
	}
	if o.KeepFor <= 0 {
		o.KeepFor = DefaultKeepFor
	}
	if o.MaxKept <= 0 {
		o.MaxKept = DefaultMaxKept
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Jobs{imp: imp, repo: repo, o: o, running: map[string]*runningJob{}, kept: map[string]keptFile{}}
}

// Recover marks the jobs a stopped server left running as interrupted.
func (j *Jobs) Recover(ctx context.Context) error {
	n, err := j.repo.InterruptImportJobs(ctx, j.o.Now().UTC())
	if n > 0 {
		j.o.Logger.Warn("import jobs interrupted by a restart", "count", n)
	}
	return err
}

// Close cancels the running jobs and waits for them to stop.
func (j *Jobs) Close() {
	j.mu.Lock()
	j.closed = true
	for _, r := range j.running {
		r.cancel()
	}
	j.mu.Unlock()
	j.wg.Wait()
}

// ErrTooLarge is the cause of the error refusing a file over the size
// limit.
var ErrTooLarge = custodian.ErrFileTooLarge

// StartImport reads file (up to the size limit) and starts importing it.
func (j *Jobs) StartImport(ctx context.Context, file io.Reader, o custodian.ImportOptions) (*custodian.ImportJob, error) {
	if err := CheckOptions(o); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(file, j.o.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read import file: %w", err)
	}
	if int64(len(data)) > j.o.MaxFileSize {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: fmt.Sprintf("The file is larger than %d MiB; split it.", j.o.MaxFileSize>>20), Err: ErrTooLarge}
	}
	rep, err := Check(bytes.NewReader(data), o)
	if err != nil {
		return nil, err
	}
	if fe := rep.FileError; fe != nil {
		msg := fe.Reason
		if fe.Line > 0 {
			msg = fmt.Sprintf("Line %d: %s", fe.Line, fe.Reason)
		}
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "The file cannot be imported; nothing was written.", Fields: []custodian.FieldError{{Field: "file", Message: msg}}}
	}
	return j.start(ctx, data, o)
}

// RunDryRun starts the import the finished dry run id checked.
func (j *Jobs) RunDryRun(ctx context.Context, id string) (*custodian.ImportJob, error) {
	return j.rerun(ctx, id, func(o *custodian.ImportOptions) { o.DryRun = false })
}

// RecheckImport starts a new dry run of the file the dry run id checked,
// with the header mapping m.
func (j *Jobs) RecheckImport(ctx context.Context, id string, m map[string]string) (*custodian.ImportJob, error) {
	return j.rerun(ctx, id, func(o *custodian.ImportOptions) { o.DryRun, o.Map = true, m })
}

// rerun starts a job on the file the finished dry run id kept, with its
// options as change makes them. The file is the new job's then.
func (j *Jobs) rerun(ctx context.Context, id string, change func(*custodian.ImportOptions)) (*custodian.ImportJob, error) {
	j.mu.Lock()
	j.expire()
	k, ok := j.kept[id]
	if ok && k.job.CreatedBy != custodian.ActorFrom(ctx) {
		ok = false
	}
	if ok {
		delete(j.kept, id)
	}
	j.mu.Unlock()
	if !ok {
		return nil, custodian.Errorf(custodian.ECONFLICT, "That dry run's file is no longer kept (files are kept %s after their dry run); upload it again.", j.o.KeepFor)
	}
	o := k.job.Options
	change(&o)
	err := CheckOptions(o)
	if err == nil && !o.DryRun && k.job.Report.FileError != nil {
		err = custodian.Errorf(custodian.ECONFLICT, "The dry run refused the file (%s); change the mapping or upload it again.", k.job.Report.FileError.Reason)
	}
	var job *custodian.ImportJob
	if err == nil {
		job, err = j.start(ctx, k.data, o)
	}
	if err != nil {
		j.mu.Lock()
		j.kept[id] = k // still the dry run's
		j.mu.Unlock()
	}
	return job, err
}

// expire drops kept files past their time. j.mu is held.
func (j *Jobs) expire() {
	now := j.o.Now()
	for id, k := range j.kept {
		if now.After(k.expires) {
			delete(j.kept, id)
		}
	}
}

// start saves a new job and runs it in the background.
func (j *Jobs) start(ctx context.Context, data []byte, o custodian.ImportOptions) (*custodian.ImportJob, error) {
	now := j.o.Now().UTC().Truncate(time.Microsecond)
	job := custodian.ImportJob{ID: custodian.NewImportJobID(), State: custodian.ImportRunning, CreatedBy: custodian.ActorFrom(ctx),
		CreatedAt: now, UpdatedAt: now, Options: o, Size: int64(len(data)),
		Report: custodian.ImportReport{DryRun: o.DryRun, Policy: o.Policy, AllOrNothing: o.AllOrNothing, Columns: []custodian.ImportColumn{}, Issues: []custodian.ImportIssue{}, Batches: []custodian.ImportBatchReport{}}}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil, custodian.Errorf(custodian.EUNAVAILABLE, "The server is stopping; try again.")
	}
	if len(j.running) >= j.o.MaxRunning {
		j.mu.Unlock()
		return nil, custodian.Errorf(custodian.ECONFLICT, "%d imports are running; wait for one to finish.", len(j.running))
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &runningJob{job: job, cancel: cancel, dirty: make(chan struct{}, 1)}
	j.running[job.ID] = r
	j.wg.Add(2)
	j.mu.Unlock()
	if err := j.repo.SaveImportJob(ctx, &job); err != nil {
		j.mu.Lock()
		delete(j.running, job.ID)
		j.mu.Unlock()
		cancel()
		j.wg.Add(-2)
		return nil, err
	}
	done, saved := make(chan struct{}), make(chan struct{})
	go j.saver(runCtx, r, done, saved)
	go j.run(runCtx, r, data, done, saved)
	out := job
	return &out, nil
}

// saver stores the job's progress whenever it changes, until done; it
// closes saved when it has stopped, so that no progress is stored over
// the final state.
func (j *Jobs) saver(ctx context.Context, r *runningJob, done <-chan struct{}, saved chan<- struct{}) {
	defer j.wg.Done()
	defer close(saved)
	for {
		select {
		case <-done:
			return
		case <-r.dirty:
		}
		j.mu.Lock()
		snap := r.job
		j.mu.Unlock()
		if err := j.repo.SaveImportJob(context.WithoutCancel(ctx), &snap); err != nil {
			j.o.Logger.Warn("import job progress not saved", "job", snap.ID, "err", err)
		}
	}
}

// run runs the job and saves its final state.
func (j *Jobs) run(ctx context.Context, r *runningJob, data []byte, done chan struct{}, saved <-chan struct{}) {
	defer j.wg.Done()
	o := Options{ImportOptions: r.job.Options, Batch: j.o.Batch, Progress: func(rep *custodian.ImportReport, read int64) {
		j.mu.Lock()
		r.job.Report, r.job.Read, r.job.UpdatedAt = cloneReport(rep), read, j.o.Now().UTC()
		j.mu.Unlock()
		select {
		case r.dirty <- struct{}{}:
		default:
		}
	}}
	rep, err := Run(ctx, j.imp, bytes.NewReader(data), o)
	close(done)
	<-saved
	// The final state is stored first, then shown: a caller that sees the
	// job finished finds it so in the repository too.
	j.mu.Lock()
	final := r.job
	j.mu.Unlock()
	final.Report, final.Read, final.UpdatedAt = cloneReport(rep), final.Size, j.o.Now().UTC()
	switch {
	case err == nil:
		final.State = custodian.ImportDone
	case errors.Is(err, context.Canceled):
		final.State = custodian.ImportCancelled
	default:
		final.State = custodian.ImportFailed
		final.Error = "The import stopped: " + custodian.ErrorMessage(err)
		j.o.Logger.Error("import job failed", "job", final.ID, "err", err)
	}
	if err := j.repo.SaveImportJob(context.WithoutCancel(ctx), &final); err != nil {
		j.o.Logger.Error("import job not saved", "job", final.ID, "err", err)
	}
	j.mu.Lock()
	r.job = final
	if final.State == custodian.ImportDone && final.Options.DryRun {
		j.expire()
		for len(j.kept) >= j.o.MaxKept {
			var oldest string
			for id, k := range j.kept {
				if oldest == "" || k.expires.Before(j.kept[oldest].expires) {
					oldest = id
				}
			}
			delete(j.kept, oldest)
		}
		j.kept[final.ID] = keptFile{data: data, job: final, expires: j.o.Now().Add(j.o.KeepFor)}
	}
	delete(j.running, final.ID)
	j.mu.Unlock()
	r.cancel()
}

// cloneReport copies rep, so that a snapshot does not share its slices
// with the report still growing.
func cloneReport(rep *custodian.ImportReport) custodian.ImportReport {
	out := *rep
	out.Columns = append([]custodian.ImportColumn{}, rep.Columns...)
	out.Issues = append([]custodian.ImportIssue{}, rep.Issues...)
	out.Batches = append([]custodian.ImportBatchReport{}, rep.Batches...)
	return out
}

// ImportJob returns the job with id: a running one from memory, any other
// from the repository.
func (j *Jobs) ImportJob(ctx context.Context, id string) (*custodian.ImportJob, error) {
	if !custodian.ValidImportJobID(id) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "Import job not found.")
	}
	j.mu.Lock()
	if r, ok := j.running[id]; ok {
		out := r.job
		out.Report = cloneReport(&r.job.Report)
		j.mu.Unlock()
		return &out, nil
	}
	j.mu.Unlock()
	return j.repo.ImportJob(ctx, id)
}

// CancelImport asks a running job to stop; a finished job is returned as
// it is.
func (j *Jobs) CancelImport(ctx context.Context, id string) (*custodian.ImportJob, error) {
	if !custodian.ValidImportJobID(id) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "Import job not found.")
	}
	j.mu.Lock()
	if r, ok := j.running[id]; ok {
		r.cancel()
	}
	j.mu.Unlock()
	return j.ImportJob(ctx, id)
}
