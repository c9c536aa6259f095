package sqlstore

import (
	"context"
	"database/sql"

	"github.com/custodian-crm/custodian"
)

// AddActivity stores the activity fn returns for the locked record.
func (s *Store) AddActivity(ctx context.Context, customerID string, fn func(cur *custodian.CustomerRecord) (*custodian.ActivityRecord, error)) (int64, error) {
	var seq int64
	err := s.inTx(ctx, "add activity", func(tx *sql.Tx) error {
		cur, cseq, err := s.lockRecord(ctx, tx, customerID)
		if err != nil {
			return err
		}
		a, err := fn(cur)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.q(`INSERT INTO customer_activities (customer_seq, kind, date_us, author, created_us, text_ct)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`),
			cseq, a.Type, micros(a.Date), a.Author, micros(a.CreatedAt), nonNilBytes(a.TextCT)).Scan(&seq)
	})
	return seq, err
}

// ActivityRecords returns a customer's activities, newest first.
func (s *Store) ActivityRecords(ctx context.Context, customerID string) ([]custodian.ActivityRecord, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, s.q(`SELECT a.seq, c.id, a.kind, a.date_us, a.author, a.created_us, a.text_ct
		FROM customer_activities a JOIN customers c ON c.seq = a.customer_seq
		WHERE c.id = ? ORDER BY a.date_us DESC, a.seq DESC`), customerID)
	if err != nil {
		return nil, internal("activities", err)
	}
	defer rows.Close()
	var out []custodian.ActivityRecord
	for rows.Next() {
		var r custodian.ActivityRecord
		var date, created int64
		if err := rows.Scan(&r.Seq, &r.CustomerID, &r.Type, &date, &r.Author, &created, &r.TextCT); err != nil {
			return nil, internal("activities", err)
		}
		r.Date, r.CreatedAt = fromMicros(date), fromMicros(created)
		out = append(out, r)
	}
	return out, internal("activities", rows.Err())
}
