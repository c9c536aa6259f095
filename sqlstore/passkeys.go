package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

const passkeyColumns = `k.id, u.id, k.credential_id, k.public_key, k.sign_count, k.aaguid, k.transports, k.attestation_type,
	k.attestation_format, k.user_verified, k.backup_eligible, k.backed_up, k.name, k.created_us, k.last_used_us`

func scanPasskey(row scanner) (*custodian.Passkey, error) {
	var k custodian.Passkey
	var count int64
	var transports string
	var uv, be, bs int64
	var created, used int64
	err := row.Scan(&k.ID, &k.UserID, &k.CredentialID, &k.PublicKey, &count, &k.AAGUID, &transports, &k.AttestationType,
		&k.AttestationFormat, &uv, &be, &bs, &k.Name, &created, &used)
	if err != nil {
		return nil, err
	}
	k.SignCount = uint32(count) // #nosec G115 -- stored from a uint32
	k.Transports = []string{}
	if transports != "" {
		k.Transports = strings.Split(transports, ",")
	}
	k.UserVerified, k.BackupEligible, k.BackedUp = uv != 0, be != 0, bs != 0
	k.CreatedAt, k.LastUsedAt = fromMicros(created), timeOrZero(used)
	return &k, nil
}

var errNoPasskey = custodian.Errorf(custodian.ENOTFOUND, "Passkey not found.")

// CreatePasskey stores a passkey.
func (s *Store) CreatePasskey(ctx context.Context, k *custodian.Passkey) error {
	return s.inTx(ctx, "create passkey", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO passkeys (id, user_seq, credential_id, public_key, sign_count, aaguid, transports,
			attestation_type, attestation_format, user_verified, backup_eligible, backed_up, name, created_us, last_used_us)
			SELECT ?, seq, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM users WHERE id = ?`),
			k.ID, k.CredentialID, k.PublicKey, int64(k.SignCount), k.AAGUID, strings.Join(k.Transports, ","),
			k.AttestationType, k.AttestationFormat, boolInt(k.UserVerified), boolInt(k.BackupEligible), boolInt(k.BackedUp),
			k.Name, micros(k.CreatedAt), microsOrZero(k.LastUsedAt), k.UserID)
		if isUniqueViolation(err) {
			return custodian.Errorf(custodian.ECONFLICT, "This passkey is registered already.")
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
		}
		return nil
	})
}

// PasskeyByCredentialID returns the passkey with a credential id.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*custodian.Passkey, error) {
	k, err := scanPasskey(s.queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys k JOIN users u ON u.seq = k.user_seq WHERE k.credential_id = ?`, credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoPasskey
	}
	return k, internal("get passkey", err)
}

// ListPasskeys returns a user's passkeys, oldest first.
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]custodian.Passkey, error) {
	rows, err := s.query(ctx, `SELECT `+passkeyColumns+` FROM passkeys k JOIN users u ON u.seq = k.user_seq WHERE u.id = ? ORDER BY k.created_us, k.id`, userID)
	if err != nil {
		return nil, internal("list passkeys", err)
	}
	defer rows.Close()
	var out []custodian.Passkey
	for rows.Next() {
		k, err := scanPasskey(rows)
		if err != nil {
			return nil, internal("list passkeys", err)
		}
		out = append(out, *k)
	}
	return out, internal("list passkeys", rows.Err())
}

// RecordPasskeyUse stores a verified assertion when the stored signature
// counter is still prev.
func (s *Store) RecordPasskeyUse(ctx context.Context, id string, prev, count uint32, backedUp bool, at time.Time) error {
	return s.inTx(ctx, "record passkey use", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE passkeys SET sign_count = ?, backed_up = ?, last_used_us = ? WHERE id = ? AND sign_count = ?`),
			int64(count), boolInt(backedUp), micros(at), id, int64(prev))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var exists int
		err = tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM passkeys WHERE id = ?`), id).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoPasskey
		}
		if err != nil {
			return err
		}
		return custodian.Errorf(custodian.ECONFLICT, "The passkey's signature counter changed meanwhile.")
	})
}

// RenamePasskey renames one of a user's passkeys.
func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string) error {
	return s.inTx(ctx, "rename passkey", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE passkeys SET name = ? WHERE id = ? AND user_seq = (SELECT seq FROM users WHERE id = ?)`), name, id, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errNoPasskey
		}
		return nil
	})
}

// DeletePasskey removes one of a user's passkeys, or all of them.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	return s.inTx(ctx, "delete passkey", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM passkeys WHERE user_seq = (SELECT seq FROM users WHERE id = ?) AND (id = ? OR ? = '')`), userID, id, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 && id != "" {
			return errNoPasskey
		}
		return nil
	})
}

// CreateCeremony stores a WebAuthn ceremony under way and drops the
// expired ones.
func (s *Store) CreateCeremony(ctx context.Context, c custodian.Ceremony) error {
	return s.inTx(ctx, "create ceremony", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM webauthn_ceremonies WHERE expires_us <= ?`), micros(c.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO webauthn_ceremonies (token_hash, purpose, user_id, data, expires_us) VALUES (?, ?, ?, ?, ?)`),
			c.Hash, c.Purpose, c.UserID, c.Data, micros(c.ExpiresAt))
		return err
	})
}

// TakeCeremony deletes and returns an unexpired ceremony of the purpose.
func (s *Store) TakeCeremony(ctx context.Context, hash []byte, purpose string, now time.Time) (*custodian.Ceremony, error) {
	c := custodian.Ceremony{Hash: hash, Purpose: purpose}
	err := s.inTx(ctx, "take ceremony", func(tx *sql.Tx) error {
		var expires int64
		err := tx.QueryRowContext(ctx, s.q(`DELETE FROM webauthn_ceremonies WHERE token_hash = ? AND purpose = ?
			RETURNING user_id, data, expires_us`), hash, purpose).Scan(&c.UserID, &c.Data, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return custodian.Errorf(custodian.ENOTFOUND, "This passkey request is unknown, expired or already answered.")
		}
		if err != nil {
			return err
		}
		c.ExpiresAt = fromMicros(expires)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !now.Before(c.ExpiresAt) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "This passkey request is unknown, expired or already answered.")
	}
	return &c, nil
}

// MarkSessionPasskey records that a session proved a passkey.
func (s *Store) MarkSessionPasskey(ctx context.Context, hash []byte) error {
	return s.exec(ctx, "mark session", `UPDATE sessions SET passkey = 1 WHERE token_hash = ?`, hash)
}

var _ custodian.PasskeyRepository = (*Store)(nil)
