-- A user's own interface preferences: the language of the web interface
-- (a BCP 47 tag such as "de") and the IANA time zone dates are shown in
-- (such as "Europe/Berlin"). Empty means not set: the browser decides.

-- +goose Up
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN time_zone;
ALTER TABLE users DROP COLUMN language;
