//! The run's verdict: every connection's stream of each channel compared with the sequence
//! numbers the senders were acknowledged (nothing lost, nothing twice, in order), the totals,
//! the table, the JSON report and the chart.

use super::client::ClientResult;
use super::ImConfig;
use crate::chart::{Chart, Panel, Series};
use crate::cost::{self, ServerCost};
use crate::provision::Cast;
use crate::report::{percentile_row, table, Percentiles, Recorder, TimelinePoint};
use parley_proto::ChannelId;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct ImReport {
    pub scenario: &'static str,
    /// `parley` or `floor`: what was under test.
    pub target: &'static str,
    pub config: ImConfig,
    pub connections: Connections,
    pub messages: Messages,
    pub deliveries: Deliveries,
    pub latency: Percentiles,
    pub server: Option<ServerReport>,
    /// One entry per second since sending started.
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Serialize)]
pub struct Connections {
    pub attempted: usize,
    pub connected: usize,
    pub failed: usize,
    /// Connections the server closed before the run ended (e.g. `slow_consumer`).
    pub closed_early: usize,
    /// Drops and reconnects the run made on purpose (`--churn`).
    pub reconnected: u64,
    pub errors: Vec<String>,
    pub connect_time: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct Messages {
    /// Sends the clients made.
    pub sent: u64,
    pub acked: u64,
    pub send_errors: u64,
    /// Sends with no answer by the end of the run (an overloaded server falls behind).
    pub unanswered: u64,
    pub per_sec: f64,
}

#[derive(Debug, Serialize)]
pub struct Deliveries {
    /// Every acknowledged message times its channel's connected member devices.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Delivered by the server's replay after a reconnect (left out of the latencies).
    pub replayed: u64,
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
            && self.messages.unanswered == 0
    }

    pub fn table(&self) -> String {
        let c = &self.config;
        let mut rows = vec![
            (
                "scenario".into(),
                format!(
                    "im against {}: {} users x {} devices, {} channels x {} members, {} msg/s of {} B for {:?}, churn {}",
                    self.target, c.users, c.devices, c.channels, c.members, c.rate, c.size, c.duration, c.churn
                ),
            ),
            (
                "connections".into(),
                format!(
                    "{} of {} ({} failed, {} closed early, {} reconnected on purpose)",
                    self.connections.connected,
                    self.connections.attempted,
                    self.connections.failed,
                    self.connections.closed_early,
                    self.connections.reconnected
                ),
            ),
            (
                "connect time".into(),
                percentile_row(&self.connections.connect_time),
            ),
            (
                "messages".into(),
                format!(
                    "{} sent, {} acknowledged, {} errors, {} unanswered ({:.1}/s acknowledged)",
                    self.messages.sent,
                    self.messages.acked,
                    self.messages.send_errors,
                    self.messages.unanswered,
                    self.messages.per_sec
                ),
            ),
            (
                "deliveries".into(),
                format!(
                    "{} of {} ({:.0}/s): {} lost, {} duplicated, {} out of order, {} replayed",
                    self.deliveries.delivered,
                    self.deliveries.expected,
                    self.deliveries.per_sec,
                    self.deliveries.lost,
                    self.deliveries.duplicated,
                    self.deliveries.out_of_order,
                    self.deliveries.replayed
                ),
            ),
            ("send to deliver".into(), percentile_row(&self.latency)),
        ];
        if let Some(s) = &self.server {
            rows.push((
                "server".into(),
                format!(
                    "pid {}: {:.2} CPU s, RSS {:.1} → {:.1} MiB (peak {:.1}), {} per connection, {} deliveries per CPU s",
                    s.cost.pid,
                    s.cost.cpu_secs,
                    s.cost.rss_before_bytes as f64 / 1048576.0,
                    s.cost.rss_connected_bytes as f64 / 1048576.0,
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

    /// Latency percentiles and throughput per second, for `--chart`.
    pub fn chart(&self) -> Chart {
        let c = &self.config;
        let series = |name: &str, f: &dyn Fn(&TimelinePoint) -> Option<f64>| Series {
            name: name.into(),
            points: self.timeline.iter().map(|p| (p.t as f64, f(p))).collect(),
        };
        Chart {
            title: format!(
                "im against {}: {} connections, {} channels x {} members, {} msg/s",
                self.target,
                c.users * c.devices,
                c.channels,
                c.members,
                c.rate
            ),
            x_label: "seconds since sending started".into(),
            panels: vec![
                Panel {
                    title: "send to deliver (ms)".into(),
                    series: vec![
                        series("p50", &|p| p.p50_ms),
                        series("p90", &|p| p.p90_ms),
                        series("p99", &|p| p.p99_ms),
                    ],
                },
                Panel {
                    title: "deliveries per second".into(),
                    series: vec![series("delivered", &|p| Some(p.delivered as f64))],
                },
                Panel {
                    title: "messages sent per second".into(),
                    series: vec![series("sent", &|p| Some(p.sent as f64))],
                },
            ],
        }
    }
}

/// What `assemble` needs besides the clients' results.
pub(super) struct Ending {
    pub target: &'static str,
    pub send_secs: f64,
    pub active_secs: f64,
    pub sending_started: Instant,
    /// Server samples before connecting, once connected, and at the end.
    pub samples: Option<(cost::Sample, cost::Sample, cost::Sample)>,
}

/// Compare what every member device received with what was acknowledged, and sum it all up.
/// `results[k]` is connection `k`, a device of person `k / devices`.
pub(super) fn assemble(
    config: ImConfig,
    cast: &Cast,
    results: Vec<ClientResult>,
    recorder: &Recorder,
    end: Ending,
) -> ImReport {
    let mut acked: HashMap<ChannelId, Vec<i64>> = HashMap::new();
    for r in &results {
        for (channel, seq) in &r.acked {
            acked.entry(*channel).or_default().push(*seq);
        }
    }
    for seqs in acked.values_mut() {
        // One sequence is one message, even if two sends were answered with it.
        seqs.sort_unstable();
        seqs.dedup();
    }
    let (mut expected, mut delivered, mut lost, mut duplicated, mut out_of_order) = (0, 0, 0, 0, 0);
    for group in &cast.groups {
        let want = acked.get(&group.id).map(Vec::as_slice).unwrap_or(&[]);
        for &m in &group.members {
            for r in &results[m * config.devices..(m + 1) * config.devices] {
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
    let server = end.samples.and_then(|(before, connected_at, after)| {
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
        target: end.target,
        connections: Connections {
            attempted: results.len(),
            connected,
            failed: results.len() - connected,
            closed_early: results.iter().filter(|r| r.closed_early.is_some()).count(),
            reconnected: results.iter().map(|r| r.reconnects).sum(),
            errors,
            connect_time: recorder.connect_time().summary(),
        },
        messages: Messages {
            sent: results.iter().map(|r| r.sends).sum(),
            acked: sent,
            send_errors: results.iter().map(|r| r.send_errors).sum(),
            unanswered: results
                .iter()
                .map(|r| r.sends.saturating_sub(r.acked.len() as u64 + r.send_errors))
                .sum(),
            per_sec: sent as f64 / end.send_secs.max(0.001),
        },
        deliveries: Deliveries {
            expected,
            delivered,
            lost,
            duplicated,
            out_of_order,
            replayed: results.iter().map(|r| r.replayed).sum(),
            per_sec: delivered as f64 / end.active_secs.max(0.001),
        },
        latency: recorder.latency().summary(),
        server,
        timeline: recorder.timeline(end.sending_started),
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
}
