-- Failed sign-ins, and failed checks of the current password, counted per
-- account and per account and source (see docs/security/sign-in.md). An
-- account is named by a keyed hash of its user id, or of the email
-- address when no account has it, and a source by a keyed hash of its
-- client address (IPv6: its /64): the table holds no address of either
-- kind. The row with an empty source is the account's count of
-- consecutive failures from every source; the others throttle one source.
-- Counts for addresses without an account live here like the others, so
-- that a restart or a second instance does not reset them.

-- +goose Up
CREATE TABLE signin_failures (
    account        BLOB NOT NULL,
    source         BLOB NOT NULL,
    failures       INTEGER NOT NULL,
    last_failed_us INTEGER NOT NULL,
    PRIMARY KEY (account, source)
) STRICT;

-- +goose Down
DROP TABLE signin_failures;
