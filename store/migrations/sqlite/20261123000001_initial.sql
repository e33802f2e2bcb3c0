-- Airlock schema. Timestamps are UTC microseconds since the Unix epoch (BIGINT) so that one set of
-- queries serves SQLite and PostgreSQL; JSON documents are TEXT for the same reason.

CREATE TABLE dag (
    dag_id            TEXT PRIMARY KEY,
    is_paused         BOOLEAN NOT NULL DEFAULT FALSE,
    bundle_name       TEXT,
    bundle_version    TEXT,
    relative_fileloc  TEXT,
    owners            TEXT,
    tags              TEXT NOT NULL DEFAULT '[]',
    next_dagrun       BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Tasks of a DAG as far as the server needs them (task groups, operator names).
CREATE TABLE dag_task (
    dag_id         TEXT NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    task_id        TEXT NOT NULL,
    task_group_id  TEXT,
    operator       TEXT,
    retries        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dag_id, task_id)
);

CREATE TABLE dag_run (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id                TEXT NOT NULL,
    run_id                TEXT NOT NULL,
    logical_date          BIGINT,
    data_interval_start   BIGINT,
    data_interval_end     BIGINT,
    run_after             BIGINT NOT NULL,
    start_date            BIGINT,
    end_date              BIGINT,
    clear_number          BIGINT NOT NULL DEFAULT 0,
    run_type              TEXT NOT NULL,
    state                 TEXT NOT NULL,
    conf                  TEXT,
    triggering_user_name  TEXT,
    partition_key         TEXT,
    partition_date        BIGINT,
    note                  TEXT,
    team_name             TEXT,
    created_at            BIGINT NOT NULL,
    UNIQUE (dag_id, run_id)
);
CREATE INDEX dag_run_dag_logical ON dag_run (dag_id, logical_date);

CREATE TABLE triggers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    classpath     TEXT NOT NULL,
    kwargs        TEXT NOT NULL,
    created_date  BIGINT NOT NULL,
    queue         TEXT,
    triggerer_id  TEXT
);

CREATE TABLE task_instance (
    id                    TEXT PRIMARY KEY,
    dag_id                TEXT NOT NULL,
    run_id                TEXT NOT NULL,
    task_id               TEXT NOT NULL,
    map_index             BIGINT NOT NULL DEFAULT -1,
    try_number            BIGINT NOT NULL DEFAULT 0,
    max_tries             BIGINT NOT NULL DEFAULT 0,
    state                 TEXT,
    hostname              TEXT,
    unixname              TEXT,
    pid                   BIGINT,
    start_date            BIGINT,
    end_date              BIGINT,
    duration              REAL,
    last_heartbeat_at     BIGINT,
    queue                 TEXT NOT NULL DEFAULT 'default',
    pool                  TEXT NOT NULL DEFAULT 'default_pool',
    priority_weight       BIGINT NOT NULL DEFAULT 1,
    operator              TEXT,
    dag_version_id        TEXT NOT NULL,
    rendered_map_index    TEXT,
    next_method           TEXT,
    next_kwargs           TEXT,
    trigger_id            BIGINT REFERENCES triggers (id) ON DELETE SET NULL,
    trigger_timeout       BIGINT,
    scheduled_dttm        BIGINT,
    queued_dttm           BIGINT,
    retry_delay_override  REAL,
    retry_reason          TEXT,
    updated_at            BIGINT NOT NULL,
    UNIQUE (dag_id, run_id, task_id, map_index),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
CREATE INDEX task_instance_state ON task_instance (state);
CREATE INDEX task_instance_trigger ON task_instance (trigger_id);

-- Finished tries of task instances that were retried: the row keeps the id that try had.
CREATE TABLE task_instance_history (
    id                TEXT PRIMARY KEY,
    task_instance_id  TEXT NOT NULL,
    dag_id            TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    task_id           TEXT NOT NULL,
    map_index         BIGINT NOT NULL,
    try_number        BIGINT NOT NULL,
    max_tries         BIGINT NOT NULL,
    state             TEXT,
    hostname          TEXT,
    unixname          TEXT,
    pid               BIGINT,
    start_date        BIGINT,
    end_date          BIGINT,
    duration          REAL,
    operator          TEXT,
    queue             TEXT NOT NULL,
    retry_reason      TEXT,
    archived_at       BIGINT NOT NULL
);
CREATE INDEX task_instance_history_ti ON task_instance_history (task_instance_id);

CREATE TABLE task_reschedule (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    ti_id            TEXT NOT NULL,
    try_number       BIGINT NOT NULL,
    start_date       BIGINT,
    end_date         BIGINT NOT NULL,
    reschedule_date  BIGINT NOT NULL,
    duration         REAL
);
CREATE INDEX task_reschedule_ti ON task_reschedule (ti_id);

CREATE TABLE rendered_task_instance_fields (
    dag_id           TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    task_id          TEXT NOT NULL,
    map_index        BIGINT NOT NULL,
    rendered_fields  TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index)
);

CREATE TABLE xcom (
    dag_id      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    map_index   BIGINT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    dag_result  BOOLEAN NOT NULL DEFAULT FALSE,
    timestamp   BIGINT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, key, map_index)
);

-- Lengths of values pushed for mapping (`mapped_length`), read by the scheduler to expand tasks.
CREATE TABLE task_map (
    dag_id     TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    map_index  BIGINT NOT NULL,
    length     BIGINT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index)
);

CREATE TABLE variable (
    key          TEXT PRIMARY KEY,
    val          TEXT,
    description  TEXT,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE connection (
    conn_id      TEXT PRIMARY KEY,
    conn_type    TEXT NOT NULL,
    description  TEXT,
    host         TEXT,
    schema_name  TEXT,
    login        TEXT,
    password     TEXT,
    port         BIGINT,
    extra        TEXT,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE asset (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    uri          TEXT NOT NULL UNIQUE,
    asset_group  TEXT NOT NULL DEFAULT 'asset',
    extra        TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL
);

CREATE TABLE asset_alias (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    alias_group  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE asset_alias_asset (
    alias_id  BIGINT NOT NULL REFERENCES asset_alias (id) ON DELETE CASCADE,
    asset_id  BIGINT NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    PRIMARY KEY (alias_id, asset_id)
);

CREATE TABLE asset_event (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id          BIGINT NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    extra             TEXT NOT NULL DEFAULT '{}',
    source_task_id    TEXT,
    source_dag_id     TEXT,
    source_run_id     TEXT,
    source_map_index  BIGINT,
    partition_key     TEXT,
    timestamp         BIGINT NOT NULL
);
CREATE INDEX asset_event_asset ON asset_event (asset_id, timestamp);

CREATE TABLE asset_alias_asset_event (
    alias_id  BIGINT NOT NULL REFERENCES asset_alias (id) ON DELETE CASCADE,
    event_id  BIGINT NOT NULL REFERENCES asset_event (id) ON DELETE CASCADE,
    PRIMARY KEY (alias_id, event_id)
);
