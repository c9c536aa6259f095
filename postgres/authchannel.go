package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultAuthChannel is the PostgreSQL notification channel that carries
// authentication invalidations between the instances sharing a database.
const DefaultAuthChannel = "custodian_auth"

// pingTimeout bounds the check of a silent listening connection.
const pingTimeout = 10 * time.Second

// AuthChannelOptions tune an AuthChannel. Zero fields take the defaults.
type AuthChannelOptions struct {
	// Channel is the notification channel (DefaultAuthChannel). Every
	// instance of a deployment must use the same.
	Channel string
	// MinBackoff and MaxBackoff bound the wait before each attempt to
	// listen again after a lost connection; it doubles from MinBackoff
	// (100 ms) to MaxBackoff (30 s), with jitter, and starts again from
	// MinBackoff once listening succeeds.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how long the listening connection may stay silent
	// before it is checked with a ping (30 s), so that a connection that
	// died without a word is noticed.
	PingInterval time.Duration
	// Logger reports lost connections and reconnections; nil discards.
	Logger *slog.Logger
}

// AuthChannel carries authentication invalidations between the server
// instances that share a PostgreSQL database, over LISTEN/NOTIFY: Publish
// sends a notification through the store's pool, and Listen holds a
// dedicated connection of its own that listens, reconnecting with backoff
// when it is lost. It is a custodian.AuthPublisher and a
// custodian.AuthListener, safe for concurrent use.
//
// Notifications are delivered to every connection listening when they are
// sent and to no other: a listener that was disconnected may have missed
// some, so Listen reports an invalidation of every user whenever it starts
// or stops listening.
type AuthChannel struct {
	conn *pgx.ConnConfig
	db   *sql.DB
	o    AuthChannelOptions
}

var (
	_ custodian.AuthPublisher = (*AuthChannel)(nil)
	_ custodian.AuthListener  = (*AuthChannel)(nil)
)

// NewAuthChannel returns the channel for the database at url (the one the
// store was opened with), publishing through db (the store's pool).
func NewAuthChannel(url string, db *sql.DB, o AuthChannelOptions) (*AuthChannel, error) {
	// Parsed as the pool parses it, so that pool settings in the URL
	// (pool_max_conns) are not sent to the server as parameters.
	pool, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the URL, password included: say less.
		return nil, errors.New("postgres: the database URL is not valid")
	}
	cfg := pool.ConnConfig
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "custodian-listen"
	}
	if o.Channel == "" {
		o.Channel = DefaultAuthChannel
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &AuthChannel{conn: cfg, db: db, o: o}, nil
}

// keyringPayload is the notification payload of a keyring change; no user
// id contains "!".
const keyringPayload = "!keyring"

// payload encodes inv as a notification's payload: the user id, empty
// for every user, or keyringPayload.
func payload(inv custodian.AuthInvalidation) string {
	if inv.Keyring {
		return keyringPayload
	}
	return inv.UserID
}

// invalidation decodes a notification's payload.
func invalidation(payload string) custodian.AuthInvalidation {
	if payload == keyringPayload {
		return custodian.AuthInvalidation{Keyring: true}
	}
	return custodian.AuthInvalidation{UserID: payload}
}

// Publish notifies every listening instance, this one included, of inv.
func (c *AuthChannel) Publish(ctx context.Context, inv custodian.AuthInvalidation) error {
	if _, err := c.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, c.o.Channel, payload(inv)); err != nil {
		return fmt.Errorf("postgres: notify %s: %w", c.o.Channel, err)
	}
	return nil
}

// Listen calls fn with every invalidation published on the channel until
// ctx ends, and with an invalidation of every user each time it starts
// listening and each time its connection is lost. It returns ctx's error.
func (c *AuthChannel) Listen(ctx context.Context, fn func(custodian.AuthInvalidation)) error {
	wait := c.o.MinBackoff
	for {
		listened, err := c.listen(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			fn(custodian.AuthInvalidation{}) // what comes until the next LISTEN is lost
			wait = c.o.MinBackoff
		}
		// Full jitter, so that instances cut off together do not all
		// reconnect at the same moment.
		pause := wait/2 + rand.N(wait/2+1) // #nosec G404 -- reconnect jitter only spreads load; it needs no unpredictability
		if listened {
			c.o.Logger.Warn("lost the connection that listens for account changes made by other instances; dropped the authentication cache; reconnecting",
				"channel", c.o.Channel, "retry_in", pause.String(), "err", err)
		} else {
			c.o.Logger.Warn("cannot listen for account changes made by other instances; they reach this one within the authentication cache's TTL until it can",
				"channel", c.o.Channel, "retry_in", pause.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		wait = min(2*wait, c.o.MaxBackoff)
	}
}

// listen connects, listens and calls fn for each notification until the
// connection fails or ctx ends. listened reports whether LISTEN
// succeeded.
func (c *AuthChannel) listen(ctx context.Context, fn func(custodian.AuthInvalidation)) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, c.conn)
	if err != nil {
		return false, fmt.Errorf("postgres: connect to listen: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{c.o.Channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("postgres: listen %s: %w", c.o.Channel, err)
	}
	// Listening from now on: whatever changed before is dropped.
	fn(custodian.AuthInvalidation{})
	c.o.Logger.Info("listening for account changes made by other instances", "channel", c.o.Channel)
	for {
		wctx, cancel := context.WithTimeout(ctx, c.o.PingInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn(invalidation(n.Payload))
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Silent for a while: make sure the connection still works.
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("postgres: listening connection: %w", err)
			}
		default:
			return true, fmt.Errorf("postgres: listening connection: %w", err)
		}
	}
}
