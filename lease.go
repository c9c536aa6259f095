package custodian

// JobLease is the right to run the background jobs (retention, audit
// anchors, scheduled backups): however many instances serve one database,
// one holds the lease and runs them, so no job runs twice. With SQLite
// the lease belongs to the server holding the data directory's lock file;
// with PostgreSQL, to the instance holding an advisory lock, which a
// standby takes over when the holder goes away.
type JobLease interface {
	// Held reports whether this instance holds the lease now: whether a
	// job run due now may start.
	Held() bool
}
