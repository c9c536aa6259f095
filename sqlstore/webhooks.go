package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// queueWebhookEvents writes the webhook events among entries to the outbox
// within tx, the transaction of the change they record: the outbox
// pattern. The dispatcher takes them from there after the commit, so the
// request that caused them waits for no endpoint.
func (s *Store) queueWebhookEvents(ctx context.Context, tx *sql.Tx, entries []stamped, now time.Time) error {
	query, args, fits, err := outboxInsert(entries, now)
	switch {
	case err != nil:
		return err
	case fits && query == "":
		return nil
	case fits:
		if _, err := tx.ExecContext(ctx, s.q(query), args...); err != nil {
			return fmt.Errorf("webhook outbox: %w", err)
		}
		return nil
	}
	// More events than one statement takes (a large import): the
	// endpoints are counted once, then the events written in parts.
	var active int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhooks WHERE active = 1`).Scan(&active); err != nil {
		return fmt.Errorf("webhook outbox: %w", err)
	}
	if active == 0 {
		return nil
	}
	var b strings.Builder
	args = args[:0]
	for _, en := range entries {
		ev, ok := custodian.WebhookEventOf(en.AuditEntry)
		if !ok {
			continue
		}
		t := ev.Time
		if t.IsZero() {
			t = now
		}
		fields, err := json.Marshal(ev.Fields)
		if err != nil {
			return err
		}
		if b.Len() == 0 {
			b.WriteString(`INSERT INTO webhook_outbox (event_type, customer_id, fields, time_us) VALUES `)
		} else {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?)")
		args = append(args, ev.Type, ev.CustomerID, string(fields), micros(t))
		if len(args) >= 4*maxOutboxRows {
			if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
				return fmt.Errorf("webhook outbox: %w", err)
			}
			b.Reset()
			args = args[:0]
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
		return fmt.Errorf("webhook outbox: %w", err)
	}
	return nil
}

// maxOutboxRows bounds the outbox rows one statement writes.
const maxOutboxRows = 500

// outboxInsert returns one statement that queues the webhook events among
// entries for the endpoints active when it runs (none queued without
// one), and its arguments, with fits true; a statement of its own or a
// part of a longer one (see appendAudit). Without webhook events it
// returns "" and fits; with more than one statement takes, fits is
// false and queueWebhookEvents writes them in parts. Events are for the
// endpoints active when the change commits: the endpoints' table is read
// in the change's transaction, so an endpoint registered before this
// commit is seen.
func outboxInsert(entries []stamped, now time.Time) (query string, args []any, fits bool, err error) {
	var b strings.Builder
	for _, en := range entries {
		ev, ok := custodian.WebhookEventOf(en.AuditEntry)
		if !ok {
			continue
		}
		if len(args) >= 4*maxOutboxRows {
			return "", nil, false, nil
		}
		t := ev.Time
		if t.IsZero() {
			t = now
		}
		fields, err := json.Marshal(ev.Fields)
		if err != nil {
			return "", nil, false, err
		}
		if b.Len() == 0 {
			b.WriteString(`INSERT INTO webhook_outbox (event_type, customer_id, fields, time_us) SELECT v.* FROM (VALUES `)
		} else {
			b.WriteByte(',')
		}
		b.WriteString("(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT))")
		args = append(args, ev.Type, ev.CustomerID, string(fields), micros(t))
	}
	if b.Len() == 0 {
		return "", nil, true, nil
	}
	b.WriteString(`) AS v WHERE EXISTS (SELECT 1 FROM webhooks WHERE active = 1)`)
	return b.String(), args, true, nil
}

const webhookColumns = `id, url, description, events, personal_data, active, key_id, data_key, secret, previous_secret,
	previous_until_us, rotated_us, created_us, updated_us, created_by, version`

func webhookArgs(r *custodian.WebhookRecord) ([]any, error) {
	events, err := json.Marshal(r.Events)
	if err != nil {
		return nil, err
	}
	var rotated int64
	if r.SecretRotatedAt != nil {
		rotated = micros(*r.SecretRotatedAt)
	}
	return []any{r.ID, r.URL, r.Description, string(events), boolInt(r.PersonalData), boolInt(r.Active), r.KeyID, r.DataKey, r.Secret,
		r.PreviousSecret, microsOrZero(r.PreviousExpiresAt), rotated, micros(r.CreatedAt), micros(r.UpdatedAt), r.CreatedBy, r.Version}, nil
}

func scanWebhook(row scanner) (*custodian.WebhookRecord, error) {
	var r custodian.WebhookRecord
	var events string
	var personal, active, prevUntil, rotated, created, updated int64
	if err := row.Scan(&r.ID, &r.URL, &r.Description, &events, &personal, &active, &r.KeyID, &r.DataKey, &r.Secret, &r.PreviousSecret,
		&prevUntil, &rotated, &created, &updated, &r.CreatedBy, &r.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &r.Events); err != nil {
		return nil, fmt.Errorf("webhook %s: events: %w", r.ID, err)
	}
	r.PersonalData, r.Active = personal != 0, active != 0
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	if rotated != 0 {
		t := fromMicros(rotated)
		r.SecretRotatedAt = &t
	}
	if prevUntil != 0 {
		r.PreviousExpiresAt = fromMicros(prevUntil)
		t := r.PreviousExpiresAt
		r.PreviousSecretExpiresAt = &t
	}
	return &r, nil
}

var errNoWebhook = custodian.Errorf(custodian.ENOTFOUND, "Webhook not found.")

// InsertWebhook stores a new endpoint.
func (s *Store) InsertWebhook(ctx context.Context, r *custodian.WebhookRecord) error {
	args, err := webhookArgs(r)
	if err != nil {
		return internal("insert webhook", err)
	}
	return s.inTx(ctx, "insert webhook", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), args...)
		return err
	})
}

// WebhookRecord returns the endpoint with id, or ENOTFOUND.
func (s *Store) WebhookRecord(ctx context.Context, id string) (*custodian.WebhookRecord, error) {
	r, err := scanWebhook(s.read.QueryRowContext(ctx, s.q(`SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoWebhook
	}
	return r, internal("webhook", err)
}

// WebhookRecords returns every endpoint, oldest first.
func (s *Store) WebhookRecords(ctx context.Context) ([]*custodian.WebhookRecord, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY seq`)
	if err != nil {
		return nil, internal("webhooks", err)
	}
	defer rows.Close()
	var out []*custodian.WebhookRecord
	for rows.Next() {
		r, err := scanWebhook(rows)
		if err != nil {
			return nil, internal("webhooks", err)
		}
		out = append(out, r)
	}
	return out, internal("webhooks", rows.Err())
}

// UpdateWebhook reads the endpoint within a write transaction, passes it
// to fn and stores what fn returns.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(cur *custodian.WebhookRecord) (*custodian.WebhookRecord, error)) error {
	return s.inTx(ctx, "update webhook", func(tx *sql.Tx) error {
		cur, err := scanWebhook(tx.QueryRowContext(ctx, s.q(`SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`+s.dialect.ForUpdate), id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoWebhook
		}
		if err != nil {
			return err
		}
		r, err := fn(cur)
		if err != nil {
			return err
		}
		args, err := webhookArgs(r)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE webhooks SET url = ?, description = ?, events = ?, personal_data = ?, active = ?, key_id = ?,
			data_key = ?, secret = ?, previous_secret = ?, previous_until_us = ?, rotated_us = ?, updated_us = ?, version = ? WHERE id = ?`),
			append(args[1:12:12], args[13], args[15], id)...)
		return err
	})
}

// DeleteWebhook removes the endpoint and, by cascade, its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete webhook", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM webhook_deliveries WHERE webhook_seq = (SELECT seq FROM webhooks WHERE id = ?)`), id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM webhooks WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoWebhook
		}
		return nil
	})
}

// FanOutWebhookEvents moves up to limit events from the outbox into
// deliveries, in one transaction. Each event is removed with a DELETE
// whose row count says whether this process took it: one that another
// process took meanwhile is skipped.
func (s *Store) FanOutWebhookEvents(ctx context.Context, limit int, route func(custodian.WebhookEvent) []custodian.WebhookDelivery) (int, error) {
	taken := 0
	err := s.inTx(ctx, "webhook fan-out", func(tx *sql.Tx) error {
		taken = 0
		rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, event_type, customer_id, fields, time_us FROM webhook_outbox ORDER BY seq LIMIT ?`), limit)
		if err != nil {
			return err
		}
		var events []custodian.WebhookEvent
		for rows.Next() {
			var ev custodian.WebhookEvent
			var fields string
			var us int64
			if err := rows.Scan(&ev.Seq, &ev.Type, &ev.CustomerID, &fields, &us); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal([]byte(fields), &ev.Fields); err != nil {
				rows.Close()
				return fmt.Errorf("outbox event %d: %w", ev.Seq, err)
			}
			ev.Time = fromMicros(us)
			events = append(events, ev)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ev := range events {
			res, err := tx.ExecContext(ctx, s.q(`DELETE FROM webhook_outbox WHERE seq = ?`), ev.Seq)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			taken++
			for _, d := range route(ev) {
				fields, err := json.Marshal(d.Fields)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhook_deliveries (id, webhook_seq, event_type, customer_id, fields, occurred_us, created_us, status, next_attempt_us)
					SELECT ?, seq, ?, ?, ?, ?, ?, ?, ? FROM webhooks WHERE id = ?`),
					d.ID, d.EventType, d.CustomerID, string(fields), micros(d.OccurredAt), micros(d.CreatedAt), d.Status, micros(d.NextAttemptAt), d.WebhookID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return taken, err
}

const deliveryColumns = `d.id, w.id, d.event_type, d.customer_id, d.fields, d.occurred_us, d.created_us, d.status, d.attempts,
	d.next_attempt_us, d.last_attempt_us, d.last_status_code, d.last_error`

func scanDelivery(row scanner) (custodian.WebhookDelivery, error) {
	var d custodian.WebhookDelivery
	var fields string
	var occurred, created, next, last int64
	if err := row.Scan(&d.ID, &d.WebhookID, &d.EventType, &d.CustomerID, &fields, &occurred, &created, &d.Status, &d.Attempts,
		&next, &last, &d.LastStatusCode, &d.LastError); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(fields), &d.Fields); err != nil {
		return d, fmt.Errorf("delivery %s: fields: %w", d.ID, err)
	}
	d.OccurredAt, d.CreatedAt, d.NextAttemptAt = fromMicros(occurred), fromMicros(created), fromMicros(next)
	if last != 0 {
		d.LastAttemptAt = fromMicros(last)
	}
	return d, nil
}

func (s *Store) deliveries(ctx context.Context, q *sql.DB, where string, args ...any) ([]custodian.WebhookDelivery, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM webhook_deliveries d JOIN webhooks w ON w.seq = d.webhook_seq `+where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []custodian.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimWebhookDeliveries leases up to limit due deliveries, each with a
// compare-and-set on its next attempt time, so that concurrent processes
// never claim the same one.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]custodian.WebhookDelivery, error) {
	due, err := s.deliveries(ctx, s.read, `WHERE d.status = 'pending' AND d.next_attempt_us <= ? ORDER BY d.next_attempt_us, d.seq LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, internal("due deliveries", err)
	}
	var out []custodian.WebhookDelivery
	for _, d := range due {
		res, err := s.write.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET next_attempt_us = ?, attempts = attempts + 1
			WHERE id = ? AND status = 'pending' AND next_attempt_us = ?`), micros(leaseUntil), d.ID, micros(d.NextAttemptAt))
		if err != nil {
			return out, internal("claim delivery", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			d.Attempts++
			d.NextAttemptAt = leaseUntil
			out = append(out, d)
		}
	}
	return out, nil
}

// FinishWebhookAttempt stores the outcome of an attempt.
func (s *Store) FinishWebhookAttempt(ctx context.Context, d custodian.WebhookDelivery) error {
	_, err := s.write.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET status = ?, next_attempt_us = ?, last_attempt_us = ?,
		last_status_code = ?, last_error = ? WHERE id = ?`),
		d.Status, micros(d.NextAttemptAt), microsOrZero(d.LastAttemptAt), d.LastStatusCode, d.LastError, d.ID)
	return internal("finish delivery", err)
}

// WebhookDeliveries lists an endpoint's deliveries, newest first.
func (s *Store) WebhookDeliveries(ctx context.Context, webhookID string, limit int) ([]custodian.WebhookDelivery, error) {
	if _, err := s.WebhookRecord(ctx, webhookID); err != nil {
		return nil, err
	}
	where, args := `WHERE w.id = ? ORDER BY d.seq DESC`, []any{webhookID}
	if limit > 0 {
		where += ` LIMIT ?`
		args = append(args, limit)
	}
	out, err := s.deliveries(ctx, s.read, where, args...)
	return out, internal("deliveries", err)
}

// PurgeWebhookDeliveries removes finished deliveries created before
// before.
func (s *Store) PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, s.q(`DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_us < ?`), micros(before))
	if err != nil {
		return 0, internal("purge deliveries", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

var _ custodian.WebhookRepository = (*Store)(nil)
