package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
)

// ArchiveRecord is the Data of an ActionAuditArchive event: the events
// First to Last moved into an archive file, the hash of the last, and the
// file's SHA-256, so that the chain itself says what was archived.
type ArchiveRecord struct {
	First    int64  `json:"first"`
	Last     int64  `json:"last"`
	LastHash []byte `json:"last_hash"`
	File     string `json:"file"`
	SHA256   []byte `json:"sha256"`
}

// AuditArchived returns the anchor of the last archived event: where the
// events still in the database start (the zero Anchor when nothing was
// archived).
func (s *Store) AuditArchived(ctx context.Context) (hashchain.Anchor, error) {
	var a hashchain.Anchor
	err := s.reader(ctx).QueryRowContext(ctx, `SELECT through, hash FROM audit_archive WHERE id = 1`).Scan(&a.Seq, &a.Hash)
	return a, internal("read audit archive", err)
}

// ArchiveRange returns what an archive of the events before before would
// hold: from, the last event already archived, and last, the newest event
// such that it and every event before it happened before before. last ==
// from.Seq means there is nothing to archive.
func (s *Store) ArchiveRange(ctx context.Context, before time.Time) (from hashchain.Anchor, last int64, err error) {
	if from, err = s.AuditArchived(ctx); err != nil {
		return from, 0, err
	}
	var keep sql.NullInt64
	if err := s.read.QueryRowContext(ctx, s.q(`SELECT MIN(seq) FROM audit_events WHERE time_us >= ?`), micros(before)).Scan(&keep); err != nil {
		return from, 0, internal("archive range", err)
	}
	if keep.Valid {
		last = keep.Int64 - 1
	} else if err := s.read.QueryRowContext(ctx, `SELECT seq FROM audit_head WHERE id = 1`).Scan(&last); err != nil {
		return from, 0, internal("archive range", err)
	}
	return from, max(last, from.Seq), nil
}

// WriteAuditArchive writes the events after from up to last, read from
// the database, to w as an archive file signed with key (see
// hashchain.WriteArchive), and returns its header.
func (s *Store) WriteAuditArchive(ctx context.Context, w io.Writer, key []byte, from hashchain.Anchor, last int64) (hashchain.ArchiveHeader, error) {
	events := func(yield func(hashchain.Event, error) bool) {
		for e, err := range s.AuditChain(ctx, from.Seq) {
			if err == nil && e.Seq > last {
				return
			}
			if !yield(e, err) {
				return
			}
		}
	}
	return hashchain.WriteArchive(w, key, hashchain.ArchiveHeader{First: from.Seq + 1, Last: last, PrevHash: from.Hash, Created: time.Now().UTC()}, events)
}

// errArchiveMoved refuses to remove events when another archive moved the
// archive's start meanwhile.
var errArchiveMoved = errors.New("audit archive: another archive was made meanwhile; run it again")

// RemoveArchived removes from the database the events rec says were
// archived (rec.First must follow the last event archived before), and
// records the archive with an ActionAuditArchive event, in one
// transaction: the database then starts the chain at rec.Last, with
// rec.LastHash. Call it only once the archive file is safely written.
func (s *Store) RemoveArchived(ctx context.Context, rec ArchiveRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		tx := s.txFrom(ctx)
		var hash []byte
		if err := tx.QueryRowContext(ctx, s.q(`SELECT hash FROM audit_events WHERE seq = ?`), rec.Last).Scan(&hash); err != nil {
			return nil, err
		}
		if string(hash) != string(rec.LastHash) {
			return nil, errors.New("audit archive: the last archived event differs from the database's")
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE audit_archive SET through = ?, hash = ? WHERE id = 1 AND through = ?`), rec.Last, rec.LastHash, rec.First-1)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return nil, errors.Join(errArchiveMoved, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM audit_events WHERE seq <= ?`), rec.Last); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{{Action: custodian.ActionAuditArchive, Data: data}}, nil
	})
}
