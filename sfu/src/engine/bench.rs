//! What the micro-benchmarks (`sfu/benches/`) drive: a media worker's own pieces, reached
//! without the thread, the socket or a room.

use super::*;

pub use super::simulcast::{starts_keyframe, SimDown};

/// A subscriber peer connection as a media worker makes it (`Peer::new`), with `candidate`
/// as its one host candidate.
pub fn subscriber_rtc(now: Instant, candidate: SocketAddr) -> Rtc {
    Peer::new(now, &[candidate], &[], Side::Subscriber).rtc
}
