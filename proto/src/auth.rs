//! Accounts, sessions, API keys and the grants carried by app-signed tokens.

use crate::{DepartmentId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// What a user account may do. Guests are external customers, suppliers and partners: they see
/// only the channels they were invited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    DeptAdmin,
    Member,
    Guest,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::DeptAdmin, Role::Member, Role::Guest];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::DeptAdmin => "dept_admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role `{s}` (expected admin, dept_admin, member or guest)")
            })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A short-lived access token (JWT, `Authorization: Bearer ...`) and the refresh token that buys
/// the next one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: refreshing returns a new one and retires this one.
    pub refresh_token: String,
    pub user: User,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A user account as the API shows it. Password hashes never leave the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub department_id: Option<DepartmentId>,
    /// The department's full path, such as `HQ/R&D/Platform`.
    pub department_path: Option<String>,
    pub disabled: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The person's job title, as they wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The person's IANA time zone (`Asia/Shanghai`), for showing their local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Where their avatar image (a 256 × 256 JPEG) is read, `/v1/users/{id}/avatar?v=…`; a new
    /// image gets a new URL. Absent when they have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// What everyone who shares a channel with a person sees of their profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserCard {
    pub id: UserId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl From<&User> for UserCard {
    fn from(user: &User) -> UserCard {
        UserCard {
            id: user.id,
            name: user.name.clone(),
            title: user.title.clone(),
            time_zone: user.time_zone.clone(),
            avatar: user.avatar.clone(),
        }
    }
}

/// The grants an app puts in a token it signs with its API secret (LiveKit style). Everything is
/// denied unless granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// The room (meeting) this token is for; empty for any room where a grant allows it.
    pub room: String,
    pub room_join: bool,
    pub room_create: bool,
    pub room_list: bool,
    pub room_admin: bool,
    pub can_publish: bool,
    pub can_subscribe: bool,
    /// Sources the participant may publish; empty means all sources when `can_publish`.
    pub can_publish_sources: Vec<TrackSource>,
    /// Never listed to other participants, never counted.
    pub hidden: bool,
    /// May record; implies hidden.
    pub recorder: bool,
}

/// Where a published track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Microphone,
    Camera,
    ScreenShare,
    ScreenShareAudio,
}

/// The claims of an app-signed token: HS256 with the API key's secret, `iss` set to the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppClaims {
    /// The API key.
    pub iss: String,
    /// The participant's identity, unique within a room.
    pub sub: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Expiry, seconds since the Unix epoch. Required.
    pub exp: u64,
    /// Not valid before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub grants: Grants,
}

/// Who the presented token says the caller is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Whoami {
    User {
        user: User,
    },
    App {
        api_key: String,
        identity: String,
        name: String,
        grants: Grants,
        /// Expiry, seconds since the Unix epoch.
        expires_at: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, such as `crm-integration`.
    pub name: String,
}

/// An API key. The secret is shown once, when the key is created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub name: String,
    pub created_at: i64,
    pub revoked: bool,
}
