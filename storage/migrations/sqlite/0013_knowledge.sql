-- The knowledge base: spaces by department or topic, articles in Markdown whose every save is a
-- version, reviewed by a space's knowledge admins before readers see them.
CREATE TABLE kb_spaces (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    -- The department whose people it is for; NULL: the whole organisation.
    department_id BIGINT REFERENCES departments(id),
    -- A published article not updated for this many days is stale; 0: never.
    stale_days    BIGINT NOT NULL,
    created_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    archived_at   BIGINT
);
CREATE UNIQUE INDEX kb_spaces_name ON kb_spaces(name) WHERE archived_at IS NULL;

-- Whom a space names besides its department's people: `subject_kind` user or channel,
-- `role` admin, writer or reader.
CREATE TABLE kb_space_members (
    space_id     BIGINT NOT NULL REFERENCES kb_spaces(id) ON DELETE CASCADE,
    subject_kind TEXT NOT NULL,
    subject_id   BIGINT NOT NULL,
    role         TEXT NOT NULL,
    PRIMARY KEY (space_id, subject_kind, subject_id)
);

-- An article. Its title, scope, tags and body are its versions'; `version` is the latest,
-- `published_version` the one readers see. `status` is the latest version's standing in
-- review: draft, submitted, returned or published.
CREATE TABLE kb_articles (
    id                INTEGER PRIMARY KEY,
    space_id          BIGINT NOT NULL REFERENCES kb_spaces(id),
    author_id         BIGINT NOT NULL REFERENCES users(id),
    status            TEXT NOT NULL,
    version           BIGINT NOT NULL,
    published_version BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    published_at      BIGINT,
    -- The last review decision: `published` or `returned`, by whom, when, saying what.
    review_outcome    TEXT,
    review_by         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    review_at         BIGINT,
    review_comment    TEXT,
    -- Made from a meeting's minutes, keeping its recording for the article's readers.
    meeting_id        BIGINT REFERENCES meetings(id) ON DELETE SET NULL,
    recording_id      BIGINT REFERENCES recordings(id) ON DELETE SET NULL,
    -- When its author was told it is stale (cleared when it is published again).
    stale_notified_at BIGINT,
    deleted_at        BIGINT
);
CREATE INDEX kb_articles_space ON kb_articles(space_id, updated_at);
CREATE INDEX kb_articles_author ON kb_articles(author_id);

CREATE TABLE kb_versions (
    article_id   BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    title        TEXT NOT NULL,
    scope        TEXT NOT NULL,
    -- A JSON array of strings.
    tags         TEXT NOT NULL,
    body         TEXT NOT NULL,
    -- Files of the library (or anyone's) it carries: a JSON array of file ids. The article's
    -- readers download them through the article.
    attachments  TEXT NOT NULL,
    editor_id    BIGINT NOT NULL REFERENCES users(id),
    note         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_comments (
    id         INTEGER PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    author_id  BIGINT NOT NULL REFERENCES users(id),
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX kb_comments_article ON kb_comments(article_id, id);

-- Who read a published article on which day (days since the epoch, UTC): once a day each.
CREATE TABLE kb_reads (
    article_id BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    PRIMARY KEY (article_id, user_id, day)
);
CREATE INDEX kb_reads_day ON kb_reads(day, article_id);

-- "Was this helpful?": one answer per person.
CREATE TABLE kb_votes (
    article_id BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    helpful    BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (article_id, user_id)
);

-- Search follows articles through the feed.
CREATE TRIGGER search_feed_kb_articles_insert AFTER INSERT ON kb_articles BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('article', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_kb_articles_update AFTER UPDATE ON kb_articles BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('article', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_kb_articles_delete AFTER DELETE ON kb_articles BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('article', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
