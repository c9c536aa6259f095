-- Audit archives: events moved into signed archive files leave the
-- database, and audit_archive keeps the chain's continuity: the sequence
-- number and hash of the last archived event, from which verification of
-- the events still in the database starts. The append-only guard lets
-- only archived events be deleted; moving "through" is recorded by an
-- audit.archive event of the chain itself.

-- +goose Up
CREATE TABLE audit_archive (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL,
    hash    BLOB    NOT NULL
) STRICT;
INSERT INTO audit_archive (id, through, hash) VALUES (1, 0, X'');

DROP TRIGGER audit_events_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > (SELECT through FROM audit_archive WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_events_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
-- +goose StatementEnd
DROP TABLE audit_archive;
