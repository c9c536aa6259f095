package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

const alertColumns = `id, rule, alert_key, first_seen_us, last_seen_us, count, status, resolved_us, resolved_by`

// SaveAlert stores a new alert, with its security.alert audit event (by
// custodian.ActorMonitor) in the same transaction, or updates the stored
// one with the same id.
func (s *Store) SaveAlert(ctx context.Context, a custodian.Alert) (bool, error) {
	created := false
	ctx = custodian.WithActor(ctx, custodian.ActorMonitor)
	err := s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		created = false
		err := s.inTx(ctx, "save alert", func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE alerts SET last_seen_us = ?, count = ?, status = ? WHERE id = ?`),
				micros(a.LastSeen), a.Count, string(a.Status), a.ID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				return nil
			}
			created = true
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO alerts (`+alertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')`),
				a.ID, a.Rule, a.Key, micros(a.FirstSeen), micros(a.LastSeen), a.Count, string(a.Status))
			return err
		})
		if err != nil || !created {
			return nil, err
		}
		data, err := json.Marshal(map[string]any{"rule": a.Rule, "key": a.Key, "count": a.Count, "first_seen": a.FirstSeen})
		if err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{{Action: custodian.ActionSecurityAlert, Subject: a.ID, Data: data, Time: a.LastSeen}}, nil
	})
	return created, err
}

// ResolveAlert marks an alert resolved by the context's actor, with a
// security.alert_resolve event.
func (s *Store) ResolveAlert(ctx context.Context, id string, at time.Time) error {
	return s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.inTx(ctx, "resolve alert", func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE alerts SET resolved_us = ?, resolved_by = ? WHERE id = ?`), micros(at), custodian.ActorFrom(ctx), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return custodian.Errorf(custodian.ENOTFOUND, "Alert not found.")
			}
			return nil
		})
		return []custodian.AuditEntry{{Action: custodian.ActionAlertResolve, Subject: id, Fields: []string{"resolved"}}}, err
	})
}

// Alerts returns the alerts q selects, most recently seen first.
func (s *Store) Alerts(ctx context.Context, q custodian.AlertQuery) ([]custodian.StoredAlert, error) {
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT ` + alertColumns + ` FROM alerts WHERE 1 = 1`)
	if q.Status != "" {
		b.WriteString(` AND status = ?`)
		args = append(args, string(q.Status))
	}
	if q.Rule != "" {
		b.WriteString(` AND rule = ?`)
		args = append(args, q.Rule)
	}
	switch {
	case q.Resolved == nil:
	case *q.Resolved:
		b.WriteString(` AND resolved_us <> 0`)
	default:
		b.WriteString(` AND resolved_us = 0`)
	}
	if !q.BeforeLastSeen.IsZero() {
		b.WriteString(` AND (last_seen_us < ? OR (last_seen_us = ? AND id < ?))`)
		us := micros(q.BeforeLastSeen)
		args = append(args, us, us, q.BeforeID)
	}
	b.WriteString(` ORDER BY last_seen_us DESC, id DESC`)
	if q.Limit > 0 {
		b.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}
	rows, err := s.read.QueryContext(ctx, s.q(b.String()), args...)
	if err != nil {
		return nil, internal("list alerts", err)
	}
	defer rows.Close()
	var out []custodian.StoredAlert
	for rows.Next() {
		var a custodian.StoredAlert
		var first, last, resolved int64
		var status string
		if err := rows.Scan(&a.ID, &a.Rule, &a.Key, &first, &last, &a.Count, &status, &resolved, &a.ResolvedBy); err != nil {
			return nil, internal("list alerts", err)
		}
		a.FirstSeen, a.LastSeen, a.Status = fromMicros(first), fromMicros(last), custodian.AlertStatus(status)
		if resolved != 0 {
			t := fromMicros(resolved)
			a.ResolvedAt = &t
		}
		out = append(out, a)
	}
	return out, internal("list alerts", rows.Err())
}

var _ custodian.AlertRepository = (*Store)(nil)
