-- The scheduler's hot lookups: a run's task instances by state (what still waits for a
-- decision, whether the run has finished), and ready task instances in the order they are
-- handed to executors. The second covers every lookup the single-column state index served.
CREATE INDEX task_instance_run_state ON task_instance (dag_id, run_id, state);
CREATE INDEX task_instance_ready ON task_instance (state, priority_weight DESC, scheduled_dttm, id);
DROP INDEX task_instance_state;
