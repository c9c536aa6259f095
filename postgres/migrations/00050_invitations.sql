-- Invitations are listed with their state and can be revoked: each
-- one-time token gets a public id (the first 8 bytes of its hash, in hex:
-- nothing a link can be rebuilt from) and the time it was revoked.

-- +goose Up
ALTER TABLE one_time_tokens ADD COLUMN public_id TEXT NOT NULL DEFAULT '';
ALTER TABLE one_time_tokens ADD COLUMN revoked_us BIGINT NOT NULL DEFAULT 0;
UPDATE one_time_tokens SET public_id = encode(substring(token_hash from 1 for 8), 'hex');
CREATE INDEX one_time_tokens_public_id ON one_time_tokens (public_id);

-- +goose Down
DROP INDEX one_time_tokens_public_id;
ALTER TABLE one_time_tokens DROP COLUMN revoked_us;
ALTER TABLE one_time_tokens DROP COLUMN public_id;
