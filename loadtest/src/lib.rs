//! The load tester (`parley-loadtest`): simulated users against any Parley node, as real
//! clients over real sockets, with every delivery checked and the server's cost measured.
//!
//! - `provision`: the users and channels a run needs, made through the REST API as an admin.
//! - `im`: the messaging scenario: connect, send at a rate, check that every online member
//!   received every message exactly once and in order, measure connect time and latency.
//!   With `devices`, several connections share a user's token; with `churn`, some drop and
//!   reconnect mid-run, resuming from their last sequence.
//! - `floor`: a bare WebSocket broadcast server speaking just enough of `/v1/ws` for `im` to
//!   drive it, so Parley's hub is reported as a ratio to it.
//! - `report`: percentiles (HDR histogram), the per-second timeline, the final table and the
//!   JSON report.
//! - `chart`: a hand-written SVG of named series over time (latency percentiles, throughput).
//! - `media`: the meeting and voice-bridge scenarios: WebRTC bots (str0m) that publish a
//!   synthetic Opus voice and VP8 video and subscribe as a meeting UI would, measured packet by
//!   packet (see `media::peer` for the seam between media and signaling).
//! - `janus`: Janus's WebSocket API and VideoRoom, so the media bots load Janus side by side.
//! - `cost`: the server process's CPU seconds and memory, from `/proc`.

pub mod chart;
pub mod cost;
pub mod floor;
pub mod im;
pub mod janus;
pub mod media;
pub mod provision;
pub mod report;
