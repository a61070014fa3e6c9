//! The server-side token helpers (`server-sdk/node`, `server-sdk/python`) against the real server:
//! what they mint joins rooms and lists them as its grants say, and is refused with the codes
//! docs/protocol.md gives when it is expired, for another room, without a grant or signed with
//! the wrong secret; what the server would refuse, they refuse to sign; and each one's tokens
//! verify with the other's `verify_token`. Every scenario runs once per helper, driven by
//! `tests/peers/mint_node.mjs` and `tests/peers/mint_python.py`.

use parley_tests::rtc::{App, RtcClient};
use parley_tests::{expect_error, expect_json, Backend, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
enum Helper {
    Node,
    Python,
}

/// How a driver builds the token: `new AccessToken(...).addGrant(...)` once per grant, or the
/// one-call `mintToken`.
#[derive(Debug, Clone, Copy)]
enum Build {
    AccessToken,
    MintToken,
}

impl Helper {
    fn other(self) -> Helper {
        match self {
            Helper::Node => Helper::Python,
            Helper::Python => Helper::Node,
        }
    }

    /// Run the driver with `command` and `--name=value` options (the `=` keeps a value that
    /// starts with `-` a value): its stdout when it succeeds, its stderr when it fails.
    async fn run(self, command: &str, options: &[(&str, String)]) -> Result<String, String> {
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
        let (program, script) = match self {
            Helper::Node => ("node", peers.join("mint_node.mjs")),
            Helper::Python => ("python3", peers.join("mint_python.py")),
        };
        let mut driver = tokio::process::Command::new(program);
        driver.arg(script).arg(command).kill_on_drop(true);
        for (name, value) in options {
            driver.arg(format!("--{name}={value}"));
        }
        let output = tokio::time::timeout(Duration::from_secs(30), driver.output())
            .await
            .unwrap_or_else(|_| panic!("{self:?} driver did not finish in 30 s"))
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if output.status.success() {
            assert!(!stdout.is_empty(), "{self:?} driver printed nothing");
            Ok(stdout)
        } else {
            assert!(
                !stderr.is_empty(),
                "{self:?} driver failed without a message"
            );
            Err(stderr)
        }
    }

    /// A token for `identity` with `grants`, signed with `app`'s key and secret; `extra` adds
    /// options (`name`, `ttl`, `expires-at`). `Err` holds the helper's refusal.
    async fn try_mint(
        self,
        build: Build,
        app: &App,
        identity: &str,
        grants: Value,
        extra: &[(&str, String)],
    ) -> Result<String, String> {
        let mut options = vec![
            ("api-key", app.key.clone()),
            ("api-secret", app.secret.clone()),
            ("identity", identity.to_string()),
            ("grants", grants.to_string()),
        ];
        options.extend_from_slice(extra);
        let command = match build {
            Build::AccessToken => "token",
            Build::MintToken => "mint",
        };
        self.run(command, &options).await
    }

    async fn mint(self, app: &App, identity: &str, grants: Value) -> String {
        self.try_mint(Build::AccessToken, app, identity, grants, &[])
            .await
            .unwrap_or_else(|e| panic!("{self:?} refused to mint for {identity}: {e}"))
    }

    /// The claims this helper's `verify_token` finds in `token`, or its refusal.
    async fn verify(self, token: &str, secret: &str) -> Result<Value, String> {
        let claims = self
            .run(
                "verify",
                &[
                    ("api-secret", secret.to_string()),
                    ("token", token.to_string()),
                ],
            )
            .await?;
        Ok(serde_json::from_str(&claims).expect("verify prints the claims as JSON"))
    }
}

macro_rules! for_both_helpers {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn node() {
                    super::$name(super::Helper::Node).await
                }
                #[tokio::test]
                async fn python() {
                    super::$name(super::Helper::Python).await
                }
            }
        )*
    };
}

for_both_helpers!(
    minted_tokens_join_and_list_rooms_as_their_grants_say,
    the_server_refuses_minted_tokens_with_its_documented_codes,
    the_helpers_refuse_what_the_server_would_refuse,
    tokens_from_one_helper_verify_with_the_other,
);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Join over `/v1/rtc` with `token` (asking for `room` when given) and expect the error `code`,
/// then the server closing the connection.
async fn refused_join(server: &Server, token: &str, room: Option<&str>, code: &str) {
    let mut client = RtcClient::open(server).await;
    let mut join = json!({"type": "join", "id": "join", "token": token});
    if let Some(room) = room {
        join["room"] = json!(room);
    }
    client.send(join).await;
    let reply = client.recv().await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert_eq!(reply["id"], "join", "{reply}");
    assert!(client.try_recv().await.is_none(), "then the server closes");
}

async fn minted_tokens_join_and_list_rooms_as_their_grants_say(helper: Helper) {
    let server = Server::start(Backend::Sqlite).await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("standup");

    // Built with the class, one grant at a time, then with the one-call function.
    let grants = json!({"room": room, "room_join": true, "room_create": true,
                        "can_publish": true, "can_publish_sources": ["microphone"],
                        "can_subscribe": true});
    let first = helper
        .try_mint(
            Build::AccessToken,
            &app,
            "crm-user-7",
            grants.clone(),
            &[("name", "张伟".into())],
        )
        .await
        .expect("mint");
    let second = helper
        .try_mint(Build::MintToken, &app, "crm-user-8", grants, &[])
        .await
        .expect("mint");
    let first = RtcClient::join(&server, &first).await;
    let joined = &first.joined;
    assert_eq!(joined["room"]["name"], room.as_str(), "{joined}");
    let me = &joined["participant"];
    assert_eq!(me["identity"], "crm-user-7", "{joined}");
    assert_eq!(me["name"], "张伟", "{joined}");
    assert_eq!(me["grants"]["can_publish"], true, "{joined}");
    assert_eq!(me["grants"]["can_subscribe"], true, "{joined}");
    assert_eq!(
        me["grants"]["can_publish_sources"],
        json!(["microphone"]),
        "{joined}"
    );
    let second = RtcClient::join(&server, &second).await;
    let others = &second.joined["participants"];
    assert_eq!(others.as_array().map(Vec::len), Some(1), "{others}");
    assert_eq!(others[0]["identity"], "crm-user-7", "{others}");
    assert_eq!(second.joined["room"]["num_participants"], 2);

    // `room_list` lists the open rooms, this one among them; a token without it may not.
    let lister = helper
        .mint(&app, "crm-dashboard", json!({"room_list": true}))
        .await;
    let rooms: Vec<Value> = expect_json(server.get("/v1/rooms", Some(&lister)).await, 200).await;
    let listed = rooms
        .iter()
        .find(|r| r["name"] == room.as_str())
        .unwrap_or_else(|| panic!("{room} is not listed: {rooms:?}"));
    assert_eq!(listed["num_participants"], 2, "{listed}");
    let joiner = helper
        .mint(&app, "crm-user-9", json!({"room": room, "room_join": true}))
        .await;
    expect_error(
        server.get("/v1/rooms", Some(&joiner)).await,
        403,
        "insufficient_grant",
    )
    .await;
}

async fn the_server_refuses_minted_tokens_with_its_documented_codes(helper: Helper) {
    let server = Server::start(Backend::Sqlite).await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("standup");
    let other_room = parley_tests::unique("other");
    let joins = json!({"room": room, "room_join": true, "room_create": true,
                       "can_subscribe": true});

    // The same grants join when the token is in date and signed with the key's secret, so
    // each refusal below comes from the one thing changed.
    RtcClient::join(&server, &helper.mint(&app, "on-time", joins.clone()).await).await;

    let an_hour_ago = (unix_now() - 3600).to_string();
    let expired = helper
        .try_mint(
            Build::AccessToken,
            &app,
            "late",
            joins.clone(),
            &[("expires-at", an_hour_ago)],
        )
        .await
        .expect("a time in the past is for tests like this one");
    refused_join(&server, &expired, None, "token_expired").await;

    // A token for `room` asking for another room in `join`.
    let elsewhere = helper.mint(&app, "wanderer", joins.clone()).await;
    refused_join(&server, &elsewhere, Some(&other_room), "insufficient_grant").await;

    let no_join = helper
        .mint(
            &app,
            "watcher",
            json!({"room": room, "room_create": true, "can_subscribe": true}),
        )
        .await;
    refused_join(&server, &no_join, None, "insufficient_grant").await;

    let forger = App {
        key: app.key.clone(),
        secret: "not-the-secret".into(),
    };
    let forged = helper.mint(&forger, "mallory", joins).await;
    refused_join(&server, &forged, None, "token_invalid").await;
    expect_error(
        server.get("/v1/rooms", Some(&forged)).await,
        401,
        "token_invalid",
    )
    .await;
}

async fn the_helpers_refuse_what_the_server_would_refuse(helper: Helper) {
    // No server: nothing is signed, and the key needs no database.
    let app = App {
        key: "PKTEST".into(),
        secret: "test-secret".into(),
    };
    let joins = json!({"room": "standup", "room_join": true});
    helper
        .try_mint(Build::AccessToken, &app, "ok", joins.clone(), &[])
        .await
        .expect("the grants every refusal below changes one thing of");

    let refuses = |identity: &'static str, grants, ttl: Option<&'static str>, message| {
        refusal(helper, &app, identity, grants, ttl, message)
    };
    let unknown = json!({"room": "standup", "room_joins": true});
    refuses("ok", unknown, None, "unknown grant `room_joins`").await;
    let roomless = json!({"room_join": true});
    refuses("ok", roomless, None, "`room_join` needs `room`").await;
    let empty_room = json!({"room": "", "room_join": true});
    refuses("ok", empty_room, None, "`room_join` needs `room`").await;
    let hidden = json!({"room": "standup", "room_join": true, "hidden": true});
    refuses("ok", hidden, None, "`hidden` needs `recorder`").await;
    let hologram =
        json!({"room": "standup", "room_join": true, "can_publish_sources": ["hologram"]});
    refuses("ok", hologram, None, "unknown source \"hologram\"").await;
    refuses("", joins.clone(), None, "identity must not be empty").await;
    refuses(" ", joins.clone(), None, "identity must not be empty").await;
    let bad_ttl = "ttl must be a whole number of seconds greater than 0";
    refuses("ok", joins.clone(), Some("0"), bad_ttl).await;
    refuses("ok", joins.clone(), Some("-60"), bad_ttl).await;

    // What a recorder needs is signed.
    helper
        .try_mint(
            Build::MintToken,
            &app,
            "recorder-1",
            json!({"room": "standup", "room_join": true, "hidden": true, "recorder": true}),
            &[],
        )
        .await
        .expect("`hidden` with `recorder`");
}

/// Expect `helper` to refuse to sign, built either way, with an error that says `message`.
async fn refusal(
    helper: Helper,
    app: &App,
    identity: &str,
    grants: Value,
    ttl: Option<&str>,
    message: &str,
) {
    let extra: Vec<(&str, String)> = ttl.map(|t| ("ttl", t.to_string())).into_iter().collect();
    for build in [Build::AccessToken, Build::MintToken] {
        let refused = helper
            .try_mint(build, app, identity, grants.clone(), &extra)
            .await
            .expect_err(&format!("{helper:?} {build:?} signed {grants} {extra:?}"));
        assert!(
            refused.contains(message),
            "{helper:?} {build:?} on {grants} {extra:?}: {refused}"
        );
    }
}

async fn tokens_from_one_helper_verify_with_the_other(helper: Helper) {
    let app = App {
        key: "PKCROSS".into(),
        secret: "cross-secret".into(),
    };
    let grants = json!({"room": "standup", "room_join": true, "can_publish": true,
                        "can_publish_sources": ["camera", "screen_share"], "hidden": true,
                        "recorder": true});
    let token = helper
        .try_mint(
            Build::AccessToken,
            &app,
            "crm-user-7",
            grants.clone(),
            &[("name", "张伟".into()), ("ttl", "600".into())],
        )
        .await
        .expect("mint");
    let now = unix_now();
    for verifier in [helper.other(), helper] {
        let claims = verifier
            .verify(&token, &app.secret)
            .await
            .unwrap_or_else(|e| panic!("{verifier:?} refused {helper:?}'s token: {e}"));
        assert_eq!(claims["iss"], "PKCROSS", "{claims}");
        assert_eq!(claims["sub"], "crm-user-7", "{claims}");
        assert_eq!(claims["name"], "张伟", "{claims}");
        assert_eq!(claims["grants"], grants, "{claims}");
        let exp = claims["exp"].as_i64().expect("exp in seconds");
        assert!(
            (now + 590..=now + 610).contains(&exp),
            "exp {exp}, now {now}"
        );
        assert!(claims.get("nbf").is_none(), "{claims}");

        let refusal = verifier
            .verify(&token, "another-secret")
            .await
            .expect_err("a token checked with another secret");
        assert!(refusal.contains("signature does not verify"), "{refusal}");
    }

    let expired = helper
        .try_mint(
            Build::MintToken,
            &app,
            "late",
            json!({}),
            &[("expires-at", (unix_now() - 60).to_string())],
        )
        .await
        .expect("mint");
    let refusal = helper
        .other()
        .verify(&expired, &app.secret)
        .await
        .expect_err("an expired token");
    assert!(refusal.contains("expired"), "{refusal}");
}
