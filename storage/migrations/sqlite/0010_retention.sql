-- Retention: messages older than a number of days are deleted in the background, for the whole
-- organisation (`[retention] messages_days`) or per channel (`channels.retention_days`,
-- NULL: the organisation's). A legal hold on a channel or a user exempts its messages and
-- recordings until the hold is lifted.
ALTER TABLE channels ADD COLUMN retention_days BIGINT;

CREATE TABLE legal_holds (
    id         INTEGER PRIMARY KEY,
    channel_id BIGINT REFERENCES channels(id) ON DELETE CASCADE,
    user_id    BIGINT REFERENCES users(id) ON DELETE CASCADE,
    reason     TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    CHECK ((channel_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX legal_holds_channel ON legal_holds(channel_id);
CREATE INDEX legal_holds_user ON legal_holds(user_id);

-- The sweep reads each channel's oldest messages.
CREATE INDEX messages_channel_created ON messages(channel_id, created_at);
