//! Parley's edge: the REST routes (and, from the hub and meetings issues on, the WebSockets),
//! authentication, the authorisation policy, configuration, and start-up. The `parley` binary
//! in `main.rs` is a thin command line over this library.
//!
//! Architecture invariant: only this crate knows HTTP. Storage, the hub and the SFU know
//! nothing of axum, and every authorisation decision is made in `policy`.

pub mod app;
pub mod auth;
pub mod backups;
pub mod cluster;
pub mod config;
pub mod error;
pub mod knowledge;
pub mod library;
pub mod listener;
pub mod messaging;
pub mod metrics;
pub mod openapi;
pub mod org_csv;
pub mod passwords;
pub mod pings;
pub mod policy;
pub mod previews;
pub mod retention;
pub mod rings;
pub mod routes;
pub mod rtc;
pub mod sealed;
pub mod search;
pub mod serve;
pub mod server;
pub mod tasks;
pub mod throttle;
pub mod uploads;
pub mod webhook;
pub mod ws;

pub use app::{app, AppState};
pub use config::Config;
