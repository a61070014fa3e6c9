-- Urgent and important pings. Each recipient's reminder schedule is stored, so reminders go on
-- across reconnects and server restarts until acknowledged or expired.
ALTER TABLE messages ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('normal', 'important', 'urgent'));
ALTER TABLE messages ADD COLUMN ack_requested BIGINT NOT NULL DEFAULT 0;
-- A PingAction as JSON, such as {"kind":"join_bridge","room":"..."}.
ALTER TABLE messages ADD COLUMN action TEXT;

-- Per-channel reminder schedule for urgent pings (emergency channels remind more often).
ALTER TABLE channels ADD COLUMN urgent_every_secs BIGINT;
ALTER TABLE channels ADD COLUMN urgent_for_secs BIGINT;

CREATE TABLE ping_recipients (
    message_id     BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id        BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id     BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    -- The next reminder; NULL once acknowledged, expired, or for pings without reminders.
    next_notify_at BIGINT,
    every_ms       BIGINT,
    expires_at     BIGINT NOT NULL,
    reminders      BIGINT NOT NULL DEFAULT 0,
    delivered_at   BIGINT,
    acked_at       BIGINT,
    escalated_at   BIGINT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX ping_recipients_due ON ping_recipients(next_notify_at);
CREATE INDEX ping_recipients_user ON ping_recipients(user_id, acked_at);
