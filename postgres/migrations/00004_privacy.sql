-- Data protection: consent history, legal holds, retention and erasure.
--
-- customers gains its last activity (creation, update or consent change:
-- retention counts from it) and its legal hold. consent_events is the
-- append-only consent history (the triggers refuse UPDATE, DELETE and
-- TRUNCATE); source and evidence are sealed with the customer's data key,
-- so erasure destroys them too. customer_consents is the current state per
-- purpose, for filtering; it goes with the customer. customer_tombstones is
-- what remains of an erased customer: nothing personal.

-- +goose Up
ALTER TABLE customers ADD COLUMN activity_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN legal_hold_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN legal_hold_by TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN legal_hold_reason TEXT NOT NULL DEFAULT '';
UPDATE customers SET activity_us = updated_us;
CREATE INDEX customers_activity ON customers (activity_us);

CREATE TABLE consent_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id TEXT     NOT NULL,
    purpose     TEXT     NOT NULL,
    given       SMALLINT NOT NULL CHECK (given IN (0, 1)),
    time_us     BIGINT   NOT NULL,
    actor       TEXT     NOT NULL,
    source_ct   BYTEA    NOT NULL,
    evidence_ct BYTEA    NOT NULL
);
CREATE INDEX consent_events_customer ON consent_events (customer_id, seq);

CREATE TABLE customer_consents (
    customer_seq BIGINT   NOT NULL REFERENCES customers (seq) ON DELETE CASCADE,
    purpose      TEXT     NOT NULL,
    given        SMALLINT NOT NULL CHECK (given IN (0, 1)),
    PRIMARY KEY (customer_seq, purpose)
);
CREATE INDEX customer_consents_given ON customer_consents (purpose, given, customer_seq);

CREATE TABLE customer_tombstones (
    id            TEXT     NOT NULL PRIMARY KEY,
    created_us    BIGINT   NOT NULL,
    erased_us     BIGINT   NOT NULL,
    erased_by     TEXT     NOT NULL,
    reason        TEXT     NOT NULL,
    mechanism     TEXT     NOT NULL CHECK (mechanism IN ('erasure', 'retention')),
    key_destroyed SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX customer_tombstones_pending ON customer_tombstones (key_destroyed);

-- +goose StatementBegin
CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the consent history is append-only';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_events_no_change BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_events_append_only();
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON consent_events FROM PUBLIC;

-- +goose Down
DROP TABLE customer_tombstones;
DROP TABLE customer_consents;
DROP TABLE consent_events;
DROP FUNCTION consent_events_append_only();
DROP INDEX customers_activity;
ALTER TABLE customers DROP COLUMN legal_hold_reason;
ALTER TABLE customers DROP COLUMN legal_hold_by;
ALTER TABLE customers DROP COLUMN legal_hold_us;
ALTER TABLE customers DROP COLUMN activity_us;
