//! Outgoing webhooks: signed JSON POSTs, retried with back-off in their own task so nothing
//! that calls them ever waits on a receiver.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// Waits before each attempt: at once, then 1, 4 and 16 seconds later.
const BACKOFF: [u64; 4] = [0, 1, 4, 16];

/// `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Deliver in the background; a receiver that is down is retried, then given up on (logged).
pub fn send(client: reqwest::Client, url: String, secret: String, body: Vec<u8>) {
    tokio::spawn(deliver(client, url, secret, body));
}

/// Deliver now, retrying with back-off; returns once delivered or given up on.
pub async fn deliver(client: reqwest::Client, url: String, secret: String, body: Vec<u8>) {
    for (attempt, wait) in BACKOFF.iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(*wait)).await;
        let timestamp = crate::auth::unix_now();
        let result = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-parley-timestamp", timestamp.to_string())
            .header("x-parley-signature", signature(&secret, timestamp, &body))
            .body(body.clone())
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                tracing::warn!(%url, attempt, status = %response.status(), "webhook refused")
            }
            Err(err) => {
                tracing::warn!(%url, attempt, error = %crate::error::chain(&err), "webhook failed")
            }
        }
    }
    tracing::error!(%url, "webhook given up after {} attempts", BACKOFF.len());
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_value() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            super::signature("secret", 1_700_000_000, b"{}"),
            "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
