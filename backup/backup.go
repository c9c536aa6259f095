package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/sqlstore"
)

// Progress reports how far a backup or restore is.
type Progress struct {
	What, Unit  string // "backup", "bytes written"
	Done, Total int64
	Elapsed     time.Duration
}

// Options say how to take a backup.
type Options struct {
	// Backend is SQLite or Postgres.
	Backend string
	// SnapshotFiles, for a database kept in files (SQLite), copies them
	// consistently into the directory dir, opens the copy, unmigrated
	// and never appended to, and returns the names of the files it
	// wrote, the database first. Nil exports the store's rows in one
	// snapshot transaction (PostgreSQL).
	SnapshotFiles func(ctx context.Context, dir string) (*sqlstore.Store, []string, error)
	// Progress, when set, is told how far the backup is.
	Progress func(Progress)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is a backup taken.
type Result struct {
	Manifest *Manifest
	Path     string
	Size     int64
	Elapsed  time.Duration
}

// Create takes a backup of store, while it serves, into the new file out
// (mode 0600; an existing file is refused), and records it on store's
// audit trail (custodian.ActionBackupCreated, with the file's name and the counts). The
// file appears complete or not at all: it is written under a temporary
// name in the same directory and renamed.
func Create(ctx context.Context, store *sqlstore.Store, out string, o Options) (*Result, error) {
	began := time.Now()
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("%s exists; a backup never overwrites a file", out)
	}
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, ".custodian-backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(stage)
	report := func(what, unit string, done, total int64) {
		if o.Progress != nil {
			o.Progress(Progress{What: what, Unit: unit, Done: done, Total: total, Elapsed: time.Since(began)})
		}
	}

	m := &Manifest{Format: Format, Backend: o.Backend, CreatedAt: now().UTC().Truncate(time.Second), Counts: map[string]int64{}}
	whole := sha256.New()
	if o.SnapshotFiles != nil {
		report("backup", "copy of the database", 0, 1)
		snap, names, err := o.SnapshotFiles(ctx, stage)
		if err != nil {
			return nil, err
		}
		err = snap.ReadSnapshot(ctx, func(ctx context.Context) error { return describe(ctx, snap, m) })
		if cerr := snap.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		// Closing checkpointed the copies' write-ahead logs: one file
		// each.
		for _, name := range names {
			f, err := hashFile(filepath.Join(stage, name), whole)
			if err != nil {
				return nil, err
			}
			m.Files = append(m.Files, f)
		}
	} else {
		err := store.ReadSnapshot(ctx, func(ctx context.Context) error {
			if err := describe(ctx, store, m); err != nil {
				return err
			}
			if m.Tables, err = store.Tables(ctx); err != nil {
				return err
			}
			var total, done int64
			for _, t := range m.Tables {
				total += m.Counts[t.Name]
			}
			for _, t := range m.Tables {
				p := filepath.Join(stage, t.Name+".rows")
				if err := exportTable(ctx, store, t, p, func() { done++; report("backup", "rows exported", done, total) }); err != nil {
					return err
				}
				f, err := hashFile(p, whole)
				if err != nil {
					return err
				}
				m.Files = append(m.Files, f)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	m.PayloadSHA256 = hex.EncodeToString(whole.Sum(nil))

	tmp, err := os.CreateTemp(dir, ".custodian-backup-*.part")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = pack(bw, m, stage, func(done, total int64) { report("backup", "bytes packed", done, total) })
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("backup: write %s: %w", out, err)
	}
	// Never over a file that appeared meanwhile.
	if err := os.Link(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	res := &Result{Manifest: m, Path: out, Size: fi.Size(), Elapsed: time.Since(began)}
	data, _ := json.Marshal(struct {
		File      string           `json:"file"`
		Bytes     int64            `json:"bytes"`
		Counts    map[string]int64 `json:"counts"`
		AuditHead int64            `json:"audit_head_seq"`
	}{filepath.Base(out), res.Size, m.Counts, m.AuditHead.Seq})
	if err := store.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionBackupCreated, Subject: filepath.Base(out), Data: data}); err != nil {
		return res, fmt.Errorf("backup written to %s, but not recorded on the audit trail: %w", out, err)
	}
	return res, nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the backup's directory
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// describe fills m with what ctx's snapshot of store holds: schema
// version, counts, audit head and master key ids.
func describe(ctx context.Context, store *sqlstore.Store, m *Manifest) error {
	var err error
	if m.SchemaVersion, err = store.SchemaVersionAt(ctx); err != nil {
		return err
	}
	tables, err := store.Tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if m.Counts[t.Name], err = store.CountRows(ctx, t.Name); err != nil {
			return err
		}
	}
	head, err := store.AuditHead(ctx)
	if err != nil {
		return err
	}
	m.AuditHead = Anchor{Seq: head.Seq, Hash: hex.EncodeToString(head.Hash)}
	archived, err := store.AuditArchived(ctx)
	if err != nil {
		return err
	}
	m.AuditArchived = Anchor{Seq: archived.Seq, Hash: hex.EncodeToString(archived.Hash)}
	usage, err := store.KeyUsage(ctx)
	if err != nil {
		return err
	}
	for id := range usage {
		m.MasterKeyIDs = append(m.MasterKeyIDs, id)
	}
	slices.Sort(m.MasterKeyIDs)
	return nil
}

// Rotate deletes the oldest backups in dir whose names start with prefix
// and end in suffix, keeping the newest keep of them (by name, which
// starts with the time they were taken). It returns the files deleted.
func Rotate(dir, prefix, suffix string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, errors.New("backup: keep at least one backup")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var removed []string
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return removed, err
		}
		removed = append(removed, names[0])
		names = names[1:]
	}
	return removed, nil
}
