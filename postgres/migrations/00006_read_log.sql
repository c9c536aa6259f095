-- The read log: every recorded read of personal data, apart from the audit
-- trail (see sqlstore/readlog.go). read_batches holds one row per write of
-- the log, its records in a compact blob; read_index finds a customer's
-- batches by a 32-bit key of the customer's id; read_names gives actors,
-- purposes and addresses small ids; read_head hands out sequence numbers
-- (writers queue on its row, so numbers follow commit order without gaps).
-- read_seal says how far the log is sealed into the audit trail and how
-- far the retention job has removed it.

-- +goose Up
CREATE TABLE read_head (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO read_head (id, seq) VALUES (1, 0);

CREATE TABLE read_names (
    id   BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE read_batches (
    first_seq BIGINT  PRIMARY KEY,
    n         INTEGER NOT NULL,
    t_us      BIGINT  NOT NULL,
    recs      BYTEA   NOT NULL
);

CREATE TABLE read_index (
    cust  INTEGER NOT NULL,
    batch BIGINT  NOT NULL,
    PRIMARY KEY (cust, batch)
);

CREATE TABLE read_seal (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    through BIGINT NOT NULL,
    purged  BIGINT NOT NULL
);
INSERT INTO read_seal (id, through, purged) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE read_seal;
DROP TABLE read_index;
DROP TABLE read_batches;
DROP TABLE read_names;
DROP TABLE read_head;
