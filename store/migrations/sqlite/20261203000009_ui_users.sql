-- Web UI users and their sessions; executors remember how many slots they run.
CREATE TABLE ui_user (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- A session is found by the SHA-256 of its cookie value: a database dump holds no usable cookie.
CREATE TABLE ui_session (
    token_hash  TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES ui_user (username) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX ui_session_expires ON ui_session (expires_at);

ALTER TABLE executor ADD COLUMN parallelism BIGINT;
