-- The messaging hub: each channel's event stream (messages, edits, recalls, pins, reactions), numbered without
-- gaps by channels.last_seq. A reconnecting client replays it from its last seen sequence.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN mention_channel BIGINT NOT NULL DEFAULT 0;

CREATE TABLE channel_events (
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('message', 'edit', 'recall', 'pin', 'unpin', 'react', 'unreact')),
    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    actor_id   BIGINT REFERENCES users(id),
    -- An edit's new text; cleared when the message is recalled, so the text is gone everywhere.
    body       TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, seq)
);
CREATE INDEX channel_events_message ON channel_events(message_id);
