//! The messaging scenario: every simulated user is a real WebSocket client on `/v1/ws` with
//! its own token (or several, `devices`, sharing it). All connect (ramped up), then send into
//! their channels at a shared rate for the run's duration, then wait for the last deliveries.
//! Each connection records every message event it receives; at the end every member device's
//! stream of each channel is compared with the sequence numbers the senders were
//! acknowledged: nothing lost, nothing twice, in order (`verdict`). With churn, a fraction of
//! the connections drop and reconnect once mid-run, resuming from their last sequence.

mod client;
mod verdict;

pub use verdict::ImReport;

use crate::cost;
use crate::provision::{Cast, Group};
use crate::report::Recorder;
use anyhow::{bail, Context, Result};
use client::Client;
use parley_proto::ChannelId;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use verdict::{assemble, Ending};

/// The most a connection may send per second under the server's default limit (20), with room.
const MAX_RATE_PER_USER: f64 = 15.0;

#[derive(Debug, Clone, Serialize)]
pub struct ImConfig {
    /// `http://host:port` of the node under test.
    pub server: String,
    pub users: usize,
    /// Connections per user, all with the user's one token (several devices signed in once).
    pub devices: usize,
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
    /// The fraction of connections (0 to 1) that drop and reconnect once while sending.
    pub churn: f64,
    pub server_pid: Option<u32>,
    /// Against the floor (`parley-loadtest floor`) rather than Parley: only for the report.
    pub floor: bool,
}

/// Counters the progress line reads while the run goes on.
#[derive(Default)]
pub(crate) struct Progress {
    connected: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    expected: AtomicU64,
    delivered: AtomicU64,
    reconnected: AtomicU64,
    /// Sends that failed or were answered with an error.
    failed: AtomicU64,
}

impl Progress {
    /// Every send answered and every answered message delivered to all its recipients.
    /// Deliveries alone are not enough: a member may see a message before its sender's `sent`
    /// arrives, so counting deliveries against acknowledged messages can balance a late
    /// delivery with one whose acknowledgement is still on its way.
    fn settled(&self) -> bool {
        let sent = self.sent.load(std::sync::atomic::Ordering::SeqCst);
        self.acked.load(Relaxed) + self.failed.load(Relaxed) >= sent
            && self.delivered.load(Relaxed) >= self.expected.load(Relaxed)
    }
}

/// When connection `k` of `n` drops and reconnects, if it is one of the churning `fraction`:
/// spread evenly over the middle of the sending phase, so the drops land while messages flow.
fn reconnect_time(k: usize, n: usize, fraction: f64, duration: Duration) -> Option<Duration> {
    let churning = (fraction * n as f64).round() as usize;
    if churning == 0 {
        return None;
    }
    // Connection k churns when k * churning / n steps up at k + 1: exactly `churning` of the
    // n do, evenly spaced.
    let index = k * churning / n;
    if (k + 1) * churning / n == index {
        return None;
    }
    let share = (index as f64 + 0.5) / churning as f64;
    Some(duration.mul_f64(0.2 + 0.6 * share))
}

/// Run the scenario against the people and channels of `cast`.
pub async fn run(config: ImConfig, cast: Cast) -> Result<ImReport> {
    let devices = config.devices.max(1);
    let n = cast.people.len() * devices;
    if config.rate / n as f64 > MAX_RATE_PER_USER {
        bail!(
            "--rate {} over {n} connections is more than {MAX_RATE_PER_USER} messages a second \
             each (the server's limit is 20 per connection): add users or lower the rate",
            config.rate,
        );
    }
    if !(0.0..=1.0).contains(&config.churn) {
        bail!("--churn is a fraction of the connections, 0 to 1");
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
    let recipients: HashMap<ChannelId, u64> = cast
        .groups
        .iter()
        .map(|g| (g.id, (g.members.len() * devices) as u64))
        .collect();
    let recipients = Arc::new(recipients);
    let progress = Arc::new(Progress::default());
    let recorder = Arc::new(Recorder::new(16));
    let before = config.server_pid.map(cost::sample).transpose()?;

    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let ramp = config.ramp_up.as_secs_f64() / n.max(1) as f64;
    let period = Duration::from_secs_f64(n as f64 / config.rate.max(0.001));
    let mut tasks = Vec::with_capacity(n);
    // Connection k is device k % devices of person k / devices; the order of opening
    // interleaves people so the ramp reaches every channel early.
    for k in 0..n {
        let person = k / devices;
        let source = (loopback && config.source_ips > 0).then(|| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                2 + (k % config.source_ips as usize) as u8,
            ))
        });
        let opens = (k % devices) * cast.people.len() + person;
        let client = Client {
            key: k,
            ws_url: ws_url.to_string(),
            target,
            source,
            token: cast.people[person].token.clone(),
            channels: channels_of[person].clone(),
            size: config.size,
            period,
            // Senders start spread over one period, so the rate is even.
            offset: period.mul_f64(opens as f64 / n as f64),
            connect_after: Duration::from_secs_f64(ramp * opens as f64),
            reconnect_at: reconnect_time(opens, n, config.churn, config.duration),
            progress: progress.clone(),
            recorder: recorder.clone(),
            recipients: recipients.clone(),
            phase: phase_rx.clone(),
        };
        tasks.push(tokio::spawn(client.run()));
    }

    // Connect phase: everyone in (or failed), then sending starts.
    let reporter = tokio::spawn(report_progress(progress.clone(), phase_rx.clone()));
    let deadline = Instant::now() + config.ramp_up + Duration::from_secs(60);
    while progress.connected.load(Relaxed) < n as u64 && Instant::now() < deadline {
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
    // Pairs with the client's fence between counting a send and checking the phase.
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    let send_secs = sending_started.elapsed().as_secs_f64();
    let drain_until = Instant::now() + config.drain;
    // Churning connections may still be coming back; wait for them as for any delivery.
    let churning = (config.churn * n as f64).round() as u64;
    while (!progress.settled() || progress.reconnected.load(Relaxed) < churning)
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let active_secs = sending_started.elapsed().as_secs_f64();
    let after = config.server_pid.map(cost::sample).transpose()?;
    phase_tx.send(Phase::Done).ok();
    reporter.abort();

    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.context("a client task panicked")?);
    }
    let samples = match (before, connected_sample, after) {
        (Some(b), Some(c), Some(a)) => Some((b, c, a)),
        _ => None,
    };
    let end = Ending {
        target: if config.floor { "floor" } else { "parley" },
        send_secs,
        active_secs,
        sending_started,
        samples,
    };
    Ok(assemble(config, &cast, results, &recorder, end))
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
            "[{:>4.0}s {:?}] connected {}  sent {}  acked {}  delivered {}/{}  reconnected {}",
            started.elapsed().as_secs_f64(),
            *phase.borrow_and_update(),
            progress.connected.load(Relaxed),
            progress.sent.load(Relaxed),
            progress.acked.load(Relaxed),
            progress.delivered.load(Relaxed),
            progress.expected.load(Relaxed),
            progress.reconnected.load(Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_picks_the_fraction_asked_and_spreads_their_drops() {
        let d = Duration::from_secs(100);
        let times: Vec<Duration> = (0..1000)
            .filter_map(|k| reconnect_time(k, 1000, 0.1, d))
            .collect();
        assert_eq!(times.len(), 100);
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times[0] >= Duration::from_secs(20) && times[99] <= Duration::from_secs(80));
        assert_eq!(
            (0..10)
                .filter_map(|k| reconnect_time(k, 10, 0.0, d))
                .count(),
            0
        );
        assert_eq!(
            (0..10)
                .filter_map(|k| reconnect_time(k, 10, 1.0, d))
                .count(),
            10
        );
        assert_eq!(
            (0..7).filter_map(|k| reconnect_time(k, 7, 0.5, d)).count(),
            4
        );
    }
}
