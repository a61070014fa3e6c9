-- Meetings as they happened: one row per room session (a room from its start to its end), and
-- who attended it. Recordings, minutes and tasks hang off a meeting; access to them follows
-- the meeting's channel and its attendance.
--
-- The foundation's `meetings` table (never written until now) made the room name unique; a
-- room name is reused by later sessions, so a meeting is keyed by the session's room sid.
ALTER TABLE meetings DROP CONSTRAINT meetings_room_key;
ALTER TABLE meetings ADD COLUMN room_sid TEXT NOT NULL;
ALTER TABLE meetings ADD CONSTRAINT meetings_room_sid_key UNIQUE (room_sid);
ALTER TABLE meetings DROP CONSTRAINT meetings_channel_id_fkey;
ALTER TABLE meetings ADD CONSTRAINT meetings_channel_id_fkey
    FOREIGN KEY (channel_id) REFERENCES channels(id) ON DELETE SET NULL;
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
