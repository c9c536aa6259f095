-- Passkeys: WebAuthn public-key credentials, several per user, and the
-- ceremonies under way (challenges waiting for the browser's answer,
-- usable once, for minutes). No secret is stored: a passkey is a public
-- key; a ceremony is found by the SHA-256 of its 256-bit token.

-- +goose Up
CREATE TABLE passkeys (
    id                 TEXT    NOT NULL PRIMARY KEY,
    user_seq           INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    credential_id      BLOB    NOT NULL UNIQUE,
    public_key         BLOB    NOT NULL,
    sign_count         INTEGER NOT NULL DEFAULT 0,
    aaguid             TEXT    NOT NULL DEFAULT '',
    transports         TEXT    NOT NULL DEFAULT '',
    attestation_type   TEXT    NOT NULL DEFAULT '',
    attestation_format TEXT    NOT NULL DEFAULT '',
    user_verified      INTEGER NOT NULL DEFAULT 0,
    backup_eligible    INTEGER NOT NULL DEFAULT 0,
    backed_up          INTEGER NOT NULL DEFAULT 0,
    name               TEXT    NOT NULL,
    created_us         INTEGER NOT NULL,
    last_used_us       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_seq);

CREATE TABLE webauthn_ceremonies (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('register', 'signin', 'second_factor')),
    user_id    TEXT    NOT NULL DEFAULT '',
    data       BLOB    NOT NULL,
    expires_us INTEGER NOT NULL
) STRICT;
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_us);

-- Whether the session's sign-in proved a passkey.
ALTER TABLE sessions ADD COLUMN passkey INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN passkey;
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
