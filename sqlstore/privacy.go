package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// AppendConsent appends the consent event fn returns for the locked
// record, updates the current state and the customer's last activity.
func (s *Store) AppendConsent(ctx context.Context, customerID string, fn func(cur *custodian.CustomerRecord) (*custodian.ConsentRecord, error)) (int64, error) {
	var seq int64
	err := s.inTx(ctx, "append consent", func(tx *sql.Tx) error {
		cur, cseq, err := s.lockRecord(ctx, tx, customerID)
		if err != nil {
			return err
		}
		ev, err := fn(cur)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, s.q(`INSERT INTO consent_events (customer_id, purpose, given, time_us, actor, source_ct, evidence_ct)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`),
			customerID, ev.Purpose, boolInt(ev.Given), micros(ev.Time), ev.Actor, nonNilBytes(ev.SourceCT), nonNilBytes(ev.EvidenceCT)).Scan(&seq)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO customer_consents (customer_seq, purpose, given) VALUES (?, ?, ?)
			ON CONFLICT (customer_seq, purpose) DO UPDATE SET given = excluded.given`), cseq, ev.Purpose, boolInt(ev.Given)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE customers SET activity_us = ? WHERE seq = ? AND activity_us < ?`), micros(ev.Time), cseq, micros(ev.Time))
		return err
	})
	return seq, err
}

// ConsentRecords returns a customer's consent history, oldest first.
func (s *Store) ConsentRecords(ctx context.Context, customerID string) ([]custodian.ConsentRecord, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT seq, customer_id, purpose, given, time_us, actor, source_ct, evidence_ct
		FROM consent_events WHERE customer_id = ? ORDER BY seq`), customerID)
	if err != nil {
		return nil, internal("consent history", err)
	}
	defer rows.Close()
	var out []custodian.ConsentRecord
	for rows.Next() {
		var r custodian.ConsentRecord
		var given int
		var us int64
		if err := rows.Scan(&r.Seq, &r.CustomerID, &r.Purpose, &given, &us, &r.Actor, &r.SourceCT, &r.EvidenceCT); err != nil {
			return nil, internal("consent history", err)
		}
		r.Given, r.Time = given == 1, fromMicros(us)
		out = append(out, r)
	}
	return out, internal("consent history", rows.Err())
}

// SetLegalHold sets or clears a customer's legal hold. The customer's
// version changes, as its representation does; its last activity does not.
func (s *Store) SetLegalHold(ctx context.Context, customerID string, hold *custodian.LegalHold) error {
	var us int64
	var by, reason string
	if hold != nil {
		us, by, reason = micros(hold.Since), hold.By, hold.Reason
	}
	return s.execFound(ctx, "legal hold", custodian.Errorf(custodian.ENOTFOUND, "Customer not found."),
		`UPDATE customers SET legal_hold_us = ?, legal_hold_by = ?, legal_hold_reason = ?, version = version + 1 WHERE id = ?`, us, by, reason, customerID)
}

// EraseCustomer deletes the locked record (its tags, tokens, current
// consent state and logged activities go with it) and stores the tombstone, or
// returns the tombstone of an earlier erasure.
func (s *Store) EraseCustomer(ctx context.Context, t *custodian.Tombstone, check func(cur *custodian.CustomerRecord) error) (*custodian.Tombstone, error) {
	var existing *custodian.Tombstone
	err := s.inTx(ctx, "erase customer", func(tx *sql.Tx) error {
		cur, seq, err := s.lockRecord(ctx, tx, t.ID)
		if custodian.ErrorCode(err) == custodian.ENOTFOUND {
			existing, err = scanTombstone(tx.QueryRowContext(ctx, s.q(`SELECT `+tombstoneColumns+` FROM customer_tombstones WHERE id = ?`), t.ID))
			return err
		}
		if err != nil {
			return err
		}
		if err := check(cur); err != nil {
			return err
		}
		for _, table := range []string{"customer_tags", "customer_tokens", "customer_consents", "customer_activities", "customer_tasks"} {
			// Explicitly, not only by cascade: nothing depends on the
			// foreign-key setting of the connection.
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE customer_seq = ?`), seq); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM customers WHERE seq = ?`), seq); err != nil {
			return err
		}
		t.CreatedAt = cur.CreatedAt
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO customer_tombstones (`+tombstoneColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			t.ID, micros(t.CreatedAt), micros(t.ErasedAt), t.ErasedBy, t.Reason, t.Mechanism, boolInt(t.KeyDestroyed))
		return err
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

const tombstoneColumns = `id, created_us, erased_us, erased_by, reason, mechanism, key_destroyed`

func scanTombstone(row scanner) (*custodian.Tombstone, error) {
	var t custodian.Tombstone
	var created, erased int64
	var destroyed int
	err := row.Scan(&t.ID, &created, &erased, &t.ErasedBy, &t.Reason, &t.Mechanism, &destroyed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "Customer not found.")
	}
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.ErasedAt, t.KeyDestroyed = fromMicros(created), fromMicros(erased), destroyed == 1
	return &t, nil
}

// Tombstone returns the tombstone of an erased customer, or ENOTFOUND.
func (s *Store) Tombstone(ctx context.Context, customerID string) (*custodian.Tombstone, error) {
	t, err := scanTombstone(s.queryRow(ctx, `SELECT `+tombstoneColumns+` FROM customer_tombstones WHERE id = ?`, customerID))
	return t, internal("tombstone", err)
}

// Tombstones returns the tombstones of the erased customers among ids.
func (s *Store) Tombstones(ctx context.Context, ids []string) ([]*custodian.Tombstone, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	in, args := inList(ids)
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT `+tombstoneColumns+` FROM customer_tombstones WHERE id IN `+in), args...)
	if err != nil {
		return nil, internal("tombstones", err)
	}
	defer rows.Close()
	var out []*custodian.Tombstone
	for rows.Next() {
		t, err := scanTombstone(rows)
		if err != nil {
			return nil, internal("tombstones", err)
		}
		out = append(out, t)
	}
	return out, internal("tombstones", rows.Err())
}

// MarkKeyDestroyed records that the customer's shred key is gone.
func (s *Store) MarkKeyDestroyed(ctx context.Context, customerID string) error {
	return s.inTx(ctx, "mark key destroyed", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`UPDATE customer_tombstones SET key_destroyed = 1 WHERE id = ?`), customerID)
		return err
	})
}

// PendingKeyDestruction lists erased customers whose shred key may still
// exist.
func (s *Store) PendingKeyDestruction(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, s.q(`SELECT id FROM customer_tombstones WHERE key_destroyed = 0 ORDER BY id LIMIT ?`), limit)
	if err != nil {
		return nil, internal("pending key destruction", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, internal("pending key destruction", err)
		}
		out = append(out, id)
	}
	return out, internal("pending key destruction", rows.Err())
}

// RetentionCandidates returns customers without a legal hold whose last
// activity is before their status's cutoff, oldest first, through the
// index on activity_us; limit 0 means all of them.
func (s *Store) RetentionCandidates(ctx context.Context, cutoffs map[custodian.Status]time.Time, limit int) ([]custodian.RetentionCandidate, error) {
	var out []custodian.RetentionCandidate
	for status, cutoff := range cutoffs {
		query, args := `SELECT id, status, activity_us FROM customers
			WHERE activity_us < ? AND status = ? AND legal_hold_us = 0 ORDER BY activity_us, id`, []any{micros(cutoff), string(status)}
		if limit > 0 {
			query += ` LIMIT ?`
			args = append(args, limit)
		}
		rows, err := s.read.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return nil, internal("retention candidates", err)
		}
		for rows.Next() {
			var c custodian.RetentionCandidate
			var us int64
			if err := rows.Scan(&c.ID, &c.Status, &us); err != nil {
				rows.Close()
				return nil, internal("retention candidates", err)
			}
			c.Activity = fromMicros(us)
			out = append(out, c)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, internal("retention candidates", err)
		}
	}
	slices.SortFunc(out, func(a, b custodian.RetentionCandidate) int {
		if c := a.Activity.Compare(b.Activity); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
