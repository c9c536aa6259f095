package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/alerting"
	"github.com/custodian-crm/custodian/hashchain"
)

// anchorType is the type of an anchor record, in the anchor file and in
// the webhook's body.
const anchorType = "audit.anchor"

// anchorRecord is one published head of the audit trail: a JSON line of
// the anchor file, the body of the webhook notice, and the fields of the
// log line. AuditAnchor (SEQ:HEX) is what "audit verify --anchor-file"
// reads, from the anchor file or from a saved server log alike.
type anchorRecord struct {
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	AuditAnchor string    `json:"audit_anchor"`
	Seq         int64     `json:"seq"`
	Hash        string    `json:"hash"`
}

// newAnchorRecord is the record of a, published at now.
func newAnchorRecord(a hashchain.Anchor, now time.Time) anchorRecord {
	return anchorRecord{Type: anchorType, Time: now.UTC(), AuditAnchor: formatAnchor(a), Seq: a.Seq, Hash: hex.EncodeToString(a.Hash)}
}

// anchorPublisher publishes the audit trail's head outside the database:
// to the anchor file, the log and the alert webhook, each when configured.
type anchorPublisher struct {
	head interface {
		DurableAuditHead(ctx context.Context) (hashchain.Anchor, error)
	}
	file    string            // the anchor file; empty for none
	log     *slog.Logger      // the log the anchor lines go to, unredacted: an anchor is a hash, neither secret nor personal
	webhook *alerting.Webhook // nil for none
	last    hashchain.Anchor  // the head published last
}

// publish publishes the trail's head when it moved since the last
// publication. It fails when the anchor file cannot be written; a webhook
// that does not answer is only logged, and the next head is sent anyway.
func (p *anchorPublisher) publish(ctx context.Context, errLog *slog.Logger) error {
	head, err := p.head.DurableAuditHead(ctx)
	if err != nil {
		return err
	}
	if head.Seq == 0 || (head.Seq == p.last.Seq && string(head.Hash) == string(p.last.Hash)) {
		return nil
	}
	rec := newAnchorRecord(head, time.Now())
	if p.file != "" {
		if err := appendAnchor(p.file, rec); err != nil {
			return err
		}
	}
	p.log.Info("audit anchor", "audit_anchor", rec.AuditAnchor, "seq", rec.Seq)
	p.last = head
	if p.webhook != nil {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := p.webhook.Publish(wctx, rec); err != nil {
			errLog.Warn("the audit anchor did not reach the webhook; the next one will be sent", "err", err, "seq", rec.Seq)
		}
	}
	return nil
}

// appendAnchor appends rec as one JSON line to the file at path (created
// with mode 0600), and makes it durable before returning: the file is
// synced, and its directory too when the file was created.
func appendAnchor(path string, rec anchorRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) // #nosec G304 -- the operator names the anchor file
	if err != nil {
		return fmt.Errorf("anchor file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("anchor file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("anchor file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("anchor file: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if d, err := os.Open(filepath.Dir(path)); err == nil { // #nosec G304 -- as above
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// readAnchors reads the anchors of the file at path: every JSON line with
// an "audit_anchor" member, as the anchor file and the server log hold
// them. Other lines (log lines of other kinds, a line cut short by a
// crash) are skipped and counted.
func readAnchors(path string) (anchors []hashchain.Anchor, skipped int, err error) {
	f, err := os.Open(path) // #nosec G304 -- the operator names the file
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var rec struct {
			AuditAnchor string `json:"audit_anchor"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.AuditAnchor == "" {
			skipped++
			continue
		}
		a, err := parseAnchor(rec.AuditAnchor)
		if err != nil {
			skipped++
			continue
		}
		anchors = append(anchors, a)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	return anchors, skipped, nil
}

// startAnchors publishes the audit trail's head every --anchor-interval
// while this instance holds the job lease, and once more when stopped.
// At start it compares the trail with the anchor file's newest anchor and
// logs an error when the trail is shorter: its newest events were cut off.
func startAnchors(ctx context.Context, o *opsFlags, a *app, lease custodian.JobLease, anchorLog, logger *slog.Logger, webhook *alerting.Webhook) (func(), error) {
	if *o.anchorInterval == 0 {
		logger.Info("audit anchors are off (--anchor-interval 0)")
		return func() {}, nil
	}
	p := &anchorPublisher{head: a.store, file: *o.anchorFile, log: anchorLog, webhook: webhook}
	if p.file != "" {
		// Fail at start, not at the first anchor, when the file cannot be
		// written; and look at what it already holds. Its directory is
		// made (owner only) when it does not exist yet.
		if err := os.MkdirAll(filepath.Dir(p.file), 0o700); err != nil {
			return nil, fmt.Errorf("--anchor-file: %w", err)
		}
		f, err := os.OpenFile(p.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) // #nosec G304 -- the operator names the anchor file
		if err != nil {
			return nil, fmt.Errorf("--anchor-file: %w", err)
		}
		f.Close()
		checkTrailAgainstAnchors(ctx, p.file, a, logger)
	}
	stop := startJob(ctx, "audit anchors", *o.anchorInterval, lease, logger, func(ctx context.Context) {
		if err := p.publish(ctx, logger); err != nil && ctx.Err() == nil {
			logger.Error("publishing the audit anchor failed; the next run tries again", "err", err)
		}
	})
	logger.Info("audit anchors on", "interval", o.anchorInterval.String(), "file", p.file != "", "webhook", webhook != nil)
	return func() {
		stop()
		if !lease.Held() {
			return
		}
		// The events of the last minutes are anchored too.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.publish(fctx, logger); err != nil {
			logger.Error("publishing the last audit anchor failed", "err", err)
		}
	}, nil
}

// checkTrailAgainstAnchors logs an error when the anchor file holds an
// anchor beyond the trail's head: the newest events were cut off (or the
// database was restored from an older backup without a new anchor file).
// "custodian audit verify --anchor-file" says more.
func checkTrailAgainstAnchors(ctx context.Context, file string, a *app, logger *slog.Logger) {
	anchors, _, err := readAnchors(file)
	if err != nil || len(anchors) == 0 {
		return
	}
	head, err := a.store.AuditHead(ctx)
	if err != nil {
		return
	}
	newest := anchors[0]
	for _, an := range anchors {
		if an.Seq > newest.Seq {
			newest = an
		}
	}
	if newest.Seq > head.Seq {
		logger.Error("the audit trail is shorter than its published anchors: its newest events were cut off, or the database was restored from an older backup; run custodian audit verify --anchor-file", "head_seq", head.Seq, "anchored_seq", newest.Seq)
	}
}
