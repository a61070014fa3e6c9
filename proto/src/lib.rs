//! Wire types of Parley's public APIs.
//!
//! Everything a client sends or receives over REST (and, from the hub and meetings issues on,
//! over the WebSockets) is declared here with serde, so the server, the recorder, the load tester
//! and the tests share one definition. This crate performs no IO.
//!
//! Architecture invariant: only serde (and utoipa's schema derive, so the OpenAPI document is
//! generated from these very types) is allowed here.

mod auth;
mod error;
mod files;
mod ids;
mod knowledge;
mod minutes;
mod org;
mod recording;
mod rtc;
mod search;
mod stats;
mod upkeep;
mod webhook;
mod ws;

pub use auth::*;
pub use error::*;
pub use files::*;
pub use ids::*;
pub use knowledge::*;
pub use minutes::*;
pub use org::*;
pub use recording::*;
pub use rtc::*;
pub use search::*;
pub use stats::*;
pub use upkeep::*;
pub use webhook::*;
pub use ws::*;
