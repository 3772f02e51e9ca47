-- +goose Up
CREATE TABLE payments (
    order_id     TEXT   PRIMARY KEY,
    status       TEXT   NOT NULL,
    payment_id   TEXT   NOT NULL,
    amount_cents BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE payments;
