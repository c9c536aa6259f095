package metrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// dbCollector exports sql.DBStats, read at scrape time.
type dbCollector struct {
	stats func() sql.DBStats

	maxOpen, open, inUse, idle                                     *prometheus.Desc
	waitCount, waitSeconds, idleClosed, idleTimeClosed, lifeClosed *prometheus.Desc
}

func newDBCollector(name string, stats func() sql.DBStats) *dbCollector {
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db", metric), help,
			nil, prometheus.Labels{"db": name})
	}
	return &dbCollector{
		stats:          stats,
		maxOpen:        desc("max_open_connections", "Configured maximum of open connections."),
		open:           desc("open_connections", "Established connections, in use and idle."),
		inUse:          desc("in_use_connections", "Connections currently in use."),
		idle:           desc("idle_connections", "Idle connections."),
		waitCount:      desc("wait_total", "Times a caller waited for a connection."),
		waitSeconds:    desc("wait_seconds_total", "Total time callers waited for a connection."),
		idleClosed:     desc("max_idle_closed_total", "Connections closed because of the idle pool limit."),
		idleTimeClosed: desc("max_idle_time_closed_total", "Connections closed because they idled too long."),
		lifeClosed:     desc("max_lifetime_closed_total", "Connections closed because they reached their maximum lifetime."),
	}
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waitCount,
		c.waitSeconds, c.idleClosed, c.idleTimeClosed, c.lifeClosed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.maxOpen, float64(s.MaxOpenConnections))
	gauge(c.open, float64(s.OpenConnections))
	gauge(c.inUse, float64(s.InUse))
	gauge(c.idle, float64(s.Idle))
	counter(c.waitCount, float64(s.WaitCount))
	counter(c.waitSeconds, s.WaitDuration.Seconds())
	counter(c.idleClosed, float64(s.MaxIdleClosed))
	counter(c.idleTimeClosed, float64(s.MaxIdleTimeClosed))
	counter(c.lifeClosed, float64(s.MaxLifetimeClosed))
}
