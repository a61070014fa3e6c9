-- Meetings as they happened: one row per room session (a room from its start to its end), and
-- who attended it. Recordings, minutes and tasks hang off a meeting; access to them follows
-- the meeting's channel and its attendance.
--
-- The foundation's `meetings` table (never written until now) made the room name unique; a
-- room name is reused by later sessions, so the table is made again keyed by the session's
-- room sid. Tables referring to it keep referring to it by name.
DROP TABLE meetings;
CREATE TABLE meetings (
    id         INTEGER PRIMARY KEY,
    room       TEXT NOT NULL,
    -- The SFU's room sid: unique per session.
    room_sid   TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL DEFAULT '',
    mode       TEXT NOT NULL DEFAULT 'meeting' CHECK (mode IN ('meeting', 'bridge')),
    channel_id BIGINT REFERENCES channels(id) ON DELETE SET NULL,
    created_by BIGINT REFERENCES users(id),
    started_at BIGINT,
    ended_at   BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX meetings_channel ON meetings(channel_id, started_at);
CREATE INDEX meetings_started ON meetings(started_at);

CREATE TABLE meeting_attendance (
    meeting_id      BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    participant_sid TEXT NOT NULL,
    identity        TEXT NOT NULL,
    -- Set for participants who joined with their own sign-in token (identity `user:<id>`).
    user_id         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    name            TEXT NOT NULL,
    joined_at       BIGINT NOT NULL,
    left_at         BIGINT,
    PRIMARY KEY (meeting_id, participant_sid)
);
CREATE INDEX meeting_attendance_user ON meeting_attendance(user_id, meeting_id);
