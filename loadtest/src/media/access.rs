//! Tokens for the bots without a password hash each: the run signs in once as the admin,
//! makes an API key (`POST /v1/admin/api-keys`) and signs every bot's token itself with the
//! key's secret (HS256, `iss` the key), as an app embedding Parley does.

use anyhow::{bail, Context, Result};
use parley_proto::{
    AppClaims, BridgeOptions, CreateRoom, Grants, LoginRequest, RoomInfo, TokenPair,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct App {
    base: String,
    http: reqwest::Client,
    key: String,
    secret: String,
}

#[derive(serde::Deserialize)]
struct NewKey {
    key: String,
    secret: Option<String>,
}

async fn post<B: Serialize, T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &B,
) -> Result<T> {
    let mut request = http.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("POST {url}: {status}: {text}");
    }
    Ok(response.json().await?)
}

impl App {
    /// Sign in as the admin and make the run's API key, named after `tag`.
    pub async fn register(base: &str, email: &str, password: &str, tag: &str) -> Result<App> {
        let base = base.trim_end_matches('/').to_string();
        let http = reqwest::Client::new();
        let login = LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        let admin: TokenPair = post(&http, &format!("{base}/v1/auth/login"), None, &login)
            .await
            .with_context(|| format!("signing in as {email}"))?;
        let key: NewKey = post(
            &http,
            &format!("{base}/v1/admin/api-keys"),
            Some(&admin.access_token),
            &serde_json::json!({ "name": format!("loadtest-{tag}") }),
        )
        .await
        .context("making an API key")?;
        Ok(App {
            base,
            http,
            key: key.key,
            secret: key
                .secret
                .context("the new API key came without its secret")?,
        })
    }

    /// A token for `identity` with `grants`, valid for `ttl`.
    pub fn token(&self, identity: &str, grants: Grants, ttl: Duration) -> Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = AppClaims {
            iss: self.key.clone(),
            sub: identity.to_string(),
            name: identity.to_string(),
            exp: now + ttl.as_secs(),
            nbf: None,
            grants,
        };
        Ok(jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes()),
        )?)
    }

    /// Open a voice bridge room with `slots` loudest-speaker slots.
    pub async fn open_bridge(&self, room: &str, slots: u32) -> Result<RoomInfo> {
        let admin = self.token(
            "loadtest-admin",
            Grants {
                room: room.into(),
                room_create: true,
                ..Grants::default()
            },
            Duration::from_secs(600),
        )?;
        let body = CreateRoom {
            name: room.into(),
            bridge: Some(BridgeOptions {
                max_speakers: Some(slots),
                ..BridgeOptions::default()
            }),
            ..CreateRoom::default()
        };
        post(
            &self.http,
            &format!("{}/v1/rooms", self.base),
            Some(&admin),
            &body,
        )
        .await
        .context("opening the bridge room")
    }
}

/// A participant's grants in `room`: to publish (and open the room on first join) or only
/// to listen.
pub fn grants(room: &str, publish: bool) -> Grants {
    Grants {
        room: room.into(),
        room_join: true,
        room_create: publish,
        can_publish: publish,
        can_subscribe: true,
        ..Grants::default()
    }
}
