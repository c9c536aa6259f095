-- The audit trail: who did what, when and from where. Append-only (the
-- triggers refuse UPDATE, DELETE and TRUNCATE, whoever asks) and
-- tamper-evident: each event's hash seals it together with the previous
-- event's hash (see package audit). audit_head holds the newest sequence
-- number and hash: appending locks that one row, so concurrent writers
-- append one after another and sequence numbers have no gaps.

-- +goose Up
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    time_us     BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    subject     TEXT   NOT NULL DEFAULT '',
    client_addr TEXT   NOT NULL DEFAULT '',
    request_id  TEXT   NOT NULL DEFAULT '',
    fields      TEXT   NOT NULL DEFAULT '[]',
    data        BYTEA  NOT NULL,
    prev_hash   BYTEA  NOT NULL,
    hash        BYTEA  NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_time ON audit_events (time_us);

CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA  NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\x');

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
