package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/custodian-crm/custodian"
)

// KeyUsage returns how many customers each master key protects, from the
// index on key_id.
func (s *Store) KeyUsage(ctx context.Context) (map[string]int64, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, `SELECT key_id, COUNT(*) FROM customers GROUP BY key_id`)
	if err != nil {
		return nil, internal("key usage", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, internal("key usage", err)
		}
		out[id] = n
	}
	return out, internal("key usage", rows.Err())
}

// wrappedKey is one row's data key as read for re-wrapping.
type wrappedKey struct {
	seq     int64
	id      string
	keyID   string
	wrapped []byte
}

// RewrapDataKeys re-wraps up to batch data keys that are not under
// activeKeyID, in one write transaction. Rows are found through the index
// on key_id, as two range scans (below and above the active id) that stop
// at the batch size, so every batch costs the same however many customers
// there are. Each UPDATE compares the key id and wrapped key it read, so a
// row changed in between is left alone and picked up by a later batch.
// Each batch appends one keys.rotate audit event (subject: the active key
// id; data: how many keys it re-wrapped) in its own transaction.
func (s *Store) RewrapDataKeys(ctx context.Context, activeKeyID string, batch int, rewrap custodian.RewrapFunc) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	for {
		found, done := 0, 0
		err := s.inTx(ctx, "rewrap data keys", func(tx *sql.Tx) error {
			keys, err := s.staleKeys(ctx, tx, activeKeyID, batch)
			if err != nil {
				return err
			}
			found = len(keys)
			if found == 0 {
				return nil
			}
			stmt, err := tx.PrepareContext(ctx, s.q(`UPDATE customers SET key_id = ?, data_key = ? WHERE seq = ? AND key_id = ? AND data_key = ?`))
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, k := range keys {
				newID, newWrapped, err := rewrap(k.id, k.keyID, k.wrapped)
				if err != nil {
					return err
				}
				if newID != activeKeyID {
					return errors.New("rewrap: the new master key is not the active one")
				}
				res, err := stmt.ExecContext(ctx, newID, newWrapped, k.seq, k.keyID, k.wrapped)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				done += int(n)
			}
			if done == 0 {
				return nil
			}
			// The batch is on the audit trail with the change itself.
			data, err := json.Marshal(map[string]int{"rewrapped": done})
			if err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, stamp(ctx, []custodian.AuditEntry{{Action: custodian.ActionKeyRotate, Subject: activeKeyID, Data: data}}))
		})
		if err != nil {
			return 0, err
		}
		// When every row found was changed by someone else in between,
		// look again rather than report that none is left.
		if found == 0 || done > 0 {
			return done, nil
		}
	}
}

// staleKeys reads up to batch rows whose key id differs from activeKeyID.
func (s *Store) staleKeys(ctx context.Context, tx *sql.Tx, activeKeyID string, batch int) ([]wrappedKey, error) {
	var out []wrappedKey
	for _, cmp := range []string{"<", ">"} {
		if len(out) >= batch {
			break
		}
		var err error
		if out, err = s.appendStaleKeys(ctx, tx, out, cmp, activeKeyID, batch-len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendStaleKeys appends up to limit rows whose key id compares to
// activeKeyID by cmp ("<" or ">").
func (s *Store) appendStaleKeys(ctx context.Context, tx *sql.Tx, out []wrappedKey, cmp, activeKeyID string, limit int) ([]wrappedKey, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, id, key_id, data_key FROM customers WHERE key_id `+cmp+` ? LIMIT ?`), activeKeyID, limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var k wrappedKey
		if err := rows.Scan(&k.seq, &k.id, &k.keyID, &k.wrapped); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
