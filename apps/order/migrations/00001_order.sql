-- +goose Up
-- The order aggregate's event store: one stream per order.
CREATE TABLE order_events (
    order_id   TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    event_type TEXT   NOT NULL,
    payload    BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (order_id, seq)
);
CREATE TABLE sagas (
    order_id       TEXT    PRIMARY KEY,
    state          TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    compensated    INTEGER NOT NULL,
    customer_id    TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    total_cents    BIGINT  NOT NULL,
    items          BYTEA   NOT NULL,
    correlation_id TEXT    NOT NULL,
    started_at     BIGINT  NOT NULL,
    deadline       BIGINT  NOT NULL
);
CREATE INDEX sagas_open_deadline ON sagas (deadline) WHERE state NOT IN ('completed', 'rejected', 'cancelled');

-- +goose Down
DROP TABLE sagas;
DROP TABLE order_events;
