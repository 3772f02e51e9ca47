-- +goose Up
CREATE TABLE order_view (
    order_id    TEXT   PRIMARY KEY,
    customer_id TEXT   NOT NULL,
    total_cents BIGINT NOT NULL,
    status      TEXT   NOT NULL,
    stock       TEXT   NOT NULL,
    payment     TEXT   NOT NULL,
    shipment    TEXT   NOT NULL
);

-- +goose Down
DROP TABLE order_view;
