//! The selective forwarding unit: rooms, participants, tracks and RTP forwarding on str0m.
//!
//! Filled by the meetings issue; nothing here yet.
