package main

import (
	"log/slog"
	"runtime/debug"
)

// defaultMemoryLimitMiB is serve's default soft limit on the Go runtime's
// memory, chosen by measurement (docs/benchmarks.md#sqlite-tuning): with
// SQLite's page caches and the mapped binary it keeps the server near
// 150 MB after mixed load at 100,000 customers, where without it the heap
// grew to twice what it holds.
const defaultMemoryLimitMiB = 100

// applyMemoryLimit sets the Go runtime's soft memory limit to mib MiB
// (none when 0, or when GOMEMLIMIT is set, which the runtime applied
// already) and returns the function that puts the previous limit back.
func applyMemoryLimit(mib int, getenv func(string) string, logger *slog.Logger) (restore func()) {
	if mib <= 0 || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(int64(mib) << 20)
	logger.Info("Go memory limit set", "mib", mib)
	return func() { debug.SetMemoryLimit(prev) }
}
