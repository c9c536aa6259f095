-- A change of one's own sign-in address waits for a link mailed to the
-- new address: one-time tokens get the purpose 'email' (the token's email
-- is the new address, its user_id the account).

-- +goose Up
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_check;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_check CHECK (purpose IN ('setup', 'invite', 'reset', 'email'));
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose);

-- +goose Down
DROP INDEX one_time_tokens_user;
DELETE FROM one_time_tokens WHERE purpose = 'email';
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_check;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_check CHECK (purpose IN ('setup', 'invite', 'reset'));
