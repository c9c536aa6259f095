-- The audit trail: who did what, when and from where. Append-only (the
-- triggers refuse UPDATE and DELETE) and tamper-evident: each event's hash
-- seals it together with the previous event's hash (see package audit).
-- audit_head holds the newest sequence number and hash, so that appending
-- needs no scan and concurrent writers queue on one row.

-- +goose Up
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    time_us     INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    subject     TEXT    NOT NULL DEFAULT '',
    client_addr TEXT    NOT NULL DEFAULT '',
    request_id  TEXT    NOT NULL DEFAULT '',
    fields      TEXT    NOT NULL DEFAULT '[]',
    data        BLOB    NOT NULL,
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_time ON audit_events (time_us);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, X'');

-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
DROP TABLE audit_head;
DROP TABLE audit_events;
