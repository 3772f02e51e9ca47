-- +goose Up
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    msg_key    TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    headers    BLOB    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE TABLE processed_events (
    event_id TEXT PRIMARY KEY
);

-- +goose Down
DROP TABLE processed_events;
DROP TABLE outbox;
