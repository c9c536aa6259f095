-- One row that readiness writes to (custodian serve's /readyz): a database
-- that answers reads but cannot take a write (a full disk, a read-only
-- replica, a lock that never ends) is not ready.

-- +goose Up
CREATE TABLE health_probe (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    probe_us BIGINT NOT NULL
);
INSERT INTO health_probe (id, probe_us) VALUES (1, 0);

-- +goose Down
DROP TABLE health_probe;
