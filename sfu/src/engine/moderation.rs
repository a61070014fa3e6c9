//! Raised hands and moderators: a participant raises its hand; a participant with
//! `room_admin` mutes others, gives them the floor (they may publish their microphone) or takes
//! it back. In a voice bridge this is how a few speak and hundreds listen.

use super::*;
use parley_proto::{ModerateAction, TrackSource};

/// Sids of a room's participants with a raised hand, first raised first.
pub(super) fn raised_hands(
    room: &Room,
    participants: &HashMap<ParticipantKey, Participant>,
) -> Vec<String> {
    let mut hands: Vec<(i64, String)> = room
        .members
        .iter()
        .filter_map(|k| participants.get(k))
        .filter(|p| !p.grants.hidden)
        .filter_map(|p| Some((p.hand_raised_at?, p.sid.clone())))
        .collect();
    hands.sort();
    hands.into_iter().map(|(_, sid)| sid).collect()
}

impl Engine {
    pub(super) fn raise_hand(&mut self, key: ParticipantKey, raised: bool) -> SfuResult<()> {
        let p = self.participants.get(&key).ok_or_else(not_in_room)?;
        // The queue is the order hands went up: a hand raised in the same millisecond as the
        // last one goes a millisecond after it.
        let last = self
            .rooms
            .get(&p.room)
            .map(|room| {
                room.members
                    .iter()
                    .filter_map(|k| self.participants.get(k)?.hand_raised_at)
                    .max()
            })
            .unwrap_or_default();
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        // Raising it again keeps its place in the queue.
        let at = if raised {
            Some(
                p.hand_raised_at
                    .unwrap_or_else(|| last.map_or(now_ms(), |l| now_ms().max(l + 1))),
            )
        } else {
            None
        };
        if p.hand_raised_at != at {
            p.hand_raised_at = at;
            self.announce_update(key);
        }
        Ok(())
    }

    pub(super) fn moderate(
        &mut self,
        key: ParticipantKey,
        target_sid: &str,
        action: ModerateAction,
    ) -> SfuResult<()> {
        let p = self.participants.get(&key).ok_or_else(not_in_room)?;
        if !p.grants.room_admin {
            return Err(SfuError::new(
                ErrorCode::InsufficientGrant,
                "moderating needs the `room_admin` grant",
            ));
        }
        let room = self.rooms.get(&p.room).ok_or_else(not_in_room)?;
        let target = room
            .members
            .iter()
            .copied()
            .find(|k| {
                self.participants
                    .get(k)
                    .is_some_and(|t| t.sid == target_sid && !t.grants.hidden)
            })
            .ok_or_else(|| not_found(format!("no participant `{target_sid}` in this room")))?;
        match action {
            ModerateAction::Mute => {
                let audio: Vec<String> = self
                    .participants
                    .get(&target)
                    .map(|t| {
                        t.tracks
                            .iter()
                            .filter(|t| t.info.kind == TrackKind::Audio)
                            .map(|t| t.info.sid.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for sid in audio {
                    self.mute(target, &sid, true, true)?;
                }
            }
            ModerateAction::LowerHand => self.raise_hand(target, false)?,
            ModerateAction::GiveFloor | ModerateAction::TakeFloor => {
                let give = action == ModerateAction::GiveFloor;
                let bridge = room.bridge.is_some();
                let Some(t) = self.participants.get_mut(&target) else {
                    return Err(not_in_room());
                };
                t.hand_raised_at = None;
                // The floor is the microphone: in a bridge nothing else; elsewhere added to
                // what it may already publish (none listed means all).
                let sources = &t.grants.can_publish_sources;
                let can_publish_sources = match (give, bridge) {
                    (false, _) => None,
                    (true, true) => Some(vec![TrackSource::Microphone]),
                    (true, false) if !t.grants.can_publish => Some(vec![TrackSource::Microphone]),
                    (true, false)
                        if sources.is_empty() || sources.contains(&TrackSource::Microphone) =>
                    {
                        None
                    }
                    (true, false) => {
                        let mut more = sources.clone();
                        more.push(TrackSource::Microphone);
                        Some(more)
                    }
                };
                // `update_grants` announces the new grants, and the lowered hand with them.
                self.update_grants(
                    target,
                    GrantsUpdate {
                        can_publish: Some(give),
                        can_publish_sources,
                        ..GrantsUpdate::default()
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Tell the room (or only itself, if hidden) that a participant changed.
    pub(super) fn announce_update(&mut self, key: ParticipantKey) {
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let msg = RtcServerMessage::ParticipantUpdated {
            participant: p.info(),
        };
        if p.grants.hidden {
            signal(key, p, msg, &mut self.doomed);
        } else {
            let room = p.room.clone();
            self.broadcast(&room, None, msg);
        }
    }
}
