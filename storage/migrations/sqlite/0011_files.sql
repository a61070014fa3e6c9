-- Files. Content is stored once per SHA-256 (`blobs`), counted by the versions that use it;
-- the last reference gone, the object is deleted. A file is a name with versions; attachments
-- belong to the channel of the message that carries them and live and die with it.
CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY,
    object_key TEXT NOT NULL,
    size       BIGINT NOT NULL,
    mime       TEXT NOT NULL,
    refs       BIGINT NOT NULL,
    -- 1 once its thumbnails (thumbs/<sha256>/small.jpg, large.jpg) are stored: images only.
    thumbnails BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE files (
    id         INTEGER PRIMARY KEY,
    owner_id   BIGINT NOT NULL REFERENCES users(id),
    -- Set for an attachment: the channel it was uploaded to, and once sent, its message.
    channel_id BIGINT REFERENCES channels(id) ON DELETE CASCADE,
    message_id BIGINT REFERENCES messages(id) ON DELETE SET NULL,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- In the trash since; purged `[files] trash_days` later.
    deleted_at BIGINT,
    deleted_by BIGINT REFERENCES users(id) ON DELETE SET NULL
);
-- In one person's own files a name is one file; uploading it again adds a version.
CREATE UNIQUE INDEX files_owner_name ON files(owner_id, name)
    WHERE channel_id IS NULL AND deleted_at IS NULL;
CREATE INDEX files_message ON files(message_id);
CREATE INDEX files_deleted ON files(deleted_at);

CREATE TABLE file_versions (
    file_id     BIGINT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES blobs(sha256),
    size        BIGINT NOT NULL,
    mime        TEXT NOT NULL,
    uploader_id BIGINT NOT NULL REFERENCES users(id),
    comment     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (file_id, version)
);
CREATE INDEX file_versions_uploader ON file_versions(uploader_id);

-- Uploads in progress (tus): the bytes so far sit in the staging folder as `<id>`.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    length      BIGINT NOT NULL,
    received    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    channel_id  BIGINT REFERENCES channels(id) ON DELETE CASCADE,
    comment     TEXT NOT NULL,
    -- Set once complete and hashed, before the bytes move into the object store.
    sha256      TEXT,
    -- The file (and version) it became.
    file_id     BIGINT REFERENCES files(id) ON DELETE SET NULL,
    version     BIGINT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX uploads_owner ON uploads(owner_id);
CREATE INDEX uploads_expires ON uploads(expires_at);

-- What a message carries, as sent (a JSON array of {id, name, size, mime}); NULL once recalled.
ALTER TABLE messages ADD COLUMN attachments TEXT;
