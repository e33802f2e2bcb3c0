-- Schedules: what a DAG declares (its timetable as JSON: schedule, timezone, start and end
-- dates, catchup; its run limits) and the scheduler's bookkeeping of its scheduled runs.
ALTER TABLE dag ADD COLUMN timetable TEXT;
ALTER TABLE dag ADD COLUMN max_active_runs BIGINT;
ALTER TABLE dag ADD COLUMN dagrun_timeout REAL;
ALTER TABLE dag ADD COLUMN next_dagrun_data_interval_start BIGINT;
ALTER TABLE dag ADD COLUMN next_dagrun_data_interval_end BIGINT;
ALTER TABLE dag ADD COLUMN next_dagrun_create_after BIGINT;
ALTER TABLE dag ADD COLUMN last_automated_data_interval_start BIGINT;
ALTER TABLE dag ADD COLUMN last_automated_data_interval_end BIGINT;

-- Backfills: a range of a DAG's intervals run on request, with their own run limit.
CREATE TABLE backfill (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id           TEXT NOT NULL,
    from_date        BIGINT NOT NULL,
    to_date          BIGINT NOT NULL,
    reprocess        TEXT NOT NULL,
    max_active_runs  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
ALTER TABLE dag_run ADD COLUMN backfill_id BIGINT;

-- Claims take admitted, unassigned task instances by priority then age.
CREATE INDEX task_instance_claimable ON task_instance (state, queued_by, priority_weight DESC, queued_dttm, id);
