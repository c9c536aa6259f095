-- Activities logged by users on customers: notes, calls, meetings and
-- emails. The text is sealed with the customer's data key; the rows go with
-- their customer on deletion and erasure.

-- +goose Up
CREATE TABLE customer_activities (
    seq          INTEGER PRIMARY KEY,
    customer_seq INTEGER NOT NULL REFERENCES customers (seq) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('note', 'call', 'meeting', 'email')),
    date_us      INTEGER NOT NULL,
    author       TEXT    NOT NULL,
    created_us   INTEGER NOT NULL,
    text_ct      BLOB    NOT NULL
) STRICT;
CREATE INDEX customer_activities_customer ON customer_activities (customer_seq, date_us, seq);

-- +goose Down
DROP TABLE customer_activities;
