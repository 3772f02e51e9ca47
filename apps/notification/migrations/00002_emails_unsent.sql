-- +goose Up
-- The sender polls for unsent e-mails; without this index every poll scans
-- every e-mail ever queued.
CREATE INDEX emails_unsent ON emails (order_id) WHERE sent = 0;

-- +goose Down
DROP INDEX emails_unsent;
