-- +goose Up
-- Idempotency keys of CreateOrder (request_id), per customer. fingerprint
-- is a hash of the rest of the request, so a key reused for a different
-- order is refused instead of answered with the wrong order.
CREATE TABLE create_requests (
    customer_id TEXT  NOT NULL,
    request_id  TEXT  NOT NULL,
    order_id    TEXT  NOT NULL,
    fingerprint BYTEA NOT NULL,
    PRIMARY KEY (customer_id, request_id)
);

-- +goose Down
DROP TABLE create_requests;
