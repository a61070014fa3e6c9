//! The media scenarios (`parley-loadtest media` and `bridge`): bots that publish a synthetic
//! voice and real VP8 video and subscribe as a meeting's UI would, measured packet by packet.
//!
//! - `peer`: one WebRTC peer connection (str0m on its own UDP socket); the seam between media
//!   and signaling.
//! - `send`, `synth`, `ivf`, `stamp`: what publishers send, and the send times in it.
//! - `recv`: what subscribers measure.
//! - `signal`, `bot`, `layout`, `access`: Parley's side: `/v1/rtc`, a participant's flow,
//!   what a UI subscribes to, and tokens signed with a run's API key.
//! - `scenario`, `report`: a run from start to end, and its table and JSON.

pub mod access;
pub mod bot;
pub mod ivf;
pub mod janus_bot;
pub mod layout;
pub mod peer;
pub mod recv;
pub mod report;
pub mod scenario;
pub mod send;
pub mod signal;
pub mod stamp;
pub mod synth;
