//! Ringing people into a channel's meeting. A ring rings each callee's devices until they
//! answer, the caller hangs up, or `rtc.ring_secs` pass. Whichever node ends it (the timer of
//! the node that started it, or any node's sweep after a restart) ends it once, in the
//! database, and only that one tells everyone and leaves the missed-call message.

use crate::error::AppResult;
use crate::messaging::{self, SendRequest};
use crate::AppState;
use parley_proto::{PingAction, Priority, Ring, RingEnd, RingId, ServerMessage};
use std::time::Duration;

/// What a missed call says to clients that do not draw the `missed_call` action themselves.
const MISSED_BODY: &str = "未接来电 / Missed call";

/// How often every node looks for rings that outlived their time (a node that started one may
/// have stopped).
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// End `ring` when it expires, from this node.
pub fn expire_later(state: &AppState, ring: &Ring) {
    let state = state.clone();
    let (id, expires_at) = (ring.id, ring.expires_at);
    tokio::spawn(async move {
        let wait = u64::try_from(expires_at - parley_storage::now_ms()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if let Err(err) = expire(&state, id).await {
            tracing::warn!(ring = %id, code = ?err.code, message = %err.message, "ring not ended");
        }
    });
}

/// The sweep that ends rings whose node did not (it stopped or restarted while they rang).
pub fn spawn_sweep(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = state.shutdown.subscribe();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // A ring's own timer ends it on time; the sweep waits a little longer.
            let late = parley_storage::now_ms() - 2_000;
            match state.db.expired_rings(late).await {
                Ok(ids) => {
                    for id in ids {
                        if let Err(err) = expire(&state, id).await {
                            tracing::warn!(ring = %id, message = %err.message, "ring not ended");
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "expired rings not read"),
            }
        }
    });
}

/// The ring's time is up: answered when someone accepted, else missed.
async fn expire(state: &AppState, id: RingId) -> AppResult<()> {
    end(state, id, RingEnd::Missed).await?;
    Ok(())
}

/// End the ring if it still rings: `answered` when someone accepted, else `otherwise`. The call
/// that ends it tells the caller and the callees (`ring_updated`) and, when it ends `missed` or
/// `cancelled`, leaves a missed-call message in the channel in the caller's name.
pub async fn end(state: &AppState, id: RingId, otherwise: RingEnd) -> AppResult<Option<Ring>> {
    let Some(ring) = state.db.end_ring(id, otherwise).await? else {
        return Ok(None);
    };
    tell(state, &ring).await;
    let reason = ring.end_reason.unwrap_or(otherwise);
    if matches!(reason, RingEnd::Missed | RingEnd::Cancelled) {
        missed_call(state, &ring).await?;
    }
    tracing::info!(ring = %ring.id, channel = %ring.channel, reason = reason.as_str(), "ring ended");
    Ok(Some(ring))
}

/// `ring_updated` to the caller and every callee, on all their devices.
pub async fn tell(state: &AppState, ring: &Ring) {
    let message = ServerMessage::RingUpdated {
        ring: Box::new(ring.clone()),
    };
    state.hub.to_user(ring.caller, &message).await;
    for callee in &ring.callees {
        state.hub.to_user(callee.user_id, &message).await;
    }
}

async fn missed_call(state: &AppState, ring: &Ring) -> AppResult<()> {
    let Some(caller) = state.db.user(ring.caller).await? else {
        return Ok(());
    };
    messaging::send(
        state,
        &caller.user,
        SendRequest {
            channel: ring.channel,
            // The same ring never leaves two messages, even if two nodes got this far.
            client_id: format!("missed-call-{}", ring.id),
            body: MISSED_BODY.to_string(),
            reply_to: None,
            thread_only: false,
            mentions: ring.callees.iter().map(|c| c.user_id).collect(),
            mention_channel: false,
            priority: Priority::Normal,
            ack_requested: false,
            action: Some(PingAction::MissedCall { ring: ring.id }),
            attachments: Vec::new(),
        },
    )
    .await?;
    Ok(())
}
