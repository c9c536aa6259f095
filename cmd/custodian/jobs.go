package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// jobPoll is the longest a job waits before looking again whether it is
// due and whether this instance holds the job lease.
const jobPoll = time.Second

// startJob runs fn in the background every interval, while this instance
// holds the job lease: at once when it holds it, then every interval;
// a standby runs nothing until the lease comes to it, and then starts
// at once. Runs never overlap. The returned function stops the job and
// waits for a run in progress.
func startJob(ctx context.Context, name string, interval time.Duration, lease custodian.JobLease, logger *slog.Logger, fn func(ctx context.Context)) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(min(interval, jobPoll))
		defer t.Stop()
		var last time.Time
		standingBy := false
		for {
			held := lease.Held()
			switch {
			case held && (last.IsZero() || time.Since(last) >= interval):
				if standingBy {
					logger.Info("job lease held: this instance runs the job", "job", name)
					standingBy = false
				}
				last = time.Now()
				fn(ctx)
				logger.Debug("job run", "job", name, "took", time.Since(last).String())
			case !held && !standingBy:
				logger.Info("another instance holds the job lease: standing by", "job", name)
				standingBy = true
				last = time.Time{}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}
