//! Bearer tokens, as `Tokens::authenticate` checks them before asking storage: `peek_issuer`,
//! then a user token against the server's secret (`verify_user`) or an app token against its
//! API key's secret (`verify_app`). The fuzzer knows neither secret, so every token it makes
//! must be refused, and nothing may panic. The seeds are real tokens signed with other secrets,
//! expired, or with other algorithms.

use parley_signaling::auth::{peek_issuer, Tokens};
use std::time::Duration;

fn main() {
    let tokens = Tokens::new(
        b"the server's secret, which the fuzzer does not know",
        Duration::from_secs(900),
        Duration::from_secs(86_400),
        30,
    );
    afl::fuzz(true, move |data: &[u8]| {
        let Ok(token) = std::str::from_utf8(data) else {
            return;
        };
        let issuer = peek_issuer(token);
        assert!(
            tokens.verify_user(token).is_err(),
            "a forged user token was accepted: {token}"
        );
        let issuer = issuer.unwrap_or_else(|_| "APIfuzz".into());
        assert!(
            tokens
                .verify_app(token, &issuer, "an API secret the fuzzer does not know")
                .is_err(),
            "a forged app token was accepted: {token}"
        );
    });
}
