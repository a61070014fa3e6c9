-- Pinned messages and reactions. Each pin, unpin, reaction and its removal also takes the
-- channel's next sequence in channel_events, so reconnecting clients replay them.
ALTER TABLE messages ADD COLUMN pinned_at BIGINT;
ALTER TABLE messages ADD COLUMN pinned_by BIGINT REFERENCES users(id);

CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);

-- Threads: the replies to a message.
CREATE INDEX messages_reply_to ON messages(reply_to);
