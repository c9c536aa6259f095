package monitor

import (
	"context"
	"log/slog"
	"time"
)

// StoredAlert is an alert as kept in the database, with its resolution by
// an administrator, if any.
type StoredAlert struct {
	Alert
	// ResolvedAt is when an administrator marked the alert resolved; nil
	// while it is not.
	ResolvedAt *time.Time `json:"resolved_at"`
	// ResolvedBy is the user id of that administrator.
	ResolvedBy string `json:"resolved_by,omitempty"`
}

// AlertQuery selects stored alerts, most recently seen first. Empty fields
// do not filter; Resolved, when set, keeps only the alerts that someone
// has resolved (true) or that nobody has resolved yet (false).
// BeforeLastSeen continues a listing (with BeforeID for
// alerts last seen at the same instant); Limit bounds the count (0: no
// bound).
type AlertQuery struct {
	Status         Status
	Rule           string
	Resolved       *bool
	BeforeLastSeen time.Time
	BeforeID       string
	Limit          int
}

// AlertStore keeps alerts.
type AlertStore interface {
	// SaveAlert stores a new alert or updates the stored one with the
	// same ID (count, last seen, status), reporting whether it was new.
	// A new alert is also recorded in the audit trail.
	SaveAlert(ctx context.Context, a Alert) (created bool, err error)
	// Alerts returns the alerts q selects.
	Alerts(ctx context.Context, q AlertQuery) ([]StoredAlert, error)
	// ResolveAlert marks an alert resolved by the context's actor, with
	// an audit event; ENOTFOUND when there is no such alert.
	ResolveAlert(ctx context.Context, id string, at time.Time) error
}

// Recorder is an AlertSink that stores every notification and logs it:
// a newly raised alert at error level, so that log-based alerting sees it,
// and its updates and closing at info level.
func Recorder(store AlertStore, logger *slog.Logger) AlertSink {
	return SinkFunc(func(ctx context.Context, a Alert) error {
		created, err := store.SaveAlert(ctx, a)
		if err != nil {
			logger.ErrorContext(ctx, "security alert not stored", "alert_id", a.ID, "rule", a.Rule, "err", err)
			return err
		}
		level, msg := slog.LevelInfo, "security alert updated"
		switch {
		case created:
			level, msg = slog.LevelError, "security alert"
		case a.Status == StatusClosed:
			msg = "security alert closed"
		}
		logger.Log(ctx, level, msg, "alert_id", a.ID, "rule", a.Rule, "target", a.Key, "count", a.Count,
			"first_seen", a.FirstSeen, "last_seen", a.LastSeen, "status", string(a.Status))
		return nil
	})
}
