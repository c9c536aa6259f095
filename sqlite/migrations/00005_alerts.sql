-- Security alerts raised by the attack correlator (package monitor). One
-- attack is one row, updated as it goes on (count, last_seen, status), so
-- a flood of signals never becomes a flood of rows. An administrator may
-- mark an alert resolved; raising and resolving are also audit events.

-- +goose Up
CREATE TABLE alerts (
    id            TEXT    PRIMARY KEY,
    rule          TEXT    NOT NULL,
    alert_key     TEXT    NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    resolved_us   INTEGER NOT NULL DEFAULT 0,
    resolved_by   TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX alerts_last_seen ON alerts (last_seen_us);

-- +goose Down
DROP TABLE alerts;
