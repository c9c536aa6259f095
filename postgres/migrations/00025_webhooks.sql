-- Webhooks: endpoints that administrators register to be told about
-- customer events, the outbox those events are queued in (written in the
-- same transaction as the change, so a restart loses none), and the
-- deliveries made from it, one per event and endpoint, with their
-- attempts. Signing secrets are sealed under a data key of the endpoint's
-- own, wrapped by a master key, as TOTP secrets are. The outbox and the
-- deliveries hold ids, event types and field names, never personal data.

-- +goose Up
CREATE TABLE webhooks (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    url              TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    events           TEXT    NOT NULL,
    personal_data    BIGINT  NOT NULL DEFAULT 0,
    active           BIGINT  NOT NULL DEFAULT 1,
    key_id           TEXT    NOT NULL,
    data_key         BYTEA   NOT NULL,
    secret           BYTEA   NOT NULL,
    previous_secret  BYTEA,
    previous_until_us BIGINT  NOT NULL DEFAULT 0,
    rotated_us       BIGINT  NOT NULL DEFAULT 0,
    created_us       BIGINT  NOT NULL,
    updated_us       BIGINT  NOT NULL,
    created_by       TEXT    NOT NULL,
    version          BIGINT  NOT NULL
);

CREATE TABLE webhook_outbox (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    time_us     BIGINT  NOT NULL
);

CREATE TABLE webhook_deliveries (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    webhook_seq      BIGINT  NOT NULL REFERENCES webhooks (seq) ON DELETE CASCADE,
    event_type       TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    fields           TEXT    NOT NULL,
    occurred_us      BIGINT  NOT NULL,
    created_us       BIGINT  NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT  NOT NULL,
    last_attempt_us  BIGINT  NOT NULL DEFAULT 0,
    last_status_code BIGINT  NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_us);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_seq, seq);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_outbox;
DROP TABLE webhooks;
