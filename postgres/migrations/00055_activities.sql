-- Activities logged by users on customers: notes, calls, meetings and
-- emails. The text is sealed with the customer's data key; the rows go with
-- their customer on deletion and erasure.

-- +goose Up
CREATE TABLE customer_activities (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_seq BIGINT NOT NULL REFERENCES customers (seq) ON DELETE CASCADE,
    kind         TEXT   NOT NULL CHECK (kind IN ('note', 'call', 'meeting', 'email')),
    date_us      BIGINT NOT NULL,
    author       TEXT   NOT NULL,
    created_us   BIGINT NOT NULL,
    text_ct      BYTEA  NOT NULL
);
CREATE INDEX customer_activities_customer ON customer_activities (customer_seq, date_us, seq);

-- +goose Down
DROP TABLE customer_activities;
