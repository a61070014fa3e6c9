//! The urgent-ping task: sends the reminders that are due and escalates recipients who have not
//! acknowledged in time. The schedule lives in storage, so it resumes after a restart; each
//! reminder and escalation is claimed in storage first, so with several nodes each goes out once.

use crate::error::AppResult;
use crate::{messaging, webhook, AppState};
use parley_proto::{EscalatedRecipient, PingEscalation, ServerMessage};
use parley_storage::now_ms;
use std::time::Duration;

/// At most this many reminders or escalations per pass.
const BATCH: i64 = 500;

pub fn spawn(state: AppState) {
    tokio::spawn(run(state));
}

async fn run(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.urgent.poll_ms.max(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = state.shutdown.subscribe();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(err) = remind(&state).await {
            tracing::warn!(code = ?err.code, message = %err.message, "urgent reminders failed this pass");
        }
        if !state.urgent.escalation_url.is_empty() {
            if let Err(err) = escalate(&state, &client).await {
                tracing::warn!(code = ?err.code, message = %err.message, "escalations failed this pass");
            }
        }
    }
}

async fn remind(state: &AppState) -> AppResult<()> {
    let now = now_ms();
    for due in state.db.due_reminders(now, BATCH).await? {
        let next = parley_presence::next_reminder(now, due.every_ms, due.expires_at);
        let Some(reminder) = state.db.claim_reminder(&due, next).await? else {
            continue;
        };
        let message = state.db.message(due.channel, due.message_id).await?;
        let push = ServerMessage::PingReminder {
            channel: due.channel,
            reminder,
            message: message.clone(),
        };
        // Through do-not-disturb: urgent means urgent.
        state.hub.to_user(due.user, &push).await;
        state.metrics.urgent_reminders.inc();
        if !state.hub.presence(vec![due.user]).await.is_empty() {
            messaging::delivered(state, &message, due.user).await?;
        }
    }
    Ok(())
}

async fn escalate(state: &AppState, client: &reqwest::Client) -> AppResult<()> {
    let now = now_ms();
    let after =
        i64::try_from(state.urgent.escalate_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    for due in state
        .db
        .due_escalations(now.saturating_sub(after), now, BATCH)
        .await?
    {
        if !state
            .db
            .claim_escalation(due.message.id, due.user, now)
            .await?
        {
            continue;
        }
        let payload = PingEscalation {
            event: "urgent_ping.unacknowledged".into(),
            channel: due.message.channel,
            message_id: due.message.id,
            priority: due.message.priority,
            body: due.message.body.clone(),
            sender: due.message.sender,
            sent_at: due.message.created_at,
            recipient: EscalatedRecipient {
                user_id: due.user,
                name: due.name,
                email: due.email,
            },
        };
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        webhook::send(
            client.clone(),
            state.urgent.escalation_url.clone(),
            state.urgent.escalation_secret.clone(),
            body,
        );
        state.metrics.urgent_escalations.inc();
    }
    Ok(())
}
