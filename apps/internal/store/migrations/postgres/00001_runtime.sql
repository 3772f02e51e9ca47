-- +goose Up
CREATE TABLE outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      TEXT   NOT NULL,
    msg_key    TEXT   NOT NULL,
    payload    BYTEA  NOT NULL,
    headers    BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE processed_events (
    event_id TEXT PRIMARY KEY
);

-- +goose Down
DROP TABLE processed_events;
DROP TABLE outbox;
