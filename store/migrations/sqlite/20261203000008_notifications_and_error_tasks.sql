-- Error tasks (Digdag's `_error`): run only once the rest of their run has failed.
ALTER TABLE dag_task ADD COLUMN error_task BIGINT NOT NULL DEFAULT 0;

-- Callbacks: tasks run when an event happens to another task (or the run); JSON
-- `{"event": ..., "of_task": ...}`. Their task instances are created by the scheduler pass.
ALTER TABLE dag_task ADD COLUMN callback TEXT;

-- Notifications: a DAG's notifiers (JSON), and the outbox of the events they are owed. The
-- scheduler pass records an event in the transaction that sees it; a separate service
-- delivers it, at least once, under its idempotency key.
ALTER TABLE dag ADD COLUMN notifiers TEXT;

CREATE TABLE notification (
    idempotency_key  TEXT PRIMARY KEY,
    dag_id           TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    task_id          TEXT NOT NULL,
    map_index        BIGINT NOT NULL,
    try_number       BIGINT NOT NULL,
    event            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    conn_id          TEXT NOT NULL,
    payload          TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    delivered_at     BIGINT,
    gave_up_at       BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX notification_due ON notification (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX notification_by_try ON notification (dag_id, run_id, task_id, map_index, try_number, event);
