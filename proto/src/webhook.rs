//! Bodies of the webhooks Parley calls. Each call is a JSON POST with
//! `x-parley-timestamp: <unix seconds>` and `x-parley-signature: v1=<hex HMAC-SHA256 of
//! "<timestamp>.<body>" with the shared secret>`; receivers check both.

use crate::{ChannelId, MessageId, Priority, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A ping recipient has not acknowledged within `urgent.escalate_after_secs`: an SMS or phone
/// gateway can take over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PingEscalation {
    /// Always `urgent_ping.unacknowledged`.
    pub event: String,
    pub channel: ChannelId,
    pub message_id: MessageId,
    pub priority: Priority,
    pub body: Option<String>,
    pub sender: Option<UserId>,
    /// When the ping was sent, ms since the epoch.
    pub sent_at: i64,
    pub recipient: EscalatedRecipient,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EscalatedRecipient {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
}
