-- +goose Up
-- When each idempotency key was claimed, so keys can expire
-- (Config.RequestRetention). Keys from before this migration count from now.
ALTER TABLE create_requests ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE create_requests SET created_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000000;
CREATE INDEX create_requests_created_at ON create_requests (created_at);

-- +goose Down
DROP INDEX create_requests_created_at;
ALTER TABLE create_requests DROP COLUMN created_at;
