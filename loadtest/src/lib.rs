//! The load tester (`parley-loadtest`).
//!
//! Filled by the load-test issue; nothing here yet.
