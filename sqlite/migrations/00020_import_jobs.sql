-- Import jobs: imports of customers from CSV files that the server runs in
-- the background, polled at GET /api/imports/{id}/. A row holds the job's
-- options and report, which name columns, fields, lines and counts but
-- never a personal value; the file itself is never stored.

-- +goose Up
CREATE TABLE import_jobs (
    id         TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    job        TEXT    NOT NULL
) STRICT;
CREATE INDEX import_jobs_state ON import_jobs (state);

-- +goose Down
DROP TABLE import_jobs;
