package ratelimit

import (
	"time"

	"github.com/custodian-crm/custodian/internal/fakeclock"
)

func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}
