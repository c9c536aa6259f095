-- Webhooks: endpoints that administrators register to be told about
-- customer events, the outbox those events are queued in (written in the
-- same transaction as the change, so a restart loses none), and the
-- deliveries made from it, one per event and endpoint, with their
-- attempts. Signing secrets are sealed under a data key of the endpoint's
-- own, wrapped by a master key, as TOTP secrets are. The outbox and the
-- deliveries hold ids, event types and field names, never personal data.

-- +goose Up
CREATE TABLE webhooks (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    url              TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    events           TEXT    NOT NULL,
    personal_data    INTEGER NOT NULL DEFAULT 0,
    active           INTEGER NOT NULL DEFAULT 1,
    key_id           TEXT    NOT NULL,
    data_key         BLOB    NOT NULL,
    secret           BLOB    NOT NULL,
    previous_secret  BLOB,
    previous_until_us INTEGER NOT NULL DEFAULT 0,
    rotated_us       INTEGER NOT NULL DEFAULT 0,
    created_us       INTEGER NOT NULL,
    updated_us       INTEGER NOT NULL,
    created_by       TEXT    NOT NULL,
    version          INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type  TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    time_us     INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    webhook_seq      INTEGER NOT NULL REFERENCES webhooks (seq) ON DELETE CASCADE,
    event_type       TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    fields           TEXT    NOT NULL,
    occurred_us      INTEGER NOT NULL,
    created_us       INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  INTEGER NOT NULL,
    last_attempt_us  INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_us);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_seq, seq);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_outbox;
DROP TABLE webhooks;
