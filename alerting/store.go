package alerting

import (
	"context"
	"log/slog"

	"github.com/custodian-crm/custodian"
)

// Recorder is an AlertSink that stores every notification and logs it:
// a newly raised alert at error level, so that log-based alerting sees it,
// and its updates and closing at info level.
func Recorder(store custodian.AlertRepository, logger *slog.Logger) AlertSink {
	return SinkFunc(func(ctx context.Context, a custodian.Alert) error {
		created, err := store.SaveAlert(ctx, a)
		if err != nil {
			logger.ErrorContext(ctx, "security alert not stored", "alert_id", a.ID, "rule", a.Rule, "err", err)
			return err
		}
		level, msg := slog.LevelInfo, "security alert updated"
		switch {
		case created:
			level, msg = slog.LevelError, "security alert"
		case a.Status == custodian.AlertClosed:
			msg = "security alert closed"
		}
		logger.Log(ctx, level, msg, "alert_id", a.ID, "rule", a.Rule, "target", a.Key, "count", a.Count,
			"first_seen", a.FirstSeen, "last_seen", a.LastSeen, "status", string(a.Status))
		return nil
	})
}
