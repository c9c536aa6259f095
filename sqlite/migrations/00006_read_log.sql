-- How far the read log (a database file of its own, reads.db, next to
-- this one) is sealed into the audit trail, and how far the retention job
-- has removed it. Each seal moves "through" in the transaction that
-- appends its audit.reads_seal event; each purge moves "purged" with its
-- audit.reads_purge event.

-- +goose Up
CREATE TABLE read_seal (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL,
    purged  INTEGER NOT NULL
) STRICT;
INSERT INTO read_seal (id, through, purged) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE read_seal;
