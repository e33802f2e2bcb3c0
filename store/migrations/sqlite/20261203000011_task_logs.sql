-- Task logs shipped by supervisors on other hosts, in pieces of whole lines. `start_offset` is
-- the byte offset of the piece in the shipped log of its try: a resent piece is a no-op.
CREATE TABLE task_log (
    dag_id        TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    map_index     BIGINT NOT NULL,
    try_number    BIGINT NOT NULL,
    start_offset  BIGINT NOT NULL,
    content       TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, start_offset)
);
