-- Recording jobs and the files they produce. A job is one recording of one meeting, taken by
-- one recorder process at a time under a lease it keeps renewing; a job whose recorder stops
-- renewing is taken over by another. The foundation's `recordings` table was never written; it
-- is made again with what a per-track file needs.
DROP TABLE recordings;

CREATE TABLE recording_jobs (
    id            INTEGER PRIMARY KEY,
    meeting_id    BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    room          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'stopping', 'done', 'failed')),
    -- Started automatically (a voice bridge), or by this user.
    auto          BIGINT NOT NULL DEFAULT 0,
    requested_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- The recorder holding the job, and until when its lease runs.
    recorder      TEXT,
    lease_until   BIGINT,
    -- How many recorders have taken it (more than one: taken over).
    claims        BIGINT NOT NULL DEFAULT 0,
    failure       TEXT,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    ended_at      BIGINT
);
CREATE INDEX recording_jobs_meeting ON recording_jobs(meeting_id, id);
CREATE INDEX recording_jobs_claimable ON recording_jobs(status, lease_until);

CREATE TABLE recordings (
    id               INTEGER PRIMARY KEY,
    meeting_id       BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    job_id           BIGINT NOT NULL REFERENCES recording_jobs(id) ON DELETE CASCADE,
    -- 'track': one participant's track as it arrived; 'mixed': every speaker in one file.
    kind             TEXT NOT NULL CHECK (kind IN ('track', 'mixed')),
    participant      TEXT,
    participant_name TEXT,
    user_id          BIGINT REFERENCES users(id) ON DELETE SET NULL,
    source           TEXT,
    track_sid        TEXT,
    codec            TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    -- The file is stored as numbered chunks under this prefix, header first.
    object_prefix    TEXT NOT NULL,
    -- Where the file starts, from the meeting's start, so tracks play in sync.
    start_offset_ms  BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('recording', 'done', 'failed')),
    failure          TEXT,
    duration_ms      BIGINT NOT NULL DEFAULT 0,
    size_bytes       BIGINT NOT NULL DEFAULT 0,
    chunks           BIGINT NOT NULL DEFAULT 0,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX recordings_meeting ON recordings(meeting_id, id);
CREATE INDEX recordings_job ON recordings(job_id, status);
