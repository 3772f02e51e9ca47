-- +goose Up
CREATE TABLE shipments (
    order_id    TEXT   PRIMARY KEY,
    shipment_id TEXT   NOT NULL,
    address     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE shipments;
