package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/password"
)

// busyRetry is how long a caller turned away by a full hashing queue is
// told to wait: the queue drains within about a second.
const busyRetry = time.Second

// errBusy is the answer when every password-hashing slot is taken and the
// queue in front of them is full: 503 with Retry-After, at once, rather
// than a wait behind a flood of sign-ins.
var errBusy = &custodian.RetryError{
	Err:   custodian.Errorf(custodian.EUNAVAILABLE, "The server is busy checking other sign-ins; try again in a moment."),
	After: busyRetry,
}

// busy turns the hasher's ErrBusy into errBusy, leaving other errors as
// they are.
func busy(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return errBusy
	}
	return err
}

// verify checks pw against a stored hash (see password.Hasher.Verify).
func (s *Service) verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	ok, rehash, err = s.hasher.Verify(ctx, pw, encoded)
	return ok, rehash, busy(err)
}

// hash hashes a new password (see password.Hasher.Hash).
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.Hash(ctx, pw)
	return h, busy(err)
}

// verifyDummy spends the work of a verify for an account that does not
// exist (see password.Hasher.VerifyDummy).
func (s *Service) verifyDummy(ctx context.Context, pw string) error {
	return busy(s.hasher.VerifyDummy(ctx, pw))
}
