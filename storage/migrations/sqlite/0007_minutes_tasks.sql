-- Minutes of a meeting (agenda and items), tasks (from an action item, a message or on their
-- own), and each user's notification inbox. The foundation's `minutes`, `minute_items` and
-- `tasks` tables were never written; they are made again in the shape the API needs.
DROP TABLE tasks;
DROP TABLE minute_items;
DROP TABLE minutes;

CREATE TABLE minutes (
    meeting_id         BIGINT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
    agenda             TEXT NOT NULL DEFAULT '',
    published_at       BIGINT,
    published_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- The summary message the last publication posted to the meeting's channel.
    summary_channel_id BIGINT,
    summary_message_id BIGINT,
    updated_at         BIGINT NOT NULL,
    updated_by         BIGINT REFERENCES users(id) ON DELETE SET NULL
);

CREATE TABLE minute_items (
    id                  INTEGER PRIMARY KEY,
    meeting_id          BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('note', 'decision', 'action')),
    body                TEXT NOT NULL,
    -- Where in the meeting's recording this was said, from the meeting's start.
    recording_offset_ms BIGINT,
    created_by          BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX minute_items_meeting ON minute_items(meeting_id, id);

CREATE TABLE tasks (
    id                  INTEGER PRIMARY KEY,
    title               TEXT NOT NULL,
    notes               TEXT NOT NULL DEFAULT '',
    assignee_id         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    due_at              BIGINT,
    status              TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    meeting_id          BIGINT REFERENCES meetings(id) ON DELETE SET NULL,
    minute_item_id      BIGINT UNIQUE REFERENCES minute_items(id) ON DELETE SET NULL,
    recording_offset_ms BIGINT,
    source_channel_id   BIGINT,
    source_message_id   BIGINT,
    created_by          BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    completed_at        BIGINT,
    -- Reminders already sent for the current due date (cleared when it changes).
    due_reminded_at     BIGINT,
    overdue_notified_at BIGINT
);
CREATE INDEX tasks_assignee ON tasks(assignee_id, status, due_at);
CREATE INDEX tasks_creator ON tasks(created_by, status, due_at);
CREATE INDEX tasks_meeting ON tasks(meeting_id);
CREATE INDEX tasks_due ON tasks(status, due_at);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The notification as the API shows it (JSON), without id and read_at.
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);
CREATE INDEX notifications_user ON notifications(user_id, id);
