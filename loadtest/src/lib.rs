//! The load tester (`parley-loadtest`): simulated users against any Parley node, as real
//! clients over real sockets, with every delivery checked and the server's cost measured.
//!
//! - `provision`: the users and channels a run needs, made through the REST API as an admin.
//! - `im`: the messaging scenario: connect, send at a rate, check that every online member
//!   received every message exactly once and in order, measure connect time and latency.
//! - `media`: the meeting and voice-bridge scenarios: WebRTC bots (str0m) that publish a
//!   synthetic Opus voice and VP8 video and subscribe as a meeting UI would, measured packet by
//!   packet (see `media::peer` for the seam between media and signaling).
//! - `report`: percentiles (HDR histogram), the final table and the JSON report.
//! - `cost`: the server process's CPU seconds and memory, from `/proc`.

pub mod cost;
pub mod im;
pub mod media;
pub mod provision;
pub mod report;
