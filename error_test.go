package custodian_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

func TestGoneErrorAnswersAsEGONE(t *testing.T) {
	tomb := &custodian.Tombstone{ID: "cus_x", ErasedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	err := fmt.Errorf("get: %w", custodian.Gone(tomb))
	if code, msg := custodian.ErrorCode(err), custodian.ErrorMessage(err); code != custodian.EGONE || msg != "This customer's personal data was erased on 2026-01-02T03:04:05Z." {
		t.Fatalf("code %q, message %q", code, msg)
	}
	gone, ok := errors.AsType[*custodian.GoneError](err)
	if !ok || gone.Tombstone != tomb {
		t.Fatalf("errors.AsType found %v, %v", gone, ok)
	}
	if _, ok := errors.AsType[*custodian.GoneError](custodian.Errorf(custodian.EGONE, "gone")); ok {
		t.Fatal("a plain EGONE error carries a tombstone")
	}
	if err := (&custodian.GoneError{}); err.Error() != custodian.EGONE || err.Unwrap() != nil {
		t.Fatalf("zero GoneError: %q, %v", err.Error(), err.Unwrap())
	}
}

func TestRetryErrorKeepsTheRefusal(t *testing.T) {
	refusal := custodian.Errorf(custodian.ETOOMANY, "Wait.")
	err := &custodian.SignInError{Account: "usr_x", Err: &custodian.RetryError{Err: refusal, After: time.Minute}}
	if custodian.ErrorCode(err) != custodian.ETOOMANY || custodian.ErrorMessage(err) != "Wait." || err.Error() != refusal.Error() || !errors.Is(err, refusal) {
		t.Fatalf("%v: code %q, message %q", err, custodian.ErrorCode(err), custodian.ErrorMessage(err))
	}
	retry, ok := errors.AsType[*custodian.RetryError](err)
	if !ok || retry.After != time.Minute {
		t.Fatalf("errors.AsType found %v, %v", retry, ok)
	}
	if _, ok := errors.AsType[*custodian.RetryError](refusal); ok {
		t.Fatal("a plain ETOOMANY error asks for a wait")
	}
}
