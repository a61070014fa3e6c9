//! A publisher offer as the SFU handles it: `sdp::sections` and `sdp::check_offer` against the
//! tracks a client would name, then the media thread's engine (`Engine::offer`: grants, str0m's
//! SDP parser and `accept_offer`, publishing), through `parley_sfu::fuzz::Harness`.
//!
//! Each input joins a fresh participant (the same identity, so the last one is replaced and the
//! engine does not grow).

use parley_sfu::fuzz::Harness;
use std::panic::AssertUnwindSafe;

fn main() {
    let mut harness = AssertUnwindSafe(None::<Harness>);
    afl::fuzz(true, move |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let _ = parley_sfu::sdp::candidates_in_every_section(text);
        let h = harness.get_or_insert_with(|| Harness::new().expect("the harness starts"));
        let key = h.join("publisher").expect("joining the fuzz room works");
        if let Ok(answer) = h.offer(key, text) {
            assert!(answer.starts_with("v=0"), "an answer is SDP");
        }
    });
}
