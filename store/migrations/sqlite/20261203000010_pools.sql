-- Pools: named slot budgets shared by tasks across DAGs; per-task limits on active instances.
CREATE TABLE pool (
    name         TEXT PRIMARY KEY,
    slots        BIGINT NOT NULL,
    description  TEXT
);
INSERT INTO pool (name, slots, description)
    VALUES ('default_pool', 128, 'Tasks that name no pool');

ALTER TABLE dag_task ADD COLUMN pool TEXT NOT NULL DEFAULT 'default_pool';
ALTER TABLE dag_task ADD COLUMN pool_slots BIGINT NOT NULL DEFAULT 1;
ALTER TABLE dag_task ADD COLUMN max_active_tis_per_dag BIGINT;
ALTER TABLE dag_task ADD COLUMN max_active_tis_per_dagrun BIGINT;

ALTER TABLE task_instance ADD COLUMN pool_slots BIGINT NOT NULL DEFAULT 1;
