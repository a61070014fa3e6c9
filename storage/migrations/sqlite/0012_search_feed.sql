-- What the search index must look at again: one row per item, stamped each time the item
-- changes (by the database's clock, and always later than the item's last stamp). Triggers
-- write it, so no path that changes an item can forget to; each node's follower reads it from
-- where it stopped (with a margin for transactions that commit late) and indexes or removes
-- the items it names.
CREATE TABLE search_feed (
    kind    TEXT NOT NULL,
    item_id BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (kind, item_id)
);
CREATE INDEX search_feed_at ON search_feed(at, kind, item_id);

CREATE TRIGGER search_feed_file_insert AFTER INSERT ON files BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('file', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_file_update AFTER UPDATE ON files BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('file', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_file_delete AFTER DELETE ON files BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('file', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;

-- Tasks, and a meeting's minutes (its agenda and items) as one item.
CREATE TRIGGER search_feed_tasks_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('task', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_tasks_update AFTER UPDATE ON tasks BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('task', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_tasks_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('task', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_minutes_insert AFTER INSERT ON minutes BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('minutes', NEW.meeting_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_minutes_update AFTER UPDATE ON minutes BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('minutes', NEW.meeting_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_minutes_delete AFTER DELETE ON minutes BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('minutes', OLD.meeting_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_minute_items_insert AFTER INSERT ON minute_items BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('minutes', NEW.meeting_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_minute_items_update AFTER UPDATE ON minute_items BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('minutes', NEW.meeting_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;
CREATE TRIGGER search_feed_minute_items_delete AFTER DELETE ON minute_items BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('minutes', OLD.meeting_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;

-- Messages are followed through their channel's stream; a message deleted outright (by
-- retention, or with its channel) leaves no event there, so its deletion goes through here.
CREATE TRIGGER search_feed_messages_delete AFTER DELETE ON messages BEGIN
    INSERT INTO search_feed (kind, item_id, at)
    VALUES ('message', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
    ON CONFLICT (kind, item_id) DO UPDATE SET at = max(excluded.at, search_feed.at + 1);
END;

-- The text of a content (by its SHA-256), read once for search. `status`: `ok`, `none` (a
-- kind with no text, or too large) or `failed` (unreadable; `error` says why).
CREATE TABLE blob_texts (
    sha256       TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    text         TEXT NOT NULL,
    error        TEXT,
    extracted_at BIGINT NOT NULL
);
