use crate::{expect_json, Server};
use serde_json::{json, Value};

/// The usual cast: an admin and three members, Ann, Bob and Cat. Ann owns a group channel
/// with Bob in it, and Cat too when asked.
pub struct Team {
    pub server: Server,
    pub admin: String,
    /// (user id, access token)
    pub ann: (i64, String),
    pub bob: (i64, String),
    pub cat: (i64, String),
    pub channel: i64,
}

impl Team {
    pub async fn new(server: Server, channel_name: &str, cat_is_member: bool) -> Team {
        let admin = server.admin_token().await;
        let ann = server.user_with_role(&admin, "member", None).await;
        let bob = server.user_with_role(&admin, "member", None).await;
        let cat = server.user_with_role(&admin, "member", None).await;
        let members = if cat_is_member {
            vec![bob.0, cat.0]
        } else {
            vec![bob.0]
        };
        let body = json!({"name": channel_name, "kind": "group", "category": "project", "members": members});
        let created: Value =
            expect_json(server.post("/v1/channels", Some(&ann.1), &body).await, 201).await;
        let channel = created["id"].as_i64().expect("channel id");
        Team {
            server,
            admin,
            ann,
            bob,
            cat,
            channel,
        }
    }
}
