//! The messaging and presence hub: connections, presence, fan-out, receipts and the urgent-ping
//! schedule, as plain state with `&mut self` methods that take `now` and return effects, plus the
//! bus that carries events between nodes (in-process by default, Redis when clustered).
//!
//! Filled by the hub issue; nothing here yet.
