package postgres

// Hooks for the external tests: stores whose statements a tracer counts.
var (
	OpenReplicatedTraced = openReplicated
	OpenShredTraced      = openShred
)
