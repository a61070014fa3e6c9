//! Departments, users and channels as the REST API shows them.

use crate::{ChannelId, DepartmentId, Role, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    pub parent_id: Option<DepartmentId>,
    /// The full path from the root, `/`-separated: `HQ/R&D/Platform`.
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    /// The full path of the new department; missing parents are created too.
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Department path such as `HQ/Sales`; created if missing.
    #[serde(default)]
    pub department: Option<String>,
    /// At least 8 characters. Without one the user cannot sign in until an admin sets one.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub department: Option<String>,
    /// A new password (8+ characters); your own needs `current_password` too.
    #[serde(default)]
    pub password: Option<String>,
    /// Your present password, when changing your own; not needed by an administrator setting
    /// someone else's.
    #[serde(default)]
    pub current_password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Your job title (up to 100 characters); `""` clears it.
    #[serde(default)]
    pub title: Option<String>,
    /// Your IANA time zone such as `Asia/Shanghai` or `Europe/Berlin`; `""` clears it.
    #[serde(default)]
    pub time_zone: Option<String>,
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", stringify!($name), " `{}`"), s))
            }
        }
    };
}

wire_enum!(
    /// How a channel behaves.
    ChannelKind {
        Direct = "direct",
        Group = "group",
        Announcement = "announcement",
        Meeting = "meeting",
    }
);

wire_enum!(
    /// What a channel is about, for grouping in the sidebar.
    ChannelCategory {
        Department = "department",
        Project = "project",
        Customer = "customer",
        Supplier = "supplier",
        Partner = "partner",
        Temporary = "temporary",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
    pub category: ChannelCategory,
    pub department_id: Option<DepartmentId>,
    pub created_by: Option<UserId>,
    pub archived: bool,
    /// Members who are not in it may find it (`GET /v1/channels/browse`) and join it
    /// (`POST /v1/channels/{id}/join`). Guests never can.
    #[serde(default)]
    pub open: bool,
    pub member_count: i64,
    pub created_at: i64,
    /// The channel's own urgent-ping reminder schedule, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgent_every_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgent_for_secs: Option<i64>,
    /// The channel's own retention: its messages are deleted this many days after they were
    /// sent (unless held). Absent: the organisation's (`GET /v1/admin/retention`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub category: ChannelCategory,
    /// For department channels: the department path.
    #[serde(default)]
    pub department: Option<String>,
    /// Members besides the creator, who is always a member.
    #[serde(default)]
    pub members: Vec<UserId>,
    /// A group that members may find and join themselves (default `false`).
    #[serde(default)]
    pub open: bool,
}

/// Change a channel. A field left out stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    #[serde(default)]
    pub name: Option<String>,
    /// Remind urgent-ping recipients this often in this channel (an emergency channel: 30);
    /// 0 returns to the server's default.
    #[serde(default)]
    pub urgent_every_secs: Option<i64>,
    /// ... for this long; 0 returns to the server's default.
    #[serde(default)]
    pub urgent_for_secs: Option<i64>,
    /// Admins only: delete this channel's messages this many days after they were sent (1 to
    /// 36500); 0 returns to the organisation's retention.
    #[serde(default)]
    pub retention_days: Option<i64>,
    /// Open the group to members who are not in it (`true`), or close it (`false`).
    #[serde(default)]
    pub open: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembers {
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    pub joined_at: i64,
    /// The member's avatar URL (as `User.avatar`), when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// What an organisation import changed. Re-importing the same file reports zero everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub departments_created: u64,
    pub users_created: u64,
    pub users_updated: u64,
    pub users_unchanged: u64,
}

/// What a link in a message leads to, as `GET /v1/link-preview` read it from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkPreview {
    /// The page's address after redirects.
    pub url: String,
    /// Its Open Graph title, else its `<title>`; at most 200 characters.
    pub title: String,
    /// Its Open Graph or meta description; at most 400 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its Open Graph site name, else its host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
}
