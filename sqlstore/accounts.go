package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

const userColumns = `u.id, u.email, u.name, u.role, u.active, u.totp_enabled, u.created_us, u.updated_us, u.version,
	u.password_hash, u.totp_key_id, u.totp_data_key, u.totp_secret, u.totp_last_step, u.failed_signins, u.last_failed_us,
	u.language, u.time_zone`

func scanUser(row scanner, extra ...any) (*custodian.UserRecord, error) {
	var u custodian.UserRecord
	var active, totp int64
	var created, updated, lastFailed int64
	err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &active, &totp, &created, &updated, &u.Version,
		&u.PasswordHash, &u.TOTPKeyID, &u.TOTPDataKey, &u.TOTPSecret, &u.TOTPLastStep, &u.FailedSignins, &lastFailed,
		&u.Language, &u.TimeZone}, extra...)...)
	if err != nil {
		return nil, err
	}
	u.Active, u.TOTPEnabled = active != 0, totp != 0
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	if lastFailed != 0 {
		u.LastFailedAt = fromMicros(lastFailed)
	}
	return &u, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func timeOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// isUniqueViolation reports a unique-constraint failure on either backend.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, internal("count users", err)
}

func (s *Store) insertUser(ctx context.Context, tx *sql.Tx, u *custodian.UserRecord) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (id, email, name, role, active, password_hash, totp_key_id, totp_data_key, totp_secret,
		totp_enabled, totp_last_step, failed_signins, last_failed_us, created_us, updated_us, version, language, time_zone)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.Name, string(u.Role), boolInt(u.Active), u.PasswordHash, u.TOTPKeyID, u.TOTPDataKey, u.TOTPSecret,
		boolInt(u.TOTPEnabled), u.TOTPLastStep, u.FailedSignins, microsOrZero(u.LastFailedAt), micros(u.CreatedAt), micros(u.UpdatedAt), u.Version, u.Language, u.TimeZone)
	if isUniqueViolation(err) {
		return custodian.Errorf(custodian.ECONFLICT, "A user with this email address already exists.")
	}
	return err
}

// CreateUser stores a new user.
func (s *Store) CreateUser(ctx context.Context, u *custodian.UserRecord) error {
	return s.inTx(ctx, "create user", func(tx *sql.Tx) error { return s.insertUser(ctx, tx, u) })
}

// redeem marks an unused, unexpired one-time token as used and returns it.
func (s *Store) redeem(ctx context.Context, tx *sql.Tx, hash []byte, purpose string, now time.Time) (*custodian.OneTimeToken, error) {
	t := custodian.OneTimeToken{Hash: hash, Purpose: purpose}
	var created, expires int64
	var role string
	err := tx.QueryRowContext(ctx, s.q(`UPDATE one_time_tokens SET used_us = ?
		WHERE token_hash = ? AND purpose = ? AND used_us = 0 AND revoked_us = 0 AND expires_us > ?
		RETURNING email, role, user_id, created_by, created_us, expires_us`), micros(now), hash, purpose, micros(now)).
		Scan(&t.Email, &role, &t.UserID, &t.CreatedBy, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "This link is invalid, expired or already used.")
	}
	if err != nil {
		return nil, err
	}
	t.Role, t.CreatedAt, t.ExpiresAt = custodian.Role(role), fromMicros(created), fromMicros(expires)
	return &t, nil
}

// RedeemForUser consumes a one-time token and stores u in one transaction.
func (s *Store) RedeemForUser(ctx context.Context, hash []byte, purpose string, now time.Time, u *custodian.UserRecord) error {
	return s.inTx(ctx, "redeem token", func(tx *sql.Tx) error {
		if _, err := s.redeem(ctx, tx, hash, purpose, now); err != nil {
			return err
		}
		return s.insertUser(ctx, tx, u)
	})
}

// RedeemToken consumes an unused, unexpired one-time token of the purpose
// and returns it.
func (s *Store) RedeemToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*custodian.OneTimeToken, error) {
	var t *custodian.OneTimeToken
	err := s.inTx(ctx, "redeem token", func(tx *sql.Tx) error {
		var err error
		t, err = s.redeem(ctx, tx, hash, purpose, now)
		return err
	})
	return t, err
}

// RevokeUserTokens revokes the user's pending one-time tokens of the
// purpose and returns how many there were.
func (s *Store) RevokeUserTokens(ctx context.Context, userID, purpose string, now time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, "revoke user tokens", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE one_time_tokens SET revoked_us = ?
			WHERE user_id = ? AND purpose = ? AND used_us = 0 AND revoked_us = 0 AND expires_us > ?`), micros(now), userID, purpose, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// ResetPassword consumes a reset token and sets the password of the user
// it names, clearing failed sign-ins and ending every session, in one
// transaction.
func (s *Store) ResetPassword(ctx context.Context, hash []byte, now time.Time, passwordHash string) error {
	return s.inTx(ctx, "reset password", func(tx *sql.Tx) error {
		t, err := s.redeem(ctx, tx, hash, custodian.PurposeReset, now)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET password_hash = ?, failed_signins = 0, last_failed_us = 0,
			updated_us = ?, version = version + 1 WHERE id = ?`), passwordHash, micros(now), t.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE user_seq = (SELECT seq FROM users WHERE id = ?)`), t.UserID)
		return err
	})
}

// PeekToken returns an unused, unexpired one-time token.
func (s *Store) PeekToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*custodian.OneTimeToken, error) {
	t := custodian.OneTimeToken{Hash: hash, Purpose: purpose}
	var created, expires int64
	var role string
	err := s.queryRow(ctx, `SELECT email, role, user_id, created_by, created_us, expires_us FROM one_time_tokens
		WHERE token_hash = ? AND purpose = ? AND used_us = 0 AND revoked_us = 0 AND expires_us > ?`, hash, purpose, micros(now)).
		Scan(&t.Email, &role, &t.UserID, &t.CreatedBy, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "This link is invalid, expired or already used.")
	}
	if err != nil {
		return nil, internal("peek token", err)
	}
	t.Role, t.CreatedAt, t.ExpiresAt = custodian.Role(role), fromMicros(created), fromMicros(expires)
	return &t, nil
}

// CreateOneTimeToken stores a one-time token.
func (s *Store) CreateOneTimeToken(ctx context.Context, t custodian.OneTimeToken) error {
	return s.inTx(ctx, "create one-time token", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO one_time_tokens (token_hash, purpose, email, role, user_id, created_by, created_us, expires_us, public_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), t.Hash, t.Purpose, t.Email, string(t.Role), t.UserID, t.CreatedBy, micros(t.CreatedAt), micros(t.ExpiresAt), custodian.InvitationID(t.Hash))
		return err
	})
}

const invitationColumns = `public_id, email, role, created_by, created_us, expires_us, used_us, revoked_us`

func scanInvitation(sc scanner, now time.Time) (custodian.Invitation, error) {
	var inv custodian.Invitation
	var role string
	var created, expires, used, revoked int64
	if err := sc.Scan(&inv.ID, &inv.Email, &role, &inv.CreatedBy, &created, &expires, &used, &revoked); err != nil {
		return inv, err
	}
	inv.Role, inv.CreatedAt, inv.ExpiresAt = custodian.Role(role), fromMicros(created), fromMicros(expires)
	switch {
	case revoked != 0:
		inv.State, inv.RevokedAt = custodian.InvitationRevoked, fromMicros(revoked)
	case used != 0:
		inv.State, inv.UsedAt = custodian.InvitationAccepted, fromMicros(used)
	case expires <= micros(now):
		inv.State = custodian.InvitationExpired
	default:
		inv.State = custodian.InvitationPending
	}
	return inv, nil
}

// ListInvitations lists every invitation, newest first.
func (s *Store) ListInvitations(ctx context.Context, now time.Time) ([]custodian.Invitation, error) {
	rows, err := s.query(ctx, `SELECT `+invitationColumns+` FROM one_time_tokens WHERE purpose = 'invite' ORDER BY created_us DESC, public_id`)
	if err != nil {
		return nil, internal("list invitations", err)
	}
	defer rows.Close()
	var out []custodian.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows, now)
		if err != nil {
			return nil, internal("list invitations", err)
		}
		out = append(out, inv)
	}
	return out, internal("list invitations", rows.Err())
}

// RevokeInvitation revokes a pending invitation.
func (s *Store) RevokeInvitation(ctx context.Context, id string, now time.Time) (*custodian.Invitation, error) {
	var inv custodian.Invitation
	err := s.inTx(ctx, "revoke invitation", func(tx *sql.Tx) error {
		var err error
		inv, err = scanInvitation(tx.QueryRowContext(ctx, s.q(`UPDATE one_time_tokens SET revoked_us = ?
			WHERE public_id = ? AND purpose = 'invite' AND used_us = 0 AND revoked_us = 0 AND expires_us > ?
			RETURNING `+invitationColumns), micros(now), id, micros(now)), now)
		if errors.Is(err, sql.ErrNoRows) {
			return custodian.Errorf(custodian.ENOTFOUND, "No pending invitation has this id.")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

func (s *Store) userWhere(ctx context.Context, cond string, arg any) (*custodian.UserRecord, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "User not found.")
	}
	return u, internal("get user", err)
}

// UserByEmail returns the user with the (normalized) email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*custodian.UserRecord, error) {
	return s.userWhere(ctx, "u.email = ?", email)
}

// UserByID returns the user with the id.
func (s *Store) UserByID(ctx context.Context, id string) (*custodian.UserRecord, error) {
	return s.userWhere(ctx, "u.id = ?", id)
}

// ListUsers returns every user, by email.
func (s *Store) ListUsers(ctx context.Context) ([]*custodian.User, error) {
	rows, err := s.query(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.email`)
	if err != nil {
		return nil, internal("list users", err)
	}
	defer rows.Close()
	var out []*custodian.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, internal("list users", err)
		}
		out = append(out, &u.User)
	}
	return out, internal("list users", rows.Err())
}

// UpdateUser runs fn on the stored user in a write transaction and stores
// the result.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*custodian.UserRecord) error) error {
	return s.inTx(ctx, "update user", func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users u WHERE u.id = ?`+s.dialect.ForUpdate), id))
		if errors.Is(err, sql.ErrNoRows) {
			return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
		}
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE users SET email = ?, name = ?, role = ?, active = ?, password_hash = ?, totp_key_id = ?,
			totp_data_key = ?, totp_secret = ?, totp_enabled = ?, totp_last_step = ?, failed_signins = ?, last_failed_us = ?,
			updated_us = ?, version = ?, language = ?, time_zone = ? WHERE id = ?`),
			u.Email, u.Name, string(u.Role), boolInt(u.Active), u.PasswordHash, u.TOTPKeyID, u.TOTPDataKey, u.TOTPSecret,
			boolInt(u.TOTPEnabled), u.TOTPLastStep, u.FailedSignins, microsOrZero(u.LastFailedAt), micros(u.UpdatedAt), u.Version, u.Language, u.TimeZone, id)
		if isUniqueViolation(err) {
			return custodian.Errorf(custodian.ECONFLICT, "A user with this email address already exists.")
		}
		return err
	})
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, se custodian.Session) error {
	return s.inTx(ctx, "create session", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO sessions (token_hash, user_seq, created_us, last_seen_us, expires_us, client_addr, user_agent, passkey)
			SELECT ?, seq, ?, ?, ?, ?, ?, ? FROM users WHERE id = ?`),
			se.TokenHash, micros(se.CreatedAt), micros(se.LastSeenAt), micros(se.ExpiresAt), se.ClientAddr, se.UserAgent, boolInt(se.Passkey), se.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
		}
		return nil
	})
}

// SessionByHash returns a session and its user.
func (s *Store) SessionByHash(ctx context.Context, hash []byte) (*custodian.Session, *custodian.UserRecord, error) {
	se := custodian.Session{TokenHash: hash}
	var created, seen, expires, passkey int64
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+`, s.created_us, s.last_seen_us, s.expires_us, s.client_addr, s.user_agent, s.passkey
		FROM sessions s JOIN users u ON u.seq = s.user_seq WHERE s.token_hash = ?`, hash), &created, &seen, &expires, &se.ClientAddr, &se.UserAgent, &passkey)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, custodian.Errorf(custodian.ENOTFOUND, "Session not found.")
	}
	if err != nil {
		return nil, nil, internal("get session", err)
	}
	se.UserID, se.CreatedAt, se.LastSeenAt, se.ExpiresAt = u.ID, fromMicros(created), fromMicros(seen), fromMicros(expires)
	se.Passkey = passkey != 0
	return &se, u, nil
}

func (s *Store) exec(ctx context.Context, op, query string, args ...any) error {
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(query), args...)
		return err
	})
}

// execFound is exec for a change of one thing, which returns notFound when
// the change found no row.
func (s *Store) execFound(ctx context.Context, op string, notFound error, query string, args ...any) error {
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound
		}
		return nil
	})
}

// ListSessions lists a user's sessions, newest first.
func (s *Store) ListSessions(ctx context.Context, userID string) ([]custodian.Session, error) {
	rows, err := s.query(ctx, `SELECT s.token_hash, s.created_us, s.last_seen_us, s.expires_us, s.client_addr, s.user_agent, s.passkey
		FROM sessions s JOIN users u ON u.seq = s.user_seq WHERE u.id = ? ORDER BY s.created_us DESC, s.token_hash`, userID)
	if err != nil {
		return nil, internal("list sessions", err)
	}
	defer rows.Close()
	var out []custodian.Session
	for rows.Next() {
		se := custodian.Session{UserID: userID}
		var created, seen, expires, passkey int64
		if err := rows.Scan(&se.TokenHash, &created, &seen, &expires, &se.ClientAddr, &se.UserAgent, &passkey); err != nil {
			return nil, internal("list sessions", err)
		}
		se.CreatedAt, se.LastSeenAt, se.ExpiresAt, se.Passkey = fromMicros(created), fromMicros(seen), fromMicros(expires), passkey != 0
		out = append(out, se)
	}
	return out, internal("list sessions", rows.Err())
}

// TouchSession records activity on a session.
func (s *Store) TouchSession(ctx context.Context, hash []byte, seen time.Time) error {
	return s.exec(ctx, "touch session", `UPDATE sessions SET last_seen_us = ? WHERE token_hash = ?`, micros(seen), hash)
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	return s.exec(ctx, "delete session", `DELETE FROM sessions WHERE token_hash = ?`, hash)
}

// DeleteUserSessions ends every session of a user except one.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, except []byte) error {
	if except == nil {
		except = []byte{}
	}
	return s.exec(ctx, "delete sessions", `DELETE FROM sessions WHERE user_seq = (SELECT seq FROM users WHERE id = ?) AND token_hash <> ?`, userID, except)
}

// CreateAPIToken stores a personal access token.
func (s *Store) CreateAPIToken(ctx context.Context, t custodian.APIToken, hash []byte) error {
	return s.inTx(ctx, "create token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_tokens (id, token_hash, user_seq, name, created_us, expires_us)
			SELECT ?, ?, seq, ?, ?, ? FROM users WHERE id = ?`), t.ID, hash, t.Name, micros(t.CreatedAt), micros(t.ExpiresAt), t.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
		}
		return nil
	})
}

const tokenColumns = `t.id, t.name, t.created_us, t.expires_us, t.last_used_us, t.revoked_us`

func scanToken(t *custodian.APIToken) []any {
	return []any{&t.ID, &t.Name, new(int64), new(int64), new(int64), new(int64)}
}

func fillTokenTimes(t *custodian.APIToken, dst []any) {
	t.CreatedAt = fromMicros(*dst[2].(*int64))
	t.ExpiresAt = fromMicros(*dst[3].(*int64))
	t.LastUsedAt = timeOrZero(*dst[4].(*int64))
	t.RevokedAt = timeOrZero(*dst[5].(*int64))
}

// APITokenByHash returns a token and its user.
func (s *Store) APITokenByHash(ctx context.Context, hash []byte) (*custodian.APIToken, *custodian.UserRecord, error) {
	var t custodian.APIToken
	dst := scanToken(&t)
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+`, `+tokenColumns+` FROM api_tokens t JOIN users u ON u.seq = t.user_seq WHERE t.token_hash = ?`, hash), dst...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, custodian.Errorf(custodian.ENOTFOUND, "Token not found.")
	}
	if err != nil {
		return nil, nil, internal("get token", err)
	}
	fillTokenTimes(&t, dst)
	t.UserID = u.ID
	return &t, u, nil
}

// TouchAPIToken records a token's use.
func (s *Store) TouchAPIToken(ctx context.Context, id string, used time.Time) error {
	return s.exec(ctx, "touch token", `UPDATE api_tokens SET last_used_us = ? WHERE id = ?`, micros(used), id)
}

// ListAPITokens returns a user's tokens, newest first.
func (s *Store) ListAPITokens(ctx context.Context, userID string) ([]custodian.APIToken, error) {
	rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM api_tokens t JOIN users u ON u.seq = t.user_seq WHERE u.id = ? ORDER BY t.created_us DESC, t.id`, userID)
	if err != nil {
		return nil, internal("list tokens", err)
	}
	defer rows.Close()
	var out []custodian.APIToken
	for rows.Next() {
		var t custodian.APIToken
		dst := scanToken(&t)
		if err := rows.Scan(dst...); err != nil {
			return nil, internal("list tokens", err)
		}
		fillTokenTimes(&t, dst)
		t.UserID = userID
		out = append(out, t)
	}
	return out, internal("list tokens", rows.Err())
}

// RevokeAPIToken revokes one token of a user, or all when id is empty.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id string, at time.Time) error {
	return s.inTx(ctx, "revoke token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE api_tokens SET revoked_us = ?
			WHERE user_seq = (SELECT seq FROM users WHERE id = ?) AND (id = ? OR ? = '') AND revoked_us = 0`), micros(at), userID, id, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 && id != "" {
			return custodian.Errorf(custodian.ENOTFOUND, "Token not found.")
		}
		return nil
	})
}

var _ custodian.AccountRepository = (*Store)(nil)

// SetRecoveryCodes replaces a user's recovery code hashes.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	return s.inTx(ctx, "set recovery codes", func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT seq FROM users WHERE id = ?`), userID).Scan(&seq); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return custodian.Errorf(custodian.ENOTFOUND, "User not found.")
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM recovery_codes WHERE user_seq = ?`), seq); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO recovery_codes (user_seq, code_hash) VALUES (?, ?)`), seq, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecoveryCodes returns a user's unused recovery code hashes.
func (s *Store) RecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT r.code_hash FROM recovery_codes r JOIN users u ON u.seq = r.user_seq WHERE u.id = ?`, userID)
	if err != nil {
		return nil, internal("recovery codes", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, internal("recovery codes", err)
		}
		out = append(out, h)
	}
	return out, internal("recovery codes", rows.Err())
}

// UseRecoveryCode deletes one recovery code; ENOTFOUND when it was already
// used (by a concurrent sign-in, say).
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) error {
	return s.inTx(ctx, "use recovery code", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM recovery_codes WHERE code_hash = ? AND user_seq = (SELECT seq FROM users WHERE id = ?)`), hash, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return custodian.Errorf(custodian.ENOTFOUND, "This recovery code was already used.")
		}
		return nil
	})
}

// Setting returns a setting's value, or "" when it is not set.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, internal("get setting", err)
}

// SetSetting stores a setting.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	return s.exec(ctx, "set setting", `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
}
