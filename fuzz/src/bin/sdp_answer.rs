//! A subscriber answer as the SFU handles it (`Engine::answer`: str0m's SDP parser and
//! `accept_answer` against the offer the server sent, and what the engine does when it fails),
//! through `parley_sfu::fuzz::Harness`. A viewer is offered a publisher's tracks; each input
//! answers the offer waiting. A failed answer leaves an offer waiting (the engine offers again);
//! once one is accepted the room is built anew.
//!
//! The server picks its mids at random, so an input's `MID0`, `MID1`, ... stand for the mids of
//! the offer it answers, in order (the seeds are answers written that way).

use parley_fuzz::CHROMIUM_OFFER;
use parley_sfu::fuzz::Harness;
use parley_sfu::ParticipantKey;
use std::panic::AssertUnwindSafe;

struct Room {
    harness: Harness,
    viewer: ParticipantKey,
    /// The mids of the offer waiting for its answer.
    mids: Vec<String>,
}

fn mids(offer: &str) -> Vec<String> {
    offer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(str::to_string)
        .collect()
}

/// A room with a publisher of audio and video and a viewer with an offer to answer, and that
/// offer's SDP.
fn room() -> (Room, String) {
    let mut harness = Harness::new().expect("the harness starts");
    let viewer = harness.join("viewer").expect("joining works");
    let publisher = harness.join("publisher").expect("joining works");
    harness
        .offer(publisher, CHROMIUM_OFFER)
        .expect("the seed offer is accepted");
    let offer = harness
        .pending_offer(viewer)
        .expect("the viewer was offered the tracks");
    let room = Room {
        harness,
        viewer,
        mids: mids(&offer),
    };
    (room, offer)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--print-offer") {
        print!("{}", room().1);
        return;
    }
    let mut state = AssertUnwindSafe(None::<Room>);
    afl::fuzz(true, move |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if !state
            .as_ref()
            .is_some_and(|r| r.harness.awaits_answer(r.viewer))
        {
            *state = Some(room().0);
        }
        let Some(room) = state.as_mut() else {
            return;
        };
        let mut answer = text.to_string();
        for (i, mid) in room.mids.iter().enumerate().rev() {
            answer = answer.replace(&format!("MID{i}"), mid);
        }
        if room.harness.answer(room.viewer, &answer).is_err() {
            // The engine offers again after an answer str0m refused: answer that one next.
            if let Some(offer) = room.harness.pending_offer(room.viewer) {
                room.mids = mids(&offer);
            }
        }
    });
}
