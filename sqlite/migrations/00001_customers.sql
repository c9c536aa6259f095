-- Customers and their search index. Personal fields are stored only as
-- ciphertext; times are Unix microseconds (UTC). seq is an internal row key
-- that never leaves the database; the public id is random.

-- +goose Up
CREATE TABLE customers (
    seq        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    status     TEXT    NOT NULL CHECK (status IN ('lead', 'active', 'inactive')),
    tags       TEXT    NOT NULL DEFAULT '[]',
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    updated_by TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    key_id     TEXT    NOT NULL,
    data_key   BLOB    NOT NULL,
    name_ct    BLOB    NOT NULL,
    email_ct   BLOB    NOT NULL,
    phone_ct   BLOB    NOT NULL,
    company_ct BLOB    NOT NULL,
    address_ct BLOB    NOT NULL,
    notes_ct   BLOB    NOT NULL
) STRICT;
CREATE INDEX customers_created ON customers (created_us, id);
CREATE INDEX customers_updated ON customers (updated_us, id);
CREATE INDEX customers_key ON customers (key_id);

CREATE TABLE customer_tags (
    customer_seq INTEGER NOT NULL REFERENCES customers (seq) ON DELETE CASCADE,
    tag          TEXT    NOT NULL,
    PRIMARY KEY (tag, customer_seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX customer_tags_customer ON customer_tags (customer_seq);

-- Blind-index tokens. created_us repeats the customer's creation time so
-- that a search reads its first page in index order, newest first, without
-- collecting and sorting every match.
CREATE TABLE customer_tokens (
    token        INTEGER NOT NULL,
    created_us   INTEGER NOT NULL,
    customer_seq INTEGER NOT NULL REFERENCES customers (seq) ON DELETE CASCADE,
    PRIMARY KEY (token, created_us, customer_seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX customer_tokens_customer ON customer_tokens (customer_seq, token);

-- +goose Down
DROP TABLE customer_tokens;
DROP TABLE customer_tags;
DROP TABLE customers;
