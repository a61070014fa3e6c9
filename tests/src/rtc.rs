//! Meetings from the outside: app tokens minted with a real API key, a raw `/v1/rtc` client for
//! protocol tests, and real media peers (aiortc, in `tests/peers/`) for media tests.

use crate::{expect_json, Server};
use futures::SinkExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An app with an API key on a test server, minting participant tokens as a real app would.
pub struct App {
    pub key: String,
    pub secret: String,
}

impl App {
    pub async fn register(server: &Server) -> App {
        let admin = server.admin_token().await;
        let key: Value = expect_json(
            server
                .post(
                    "/v1/admin/api-keys",
                    Some(&admin),
                    &json!({"name": crate::unique("app")}),
                )
                .await,
            201,
        )
        .await;
        App {
            key: key["key"].as_str().expect("key").to_string(),
            secret: key["secret"].as_str().expect("secret").to_string(),
        }
    }

    /// A token for `identity` with these grants (JSON, as in the token), valid ten minutes.
    pub fn token(&self, identity: &str, grants: Value) -> String {
        self.token_with(
            json!({"sub": identity, "name": identity, "grants": grants}),
            600,
        )
    }

    /// A token with these claims (`iss` and `exp` added), valid for `secs` (negative: expired).
    pub fn token_with(&self, mut claims: Value, secs: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        claims["iss"] = json!(self.key);
        claims["exp"] = json!(now + secs);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("sign")
    }

    /// Join, publish, subscribe, in `room` (created on first join).
    pub fn participant(&self, identity: &str, room: &str) -> String {
        self.token(
            identity,
            json!({"room": room, "room_join": true, "room_create": true,
                   "can_publish": true, "can_subscribe": true}),
        )
    }

    /// Room service rights over every room.
    pub fn room_admin(&self) -> String {
        self.token(
            "room-admin",
            json!({"room_admin": true, "room_list": true, "room_create": true}),
        )
    }
}

pub fn rtc_url(server: &Server) -> String {
    format!("{}/v1/rtc", server.url.replacen("http", "ws", 1))
}

/// A raw `/v1/rtc` client, for what a peer library would hide: errors, bad input, events.
pub struct RtcClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub joined: Value,
}

impl RtcClient {
    /// Connect (no token in the URL) without joining.
    pub async fn open(server: &Server) -> RtcClient {
        let (stream, _) = tokio_tungstenite::connect_async(rtc_url(server))
            .await
            .expect("connect to /v1/rtc");
        RtcClient {
            stream,
            joined: Value::Null,
        }
    }

    /// Connect and join with `token`; panics unless `joined` comes back.
    pub async fn join(server: &Server, token: &str) -> RtcClient {
        RtcClient::join_with(
            server,
            json!({"type": "join", "id": "join", "token": token}),
        )
        .await
    }

    /// Connect and join `room` with a token that names none (a user's own sign-in token).
    pub async fn join_room(server: &Server, token: &str, room: &str) -> RtcClient {
        RtcClient::join_with(
            server,
            json!({"type": "join", "id": "join", "token": token, "room": room}),
        )
        .await
    }

    async fn join_with(server: &Server, join: Value) -> RtcClient {
        let mut client = RtcClient::open(server).await;
        client.send(join).await;
        let joined = client.recv().await;
        assert_eq!(joined["type"], "joined", "{joined}");
        client.joined = joined;
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.send_raw(Message::text(message.to_string())).await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send");
    }

    /// The next message; `None` once the server closed the connection.
    pub async fn try_recv(&mut self) -> Option<Value> {
        crate::ws::next_json(&mut self.stream).await
    }

    pub async fn recv(&mut self) -> Value {
        self.try_recv()
            .await
            .expect("the server closed the connection")
    }

    /// Skip messages until one of type `kind` arrives.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let message = self.recv().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    /// Skip messages until a `participant_updated` about `sid` whose grants allow publishing
    /// (the floor given); return it.
    pub async fn until_may_publish(&mut self, sid: &str) -> Value {
        loop {
            let update = self.next_of("participant_updated").await;
            if update["participant"]["sid"] == sid
                && update["participant"]["grants"]["can_publish"] == true
            {
                return update;
            }
        }
    }

    /// Send a request with `id` and return the reply naming it.
    pub async fn request(&mut self, mut message: Value) -> Value {
        let id = crate::unique("req");
        message["id"] = json!(id);
        self.send(message).await;
        loop {
            let reply = self.recv().await;
            if reply["id"] == id.as_str() {
                return reply;
            }
        }
    }

    /// Read until the server closes; the messages seen on the way.
    pub async fn until_closed(&mut self) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(m) = self.try_recv().await {
            seen.push(m);
        }
        seen
    }
}

/// Where the aiortc peer script lives.
fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/aiortc_peer.py")
}

/// A running aiortc participant (`tests/peers/aiortc_peer.py`).
pub struct AiortcPeer {
    child: tokio::process::Child,
}

impl AiortcPeer {
    /// Join with `token`, run for `seconds`, publish a tone when `args` says so (`--tone 440`).
    pub fn spawn(server: &Server, token: &str, seconds: f64, args: &[&str]) -> AiortcPeer {
        AiortcPeer::start(
            tokio::process::Command::new("python3"),
            server,
            token,
            seconds,
            args,
        )
    }

    /// As `spawn`, inside a network namespace: its network can then be cut.
    pub fn spawn_in(
        netns: &crate::Netns,
        server: &Server,
        token: &str,
        seconds: f64,
        args: &[&str],
    ) -> AiortcPeer {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &netns.name, "python3"]);
        let address = netns.ns_ip.to_string();
        let mut args = args.to_vec();
        args.extend_from_slice(&["--host-address", &address]);
        AiortcPeer::start(command, server, token, seconds, &args)
    }

    fn start(
        mut command: tokio::process::Command,
        server: &Server,
        token: &str,
        seconds: f64,
        args: &[&str],
    ) -> AiortcPeer {
        let child = command
            .arg(peer_script())
            .arg("--url")
            .arg(rtc_url(server))
            .arg("--token")
            .arg(token)
            .arg("--seconds")
            .arg(seconds.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start python3 with aiortc (scripts/install-test-deps installs it)");
        AiortcPeer { child }
    }

    /// Wait for the peer to finish and return its report.
    pub async fn report(self) -> Value {
        let output = tokio::time::timeout(Duration::from_secs(90), self.child.wait_with_output())
            .await
            .expect("the aiortc peer did not finish in 90 s")
            .expect("aiortc peer output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|_| {
            panic!(
                "the aiortc peer failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
                output.status
            )
        })
    }
}

/// The first track a peer's report received, with its figures.
pub fn first_received(report: &Value) -> Value {
    report["tracks"]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .unwrap_or(Value::Null)
}

/// Wait until the room service shows `n` participants in `room`, `publishers` of them
/// publishing (peers are separate processes that say nothing when they are in).
pub async fn until_in_room(server: &Server, app: &App, room: &str, n: usize, publishers: u64) {
    let admin = app.room_admin();
    crate::eventually(300, Duration::from_millis(100), || async {
        let response = server.get(&format!("/v1/rooms/{room}"), Some(&admin)).await;
        if response.status() != 200 {
            return None;
        }
        let detail: Value = response.json().await.ok()?;
        let here = detail["participants"].as_array()?.len();
        let publishing = detail["room"]["num_publishers"].as_u64()?;
        (here >= n && publishing >= publishers).then_some(())
    })
    .await
    .expect("the peers joined in time");
}

/// The listener's first received track decoded a 440 Hz tone for at least three seconds.
pub fn assert_heard_440_hz(heard: &Value) {
    let track = first_received(heard);
    let dominant = track["dominant_hz"].as_f64().unwrap_or(0.0);
    assert!(
        (dominant - 440.0).abs() < 5.0,
        "the listener decoded {dominant} Hz, not 440 Hz: {heard}"
    );
    assert!(
        track["samples"].as_u64().unwrap_or(0) > 48_000 * 3,
        "at least three seconds of audio arrived: {heard}"
    );
}

/// A metric's value from `/metrics` text, by its full name with labels as printed.
pub async fn metric(server: &Server, name_with_labels: &str) -> f64 {
    let text = server
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_with_labels)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Run `tests/browser/meeting.mjs`: two headless Chromium pages (fake camera and microphone)
/// join one room with these tokens, the first also sharing a canvas as its screen. Returns the
/// script's report.
/// `camera_codec` (`video/H264`, `video/VP8`) makes both pages send their camera in that codec;
/// the second sample is taken `hold_secs` after both pages first decode everything (and, with
/// `restart_ice`, after the first page restarted ICE on both its connections).
pub async fn chromium_meeting(
    server: &Server,
    token_a: &str,
    token_b: &str,
    camera_codec: &str,
    hold_secs: u32,
    restart_ice: bool,
) -> Value {
    let hold = hold_secs.to_string();
    let rtc = rtc_url(server);
    run_browser_script(
        "meeting.mjs",
        &[
            "--rtc",
            &rtc,
            "--token-a",
            token_a,
            "--token-b",
            token_b,
            "--seconds",
            "25",
            "--codec",
            camera_codec,
            "--hold",
            &hold,
            "--restart-ice",
            if restart_ice { "1" } else { "0" },
        ],
        90,
    )
    .await
}

/// Run `tests/browser/simulcast.mjs`: page A publishes a three-layer simulcast camera; page B,
/// inside `netns`, watches, asks for low then high quality, and has its downlink limited to
/// `limit` (a `tc` rate such as `300kbit`) for `limited_secs` after a lower layer arrives, and
/// then freed. The server must listen on `netns.host_ip`. Returns the script's report (phases
/// and a timeline).
pub async fn chromium_simulcast(
    server: &Server,
    token_a: &str,
    token_b: &str,
    netns: &crate::Netns,
    limit: &str,
    limited_secs: u32,
) -> Value {
    let rtc = rtc_url(server);
    let hold = limited_secs.to_string();
    run_browser_script(
        "simulcast.mjs",
        &[
            "--rtc",
            &rtc,
            "--token-a",
            token_a,
            "--token-b",
            token_b,
            "--netns",
            &netns.name,
            "--limit-dev",
            &netns.host_dev,
            "--limit",
            limit,
            "--hold-limited",
            &hold,
        ],
        240 + u64::from(limited_secs),
    )
    .await
}

/// Run `tests/browser/link_cut.mjs`: page A publishes; page B, inside `netns`, watches, and has
/// its link cut for `cut_secs` and restored. The server must listen on `netns.host_ip`. Returns
/// the script's report (`packetsAt`, `framesAt`: ms after the link came back).
pub async fn chromium_link_cut(
    server: &Server,
    token_a: &str,
    token_b: &str,
    netns: &crate::Netns,
    cut_secs: u32,
) -> Value {
    let rtc = rtc_url(server);
    let cut = cut_secs.to_string();
    run_browser_script(
        "link_cut.mjs",
        &[
            "--rtc",
            &rtc,
            "--token-a",
            token_a,
            "--token-b",
            token_b,
            "--netns",
            &netns.name,
            "--ns-dev",
            &netns.ns_dev,
            "--cut",
            &cut,
        ],
        120,
    )
    .await
}

/// Run `tests/browser/renegotiate.mjs`: headless Chromium pages (fake camera and microphone),
/// one per token, join and go through `scenario` (`leave` with `order`, `resubscribe`,
/// `unpublish`, `ice-refused`; see the script). Returns the script's report.
pub async fn chromium_renegotiation(
    server: &Server,
    tokens: &[String],
    scenario: &str,
    order: &str,
) -> Value {
    let rtc = rtc_url(server);
    let tokens = tokens.join(",");
    run_browser_script(
        "renegotiate.mjs",
        &[
            "--rtc",
            &rtc,
            "--tokens",
            &tokens,
            "--scenario",
            scenario,
            "--order",
            order,
        ],
        120,
    )
    .await
}

/// Run a script of `tests/browser` with node and parse the JSON line it ends with.
pub async fn run_browser_script(script: &str, args: &[&str], timeout_secs: u64) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("browser")
        .join(script);
    let child = tokio::process::Command::new("node")
        .arg(path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node (scripts/install-test-deps installs playwright-core and chromium)");
    let output = tokio::time::timeout(Duration::from_secs(timeout_secs), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in {timeout_secs} s"))
        .expect("browser run output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "{script} failed ({}):\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
