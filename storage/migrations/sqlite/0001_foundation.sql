-- Parley's foundation schema (SQLite dialect; the PostgreSQL twin lives in ../postgres).
-- Times are milliseconds since the Unix epoch. Flags are nullable timestamps (`archived_at`),
-- which say when as well as whether.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE departments (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    parent_id  BIGINT REFERENCES departments(id),
    path       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'dept_admin', 'member', 'guest')),
    department_id BIGINT REFERENCES departments(id),
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX users_department ON users(department_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_hash TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_keys (
    key        TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE channels (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'announcement', 'meeting')),
    category      TEXT NOT NULL CHECK (category IN ('department', 'project', 'customer', 'supplier', 'partner', 'temporary')),
    department_id BIGINT REFERENCES departments(id),
    created_by    BIGINT REFERENCES users(id),
    last_seq      BIGINT NOT NULL DEFAULT 0,
    archived_at   BIGINT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_seq   BIGINT NOT NULL DEFAULT 0,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    channel_id  BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    sender_id   BIGINT REFERENCES users(id),
    client_id   TEXT,
    body        TEXT NOT NULL,
    reply_to    BIGINT REFERENCES messages(id),
    edited_at   BIGINT,
    recalled_at BIGINT,
    created_at  BIGINT NOT NULL,
    UNIQUE (channel_id, seq),
    UNIQUE (channel_id, sender_id, client_id)
);

CREATE TABLE meetings (
    id         INTEGER PRIMARY KEY,
    room       TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL DEFAULT '',
    mode       TEXT NOT NULL DEFAULT 'meeting' CHECK (mode IN ('meeting', 'bridge')),
    channel_id BIGINT REFERENCES channels(id),
    created_by BIGINT REFERENCES users(id),
    started_at BIGINT,
    ended_at   BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE recordings (
    id          INTEGER PRIMARY KEY,
    meeting_id  BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    participant TEXT,
    source      TEXT,
    codec       TEXT,
    object_key  TEXT,
    status      TEXT NOT NULL CHECK (status IN ('recording', 'done', 'failed')),
    failure     TEXT,
    duration_ms BIGINT,
    size_bytes  BIGINT,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX recordings_meeting ON recordings(meeting_id);

CREATE TABLE minutes (
    id           INTEGER PRIMARY KEY,
    meeting_id   BIGINT NOT NULL UNIQUE REFERENCES meetings(id) ON DELETE CASCADE,
    agenda       TEXT NOT NULL DEFAULT '',
    published_at BIGINT,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE minute_items (
    id                  INTEGER PRIMARY KEY,
    minutes_id          BIGINT NOT NULL REFERENCES minutes(id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('note', 'decision', 'action')),
    body                TEXT NOT NULL,
    recording_offset_ms BIGINT,
    position            BIGINT NOT NULL,
    created_at          BIGINT NOT NULL
);

CREATE TABLE tasks (
    id                  INTEGER PRIMARY KEY,
    title               TEXT NOT NULL,
    assignee_id         BIGINT REFERENCES users(id),
    due_at              BIGINT,
    status              TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    meeting_id          BIGINT REFERENCES meetings(id),
    minute_item_id      BIGINT REFERENCES minute_items(id),
    recording_offset_ms BIGINT,
    source_message_id   BIGINT REFERENCES messages(id),
    created_by          BIGINT REFERENCES users(id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX tasks_assignee ON tasks(assignee_id, status);
