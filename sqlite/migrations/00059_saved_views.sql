-- Saved views of the customer list: a name and the list's state (search
-- text, filters, order, page size), private to a user or in the shared
-- set everyone sees (owner_seq NULL). The state is sealed under a data key
-- of the view's own, wrapped by a master key, as TOTP and webhook secrets
-- are: a saved search may be an email address. Names are unique per owner
-- and within the shared set, ignoring case (name_key is the lower-cased
-- name). A private view goes with its user.

-- +goose Up
CREATE TABLE saved_views (
    seq        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    owner_seq  INTEGER REFERENCES users (seq) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    name_key   TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    key_id     TEXT    NOT NULL,
    data_key   BLOB    NOT NULL,
    state_ct   BLOB    NOT NULL
) STRICT;
CREATE UNIQUE INDEX saved_views_name ON saved_views (COALESCE(owner_seq, 0), name_key);

-- +goose Down
DROP TABLE saved_views;
