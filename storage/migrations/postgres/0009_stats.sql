-- The administrators' dashboard (`GET /v1/admin/stats`) counts a window of days: messages sent,
-- who was active (channel events, sign-ins, meeting joins, ping acknowledgements), how quickly
-- people answer, tasks created. Each of those reads its table by time, so these indexes make a
-- window cost what it holds rather than a scan of everything ever stored.
CREATE INDEX channel_events_created ON channel_events(created_at);
CREATE INDEX sessions_created ON sessions(created_at);
CREATE INDEX meeting_attendance_joined ON meeting_attendance(joined_at);
CREATE INDEX ping_recipients_acked ON ping_recipients(acked_at);
CREATE INDEX tasks_created ON tasks(created_at);
