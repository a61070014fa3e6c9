//! Containing a panic to the participant whose step raised it.
//!
//! Every room on a media worker lives on its one thread, so a panic that escaped a step (a bug
//! in SDP, STUN, DTLS, RTP or RTCP handling, ours or str0m's) would end all its meetings at once.
//! Each step that belongs to one participant (a datagram for its connection, a request of its
//! own, polling its connection and serving its timers, acting on what its connection reported)
//! runs inside `contain`: a panic there removes that participant only (`internal_error`), is
//! logged with its message, and counted in `parley_rtc_peer_panics_total{step}`. Steps that
//! belong to nobody in particular (the room-wide checks of a tick) are contained too: logged
//! and counted, and the thread goes on.

use super::*;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Where a test makes a participant's next step panic.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PanicStep {
    /// Polling its connection (its timers come due every tick).
    Poll,
    /// Its next request.
    Command,
}

impl Engine {
    /// Run `step` for participant `key` (`None`: for nobody in particular). A panic in it
    /// removes that participant; `None` comes back instead of the step's result.
    pub(super) fn contain<R>(
        &mut self,
        key: Option<ParticipantKey>,
        step: &'static str,
        f: impl FnOnce(&mut Engine) -> R,
    ) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(result) => Some(result),
            Err(payload) => {
                self.panicked(key, step, payload.as_ref());
                None
            }
        }
    }

    fn panicked(&mut self, key: Option<ParticipantKey>, step: &'static str, payload: &dyn Any) {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        self.metrics.peer_panics.with_label_values(&[step]).inc();
        let Some(key) = key else {
            tracing::error!(step, panic = %what, "a media worker caught a panic; carrying on");
            return;
        };
        let (room, participant) = self
            .participants
            .get(&key)
            .map(|p| (p.room.to_string(), p.sid.clone()))
            .unwrap_or_default();
        tracing::error!(%room, %participant, step, panic = %what,
            "a participant's step panicked; removing that participant only");
        #[cfg(test)]
        self.inject.retain(|(k, _)| *k != key);
        // What the step left half done for it is dropped with it.
        self.pending.retain(|(k, _, _)| *k != key);
        let departure = Departure::Removed(RemovedReason::InternalError);
        if catch_unwind(AssertUnwindSafe(|| self.remove(key, departure))).is_err() {
            tracing::error!(%room, %participant, "removing the participant panicked too");
        }
        self.forget(key);
    }

    /// Make sure nothing refers to `key` any more, however far its removal got.
    fn forget(&mut self, key: ParticipantKey) {
        if self.participants.remove(&key).is_some() {
            self.metrics.participants.dec();
            self.placement.left(self.io.worker);
        }
        self.forget_connections(key);
        self.dirty.retain(|(k, _)| *k != key);
        self.pending.retain(|(k, _, _)| *k != key);
        self.doomed.retain(|(k, _)| *k != key);
        let now = Instant::now();
        for room in self.rooms.values_mut() {
            if room.members.contains(&key) {
                room.members.retain(|k| *k != key);
                if room.members.is_empty() {
                    room.empty_since = Some(now);
                }
            }
            for slot in room.bridge.iter_mut().flatten() {
                if slot.is_some_and(|(k, _)| k == key) {
                    *slot = None;
                }
            }
        }
    }

    /// Whose request this is, to blame it on if it panics.
    pub(super) fn command_key(&self, command: &Command) -> Option<ParticipantKey> {
        match command {
            Command::Offer { key, .. }
            | Command::Answer { key, .. }
            | Command::Candidate { key, .. }
            | Command::Subscribe { key, .. }
            | Command::Mute { key, .. }
            | Command::IceRestart { key, .. }
            | Command::RaiseHand { key, .. }
            | Command::Moderate { key, .. }
            | Command::SetQuality { key, .. }
            | Command::Unpublish { key, .. }
            | Command::Leave { key } => Some(*key),
            Command::RemoveParticipant { room, identity, .. }
            | Command::AdminMute { room, identity, .. }
            | Command::UpdateGrants { room, identity, .. } => self.by_identity(room, identity).ok(),
            #[cfg(test)]
            Command::InjectPanic { .. } => None,
            Command::Join { .. }
            | Command::CreateRoom { .. }
            | Command::ListRooms { .. }
            | Command::GetRoom { .. }
            | Command::EndRoom { .. }
            | Command::RemoveSignedBy { .. }
            | Command::Shutdown { .. } => None,
        }
    }

    /// A request, contained: a join that panics takes the participant it was making with it.
    pub(super) fn contained_command(&mut self, command: Command) {
        let before = self.next_key;
        let key = self.command_key(&command);
        let result = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            if let Some(key) = key {
                self.inject_here(key, PanicStep::Command);
            }
            self.command(command)
        }));
        if let Err(payload) = result {
            let key = key.or_else(|| (self.next_key != before).then_some(before));
            self.panicked(key, "command", payload.as_ref());
        }
    }

    /// Tests: panic if the participant's `step` was asked to.
    #[cfg(test)]
    pub(super) fn inject_here(&mut self, key: ParticipantKey, step: PanicStep) {
        if self.inject.contains(&(key, step)) {
            panic!("injected panic in {step:?} of participant {key:?}");
        }
    }
}
