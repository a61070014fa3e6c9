//! The users and channels a run needs, made through the public REST API as an admin would:
//! `users` members with their own passwords, signed in for their own tokens, and `channels`
//! group channels of `members` each, filled round-robin so every user is in about as many.

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt, TryStreamExt};
use parley_proto::{
    Channel, ChannelCategory, ChannelId, ChannelKind, CreateChannel, CreateUser, LoginRequest,
    Role, TokenPair, User, UserId,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How many REST calls run at once (each sign-in hashes a password on the server).
const CONCURRENCY: usize = 8;
const PASSWORD: &str = "load-test-password-1";

/// A simulated user: who, and the token it connects with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub token: String,
}

/// A channel and its members (indexes into the run's people).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub id: ChannelId,
    pub members: Vec<usize>,
}

/// Everyone a run connects as, and their channels. Written to a file (`im --cast-out`), it
/// lets a later run connect to a freshly started server without making anything first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cast {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
}

impl Cast {
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Cast> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a cast", path.display()))
    }

    /// The users, channels and members the cast holds, to check it against a run's arguments.
    pub fn shape(&self) -> (usize, usize, usize) {
        let members = self.groups.first().map_or(0, |g| g.members.len());
        (self.people.len(), self.groups.len(), members)
    }
}

/// The token the floor (`floor.rs`) knows user `i` by.
pub fn floor_token(i: usize) -> String {
    format!("floor-{i}")
}

/// The cast for the floor: the same layout as `provision` makes, with the floor's fixed tokens
/// and ids instead of accounts, so nothing is made over REST.
pub fn floor_cast(users: usize, channels: usize, members: usize) -> Result<Cast> {
    if members < 2 || members > users {
        bail!("--members must be 2 to --users ({users}), not {members}");
    }
    Ok(Cast {
        people: (0..users)
            .map(|i| Person {
                id: crate::floor::user_id(i),
                token: floor_token(i),
            })
            .collect(),
        groups: memberships(users, channels, members)
            .into_iter()
            .enumerate()
            .map(|(c, members)| Group {
                id: crate::floor::channel_id(c),
                members,
            })
            .collect(),
    })
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<T> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {path}: {status}: {text}");
        }
        Ok(response.json().await?)
    }

    async fn login(&self, email: &str, password: &str) -> Result<TokenPair> {
        let body = LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        self.post("/v1/auth/login", None, &body)
            .await
            .with_context(|| format!("signing in as {email}"))
    }
}

/// Which users each of `channels` channels of `members` holds: round-robin over `users`.
pub fn memberships(users: usize, channels: usize, members: usize) -> Vec<Vec<usize>> {
    let mut next = 0;
    (0..channels)
        .map(|_| {
            let group: Vec<usize> = (0..members.min(users))
                .map(|i| (next + i) % users)
                .collect();
            next = (next + members) % users.max(1);
            group
        })
        .collect()
}

/// Make the run's users and channels on the server at `base` (`http://host:port`). `tag`
/// keeps one run's accounts apart from another's.
pub async fn provision(
    base: &str,
    admin_email: &str,
    admin_password: &str,
    users: usize,
    channels: usize,
    members: usize,
    tag: &str,
) -> Result<Cast> {
    if members < 2 || members > users {
        bail!("--members must be 2 to --users ({users}), not {members}");
    }
    let api = Api {
        base: base.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
    };
    let admin = api.login(admin_email, admin_password).await?.access_token;
    let people: Vec<Person> = stream::iter(0..users)
        .map(|i| {
            let (api, admin) = (&api, &admin);
            async move {
                let email = format!("load-{tag}-{i}@loadtest.invalid");
                let body = CreateUser {
                    email: email.clone(),
                    name: format!("load {i}"),
                    role: Role::Member,
                    department: None,
                    password: Some(PASSWORD.into()),
                };
                let user: User = api.post("/v1/users", Some(admin), &body).await?;
                let token = api.login(&email, PASSWORD).await?.access_token;
                Ok::<_, anyhow::Error>(Person { id: user.id, token })
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let groups = stream::iter(
        memberships(users, channels, members)
            .into_iter()
            .enumerate(),
    )
    .map(|(n, members)| {
        let (api, people) = (&api, &people);
        async move {
            let owner = &people[members[0]];
            let body = CreateChannel {
                name: format!("load {tag} {n}"),
                kind: ChannelKind::Group,
                category: ChannelCategory::Project,
                department: None,
                members: members[1..].iter().map(|&m| people[m].id).collect(),
                open: false,
            };
            let channel: Channel = api.post("/v1/channels", Some(&owner.token), &body).await?;
            Ok::<_, anyhow::Error>(Group {
                id: channel.id,
                members,
            })
        }
    })
    .buffered(CONCURRENCY)
    .try_collect()
    .await?;
    Ok(Cast { people, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_filled_round_robin_without_repeating_a_member() {
        let groups = memberships(5, 3, 3);
        assert_eq!(groups, vec![vec![0, 1, 2], vec![3, 4, 0], vec![1, 2, 3]]);
        let cast = floor_cast(5, 3, 3).expect("valid layout");
        assert_eq!(cast.shape(), (5, 3, 3));
        assert_eq!(cast.groups[1].members, vec![3, 4, 0]);
        assert_eq!(cast.people[4].token, floor_token(4));
        for g in memberships(7, 10, 7) {
            let mut sorted = g.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 7, "{g:?}");
        }
    }
}
