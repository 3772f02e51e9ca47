-- +goose Up
CREATE TABLE recipients (
    order_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL
);
CREATE TABLE emails (
    order_id  TEXT    PRIMARY KEY,
    recipient TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    sent      INTEGER NOT NULL
);

-- +goose Down
DROP TABLE emails;
DROP TABLE recipients;
