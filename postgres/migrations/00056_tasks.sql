-- Follow-up tasks on customers: a title sealed with the customer's data
-- key, a due day, an assignee and whether it is done. The rows go with
-- their customer on deletion and erasure.

-- +goose Up
CREATE TABLE customer_tasks (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_seq BIGINT NOT NULL REFERENCES customers (seq) ON DELETE CASCADE,
    due_us       BIGINT NOT NULL,
    assignee     TEXT NOT NULL,
    done         SMALLINT NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    created_by   TEXT NOT NULL,
    created_us   BIGINT NOT NULL,
    title_ct     BYTEA NOT NULL
);
CREATE INDEX customer_tasks_customer ON customer_tasks (customer_seq);
CREATE INDEX customer_tasks_open ON customer_tasks (assignee, done, due_us);

-- +goose Down
DROP TABLE customer_tasks;
