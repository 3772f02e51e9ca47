-- +goose Up
-- AUTOINCREMENT reads and rewrites the sqlite_sequence row on every insert.
-- A plain rowid is max(rowid) + 1; the relay keeps the last published row
-- until a later one is published, so ids still only grow (see Relay.Compact).
CREATE TABLE outbox_new (
    id         INTEGER PRIMARY KEY,
    topic      TEXT    NOT NULL,
    msg_key    TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    headers    BLOB    NOT NULL,
    created_at BIGINT  NOT NULL
);
INSERT INTO outbox_new SELECT id, topic, msg_key, payload, headers, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

-- +goose Down
CREATE TABLE outbox_old (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    msg_key    TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    headers    BLOB    NOT NULL,
    created_at BIGINT  NOT NULL
);
INSERT INTO outbox_old SELECT id, topic, msg_key, payload, headers, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_old RENAME TO outbox;
