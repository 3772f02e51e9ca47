-- +goose Up
-- SQLite evaluates a partial index's NOT IN (...) by building a temporary
-- B-tree for the list, twice on every UPDATE of a saga (old and new row);
-- that made the saga UPDATE 8.5 % of the CPU of the whole benchmark, 5.1 %
-- with the same predicate as three comparisons. (SweepTimeouts repeats it literally, so the
-- planner still sees the index applies.)
DROP INDEX sagas_open_deadline;
CREATE INDEX sagas_open_deadline ON sagas (deadline) WHERE state <> 'completed' AND state <> 'rejected' AND state <> 'cancelled';

-- +goose Down
DROP INDEX sagas_open_deadline;
CREATE INDEX sagas_open_deadline ON sagas (deadline) WHERE state NOT IN ('completed', 'rejected', 'cancelled');
