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
    -- Encrypted at rest ([files] encryption_key): the content's own key, wrapped by the master
    -- key named by key_id. NULL: stored as it is.
    data_key   TEXT,
    key_id     TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX blobs_key_id ON blobs(key_id);

-- The library: folders in trees rooted per person, per department and per channel. A root has
-- `root_kind` and its owner's id; the folders below it have a parent.
CREATE TABLE folders (
    id            INTEGER PRIMARY KEY,
    parent_id     BIGINT REFERENCES folders(id),
    name          TEXT NOT NULL,
    root_kind     TEXT,
    user_id       BIGINT REFERENCES users(id) ON DELETE CASCADE,
    department_id BIGINT REFERENCES departments(id) ON DELETE CASCADE,
    channel_id    BIGINT REFERENCES channels(id) ON DELETE CASCADE,
    -- 0: the grants above do not apply here (an explicit override of everything inherited).
    inherit       BIGINT NOT NULL DEFAULT 1,
    created_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    -- Archived folders are read-only, and browsable.
    archived_at   BIGINT,
    deleted_at    BIGINT
);
CREATE UNIQUE INDEX folders_user_root ON folders(user_id) WHERE root_kind = 'user';
CREATE UNIQUE INDEX folders_department_root ON folders(department_id) WHERE root_kind = 'department';
CREATE UNIQUE INDEX folders_channel_root ON folders(channel_id) WHERE root_kind = 'channel';
CREATE UNIQUE INDEX folders_parent_name ON folders(parent_id, name) WHERE deleted_at IS NULL;

-- Who may do what in a folder and below it: `subject_kind` user, department (its path),
-- channel or role; `level` none, view, edit or manage.
CREATE TABLE folder_grants (
    folder_id    BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    level        TEXT NOT NULL,
    PRIMARY KEY (folder_id, subject_kind, subject)
);

-- Who hears of new versions in a folder (besides a channel folder's members).
CREATE TABLE folder_watchers (
    folder_id BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (folder_id, user_id)
);

-- Who read, changed, shared or deleted what, and when (admins read it).
CREATE TABLE file_audit (
    id        INTEGER PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor_id  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    action    TEXT NOT NULL,
    file_id   BIGINT,
    folder_id BIGINT,
    detail    TEXT NOT NULL
);
CREATE INDEX file_audit_at ON file_audit(at);

CREATE TABLE files (
    id         INTEGER PRIMARY KEY,
    owner_id   BIGINT NOT NULL REFERENCES users(id),
    -- Set for an attachment: the channel it was uploaded to, and once sent, its message.
    channel_id BIGINT REFERENCES channels(id) ON DELETE CASCADE,
    message_id BIGINT REFERENCES messages(id) ON DELETE SET NULL,
    -- Set for a file of the library.
    folder_id  BIGINT REFERENCES folders(id),
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- In the trash since; purged `[files] trash_days` later.
    deleted_at BIGINT,
    deleted_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- An edit lock: who holds it, until when.
    locked_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    locked_until BIGINT
);
-- In a folder a name is one file; uploading it again adds a version.
CREATE UNIQUE INDEX files_folder_name ON files(folder_id, name) WHERE deleted_at IS NULL;
CREATE INDEX files_owner ON files(owner_id);
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
    -- The library folder it goes to (attachments have none).
    folder_id   BIGINT REFERENCES folders(id) ON DELETE CASCADE,
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
