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

-- One function for every trigger: its first argument is the kind, its second the column that
-- holds the item's id (a meeting's minutes are one item, named by the meeting).
CREATE FUNCTION search_feed_touch() RETURNS trigger AS $$
DECLARE
    item jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        item := to_jsonb(OLD);
    ELSE
        item := to_jsonb(NEW);
    END IF;
    INSERT INTO search_feed (kind, item_id, at)
    VALUES (TG_ARGV[0], (item ->> TG_ARGV[1])::bigint,
            (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
    ON CONFLICT (kind, item_id) DO UPDATE SET at = GREATEST(EXCLUDED.at, search_feed.at + 1);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER search_feed_file AFTER INSERT OR UPDATE OR DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION search_feed_touch('file', 'id');

-- Tasks, and a meeting's minutes (its agenda and items) as one item.
CREATE TRIGGER search_feed_task AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION search_feed_touch('task', 'id');
CREATE TRIGGER search_feed_minutes AFTER INSERT OR UPDATE OR DELETE ON minutes
    FOR EACH ROW EXECUTE FUNCTION search_feed_touch('minutes', 'meeting_id');
CREATE TRIGGER search_feed_minute_items AFTER INSERT OR UPDATE OR DELETE ON minute_items
    FOR EACH ROW EXECUTE FUNCTION search_feed_touch('minutes', 'meeting_id');

-- Messages are followed through their channel's stream; a message deleted outright (by
-- retention, or with its channel) leaves no event there, so its deletion goes through here.
CREATE TRIGGER search_feed_messages_delete AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION search_feed_touch('message', 'id');

-- The text of a content (by its SHA-256), read once for search. `status`: `ok`, `none` (a
-- kind with no text, or too large) or `failed` (unreadable; `error` says why).
CREATE TABLE blob_texts (
    sha256       TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    text         TEXT NOT NULL,
    error        TEXT,
    extracted_at BIGINT NOT NULL
);
