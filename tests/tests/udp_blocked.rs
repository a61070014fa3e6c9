//! Meetings for browsers whose network blocks UDP to the media port: through TURN (a real
//! coturn checking the credentials Parley hands out in `joined`, the TURN REST API's shared
//! secret) and over ICE-TCP (`rtc.tcp_bind`). The browser runs in a network namespace the test
//! makes, which reaches the server's HTTP (and coturn, or the media TCP port) but not the SFU's
//! UDP address, as such a network would; a second browser outside it hears its tone, and it
//! hears theirs.

use parley_tests::rtc::{run_browser_script, App};
use parley_tests::{Backend, Netns, Server, ServerOptions};
use serde_json::Value;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};

/// A UDP port free on `ip` just now (the test's own addresses, so nobody else takes it).
fn free_udp_port(ip: Ipv4Addr) -> u16 {
    UdpSocket::bind((ip, 0))
        .expect("bind a UDP port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A coturn `turnserver` on `ip:port`, killed when dropped.
struct Coturn(Child);

impl Coturn {
    fn start(ip: Ipv4Addr, port: u16, secret: &str, log: &std::path::Path) -> Coturn {
        let relay_from = 20_000 + (std::process::id() % 2_000) as u16 * 20;
        let child = Command::new("turnserver")
            .args([
                "-n",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--fingerprint",
                "--use-auth-secret",
                "--realm=parley.test",
                "--simple-log",
            ])
            .arg(format!("--static-auth-secret={secret}"))
            .arg(format!("--listening-ip={ip}"))
            .arg(format!("--listening-port={port}"))
            .arg(format!("--relay-ip={ip}"))
            .arg(format!("--min-port={relay_from}"))
            .arg(format!("--max-port={}", relay_from + 19))
            .arg(format!("--log-file={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver (scripts/install-test-deps installs coturn)");
        Coturn(child)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An address for the SFU that the host has and `netns` cannot reach: a second address on the
/// host's end of the pair, outside the namespace's /30 (it has no other route). Gone with the
/// pair. Unique per namespace: 10.64.0.0/10 mirrors the namespaces' 10.128.0.0/9.
fn unreachable_from(netns: &Netns) -> Ipv4Addr {
    let [a, b, c, d] = netns.host_ip.octets();
    let ip = Ipv4Addr::new(a, b - 64, c, d);
    let output = Command::new("ip")
        .args(["addr", "add", &format!("{ip}/32"), "dev", &netns.host_dev])
        .output()
        .expect("run ip");
    assert!(
        output.status.success(),
        "ip addr add {ip}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ip
}

/// A call in a room of `server` between a browser inside `netns` (a 440 Hz tone) and one
/// outside it (660 Hz): each one's report.
async fn call_across(server: &Server, netns: &Netns, room: &str) -> (Value, Value) {
    let app = App::register(server).await;
    let room = parley_tests::unique(room);
    let (inside, outside) = (
        app.participant("inside", &room),
        app.participant("outside", &room),
    );
    let inside_args = [
        "--parley",
        &server.url,
        "--token",
        &inside,
        "--freq",
        "440",
        "--netns",
        &netns.name,
    ];
    let outside_args = [
        "--parley",
        &server.url,
        "--token",
        &outside,
        "--freq",
        "660",
    ];
    tokio::join!(
        run_browser_script("tone_call.mjs", &inside_args, 90),
        run_browser_script("tone_call.mjs", &outside_args, 90),
    )
}

#[tokio::test]
async fn a_browser_whose_udp_to_the_sfu_is_dropped_joins_through_coturn_and_both_hear_each_other() {
    let netns = Netns::create();
    let host = netns.host_ip;
    let sfu = unreachable_from(&netns);
    let (media_port, turn_port) = (free_udp_port(sfu), free_udp_port(host));
    let secret = "a-turn-secret-shared-with-coturn";
    let logs = tempfile::tempdir().expect("temp dir");
    let _coturn = Coturn::start(host, turn_port, secret, &logs.path().join("turn.log"));
    let turn_url = format!("turn:{host}:{turn_port}?transport=udp");
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_HTTP_LISTEN", format!("{host}:0"))
            .env("PARLEY_RTC_UDP_BIND", format!("{sfu}:{media_port}"))
            .env("PARLEY_RTC_TURN_URLS", format!(r#"["{turn_url}"]"#))
            .env("PARLEY_RTC_TURN_SECRET", secret),
    )
    .await;
    let (a, b) = call_across(&server, &netns, "turn").await;
    let turn_log = std::fs::read_to_string(logs.path().join("turn.log")).unwrap_or_default();
    let context = |side: &Value| {
        format!(
            "{side}\ncoturn: {}",
            turn_log
                .chars()
                .skip(turn_log.chars().count().saturating_sub(3000))
                .collect::<String>()
        )
    };
    for side in [&a, &b] {
        assert_eq!(side["ok"], true, "{}", context(side));
        assert_eq!(
            side["heard"],
            true,
            "each hears the other's tone: {}",
            context(side)
        );
        assert_eq!(side["state"], "open", "{}", context(side));
        // `joined` named the TURN server with credentials of its own.
        assert_eq!(side["turn"][0]["urls"][0], turn_url.as_str(), "{side}");
    }
    // Inside the namespace both media connections go through the relay; outside, straight.
    assert_eq!(
        (
            &a["candidates"]["publisher"],
            &a["candidates"]["subscriber"]
        ),
        (&Value::from("relay/udp"), &Value::from("relay/udp")),
        "{}",
        context(&a)
    );
    assert_eq!(b["candidates"]["publisher"], "host/udp", "{b}");
}

#[tokio::test]
async fn a_browser_whose_udp_to_the_sfu_is_dropped_joins_over_ice_tcp_and_both_hear_each_other() {
    let netns = Netns::create();
    let host = netns.host_ip;
    let sfu = unreachable_from(&netns);
    let media_port = free_udp_port(sfu);
    // The media's TCP port is on the address the namespace reaches; its UDP port is not.
    let tcp_port = std::net::TcpListener::bind((host, 0))
        .expect("bind a TCP port")
        .local_addr()
        .expect("its address")
        .port();
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_HTTP_LISTEN", format!("{host}:0"))
            .env("PARLEY_RTC_UDP_BIND", format!("{sfu}:{media_port}"))
            .env(
                "PARLEY_RTC_ADVERTISE_IPS",
                format!(r#"["{sfu}", "{host}"]"#),
            )
            .env("PARLEY_RTC_TCP_BIND", format!("{host}:{tcp_port}")),
    )
    .await;
    let (a, b) = call_across(&server, &netns, "icetcp").await;
    for side in [&a, &b] {
        assert_eq!(side["ok"], true, "{side}");
        assert_eq!(side["heard"], true, "each hears the other's tone: {side}");
        assert_eq!(side["state"], "open", "{side}");
    }
    // Inside the namespace both media connections run over TCP (Chromium's side of an active
    // TCP connection is learned as peer-reflexive); outside, over UDP.
    for side in ["publisher", "subscriber"] {
        let kind = a["candidates"][side].as_str().unwrap_or_default();
        assert!(kind.ends_with("/tcp"), "{side}: {a}");
    }
    assert_eq!(b["candidates"]["publisher"], "host/udp", "{b}");
}
