-- The execution timeout of a task (seconds), enforced by the supervisor from outside the runner.
ALTER TABLE dag_task ADD COLUMN execution_timeout DOUBLE PRECISION;
