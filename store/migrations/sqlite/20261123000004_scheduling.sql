-- What the scheduler needs to know of DAGs and tasks, and executors (liveness, for handing back
-- the task instances queued by one that died).
ALTER TABLE dag ADD COLUMN description TEXT;
ALTER TABLE dag ADD COLUMN max_active_tasks BIGINT;

ALTER TABLE dag_task ADD COLUMN upstream TEXT NOT NULL DEFAULT '[]';
ALTER TABLE dag_task ADD COLUMN trigger_rule TEXT NOT NULL DEFAULT 'all_success';
ALTER TABLE dag_task ADD COLUMN retry_delay REAL NOT NULL DEFAULT 300;
ALTER TABLE dag_task ADD COLUMN retry_exponential_backoff BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dag_task ADD COLUMN max_retry_delay REAL;
ALTER TABLE dag_task ADD COLUMN map_over TEXT;
ALTER TABLE dag_task ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE dag_task ADD COLUMN priority_weight BIGINT NOT NULL DEFAULT 1;

ALTER TABLE task_instance ADD COLUMN queued_by TEXT;
CREATE INDEX task_instance_queued_by ON task_instance (queued_by);
CREATE INDEX dag_run_state ON dag_run (state);

CREATE TABLE executor (
    id                TEXT PRIMARY KEY,
    hostname          TEXT,
    started_at        BIGINT NOT NULL,
    latest_heartbeat  BIGINT NOT NULL,
    end_date          BIGINT
);
