-- Profiles people edit themselves (title, time zone, avatar image) and channels anyone may
-- find and join (issue 23).
ALTER TABLE users ADD COLUMN title TEXT;
ALTER TABLE users ADD COLUMN time_zone TEXT;
-- The avatar's object-store key (a JPEG); the key changes with each new image, so
-- its URL can be cached for good.
ALTER TABLE users ADD COLUMN avatar_key TEXT;
-- Set (when) once members may find the channel under "Browse channels" and join it themselves.
ALTER TABLE channels ADD COLUMN opened_at INTEGER;

-- Ringing people into a channel's meeting: each callee's phone rings until they answer, the
-- caller cancels, or it expires; a ring that nobody took leaves a missed-call message, once,
-- whichever node ends it (the one whose UPDATE of ended_at wins).
CREATE TABLE rings (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels(id),
    room        TEXT NOT NULL,
    caller_id   INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    -- 'missed', 'declined', 'answered' or 'cancelled'
    end_reason  TEXT
);
CREATE INDEX rings_open ON rings (expires_at) WHERE ended_at IS NULL;
CREATE TABLE ring_callees (
    ring_id     INTEGER NOT NULL REFERENCES rings(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    -- NULL while ringing, then 'accepted' or 'declined'
    answer      TEXT,
    answered_at INTEGER,
    PRIMARY KEY (ring_id, user_id)
);

-- Threads: a reply may stay in its thread (1) instead of also showing in the channel; each
-- message counts the replies to it, written in the reply's own transaction.
ALTER TABLE messages ADD COLUMN thread_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
