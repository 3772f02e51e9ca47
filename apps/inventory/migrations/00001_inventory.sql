-- +goose Up
CREATE TABLE stock (
    product_id TEXT   PRIMARY KEY,
    available  BIGINT NOT NULL CHECK (available >= 0)
);
CREATE TABLE reservations (
    order_id   TEXT   PRIMARY KEY,
    status     TEXT   NOT NULL,
    items      BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE reservations;
DROP TABLE stock;
