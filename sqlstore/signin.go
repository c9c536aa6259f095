package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/custodian-crm/custodian"
)

// noSource is the source of an account's own count of consecutive
// failures.
var noSource = []byte{}

// SignInFailures returns the account's count and the count of source
// against it.
func (s *Store) SignInFailures(ctx context.Context, account, source []byte) (acct, src custodian.FailureCount, err error) {
	read := func(q func(query string, args ...any) *sql.Row, source []byte) (custodian.FailureCount, error) {
		var c custodian.FailureCount
		var last int64
		err := q(`SELECT failures, last_failed_us FROM signin_failures WHERE account = ? AND source = ?`, account, source).Scan(&c.Failures, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return custodian.FailureCount{}, nil
		}
		if err != nil {
			return c, internal("read sign-in failures", err)
		}
		c.LastFailedAt = fromMicros(last)
		return c, nil
	}
	q := func(query string, args ...any) *sql.Row { return s.queryRow(ctx, query, args...) }
	if tx := s.txFrom(ctx); tx != nil {
		q = func(query string, args ...any) *sql.Row { return tx.QueryRowContext(ctx, s.q(query), args...) }
	}
	if acct, err = read(q, noSource); err != nil {
		return acct, src, err
	}
	src, err = read(q, source)
	return acct, src, err
}

// RecordSignInFailure adds a failure to the account's count and to the
// source's, in one transaction.
func (s *Store) RecordSignInFailure(ctx context.Context, account, source []byte, at time.Time, forget func(custodian.FailureCount) bool) (acct, src custodian.FailureCount, err error) {
	err = s.inTx(ctx, "record sign-in failure", func(tx *sql.Tx) error {
		add := func(source []byte, forget func(custodian.FailureCount) bool) (custodian.FailureCount, error) {
			var c custodian.FailureCount
			var last int64
			err := tx.QueryRowContext(ctx, s.q(`SELECT failures, last_failed_us FROM signin_failures WHERE account = ? AND source = ?`+s.dialect.ForUpdate), account, source).Scan(&c.Failures, &last)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return c, err
			default:
				c.LastFailedAt = fromMicros(last)
			}
			if forget != nil && c.Failures > 0 && forget(c) {
				c = custodian.FailureCount{}
			}
			c.Failures++
			c.LastFailedAt = at.UTC().Truncate(time.Microsecond)
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO signin_failures (account, source, failures, last_failed_us) VALUES (?, ?, ?, ?)
				ON CONFLICT (account, source) DO UPDATE SET failures = excluded.failures, last_failed_us = excluded.last_failed_us`),
				account, source, c.Failures, micros(at))
			return c, err
		}
		var err error
		if acct, err = add(noSource, nil); err != nil {
			return err
		}
		src, err = add(source, forget)
		return err
	})
	return acct, src, err
}

// ResetSignInFailures clears the account's count and the source's.
func (s *Store) ResetSignInFailures(ctx context.Context, account, source []byte) error {
	return s.exec(ctx, "reset sign-in failures", `DELETE FROM signin_failures WHERE account = ? AND (source = ? OR source = ?)`, account, noSource, source)
}

// ClearSignInFailures clears every count of the account.
func (s *Store) ClearSignInFailures(ctx context.Context, account []byte) error {
	return s.exec(ctx, "clear sign-in failures", `DELETE FROM signin_failures WHERE account = ?`, account)
}
