package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/custodian-crm/custodian"
)

var errNoView = custodian.Errorf(custodian.ENOTFOUND, "View not found.")

// viewNameTaken is the conflict of a name its owner, or the shared set,
// already has.
func viewNameTaken() error {
	return &custodian.Error{Code: custodian.ECONFLICT, Message: "A view with this name exists already; choose another name.",
		Fields: []custodian.FieldError{{Field: "name", Message: "A view with this name exists already."}}}
}

// viewNameKey is what names are compared by: lower-cased.
func viewNameKey(name string) string { return strings.ToLower(name) }

const viewColumns = `v.id, v.name, COALESCE(u.id, ''), v.created_by, v.created_us, v.updated_us, v.version, v.key_id, v.data_key, v.state_ct`

func scanView(row scanner) (*custodian.ViewRecord, error) {
	var r custodian.ViewRecord
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Name, &r.Owner, &r.CreatedBy, &created, &updated, &r.Version, &r.KeyID, &r.DataKey, &r.StateCT); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// CreateView stores a new view, private to r.Owner or shared when Owner is
// empty.
func (s *Store) CreateView(ctx context.Context, r *custodian.ViewRecord) error {
	return s.inTx(ctx, "create view", func(tx *sql.Tx) error {
		var owner sql.NullInt64
		if r.Owner != "" {
			err := tx.QueryRowContext(ctx, s.q(`SELECT seq FROM users WHERE id = ?`), r.Owner).Scan(&owner)
			if errors.Is(err, sql.ErrNoRows) {
				return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
			}
			if err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM saved_views WHERE COALESCE(owner_seq, 0) = ?`), owner.Int64).Scan(&n); err != nil {
			return err
		}
		if n >= custodian.MaxViewsPerOwner {
			return custodian.Errorf(custodian.ECONFLICT, "There are %d saved views already; delete one first.", custodian.MaxViewsPerOwner)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO saved_views (id, owner_seq, name, name_key, created_by, created_us, updated_us, version, key_id, data_key, state_ct)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			r.ID, owner, r.Name, viewNameKey(r.Name), r.CreatedBy, micros(r.CreatedAt), micros(r.UpdatedAt), r.Version, r.KeyID, r.DataKey, r.StateCT)
		if isUniqueViolation(err) {
			return viewNameTaken()
		}
		return err
	})
}

// ViewRecords returns the user's views and the shared ones, shared first,
// each group by name.
func (s *Store) ViewRecords(ctx context.Context, userID string) ([]custodian.ViewRecord, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, s.q(`SELECT `+viewColumns+` FROM saved_views v LEFT JOIN users u ON u.seq = v.owner_seq
		WHERE v.owner_seq IS NULL OR u.id = ? ORDER BY v.owner_seq IS NOT NULL, v.name_key, v.seq`), userID)
	if err != nil {
		return nil, internal("views", err)
	}
	defer rows.Close()
	var out []custodian.ViewRecord
	for rows.Next() {
		r, err := scanView(rows)
		if err != nil {
			return nil, internal("views", err)
		}
		out = append(out, *r)
	}
	return out, internal("views", rows.Err())
}

// ViewRecord returns one view.
func (s *Store) ViewRecord(ctx context.Context, id string) (*custodian.ViewRecord, error) {
	r, err := scanView(s.reader(ctx).QueryRowContext(ctx, s.q(`SELECT `+viewColumns+` FROM saved_views v LEFT JOIN users u ON u.seq = v.owner_seq WHERE v.id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoView
	}
	return r, internal("view", err)
}

// lockView reads a view inside tx (locking its row on PostgreSQL).
func (s *Store) lockView(ctx context.Context, tx *sql.Tx, id string) (*custodian.ViewRecord, error) {
	// The row is locked alone: PostgreSQL locks no row on the nullable
	// side of an outer join.
	var seq int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT seq FROM saved_views WHERE id = ?`+s.dialect.ForUpdate), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoView
	}
	if err != nil {
		return nil, err
	}
	r, err := scanView(tx.QueryRowContext(ctx, s.q(`SELECT `+viewColumns+` FROM saved_views v LEFT JOIN users u ON u.seq = v.owner_seq WHERE v.seq = ?`), seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoView
	}
	return r, err
}

// UpdateView stores what fn makes of the view: its name, state, update
// time and version.
func (s *Store) UpdateView(ctx context.Context, id string, fn func(cur *custodian.ViewRecord) (*custodian.ViewRecord, error)) error {
	return s.inTx(ctx, "update view", func(tx *sql.Tx) error {
		cur, err := s.lockView(ctx, tx, id)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE saved_views SET name = ?, name_key = ?, updated_us = ?, version = ?, key_id = ?, data_key = ?, state_ct = ? WHERE id = ?`),
			next.Name, viewNameKey(next.Name), micros(next.UpdatedAt), next.Version, next.KeyID, next.DataKey, next.StateCT, id)
		if isUniqueViolation(err) {
			return viewNameTaken()
		}
		return err
	})
}

// DeleteView removes the view when fn allows it.
func (s *Store) DeleteView(ctx context.Context, id string, fn func(cur *custodian.ViewRecord) error) error {
	return s.inTx(ctx, "delete view", func(tx *sql.Tx) error {
		cur, err := s.lockView(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(cur); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM saved_views WHERE id = ?`), id)
		return err
	})
}
