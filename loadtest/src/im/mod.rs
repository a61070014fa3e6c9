//! The messaging scenario: every simulated user is a real WebSocket client on `/v1/ws` with
//! its own token. All connect (ramped up), then send into their channels at a shared rate for
//! the run's duration, then wait for the last deliveries. Each client records every message
//! event it receives; at the end every member's stream of each channel is compared with the
//! sequence numbers the senders were acknowledged: nothing lost, nothing twice, in order.

use crate::cost::{self, ServerCost};
use crate::provision::{Cast, Group};
use crate::report::{percentile_row, table, Latency, Percentiles};
use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use parley_proto::{ChannelEvent, ChannelId, ClientMessage, Priority, ServerMessage};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as Frame;

/// The most a connection may send per second under the server's default limit (20), with room.
const MAX_RATE_PER_USER: f64 = 15.0;

#[derive(Debug, Clone, Serialize)]
pub struct ImConfig {
    /// `http://host:port` of the node under test.
    pub server: String,
    pub users: usize,
    pub channels: usize,
    pub members: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// Message body size in bytes.
    pub size: usize,
    pub duration: Duration,
    /// Connections are opened evenly over this long before sending starts.
    pub ramp_up: Duration,
    /// How long to wait for the last deliveries after sending stops.
    pub drain: Duration,
    /// Spread client source addresses over 127.0.0.2 .. 127.0.0.(1 + n) (loopback servers only).
    pub source_ips: u8,
    pub server_pid: Option<u32>,
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    connected: bool,
    connect_error: Option<String>,
    /// Message events received, by channel, in arrival order.
    received: HashMap<ChannelId, Vec<i64>>,
    /// The sequence numbers its own sends were acknowledged with.
    acked: Vec<(ChannelId, i64)>,
    send_errors: u64,
    latency: Latency,
    connect: Latency,
    closed_early: Option<String>,
}

/// Counters the progress line reads while the run goes on.
#[derive(Default)]
struct Progress {
    connected: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    expected: AtomicU64,
    delivered: AtomicU64,
}

#[derive(Debug, Serialize)]
pub struct ImReport {
    pub scenario: &'static str,
    pub config: ImConfig,
    pub connections: Connections,
    pub messages: Messages,
    pub deliveries: Deliveries,
    pub latency: Percentiles,
    pub server: Option<ServerReport>,
}

#[derive(Debug, Serialize)]
pub struct Connections {
    pub attempted: usize,
    pub connected: usize,
    pub failed: usize,
    /// Connections the server closed before the run ended (e.g. `slow_consumer`).
    pub closed_early: usize,
    pub errors: Vec<String>,
    pub connect_time: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct Messages {
    pub sent: u64,
    pub acked: u64,
    pub send_errors: u64,
    pub per_sec: f64,
}

#[derive(Debug, Serialize)]
pub struct Deliveries {
    /// Every acknowledged message times its channel's connected members.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub per_sec: f64,
}

#[derive(Debug, Serialize)]
pub struct ServerReport {
    #[serde(flatten)]
    pub cost: ServerCost,
    pub deliveries_per_cpu_sec: Option<f64>,
}

impl ImReport {
    /// True when every message reached every connected member once, in order, and every
    /// client connected and stayed.
    pub fn clean(&self) -> bool {
        let d = &self.deliveries;
        d.lost == 0
            && d.duplicated == 0
            && d.out_of_order == 0
            && self.connections.failed == 0
            && self.connections.closed_early == 0
            && self.messages.send_errors == 0
    }

    pub fn table(&self) -> String {
        let c = &self.config;
        let mut rows = vec![
            (
                "scenario".into(),
                format!(
                    "im: {} users, {} channels x {} members, {} msg/s of {} B for {:?}",
                    c.users, c.channels, c.members, c.rate, c.size, c.duration
                ),
            ),
            (
                "connections".into(),
                format!(
                    "{} of {} ({} failed, {} closed early)",
                    self.connections.connected,
                    self.connections.attempted,
                    self.connections.failed,
                    self.connections.closed_early
                ),
            ),
            (
                "connect time".into(),
                percentile_row(&self.connections.connect_time),
            ),
            (
                "messages".into(),
                format!(
                    "{} sent, {} acknowledged, {} errors ({:.1}/s)",
                    self.messages.sent,
                    self.messages.acked,
                    self.messages.send_errors,
                    self.messages.per_sec
                ),
            ),
            (
                "deliveries".into(),
                format!(
                    "{} of {} ({:.0}/s): {} lost, {} duplicated, {} out of order",
                    self.deliveries.delivered,
                    self.deliveries.expected,
                    self.deliveries.per_sec,
                    self.deliveries.lost,
                    self.deliveries.duplicated,
                    self.deliveries.out_of_order
                ),
            ),
            ("send to deliver".into(), percentile_row(&self.latency)),
        ];
        if let Some(s) = &self.server {
            rows.push((
                "server".into(),
                format!(
                    "pid {}: {:.2} CPU s, peak RSS {:.1} MiB, {} per connection, {} deliveries per CPU s",
                    s.cost.pid,
                    s.cost.cpu_secs,
                    s.cost.peak_rss_bytes as f64 / 1048576.0,
                    s.cost
                        .bytes_per_connection
                        .map_or("?".into(), |b| format!("{:.1} KiB", b / 1024.0)),
                    s.deliveries_per_cpu_sec
                        .map_or("?".into(), |d| format!("{d:.0}")),
                ),
            ));
        }
        rows.push((
            "verdict".into(),
            if self.clean() {
                "every message reached every member once, in order".into()
            } else {
                "FAILED: see the counts above".into()
            },
        ));
        table(&rows)
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A body of `size` bytes that starts with the send time, for the receiver's latency.
fn body(size: usize) -> String {
    let mut b = format!("{} ", now_micros());
    while b.len() < size {
        b.push('x');
    }
    b
}

/// Run the scenario against the people and channels of `cast`.
pub async fn run(config: ImConfig, cast: Cast) -> Result<ImReport> {
    if config.rate / config.users as f64 > MAX_RATE_PER_USER {
        bail!(
            "--rate {} over {} users is more than {MAX_RATE_PER_USER} messages a second each \
             (the server's limit is 20 per connection): add users or lower the rate",
            config.rate,
            config.users
        );
    }
    let url = reqwest::Url::parse(&config.server).context("--server must be a URL")?;
    let host = url.host_str().context("--server has no host")?.to_string();
    let port = url
        .port_or_known_default()
        .context("--server has no port")?;
    let target = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .context("--server does not resolve")?;
    if url.scheme() != "http" {
        bail!("--server must be http:// (the load tester speaks plain WebSockets; test a node directly, not through TLS)");
    }
    let mut ws_url = url.join("/v1/ws")?;
    ws_url.set_scheme("ws").ok();
    let loopback = target.ip().is_loopback() && target.is_ipv4();

    // Which channels each person sends into.
    let mut channels_of: Vec<Vec<ChannelId>> = vec![Vec::new(); cast.people.len()];
    for Group { id, members } in &cast.groups {
        for &m in members {
            channels_of[m].push(*id);
        }
    }
    let member_count: HashMap<ChannelId, u64> = cast
        .groups
        .iter()
        .map(|g| (g.id, g.members.len() as u64))
        .collect();
    let member_count = Arc::new(member_count);
    let progress = Arc::new(Progress::default());
    let before = config.server_pid.map(cost::sample).transpose()?;

    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let ramp = config.ramp_up.as_secs_f64() / cast.people.len().max(1) as f64;
    let period = Duration::from_secs_f64(config.users as f64 / config.rate.max(0.001));
    let mut tasks = Vec::new();
    for (i, person) in cast.people.iter().enumerate() {
        let source = (loopback && config.source_ips > 0).then(|| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                2 + (i % config.source_ips as usize) as u8,
            ))
        });
        let client = Client {
            ws_url: ws_url.to_string(),
            target,
            source,
            token: person.token.clone(),
            channels: channels_of[i].clone(),
            size: config.size,
            period,
            // Senders start spread over one period, so the rate is even.
            offset: period.mul_f64(i as f64 / cast.people.len() as f64),
            connect_after: Duration::from_secs_f64(ramp * i as f64),
            progress: progress.clone(),
            member_count: member_count.clone(),
            phase: phase_rx.clone(),
        };
        tasks.push(tokio::spawn(client.run()));
    }

    // Connect phase: everyone in (or failed), then sending starts.
    let reporter = tokio::spawn(report_progress(progress.clone(), phase_rx.clone()));
    let deadline = Instant::now() + config.ramp_up + Duration::from_secs(30);
    let n = cast.people.len() as u64;
    while progress.connected.load(Relaxed) < n && Instant::now() < deadline {
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected_sample = config.server_pid.map(cost::sample).transpose()?;
    let sending_started = Instant::now();
    phase_tx.send(Phase::Sending).ok();
    tokio::time::sleep(config.duration).await;
    phase_tx.send(Phase::Draining).ok();
    let send_secs = sending_started.elapsed().as_secs_f64();
    let drain_until = Instant::now() + config.drain;
    while progress.delivered.load(Relaxed) < progress.expected.load(Relaxed)
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let active_secs = sending_started.elapsed().as_secs_f64();
    let after = config.server_pid.map(cost::sample).transpose()?;
    phase_tx.send(Phase::Done).ok();
    reporter.abort();

    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.context("a client task panicked")?);
    }
    Ok(assemble(
        config,
        &cast,
        results,
        (send_secs, active_secs),
        before.zip(connected_sample).zip(after),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Sending,
    Draining,
    Done,
}

async fn report_progress(progress: Arc<Progress>, mut phase: watch::Receiver<Phase>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        eprintln!(
            "[{:>4.0}s {:?}] connected {}  sent {}  acked {}  delivered {}/{}",
            started.elapsed().as_secs_f64(),
            *phase.borrow_and_update(),
            progress.connected.load(Relaxed),
            progress.sent.load(Relaxed),
            progress.acked.load(Relaxed),
            progress.delivered.load(Relaxed),
            progress.expected.load(Relaxed),
        );
    }
}

struct Client {
    ws_url: String,
    target: SocketAddr,
    source: Option<IpAddr>,
    token: String,
    channels: Vec<ChannelId>,
    size: usize,
    period: Duration,
    offset: Duration,
    connect_after: Duration,
    progress: Arc<Progress>,
    member_count: Arc<HashMap<ChannelId, u64>>,
    phase: watch::Receiver<Phase>,
}

impl Client {
    async fn run(mut self) -> ClientResult {
        let mut result = ClientResult::default();
        tokio::time::sleep(self.connect_after).await;
        let started = Instant::now();
        let mut ws = match self.connect().await {
            Ok(ws) => ws,
            Err(err) => {
                result.connect_error = Some(format!("{err:#}"));
                return result;
            }
        };
        result.connect.record(started.elapsed().as_micros() as u64);
        result.connected = true;
        self.progress.connected.fetch_add(1, Relaxed);

        while *self.phase.borrow() == Phase::Connecting {
            if self.phase.changed().await.is_err() {
                return result;
            }
        }
        let mut next_send = tokio::time::Instant::now() + self.offset;
        let mut turn = 0usize;
        let mut request = 0u64;
        loop {
            let phase = *self.phase.borrow();
            let sending = phase == Phase::Sending && !self.channels.is_empty();
            tokio::select! {
                _ = tokio::time::sleep_until(next_send), if sending => {
                    next_send += self.period;
                    let channel = self.channels[turn % self.channels.len()];
                    turn += 1;
                    request += 1;
                    let send = ClientMessage::Send {
                        id: request.to_string(),
                        channel,
                        client_id: format!("lt-{request}"),
                        body: body(self.size),
                        reply_to: None,
                        mentions: Vec::new(),
                        mention_channel: false,
                        priority: Priority::Normal,
                        ack_requested: false,
                        action: None,
                    };
                    let text = serde_json::to_string(&send).expect("serialisable");
                    if ws.send(Frame::text(text)).await.is_err() {
                        result.send_errors += 1;
                    }
                    self.progress.sent.fetch_add(1, Relaxed);
                }
                changed = self.phase.changed() => {
                    if changed.is_err() || *self.phase.borrow() == Phase::Done {
                        break;
                    }
                }
                frame = ws.next() => match frame {
                    Some(Ok(Frame::Text(text))) => self.received(&text, &mut result),
                    Some(Ok(Frame::Close(close))) => {
                        result.closed_early = Some(close.map_or("closed".into(), |c| c.reason.to_string()));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        result.closed_early = Some(err.to_string());
                        break;
                    }
                    None => {
                        result.closed_early = Some("connection ended".into());
                        break;
                    }
                },
            }
        }
        if result.closed_early.is_some() && *self.phase.borrow() == Phase::Done {
            result.closed_early = None;
        }
        ws.close(None).await.ok();
        result
    }

    async fn connect(&self) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = self.source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("binding {ip}"))?;
        }
        let stream = socket.connect(self.target).await?;
        stream.set_nodelay(true)?;
        let (mut ws, _) = tokio_tungstenite::client_async(self.ws_url.as_str(), stream)
            .await
            .context("WebSocket upgrade")?;
        let hello = ClientMessage::Hello {
            id: "hello".into(),
            versions: vec![1],
            token: Some(self.token.clone()),
            resume: Vec::new(),
        };
        ws.send(Frame::text(serde_json::to_string(&hello)?)).await?;
        while let Some(frame) = ws.next().await {
            if let Frame::Text(text) = frame? {
                match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Welcome { .. }) => return Ok(ws),
                    Ok(other) => bail!("expected welcome, got {other:?}"),
                    Err(err) => bail!("unreadable reply to hello ({err}): {text}"),
                }
            }
        }
        bail!("closed before welcome")
    }

    fn received(&self, text: &str, result: &mut ClientResult) {
        match serde_json::from_str::<ServerMessage>(text) {
            Ok(ServerMessage::Event(ChannelEvent::Message {
                channel,
                seq,
                message,
            })) => {
                result.received.entry(channel).or_default().push(seq);
                self.progress.delivered.fetch_add(1, Relaxed);
                let sent = message
                    .body
                    .as_deref()
                    .and_then(|b| b.split(' ').next())
                    .and_then(|t| t.parse::<u64>().ok());
                if let Some(sent) = sent {
                    result.latency.record(now_micros().saturating_sub(sent));
                }
            }
            Ok(ServerMessage::Sent { channel, seq, .. }) => {
                result.acked.push((channel, seq));
                self.progress.acked.fetch_add(1, Relaxed);
                let members = self.member_count.get(&channel).copied().unwrap_or(0);
                self.progress.expected.fetch_add(members, Relaxed);
            }
            Ok(ServerMessage::Error { .. }) => result.send_errors += 1,
            _ => {}
        }
    }
}

/// Compare what every member received with what was acknowledged, and sum it all up.
fn assemble(
    config: ImConfig,
    cast: &Cast,
    results: Vec<ClientResult>,
    (send_secs, active_secs): (f64, f64),
    samples: Option<((cost::Sample, cost::Sample), cost::Sample)>,
) -> ImReport {
    let mut acked: HashMap<ChannelId, Vec<i64>> = HashMap::new();
    for r in &results {
        for (channel, seq) in &r.acked {
            acked.entry(*channel).or_default().push(*seq);
        }
    }
    for seqs in acked.values_mut() {
        seqs.sort_unstable();
    }
    let (mut expected, mut delivered, mut lost, mut duplicated, mut out_of_order) = (0, 0, 0, 0, 0);
    for group in &cast.groups {
        let want = acked.get(&group.id).map(Vec::as_slice).unwrap_or(&[]);
        for &m in &group.members {
            let r = &results[m];
            if !r.connected {
                continue;
            }
            let got = r.received.get(&group.id).map(Vec::as_slice).unwrap_or(&[]);
            let check = compare(want, got);
            expected += want.len() as u64;
            delivered += got.len() as u64;
            lost += check.lost;
            duplicated += check.duplicated;
            out_of_order += check.out_of_order;
        }
    }
    let mut latency = Latency::default();
    let mut connect = Latency::default();
    for r in &results {
        latency.merge(&r.latency);
        connect.merge(&r.connect);
    }
    let sent: u64 = results.iter().map(|r| r.acked.len() as u64).sum();
    let connected = results.iter().filter(|r| r.connected).count();
    let mut errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.connect_error.clone().or_else(|| r.closed_early.clone()))
        .collect();
    errors.sort();
    errors.dedup();
    errors.truncate(10);
    let server = samples.and_then(|((before, connected_at), after)| {
        let pid = config.server_pid?;
        let cost = ServerCost::between(pid, before, connected_at, after, connected);
        let per_cpu = (cost.cpu_secs > 0.0).then(|| delivered as f64 / cost.cpu_secs);
        Some(ServerReport {
            cost,
            deliveries_per_cpu_sec: per_cpu,
        })
    });
    ImReport {
        scenario: "im",
        connections: Connections {
            attempted: results.len(),
            connected,
            failed: results.len() - connected,
            closed_early: results.iter().filter(|r| r.closed_early.is_some()).count(),
            errors,
            connect_time: connect.summary(),
        },
        messages: Messages {
            sent: results
                .iter()
                .map(|r| r.acked.len() as u64 + r.send_errors)
                .sum(),
            acked: sent,
            send_errors: results.iter().map(|r| r.send_errors).sum(),
            per_sec: sent as f64 / send_secs.max(0.001),
        },
        deliveries: Deliveries {
            expected,
            delivered,
            lost,
            duplicated,
            out_of_order,
            per_sec: delivered as f64 / active_secs.max(0.001),
        },
        latency: latency.summary(),
        server,
        config,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Check {
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
}

/// `got` (arrival order) against `want` (sorted acknowledged seqs).
fn compare(want: &[i64], got: &[i64]) -> Check {
    let out_of_order = got.windows(2).filter(|w| w[1] <= w[0]).count() as u64;
    let mut sorted = got.to_vec();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    let duplicated = (before - sorted.len()) as u64;
    let lost = want
        .iter()
        .filter(|s| sorted.binary_search(s).is_err())
        .count() as u64;
    Check {
        lost,
        duplicated,
        out_of_order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(want: &[i64], got: &[i64], expected: (u64, u64, u64)) {
        let c = compare(want, got);
        assert_eq!(
            (c.lost, c.duplicated, c.out_of_order),
            expected,
            "want {want:?} got {got:?}"
        );
    }

    #[test]
    fn deliveries_are_judged_against_the_acknowledged_sequence() {
        check(&[1, 2, 3], &[1, 2, 3], (0, 0, 0));
        check(&[1, 2, 3], &[1, 3], (1, 0, 0));
        check(&[1, 2, 3], &[1, 2, 2, 3], (0, 1, 1));
        check(&[1, 2, 3], &[2, 1, 3], (0, 0, 1));
        check(&[], &[], (0, 0, 0));
    }

    #[test]
    fn a_body_has_the_size_asked_and_starts_with_its_send_time() {
        let b = body(100);
        assert_eq!(b.len(), 100);
        let sent: u64 = b.split(' ').next().unwrap().parse().unwrap();
        assert!(now_micros() >= sent);
    }
}
