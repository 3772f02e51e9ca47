-- +goose Up
-- A rowid table with a TEXT primary key is two B-trees (table + index);
-- WITHOUT ROWID keeps the event ids in one, halving the pages each
-- consumed message dirties.
CREATE TABLE processed_events_new (
    event_id TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO processed_events_new (event_id) SELECT event_id FROM processed_events;
DROP TABLE processed_events;
ALTER TABLE processed_events_new RENAME TO processed_events;

-- +goose Down
CREATE TABLE processed_events_old (
    event_id TEXT PRIMARY KEY
);
INSERT INTO processed_events_old (event_id) SELECT event_id FROM processed_events;
DROP TABLE processed_events;
ALTER TABLE processed_events_old RENAME TO processed_events;
