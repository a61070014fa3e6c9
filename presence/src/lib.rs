//! The messaging hub's core: plain state with `&mut self` methods, time passed in, no IO. The
//! WebSocket edge in `signaling` wraps it in tasks that only do IO.
//!
//! - [`Routes`]: which local connections belong to which user and listen to which channel.
//! - [`Cursors`]: per connection, the next sequence it expects in each channel, so every event
//!   reaches a device exactly once and in order, and a gap is noticed and filled from storage.
//! - [`TokenBucket`]: the per-connection request rate limit.
//! - [`Presence`]: devices aggregated per user, idle detection, coalesced announcements.
//! - [`TypingThrottle`]: at most one typing notice per member and channel per interval.
//!
//! - [`next_reminder`]: when an urgent ping reminds next.
//!
//! Still to come with the hub issue: the bus between nodes.

mod cursor;
mod presence;
mod rate;
mod routes;
mod typing;
mod urgent;

pub use cursor::{Cursors, Step};
pub use presence::{Announcement, Presence, PresenceConfig};
pub use rate::TokenBucket;
pub use routes::{ConnId, Routes};
pub use typing::TypingThrottle;
pub use urgent::next_reminder;
