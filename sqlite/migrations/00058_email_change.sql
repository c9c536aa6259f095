-- A change of one's own sign-in address waits for a link mailed to the
-- new address: one-time tokens get the purpose 'email' (the token's email
-- is the new address, its user_id the account). SQLite cannot change a
-- CHECK constraint, so the table is rebuilt with the same rows.

-- +goose Up
CREATE TABLE one_time_tokens_new (
    token_hash BLOB NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('setup', 'invite', 'reset', 'email')),
    email      TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL DEFAULT '',
    user_id    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    used_us    INTEGER NOT NULL DEFAULT 0,
    public_id  TEXT    NOT NULL DEFAULT '',
    revoked_us INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO one_time_tokens_new (token_hash, purpose, email, role, user_id, created_by, created_us, expires_us, used_us, public_id, revoked_us)
    SELECT token_hash, purpose, email, role, user_id, created_by, created_us, expires_us, used_us, public_id, revoked_us FROM one_time_tokens;
DROP TABLE one_time_tokens;
ALTER TABLE one_time_tokens_new RENAME TO one_time_tokens;
CREATE INDEX one_time_tokens_public_id ON one_time_tokens (public_id);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose);

-- +goose Down
DELETE FROM one_time_tokens WHERE purpose = 'email';
CREATE TABLE one_time_tokens_old (
    token_hash BLOB NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('setup', 'invite', 'reset')),
    email      TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL DEFAULT '',
    user_id    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    used_us    INTEGER NOT NULL DEFAULT 0,
    public_id  TEXT    NOT NULL DEFAULT '',
    revoked_us INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO one_time_tokens_old SELECT token_hash, purpose, email, role, user_id, created_by, created_us, expires_us, used_us, public_id, revoked_us FROM one_time_tokens;
DROP TABLE one_time_tokens;
ALTER TABLE one_time_tokens_old RENAME TO one_time_tokens;
CREATE INDEX one_time_tokens_public_id ON one_time_tokens (public_id);
