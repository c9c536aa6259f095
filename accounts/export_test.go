package accounts

import (
	"context"

	"github.com/custodian-crm/custodian"
)

// WaitTouches waits for the last-seen and last-used times being written
// in the background, so that tests can read them from the database.
func WaitTouches(s *Service) { s.touches.Wait() }

// Failures returns the failure counts kept for the account userID (or,
// when it is "", the email address without an account) and the client
// address addr.
func Failures(s *Service, userID, email, addr string) (acct, src int) {
	var u *custodian.UserRecord
	if userID != "" {
		u = &custodian.UserRecord{User: custodian.User{ID: userID}}
	}
	a, sc, err := s.repo.SignInFailures(context.Background(), s.accountKey(u, email), s.sourceKey(addr))
	if err != nil {
		panic(err)
	}
	return a.Failures, sc.Failures
}
