-- Accounts: the people who sign in, their sessions and access tokens,
-- invitations, one-time links and lockout state. Secrets are stored only
-- as hashes (passwords: argon2id; tokens and codes: SHA-256 of 256-bit or
-- 60-bit random values); TOTP secrets are sealed like personal data.

-- +goose Up
CREATE TABLE users (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    email           TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'manager', 'agent', 'viewer', 'auditor')),
    active          INTEGER NOT NULL DEFAULT 1,
    password_hash   TEXT    NOT NULL,
    totp_key_id     TEXT    NOT NULL DEFAULT '',
    totp_data_key   BLOB,
    totp_secret     BLOB,
    totp_enabled    INTEGER NOT NULL DEFAULT 0,
    totp_last_step  INTEGER NOT NULL DEFAULT 0,
    failed_signins  INTEGER NOT NULL DEFAULT 0,
    last_failed_us  INTEGER NOT NULL DEFAULT 0,
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL,
    version         INTEGER NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
    user_seq  INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    PRIMARY KEY (user_seq, code_hash)
) STRICT;

CREATE TABLE sessions (
    token_hash   BLOB NOT NULL PRIMARY KEY,
    user_seq     INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    created_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    expires_us   INTEGER NOT NULL,
    client_addr  TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user ON sessions (user_seq);

CREATE TABLE api_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    user_seq     INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    created_us   INTEGER NOT NULL,
    expires_us   INTEGER NOT NULL,
    last_used_us INTEGER NOT NULL DEFAULT 0,
    revoked_us   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_seq);

-- Invitations, first-run setup links and password-reset links.
CREATE TABLE one_time_tokens (
    token_hash BLOB NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('setup', 'invite', 'reset')),
    email      TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL DEFAULT '',
    user_id    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    used_us    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE settings;
DROP TABLE one_time_tokens;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE recovery_codes;
DROP TABLE users;
