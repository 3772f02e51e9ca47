-- +goose Up
-- The sweeper's index was keyed by deadline, which every saga step moves,
-- and filtered by state, which every step changes: each reply rewrote an
-- index entry (one more page written per commit on SQLite). This one is
-- keyed by started_at, which never changes, and filtered by finished, which
-- changes once: an entry is written when a saga starts and removed when it
-- ends. The sweeper bounds its scan with started_at < now - step timeout,
-- which every passed deadline implies (a deadline is always some step's
-- time plus the step timeout, and no step precedes the start).
ALTER TABLE sagas ADD COLUMN finished INTEGER NOT NULL DEFAULT 0;
UPDATE sagas SET finished = 1 WHERE state = 'completed' OR state = 'rejected' OR state = 'cancelled';
DROP INDEX sagas_open_deadline;
CREATE INDEX sagas_unfinished ON sagas (started_at) WHERE finished = 0;

-- +goose Down
DROP INDEX sagas_unfinished;
CREATE INDEX sagas_open_deadline ON sagas (deadline) WHERE state <> 'completed' AND state <> 'rejected' AND state <> 'cancelled';
ALTER TABLE sagas DROP COLUMN finished;
