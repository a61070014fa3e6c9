//! Datagrams into the media thread, through the engine's own entry (`Engine::datagram`: str0m's
//! demultiplexing of STUN, DTLS, RTP and RTCP, routing by source address, the ICE check an
//! unknown address needs, `Rtc::handle_input`, and the poll and event handling after it).
//!
//! Set-up (once per fuzzing process): a participant publishes the Chromium offer, and source
//! 127.0.0.1 passes a real ICE check for it (a STUN binding request signed with the server's
//! password from the answer), so its later datagrams reach the peer connection. Input:
//! `[flags u8][length u16 LE][bytes]`, repeated; flag bit 0 picks the checked source (else an
//! unknown one, 127.0.0.2), bit 1 runs the engine's timer tick after the datagram.

use parley_fuzz::{ice_check, loopback, sdp_attribute, Reader, CHROMIUM_OFFER, OFFER_UFRAG};
use parley_sfu::fuzz::Harness;
use std::panic::AssertUnwindSafe;

fn connected() -> Harness {
    let mut h = Harness::new().expect("the harness starts");
    let key = h.join("publisher").expect("joining works");
    let answer = h
        .offer(key, CHROMIUM_OFFER)
        .expect("the seed offer is accepted");
    let ufrag = sdp_attribute(&answer, "ice-ufrag").expect("the answer has an ICE ufrag");
    let pwd = sdp_attribute(&answer, "ice-pwd").expect("the answer has an ICE password");
    let check = ice_check(ufrag, OFFER_UFRAG, pwd);
    h.datagram(loopback(1), &check);
    assert!(
        h.knows(loopback(1)),
        "the ICE check let the source in; without it the target reaches nothing"
    );
    h
}

fn main() {
    let mut harness = AssertUnwindSafe(None::<Harness>);
    afl::fuzz(true, move |data: &[u8]| {
        let h = harness.get_or_insert_with(connected);
        let mut r = Reader::new(data);
        let mut count = 0;
        while !r.is_empty() && count < 64 {
            let flags = r.u8();
            let length = usize::from(r.u16());
            let datagram = r.bytes(length.min(2000));
            let source = if flags & 1 != 0 {
                loopback(1)
            } else {
                loopback(2)
            };
            h.datagram(source, datagram);
            if flags & 2 != 0 {
                h.tick();
            }
            count += 1;
        }
    });
}
