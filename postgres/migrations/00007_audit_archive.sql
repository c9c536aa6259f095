-- Audit archives: events moved into signed archive files leave the
-- database, and audit_archive keeps the chain's continuity: the sequence
-- number and hash of the last archived event, from which verification of
-- the events still in the database starts. The append-only guard lets
-- only archived events be deleted; moving "through" is recorded by an
-- audit.archive event of the chain itself.

-- +goose Up
CREATE TABLE audit_archive (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    through BIGINT NOT NULL,
    hash    BYTEA  NOT NULL
);
INSERT INTO audit_archive (id, through, hash) VALUES (1, 0, '\x');

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT through FROM audit_archive WHERE id = 1) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
-- +goose StatementEnd
DROP TABLE audit_archive;
