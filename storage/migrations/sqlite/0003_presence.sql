-- Presence is soft state in memory; only when a user was last connected outlives a restart.
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;
