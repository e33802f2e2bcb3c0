-- Triggerers (liveness for claiming) and the log of every event that resumed or finished a
-- deferred task instance (exactly-once is checked against it).
CREATE TABLE triggerer (
    id                TEXT PRIMARY KEY,
    hostname          TEXT,
    capacity          BIGINT,
    started_at        BIGINT NOT NULL,
    latest_heartbeat  BIGINT NOT NULL,
    end_date          BIGINT
);

ALTER TABLE triggers ADD COLUMN claimed_at BIGINT;
CREATE INDEX triggers_triggerer ON triggers (triggerer_id);

CREATE TABLE trigger_event (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger_id    BIGINT NOT NULL,
    ti_id         TEXT NOT NULL,
    try_number    BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    triggerer_id  TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX trigger_event_ti ON trigger_event (ti_id, try_number);
