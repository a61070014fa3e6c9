//! Messages and each channel's event stream. Every change (a message, an edit, a recall) takes
//! the channel's next sequence number in the same transaction that stores it, so sequences have
//! no gaps and a change is committed before anyone is told of it.

use crate::{error::StoreError, now_ms, Database};
use parley_proto::{
    Channel, ChannelEvent, ChannelId, ChannelKind, ChannelSummary, FileId, MemberRead, MemberRef,
    Message, MessageId, Receipts, UserId,
};
use parley_proto::{PingAction, Priority, Reaction};
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: ChannelId,
    pub sender: UserId,
    pub client_id: String,
    pub body: String,
    pub reply_to: Option<MessageId>,
    /// A reply kept in its thread, not shown in the channel.
    pub thread_only: bool,
    pub mentions: Vec<UserId>,
    pub mention_channel: bool,
    pub priority: Priority,
    pub action: Option<PingAction>,
    /// Who must acknowledge, and how they are reminded; `None` when no acknowledgement is asked.
    pub ack: Option<AckRequest>,
    /// Files uploaded for this channel, sent with the message.
    pub attachments: Vec<FileId>,
}

/// Who must acknowledge a ping, and its reminder schedule.
#[derive(Debug, Clone)]
pub struct AckRequest {
    pub recipients: Vec<UserId>,
    /// Remind every this many ms (urgent pings); `None`: track acknowledgements only.
    pub every_ms: Option<i64>,
    /// Stop reminding, and stop counting it as pending, this many ms after sending.
    pub for_ms: i64,
}

/// The outcome of a send: the stored message, and whether it had been stored before.
#[derive(Debug, Clone)]
pub struct Sent {
    pub event: ChannelEvent,
    pub message: Message,
    pub duplicate: bool,
}

/// Where a member's read marker stands after `mark_read`, and whether that call moved it.
#[derive(Debug, Clone, Copy)]
pub struct ReadMark {
    pub read_seq: i64,
    pub unread: i64,
    pub moved: bool,
}

/// What the policy needs to know about a caller and a channel.
#[derive(Debug, Clone, Copy)]
pub struct ChannelAccess {
    pub kind: ChannelKind,
    pub created_by: Option<UserId>,
    pub archived: bool,
    pub is_member: bool,
    pub last_seq: i64,
    pub member_count: i64,
    /// The channel's own reminder schedule for urgent pings, if it has one.
    pub urgent_every_secs: Option<i64>,
    pub urgent_for_secs: Option<i64>,
}

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.seq, m.sender_id, m.body, m.reply_to, m.mentions, \
     m.mention_channel, m.priority, m.ack_requested, m.action, m.pinned_at, m.created_at, m.edited_at, m.recalled_at, m.attachments, \
     m.thread_only, m.reply_count";

pub(crate) fn message_from_row(row: &sqlx::any::AnyRow) -> Result<Message, StoreError> {
    let recalled_at: Option<i64> = row.try_get("recalled_at")?;
    let mentions: String = row.try_get("mentions")?;
    Ok(Message {
        id: MessageId(row.try_get("id")?),
        channel: ChannelId(row.try_get("channel_id")?),
        seq: row.try_get("seq")?,
        sender: row.try_get::<Option<i64>, _>("sender_id")?.map(UserId),
        body: if recalled_at.is_some() {
            None
        } else {
            Some(row.try_get("body")?)
        },
        reply_to: row.try_get::<Option<i64>, _>("reply_to")?.map(MessageId),
        thread_only: row.try_get::<i64, _>("thread_only")? != 0,
        reply_count: row.try_get("reply_count")?,
        mentions: mentions
            .split(',')
            .filter_map(|id| id.parse().ok())
            .map(UserId)
            .collect(),
        mention_channel: row.try_get::<i64, _>("mention_channel")? != 0,
        priority: crate::error::parse_column("messages.priority", row.try_get("priority")?)?,
        ack_requested: row.try_get::<i64, _>("ack_requested")? != 0,
        action: match row.try_get::<Option<String>, _>("action")? {
            Some(text) => Some(
                serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                    column: "messages.action",
                    value: text,
                })?,
            ),
            None => None,
        },
        pinned_at: row.try_get("pinned_at")?,
        reactions: Vec::new(),
        attachments: match row.try_get::<Option<String>, _>("attachments")? {
            Some(text) => serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                column: "messages.attachments",
                value: text,
            })?,
            None => Vec::new(),
        },
        created_at: row.try_get("created_at")?,
        edited_at: row.try_get("edited_at")?,
        recalled_at,
    })
}

async fn message_in(
    conn: &mut AnyConnection,
    channel: ChannelId,
    id: MessageId,
) -> Result<Message, StoreError> {
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1 AND m.channel_id = $2");
    let row = sqlx::query(&sql)
        .bind(id.0)
        .bind(channel.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref()
        .map(message_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Take the channel's next sequence number (holding its row, or SQLite's write lock, until
/// commit, so sequences commit in order).
async fn next_seq(conn: &mut AnyConnection, channel: ChannelId) -> Result<i64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 AND archived_at IS NULL RETURNING last_seq",
    )
    .bind(channel.0)
    .fetch_optional(&mut *conn)
    .await?;
    seq.ok_or_else(|| StoreError::Conflict("the channel is archived".into()))
}

/// Take the channel's next sequence, then read the message: the sequence holds the channel's
/// row (SQLite: the write lock) until commit, so a concurrent recall cannot slip in between the
/// caller's check of the message and its write.
async fn lock_message(
    conn: &mut AnyConnection,
    channel: ChannelId,
    id: MessageId,
) -> Result<(i64, Message), StoreError> {
    let seq = next_seq(&mut *conn, channel).await?;
    let message = message_in(&mut *conn, channel, id).await?;
    Ok((seq, message))
}

/// One row of a channel's event stream.
struct EventRow<'a> {
    channel: ChannelId,
    seq: i64,
    kind: &'static str,
    message: MessageId,
    actor: UserId,
    body: Option<&'a str>,
    at: i64,
}

async fn record_event(conn: &mut AnyConnection, event: EventRow<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO channel_events (channel_id, seq, kind, message_id, actor_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.channel.0)
    .bind(event.seq)
    .bind(event.kind)
    .bind(event.message.0)
    .bind(event.actor.0)
    .bind(event.body)
    .bind(event.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Database {
    /// The facts about `channel` that decide what `user` may do there; `None` if no such
    /// channel.
    pub async fn channel_access(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> Result<Option<ChannelAccess>, StoreError> {
        let row = sqlx::query(
            "SELECT c.kind, c.created_by, c.archived_at, c.last_seq, \
             (SELECT COUNT(*) FROM memberships m WHERE m.channel_id = c.id AND m.user_id = $2) AS member, \
             (SELECT COUNT(*) FROM memberships m WHERE m.channel_id = c.id) AS member_count, \
             c.urgent_every_secs, c.urgent_for_secs \
             FROM channels c WHERE c.id = $1",
        )
        .bind(channel.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ChannelAccess {
                kind: crate::error::parse_column("channels.kind", r.try_get("kind")?)?,
                created_by: r.try_get::<Option<i64>, _>("created_by")?.map(UserId),
                archived: r.try_get::<Option<i64>, _>("archived_at")?.is_some(),
                is_member: r.try_get::<i64, _>("member")? > 0,
                last_seq: r.try_get("last_seq")?,
                member_count: r.try_get("member_count")?,
                urgent_every_secs: r.try_get("urgent_every_secs")?,
                urgent_for_secs: r.try_get("urgent_for_secs")?,
            })
        })
        .transpose()
    }

    /// Store a message and its event; a resend with the same `client_id` returns the stored one.
    pub async fn send_message(&self, new: &NewMessage) -> Result<Sent, StoreError> {
        match self.try_send(new).await {
            // Two copies of the same send raced; the other one won. Return what it stored.
            Err(StoreError::Conflict(reason)) if reason == "duplicate client_id" => {
                self.try_send(new).await
            }
            other => other,
        }
    }

    async fn try_send(&self, new: &NewMessage) -> Result<Sent, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.channel_id = $1 AND m.sender_id = $2 AND m.client_id = $3"
        );
        let existing = sqlx::query(&sql)
            .bind(new.channel.0)
            .bind(new.sender.0)
            .bind(&new.client_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            let message = message_from_row(&row)?;
            return Ok(Sent {
                event: ChannelEvent::Message {
                    channel: new.channel,
                    seq: message.seq,
                    message: message.clone(),
                },
                message,
                duplicate: true,
            });
        }
        let seq = next_seq(&mut tx, new.channel).await?;
        let now = now_ms();
        let mentions: Vec<String> = new.mentions.iter().map(|u| u.0.to_string()).collect();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, reply_to, mentions, mention_channel, \
             priority, ack_requested, action, created_at, thread_only) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(new.channel.0)
        .bind(seq)
        .bind(new.sender.0)
        .bind(&new.client_id)
        .bind(&new.body)
        .bind(new.reply_to.map(|m| m.0))
        .bind(mentions.join(","))
        .bind(i64::from(new.mention_channel))
        .bind(new.priority.as_str())
        .bind(i64::from(new.ack.is_some()))
        .bind(new.action.as_ref().map(|a| serde_json::to_string(a).unwrap_or_default()))
        .bind(now)
        .bind(i64::from(new.thread_only))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).conflict_as("duplicate client_id"))?;
        if let Some(parent) = new.reply_to {
            sqlx::query(
                "UPDATE messages SET reply_count = reply_count + 1 WHERE id = $1 AND channel_id = $2",
            )
            .bind(parent.0)
            .bind(new.channel.0)
            .execute(&mut *tx)
            .await?;
        }
        let event = EventRow {
            channel: new.channel,
            seq,
            kind: "message",
            message: MessageId(id),
            actor: new.sender,
            body: None,
            at: now,
        };
        record_event(&mut tx, event).await?;
        let attachments = Database::attach(
            &mut tx,
            MessageId(id),
            new.channel,
            new.sender,
            &new.attachments,
        )
        .await?;
        if !attachments.is_empty() {
            sqlx::query("UPDATE messages SET attachments = $1 WHERE id = $2")
                .bind(serde_json::to_string(&attachments).unwrap_or_default())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(ack) = &new.ack {
            for &user in &ack.recipients {
                sqlx::query(
                    "INSERT INTO ping_recipients (message_id, user_id, channel_id, next_notify_at, every_ms, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(user.0)
                .bind(new.channel.0)
                .bind(ack.every_ms.map(|every| now + every))
                .bind(ack.every_ms)
                .bind(now + ack.for_ms)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        let message = Message {
            id: MessageId(id),
            channel: new.channel,
            seq,
            sender: Some(new.sender),
            body: Some(new.body.clone()),
            reply_to: new.reply_to,
            thread_only: new.thread_only,
            reply_count: 0,
            mentions: new.mentions.clone(),
            mention_channel: new.mention_channel,
            priority: new.priority,
            ack_requested: new.ack.is_some(),
            action: new.action.clone(),
            pinned_at: None,
            reactions: Vec::new(),
            attachments,
            created_at: now,
            edited_at: None,
            recalled_at: None,
        };
        Ok(Sent {
            event: ChannelEvent::Message {
                channel: new.channel,
                seq,
                message: message.clone(),
            },
            message,
            duplicate: false,
        })
    }

    pub async fn message(&self, channel: ChannelId, id: MessageId) -> Result<Message, StoreError> {
        let mut conn = self.pool.acquire().await?;
        message_in(&mut conn, channel, id).await
    }

    /// Replace a message's text; the edit takes the channel's next sequence.
    pub async fn edit_message(
        &self,
        channel: ChannelId,
        id: MessageId,
        actor: UserId,
        body: &str,
    ) -> Result<ChannelEvent, StoreError> {
        let mut tx = self.begin_write().await?;
        let (seq, message) = lock_message(&mut tx, channel, id).await?;
        if message.recalled_at.is_some() {
            return Err(StoreError::Conflict("the message was recalled".into()));
        }
        let now = now_ms();
        sqlx::query("UPDATE messages SET body = $1, edited_at = $2 WHERE id = $3")
            .bind(body)
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        record_event(
            &mut tx,
            EventRow {
                channel,
                seq,
                kind: "edit",
                message: id,
                actor,
                body: Some(body),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(ChannelEvent::MessageEdited {
            channel,
            seq,
            message_id: id,
            body: Some(body.to_string()),
            edited_at: now,
        })
    }

    /// Recall a message: its text is removed from the message and from every edit of it, and
    /// the recall takes the channel's next sequence so every member learns of it.
    pub async fn recall_message(
        &self,
        channel: ChannelId,
        id: MessageId,
        actor: UserId,
    ) -> Result<ChannelEvent, StoreError> {
        let mut tx = self.begin_write().await?;
        let (seq, message) = lock_message(&mut tx, channel, id).await?;
        if message.recalled_at.is_some() {
            return Err(StoreError::Conflict(
                "the message was already recalled".into(),
            ));
        }
        let now = now_ms();
        sqlx::query(
            "UPDATE messages SET body = '', recalled_at = $1, attachments = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        Database::trash_attachments(&mut tx, id, actor).await?;
        sqlx::query(
            "UPDATE channel_events SET body = NULL WHERE message_id = $1 AND kind = 'edit'",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        // A recalled ping stops reminding and is no longer pending.
        sqlx::query("UPDATE ping_recipients SET next_notify_at = NULL, expires_at = $1 WHERE message_id = $2")
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        record_event(
            &mut tx,
            EventRow {
                channel,
                seq,
                kind: "recall",
                message: id,
                actor,
                body: None,
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(ChannelEvent::MessageRecalled {
            channel,
            seq,
            message_id: id,
            recalled_at: now,
            by: Some(actor),
        })
    }

    /// Pin or unpin a message; the change takes the channel's next sequence. `None` when it
    /// already was as asked.
    pub async fn pin_message(
        &self,
        channel: ChannelId,
        id: MessageId,
        actor: UserId,
        pinned: bool,
    ) -> Result<Option<ChannelEvent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let (seq, message) = lock_message(&mut tx, channel, id).await?;
        if message.recalled_at.is_some() {
            return Err(StoreError::Conflict("the message was recalled".into()));
        }
        if message.pinned_at.is_some() == pinned {
            return Ok(None);
        }
        let now = now_ms();
        sqlx::query("UPDATE messages SET pinned_at = $1, pinned_by = $2 WHERE id = $3")
            .bind(pinned.then_some(now))
            .bind(pinned.then_some(actor.0))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let kind = if pinned { "pin" } else { "unpin" };
        record_event(
            &mut tx,
            EventRow {
                channel,
                seq,
                kind,
                message: id,
                actor,
                body: None,
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ChannelEvent::MessagePinned {
            channel,
            seq,
            message_id: id,
            pinned,
            by: Some(actor),
            at: now,
        }))
    }

    /// Add or take back `user`'s `emoji` on a message; the change takes the channel's next
    /// sequence. `None` when it already was as asked.
    pub async fn react(
        &self,
        channel: ChannelId,
        id: MessageId,
        user: UserId,
        emoji: &str,
        added: bool,
    ) -> Result<Option<ChannelEvent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let (seq, message) = lock_message(&mut tx, channel, id).await?;
        if message.recalled_at.is_some() {
            return Err(StoreError::Conflict("the message was recalled".into()));
        }
        let now = now_ms();
        let changed = if added {
            sqlx::query(
                "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (message_id, user_id, emoji) DO NOTHING",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(emoji)
            .bind(now)
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
            )
            .bind(id.0)
            .bind(user.0)
            .bind(emoji)
            .execute(&mut *tx)
            .await?
        };
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        let kind = if added { "react" } else { "unreact" };
        record_event(
            &mut tx,
            EventRow {
                channel,
                seq,
                kind,
                message: id,
                actor: user,
                body: Some(emoji),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ChannelEvent::ReactionChanged {
            channel,
            seq,
            message_id: id,
            user_id: user,
            emoji: emoji.to_string(),
            added,
        }))
    }

    /// Fill in the reactions of these messages (one query).
    pub async fn attach_reactions(&self, messages: &mut [Message]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=messages.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT message_id, user_id, emoji FROM reactions WHERE message_id IN ({}) ORDER BY created_at, user_id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for message in messages.iter() {
            query = query.bind(message.id.0);
        }
        for row in query.fetch_all(&self.pool).await? {
            let id = MessageId(row.try_get("message_id")?);
            let emoji: String = row.try_get("emoji")?;
            let user = UserId(row.try_get("user_id")?);
            if let Some(message) = messages.iter_mut().find(|m| m.id == id) {
                match message.reactions.iter_mut().find(|r| r.emoji == emoji) {
                    Some(reaction) => reaction.users.push(user),
                    None => message.reactions.push(Reaction {
                        emoji,
                        users: vec![user],
                    }),
                }
            }
        }
        Ok(())
    }

    /// The channel's pinned messages, most recently pinned first, with their reactions.
    pub async fn pinned(&self, channel: ChannelId) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.channel_id = $1 AND m.pinned_at IS NOT NULL \
             ORDER BY m.pinned_at DESC, m.id DESC LIMIT 200"
        );
        let rows = sqlx::query(&sql)
            .bind(channel.0)
            .fetch_all(&self.pool)
            .await?;
        let mut messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_reactions(&mut messages).await?;
        Ok(messages)
    }

    /// The channel's events with `after < seq <= up_to`, oldest first, at most `limit`.
    pub async fn events_between(
        &self,
        channel: ChannelId,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<ChannelEvent>, StoreError> {
        let sql = format!(
            "SELECT e.seq AS event_seq, e.kind, e.actor_id, e.body AS event_body, e.created_at AS event_at, {MESSAGE_COLUMNS} \
             FROM channel_events e JOIN messages m ON m.id = e.message_id \
             WHERE e.channel_id = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY e.seq LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(channel.0)
            .bind(after)
            .bind(up_to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("event_seq")?;
                let at: i64 = row.try_get("event_at")?;
                let kind: String = row.try_get("kind")?;
                let message = message_from_row(row)?;
                Ok(match kind.as_str() {
                    "message" => ChannelEvent::Message {
                        channel,
                        seq,
                        message,
                    },
                    "edit" => ChannelEvent::MessageEdited {
                        channel,
                        seq,
                        message_id: message.id,
                        body: row.try_get("event_body")?,
                        edited_at: at,
                    },
                    "recall" => ChannelEvent::MessageRecalled {
                        channel,
                        seq,
                        message_id: message.id,
                        recalled_at: at,
                        by: row.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
                    },
                    "pin" | "unpin" => ChannelEvent::MessagePinned {
                        channel,
                        seq,
                        message_id: message.id,
                        pinned: kind == "pin",
                        by: row.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
                        at,
                    },
                    "react" | "unreact" => ChannelEvent::ReactionChanged {
                        channel,
                        seq,
                        message_id: message.id,
                        user_id: UserId(
                            row.try_get::<Option<i64>, _>("actor_id")?
                                .unwrap_or_default(),
                        ),
                        emoji: row
                            .try_get::<Option<String>, _>("event_body")?
                            .unwrap_or_default(),
                        added: kind == "react",
                    },
                    _ => {
                        return Err(StoreError::Corrupt {
                            column: "channel_events.kind",
                            value: kind,
                        })
                    }
                })
            })
            .collect()
    }

    /// The newest `limit` messages before `before` (or the newest of all), oldest first, and
    /// whether older ones exist.
    pub async fn history_before(
        &self,
        channel: ChannelId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.channel_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(channel.0)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let has_more = rows.len() as i64 > limit;
        let mut messages = rows
            .iter()
            .take(limit as usize)
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok((messages, has_more))
    }

    /// Messages with `from <= seq <= to`, oldest first, at most `limit`.
    pub async fn history_range(
        &self,
        channel: ChannelId,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.channel_id = $1 AND m.seq >= $2 AND m.seq <= $3 ORDER BY m.seq LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(channel.0)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The replies to `parent` (its thread), oldest first, at most `limit`, and whether more exist.
    pub async fn thread(
        &self,
        channel: ChannelId,
        parent: MessageId,
        limit: i64,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.channel_id = $1 AND m.reply_to = $2 ORDER BY m.seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(channel.0)
            .bind(parent.0)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let has_more = rows.len() as i64 > limit;
        let messages = rows
            .iter()
            .take(limit as usize)
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((messages, has_more))
    }

    async fn unread(
        &self,
        channel: ChannelId,
        user: UserId,
        read_seq: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND seq > $2 \
             AND (sender_id IS NULL OR sender_id <> $3) AND recalled_at IS NULL",
        )
        .bind(channel.0)
        .bind(read_seq)
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Move `user`'s read marker in `channel` forward to `seq` (never back, never past the
    /// channel's end). Returns the marker as it now is and the unread count.
    pub async fn mark_read(
        &self,
        channel: ChannelId,
        user: UserId,
        seq: i64,
    ) -> Result<ReadMark, StoreError> {
        let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM channels WHERE id = $1")
            .bind(channel.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        // `read_seq < $3` in the statement keeps the marker from moving back under a race.
        let moved = sqlx::query("UPDATE memberships SET read_seq = $3 WHERE channel_id = $1 AND user_id = $2 AND read_seq < $3")
            .bind(channel.0)
            .bind(user.0)
            .bind(seq.min(last_seq))
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0;
        let read_seq: i64 = sqlx::query_scalar(
            "SELECT read_seq FROM memberships WHERE channel_id = $1 AND user_id = $2",
        )
        .bind(channel.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(ReadMark {
            read_seq,
            unread: self.unread(channel, user, read_seq).await?,
            moved,
        })
    }

    /// The user's channels with their position, read marker, unread count and last message,
    /// newest activity first.
    pub async fn channel_summaries(&self, user: UserId) -> Result<Vec<ChannelSummary>, StoreError> {
        let channels: Vec<Channel> = self.channels_of(user).await?;
        let mut summaries = Vec::with_capacity(channels.len());
        for channel in channels {
            let row = sqlx::query(
                "SELECT c.last_seq, my.read_seq FROM channels c \
                 JOIN memberships my ON my.channel_id = c.id AND my.user_id = $2 WHERE c.id = $1",
            )
            .bind(channel.id.0)
            .bind(user.0)
            .fetch_one(&self.pool)
            .await?;
            let last_seq: i64 = row.try_get("last_seq")?;
            let read_seq: i64 = row.try_get("read_seq")?;
            let (last, _) = self.history_before(channel.id, None, 1).await?;
            summaries.push(ChannelSummary {
                unread: self.unread(channel.id, user, read_seq).await?,
                last_message: last.into_iter().next(),
                channel,
                last_seq,
                read_seq,
            });
        }
        summaries.sort_by_key(|s| {
            std::cmp::Reverse(
                s.last_message
                    .as_ref()
                    .map_or(s.channel.created_at, |m| m.created_at),
            )
        });
        Ok(summaries)
    }

    /// The ids and positions of every channel `user` belongs to.
    pub async fn channel_positions(
        &self,
        user: UserId,
    ) -> Result<Vec<(ChannelId, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.last_seq FROM channels c JOIN memberships m ON m.channel_id = c.id AND m.user_id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((ChannelId(r.try_get("id")?), r.try_get("last_seq")?)))
            .collect()
    }

    /// "Read by N of M" for a message, from the members' read markers: no row per member per
    /// message. The sender counts as neither.
    pub async fn receipts(&self, message: &Message) -> Result<Receipts, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.name, m.read_seq FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.channel_id = $1 AND ($2 IS NULL OR m.user_id <> $2) ORDER BY u.name, u.id",
        )
        .bind(message.channel.0)
        .bind(message.sender.map(|u| u.0))
        .fetch_all(&self.pool)
        .await?;
        let mut receipts = Receipts {
            channel: message.channel,
            message_id: message.id,
            seq: message.seq,
            read_by: 0,
            of: 0,
            not_read: Vec::new(),
        };
        for row in &rows {
            receipts.of += 1;
            if row.try_get::<i64, _>("read_seq")? >= message.seq {
                receipts.read_by += 1;
            } else {
                receipts.not_read.push(MemberRef {
                    user_id: UserId(row.try_get("user_id")?),
                    name: row.try_get("name")?,
                });
            }
        }
        Ok(receipts)
    }

    /// Every member's read marker.
    pub async fn read_markers(&self, channel: ChannelId) -> Result<Vec<MemberRead>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, read_seq FROM memberships WHERE channel_id = $1 ORDER BY user_id",
        )
        .bind(channel.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRead {
                    user_id: UserId(r.try_get("user_id")?),
                    read_seq: r.try_get("read_seq")?,
                })
            })
            .collect()
    }

    /// Who belongs to the channel.
    pub async fn member_ids(&self, channel: ChannelId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE channel_id = $1")
                .bind(channel.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }
}
