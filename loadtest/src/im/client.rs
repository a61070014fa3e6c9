//! One simulated device: a real WebSocket client on `/v1/ws`. It connects, sends into its
//! channels at its share of the rate while the run is sending, records every message event it
//! receives, keeps the connection alive with pings, and (with churn) drops and reconnects once,
//! resuming each channel from the last sequence it saw.

use super::{Phase, Progress};
use crate::report::Recorder;
use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use parley_proto::{ChannelEvent, ChannelId, ClientMessage, Priority, Resume, ServerMessage};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::fence;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

/// What each client reserves for reading (tungstenite's default, 128 KiB, times 50,000 clients
/// would not fit the machine).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long a churning client stays away before it reconnects: a short network drop, long
/// enough that its channels move on and the server has something to replay.
const AWAY: Duration = Duration::from_millis(500);

/// What one connection saw.
#[derive(Default)]
pub(super) struct ClientResult {
    pub connected: bool,
    pub connect_error: Option<String>,
    /// Message events received, by channel, in arrival order (across reconnects).
    pub received: HashMap<ChannelId, Vec<i64>>,
    /// The sequence numbers its own sends were acknowledged with.
    pub acked: Vec<(ChannelId, i64)>,
    pub send_errors: u64,
    /// Sends written to the socket (answered or not).
    pub sends: u64,
    pub closed_early: Option<String>,
    /// Times it dropped its connection on purpose and came back (churn).
    pub reconnects: u64,
    /// Events that arrived after a reconnect but were sent before it: the server's replay
    /// (their latency is the outage, not the hub's, and is left out of the percentiles).
    pub replayed: u64,
}

pub(super) struct Client {
    pub key: usize,
    pub ws_url: String,
    pub target: SocketAddr,
    pub source: Option<IpAddr>,
    pub token: String,
    pub channels: Vec<ChannelId>,
    pub size: usize,
    pub period: Duration,
    pub offset: Duration,
    pub connect_after: Duration,
    /// When (after sending starts) to drop and reconnect, if this client churns.
    pub reconnect_at: Option<Duration>,
    pub progress: Arc<Progress>,
    pub recorder: Arc<Recorder>,
    /// Connections that receive each channel's events (members times devices).
    pub recipients: Arc<HashMap<ChannelId, u64>>,
    pub phase: watch::Receiver<Phase>,
}

type Ws = WebSocketStream<TcpStream>;

pub(super) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A body of `size` bytes that starts with the send time, for the receiver's latency.
pub(super) fn body(size: usize) -> String {
    let mut b = format!("{} ", now_micros());
    while b.len() < size {
        b.push('x');
    }
    b
}

/// The state of one connection's loop.
struct Live {
    /// Sends not yet answered (`sent` or an error).
    pending: u64,
    /// Events sent before this (µs since the epoch) are replays, after a reconnect.
    replay_before: Option<u64>,
    /// Stop sending, wait for the answers, then reconnect.
    leaving: bool,
}

impl Client {
    pub async fn run(mut self) -> ClientResult {
        let mut result = ClientResult::default();
        tokio::time::sleep(self.connect_after).await;
        let started = Instant::now();
        let (mut ws, heartbeat) = match self.connect(Vec::new()).await {
            Ok(ok) => ok,
            Err(err) => {
                result.connect_error = Some(format!("{err:#}"));
                return result;
            }
        };
        self.recorder.connected(self.key, started.elapsed());
        result.connected = true;
        self.progress.connected.fetch_add(1, Relaxed);
        // Well inside the server's heartbeat timeout, even if nothing else is sent.
        let ping_every = (heartbeat / 3).max(Duration::from_secs(1));
        let mut next_ping = tokio::time::Instant::now() + ping_every;

        while *self.phase.borrow() == Phase::Connecting {
            if self.phase.changed().await.is_err() {
                return result;
            }
        }
        let sending_started = tokio::time::Instant::now();
        let mut next_send = sending_started + self.offset;
        let mut reconnect_at = self.reconnect_at.map(|d| sending_started + d);
        let mut live = Live {
            pending: 0,
            replay_before: None,
            leaving: false,
        };
        let (mut turn, mut request) = (0usize, 0u64);
        loop {
            let phase = *self.phase.borrow();
            if live.leaving && live.pending == 0 {
                ws.close(None).await.ok();
                tokio::time::sleep(AWAY).await;
                let resume = result
                    .received
                    .iter()
                    .filter_map(|(&channel, seqs)| {
                        seqs.iter().max().map(|&seq| Resume { channel, seq })
                    })
                    .collect();
                let at = now_micros();
                match self.connect(resume).await {
                    Ok((again, _)) => ws = again,
                    Err(err) => {
                        result.closed_early = Some(format!("reconnecting: {err:#}"));
                        break;
                    }
                }
                result.reconnects += 1;
                self.progress.reconnected.fetch_add(1, Relaxed);
                live = Live {
                    pending: 0,
                    replay_before: Some(at),
                    leaving: false,
                };
                next_send = next_send.max(tokio::time::Instant::now());
                continue;
            }
            let sending = phase == Phase::Sending && !self.channels.is_empty() && !live.leaving;
            let churning = phase == Phase::Sending && reconnect_at.is_some();
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                _ = tokio::time::sleep_until(next_send), if sending => {
                    next_send += self.period;
                    // Count the send before looking at the phase once more, and the run looks
                    // at the count after moving the phase on (fences on both sides): either
                    // this send sees the drain and is not made, or the drain waits for it.
                    self.progress.sent.fetch_add(1, SeqCst);
                    fence(SeqCst);
                    if *self.phase.borrow() != Phase::Sending {
                        self.progress.sent.fetch_sub(1, SeqCst);
                        continue;
                    }
                    let channel = self.channels[turn % self.channels.len()];
                    turn += 1;
                    request += 1;
                    let send = ClientMessage::Send {
                        id: request.to_string(),
                        channel,
                        // Unique per user and channel across its devices, or the server
                        // takes a second device's send for a resend of the first.
                        client_id: format!("lt-{}-{request}", self.key),
                        body: body(self.size),
                        reply_to: None,
                        thread_only: false,
                        mentions: Vec::new(),
                        mention_channel: false,
                        priority: Priority::Normal,
                        ack_requested: false,
                        action: None,
                        attachments: Vec::new(),
                    };
                    let text = serde_json::to_string(&send).expect("serialisable");
                    if ws.send(Frame::text(text)).await.is_err() {
                        result.send_errors += 1;
                        self.progress.failed.fetch_add(1, Relaxed);
                    } else {
                        live.pending += 1;
                    }
                    result.sends += 1;
                    self.recorder.sent(self.key);
                    next_ping = tokio::time::Instant::now() + ping_every;
                }
                _ = tokio::time::sleep_until(reconnect_at.unwrap_or(far)), if churning => {
                    reconnect_at = None;
                    live.leaving = true;
                }
                _ = tokio::time::sleep_until(next_ping) => {
                    next_ping += ping_every;
                    ws.send(Frame::Ping(Default::default())).await.ok();
                }
                changed = self.phase.changed() => {
                    if changed.is_err() || *self.phase.borrow() == Phase::Done {
                        break;
                    }
                }
                frame = ws.next() => match frame {
                    Some(Ok(Frame::Text(text))) => self.received(&text, &mut result, &mut live),
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

    /// Open the WebSocket and say hello; the server's heartbeat comes back with `welcome`.
    async fn connect(&self, resume: Vec<Resume>) -> Result<(Ws, Duration)> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = self.source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("binding {ip}"))?;
        }
        let stream = socket.connect(self.target).await?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(self.ws_url.as_str(), stream, Some(config))
                .await
                .context("WebSocket upgrade")?;
        let hello = ClientMessage::Hello {
            id: "hello".into(),
            versions: vec![1],
            token: Some(self.token.clone()),
            resume,
        };
        ws.send(Frame::text(serde_json::to_string(&hello)?)).await?;
        while let Some(frame) = ws.next().await {
            if let Frame::Text(text) = frame? {
                match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Welcome { limits, .. }) => {
                        return Ok((ws, Duration::from_secs(limits.heartbeat_secs)))
                    }
                    Ok(other) => bail!("expected welcome, got {other:?}"),
                    Err(err) => bail!("unreadable reply to hello ({err}): {text}"),
                }
            }
        }
        bail!("closed before welcome")
    }

    fn received(&self, text: &str, result: &mut ClientResult, live: &mut Live) {
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
                let replay = matches!((sent, live.replay_before), (Some(s), Some(at)) if s < at);
                if replay {
                    result.replayed += 1;
                }
                let latency = sent
                    .filter(|_| !replay)
                    .map(|s| now_micros().saturating_sub(s));
                self.recorder.delivered(self.key, latency);
            }
            Ok(ServerMessage::Sent { channel, seq, .. }) => {
                result.acked.push((channel, seq));
                live.pending = live.pending.saturating_sub(1);
                self.progress.acked.fetch_add(1, Relaxed);
                let recipients = self.recipients.get(&channel).copied().unwrap_or(0);
                self.progress.expected.fetch_add(recipients, Relaxed);
            }
            Ok(ServerMessage::Error { .. }) => {
                live.pending = live.pending.saturating_sub(1);
                result.send_errors += 1;
                self.progress.failed.fetch_add(1, Relaxed);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_the_size_asked_and_starts_with_its_send_time() {
        let b = body(100);
        assert_eq!(b.len(), 100);
        let sent: u64 = b.split(' ').next().unwrap().parse().unwrap();
        assert!(now_micros() >= sent);
    }
}
