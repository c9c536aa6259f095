// Package ratelimit limits how often a client may call the server.
//
// It defines the Limiter interface that the HTTP layer depends on, the
// Limit and Decision value types, a bounded in-memory GCRA limiter (Local)
// for a single server instance, a Fallback limiter that prefers a shared
// limiter (for example the Redis-backed one in package redis) and degrades to
// a local one when the shared store is unavailable, and an HTTP middleware
// that refuses over-limit requests with 429 Too Many Requests.
//
// The algorithm everywhere is GCRA (the generic cell rate algorithm): each key
// carries a single "theoretical arrival time" (TAT). A request is allowed when
// the TAT, advanced by one emission interval, is no further in the future
// than the burst allows. One timestamp per key keeps the state small, which
// matters when an attacker floods the server from many addresses.
package ratelimit
