//! One WebRTC peer connection of a bot: a str0m `Rtc` on its own UDP socket (bound to a
//! 127.0.0.x address of the run's choosing), its media schedule and its measurements, run by
//! one task and reached through a `PeerHandle`.
//!
//! **This is the seam between media and signaling.** A peer knows SDP and media, nothing of
//! Parley's `/v1/rtc` messages: the signaling side asks the publishing peer for an offer for its
//! tracks (`publish_offer`) and hands it the answer (`accept_answer`), gives the subscribing
//! peer the remote offer with a label per m-line (`accept_offer`) and sends back the answer,
//! and passes trickled candidates (`add_remote_candidate`). The same peers can thus be driven
//! by another server's signaling (Janus's VideoRoom) without change.
//!
//! A publishing peer is in str0m's frame mode (str0m packetizes Opus and VP8); a subscribing
//! peer is in RTP mode, so it sees every packet's sequence number, timestamp and marker.

use super::recv::{RecvTrack, SecondTally, Timeline};
use super::send::{PublishMedia, SendStats, Sender, RIDS};
use super::stamp;
use anyhow::{anyhow, Context, Result};
use parley_proto::TrackKind;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid, Simulcast, SimulcastLayer};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// At most this many datagrams are read in one go before str0m is polled.
const READ_BATCH: usize = 32;

/// Counters the progress line reads, shared by every peer of a run.
#[derive(Default)]
pub struct Counters {
    /// Peer connections up (ICE and DTLS).
    pub connected: AtomicU64,
    /// Publishing peer connections up.
    pub publishing: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub packets_sent: AtomicU64,
}

/// What every peer of a run shares.
pub struct Shared {
    pub timeline: Timeline,
    pub counters: Counters,
}

/// A track the publishing peer offers.
#[derive(Debug, Clone)]
pub struct OfferedTrack {
    pub mid: String,
    pub kind: TrackKind,
    /// The simulcast rids, lowest first; empty for one encoding.
    pub rids: Vec<String>,
}

/// What an m-line of a remote offer carries, for the report.
#[derive(Debug, Clone)]
pub struct RemoteTrack {
    pub mid: String,
    /// The track's id on the server (a Parley track sid, or a bridge slot).
    pub id: String,
    pub kind: TrackKind,
}

/// What a peer saw, once it is finished.
pub struct PeerReport {
    /// When ICE and DTLS were up.
    pub connected: Option<Instant>,
    pub sent: SendStats,
    pub received: Vec<RecvTrack>,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

enum Command {
    PublishOffer(oneshot::Sender<Result<(String, Vec<OfferedTrack>)>>),
    AcceptAnswer(String, oneshot::Sender<Result<()>>),
    AcceptOffer(String, Vec<RemoteTrack>, oneshot::Sender<Result<String>>),
    RemoteCandidate(String),
    EnableLayer(String, bool),
    Finish,
}

/// The signaling side's hold on a running peer.
pub struct PeerHandle {
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<PeerReport>,
    /// This peer's host candidate (`candidate:...`), for servers that want it trickled.
    pub local_candidate: String,
}

impl PeerHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| anyhow!("the peer has stopped"))?;
        rx.await.map_err(|_| anyhow!("the peer has stopped"))?
    }

    /// An offer for the peer's own tracks (publishing peers).
    pub async fn publish_offer(&self) -> Result<(String, Vec<OfferedTrack>)> {
        self.ask(Command::PublishOffer).await
    }

    pub async fn accept_answer(&self, sdp: String) -> Result<()> {
        self.ask(|tx| Command::AcceptAnswer(sdp, tx)).await
    }

    /// Answer the remote side's offer; `tracks` names what its m-lines carry.
    pub async fn accept_offer(&self, sdp: String, tracks: Vec<RemoteTrack>) -> Result<String> {
        self.ask(|tx| Command::AcceptOffer(sdp, tracks, tx)).await
    }

    pub async fn add_remote_candidate(&self, candidate: String) {
        let _ = self
            .commands
            .send(Command::RemoteCandidate(candidate))
            .await;
    }

    /// Start or stop sending a simulcast layer (by rid).
    pub async fn enable_layer(&self, rid: String, enabled: bool) {
        let _ = self.commands.send(Command::EnableLayer(rid, enabled)).await;
    }

    /// Stop and hand back what the peer measured.
    pub async fn finish(self) -> PeerReport {
        let _ = self.commands.send(Command::Finish).await;
        self.task.await.unwrap_or_else(|err| PeerReport {
            connected: None,
            sent: SendStats::default(),
            received: Vec::new(),
            error: Some(format!("the peer task failed: {err}")),
        })
    }
}

/// Start a peer on a socket bound to `ip`: a publisher of `media`, or (`None`) a subscriber.
pub async fn start(
    ip: IpAddr,
    media: Option<PublishMedia>,
    shared: Arc<Shared>,
) -> Result<PeerHandle> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .with_context(|| format!("binding a UDP socket on {ip}"))?;
    let local = socket.local_addr()?;
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .set_rtp_mode(media.is_none())
        .set_stats_interval(Some(Duration::from_secs(1)))
        .build(now);
    let candidate = Candidate::host(local, "udp").map_err(|e| anyhow!("host candidate: {e}"))?;
    let local_candidate = candidate.to_sdp_string();
    rtc.add_local_candidate(candidate);
    let (commands, rx) = mpsc::channel(16);
    let peer = Peer {
        rtc,
        socket,
        local,
        sender: media.map(Sender::new),
        pending: None,
        audio_mid: None,
        video_mid: None,
        tracks: HashMap::new(),
        ssrc_mids: HashMap::new(),
        connected: None,
        shared,
        tally: SecondTally::default(),
    };
    let task = tokio::spawn(peer.run(rx));
    Ok(PeerHandle {
        commands,
        task,
        local_candidate,
    })
}

struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    sender: Option<Sender>,
    pending: Option<SdpPendingOffer>,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    tracks: HashMap<Mid, RecvTrack>,
    ssrc_mids: HashMap<Ssrc, Mid>,
    connected: Option<Instant>,
    shared: Arc<Shared>,
    tally: SecondTally,
}

impl Peer {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> PeerReport {
        let mut buf = vec![0u8; 2048];
        let error = loop {
            let rtc_wake = match self.drain() {
                Ok(at) => at,
                Err(err) => break Some(err),
            };
            let now = Instant::now();
            let mut wake = rtc_wake.min(now + Duration::from_millis(100));
            if let Some(due) = self.sender.as_ref().and_then(Sender::next_due) {
                wake = wake.min(due);
            }
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Finish) => break None,
                    Some(command) => self.command(command),
                },
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = received {
                        self.receive(&buf[..n], source);
                        // str0m in RTP mode holds one received packet until it is polled:
                        // poll after every datagram, then read on while more are waiting.
                        for _ in 1..READ_BATCH {
                            if self.drain().is_err() {
                                break;
                            }
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => self.receive(&buf[..n], source),
                                Err(_) => break,
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if let Err(err) = self.rtc.handle_input(Input::Timeout(now)) {
                        break Some(format!("media: {err}"));
                    }
                    if self.connected.is_some() {
                        if let Some(sender) = &mut self.sender {
                            sender.send_due(&mut self.rtc, now);
                        }
                    }
                }
            }
        };
        self.tally.flush(&self.shared.timeline);
        self.rtc.disconnect();
        let _ = self.drain();
        PeerReport {
            connected: self.connected,
            sent: self.sender.map(|s| s.stats).unwrap_or_default(),
            received: self.tracks.into_values().collect(),
            error,
        }
    }

    fn receive(&mut self, datagram: &[u8], source: SocketAddr) {
        let Ok(contents) = DatagramRecv::try_from(datagram) else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if let Err(err) = self.rtc.handle_input(input) {
            tracing::debug!(error = %err, "datagram not accepted");
        }
    }

    /// Send what str0m wants sent and take its events; when it next wants to be woken.
    fn drain(&mut self) -> Result<Instant, String> {
        loop {
            if !self.rtc.is_alive() {
                return Err("the media connection closed".into());
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return Ok(at),
                Ok(Output::Transmit(t)) => {
                    if self.socket.try_send_to(&t.contents, t.destination).is_ok() {
                        self.shared.counters.packets_sent.fetch_add(1, Relaxed);
                    }
                }
                Ok(Output::Event(event)) => self.event(event),
                Err(err) => return Err(format!("media: {err}")),
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                let now = Instant::now();
                self.connected = Some(now);
                self.shared.counters.connected.fetch_add(1, Relaxed);
                if let Some(sender) = &mut self.sender {
                    sender.start(self.audio_mid, self.video_mid, now);
                    self.shared.counters.publishing.fetch_add(1, Relaxed);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::debug!("ICE disconnected");
            }
            Event::RtpPacket(packet) => {
                let now = Instant::now();
                let ssrc = packet.header.ssrc;
                let mid = match self.ssrc_mids.get(&ssrc) {
                    Some(mid) => *mid,
                    None => {
                        let Some(mid) = self.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid())
                        else {
                            return;
                        };
                        self.ssrc_mids.insert(ssrc, mid);
                        mid
                    }
                };
                let Some(track) = self.tracks.get_mut(&mid) else {
                    return;
                };
                let facts = track.on_packet(
                    &packet,
                    self.shared.timeline.epoch,
                    now,
                    stamp::now_micros(),
                );
                let c = &self.shared.counters;
                c.packets_received.fetch_add(1, Relaxed);
                c.bytes_received.fetch_add(facts.bytes, Relaxed);
                self.tally.add(&self.shared.timeline, now, &facts);
            }
            Event::MediaIngressStats(stats) => {
                if let Some(track) = self.tracks.get_mut(&stats.mid) {
                    track.nacks_sent = track.nacks_sent.max(stats.nacks);
                    track.plis_sent = track.plis_sent.max(stats.plis);
                }
            }
            Event::MediaEgressStats(stats) => {
                if let Some(sender) = &mut self.sender {
                    // Running totals per (mid, rid); keep the sum of the latest of each.
                    let s = &mut sender.stats;
                    s.nacks_received = s.nacks_received.max(stats.nacks);
                    s.plis_received = s.plis_received.max(stats.plis);
                    s.firs_received = s.firs_received.max(stats.firs);
                }
            }
            Event::KeyframeRequest(req) => {
                if let Some(sender) = &mut self.sender {
                    sender.keyframe_requested(req.mid, req.rid);
                }
            }
            _ => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::PublishOffer(reply) => {
                let _ = reply.send(self.publish_offer());
            }
            Command::AcceptAnswer(sdp, reply) => {
                let result = (|| {
                    let answer =
                        SdpAnswer::from_sdp_string(&sdp).context("the answer is not SDP")?;
                    let pending = self
                        .pending
                        .take()
                        .context("no offer is waiting for an answer")?;
                    self.rtc
                        .sdp_api()
                        .accept_answer(pending, answer)
                        .context("cannot accept the answer")
                })();
                let _ = reply.send(result);
            }
            Command::AcceptOffer(sdp, tracks, reply) => {
                let result = (|| {
                    let offer = SdpOffer::from_sdp_string(&sdp).context("the offer is not SDP")?;
                    let answer = self
                        .rtc
                        .sdp_api()
                        .accept_offer(offer)
                        .context("cannot accept the offer")?;
                    for t in tracks {
                        let mid = Mid::from(t.mid.as_str());
                        self.tracks
                            .entry(mid)
                            .or_insert_with(|| RecvTrack::new(t.id.clone(), t.kind));
                    }
                    Ok(answer.to_sdp_string())
                })();
                let _ = reply.send(result);
            }
            Command::RemoteCandidate(candidate) => {
                let line = candidate.trim_start_matches("a=");
                match Candidate::from_sdp_string(line) {
                    Ok(c) => self.rtc.add_remote_candidate(c),
                    Err(err) => tracing::debug!(error = %err, "unreadable remote candidate"),
                }
            }
            Command::EnableLayer(rid, enabled) => {
                if let Some(sender) = &mut self.sender {
                    sender.enable(&rid, enabled);
                }
            }
            Command::Finish => {}
        }
    }

    fn publish_offer(&mut self) -> Result<(String, Vec<OfferedTrack>)> {
        let sender = self
            .sender
            .as_ref()
            .context("a subscribing peer has no tracks to offer")?;
        let media = sender.media().clone();
        let mut api = self.rtc.sdp_api();
        let mut offered = Vec::new();
        let stream = Some("loadtest".to_string());
        if media.audio.is_some() && self.audio_mid.is_none() {
            let mid = api.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                stream.clone(),
                Some("mic".into()),
                None,
            );
            self.audio_mid = Some(mid);
            offered.push(OfferedTrack {
                mid: mid.to_string(),
                kind: TrackKind::Audio,
                rids: Vec::new(),
            });
        }
        if !media.video.is_empty() && self.video_mid.is_none() {
            let rids: Vec<String> = if media.video.len() > 1 {
                RIDS[..media.video.len()]
                    .iter()
                    .map(|r| r.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            let simulcast = (!rids.is_empty()).then(|| {
                let mut s = Simulcast::new();
                for rid in &rids {
                    s.add_send_layer(SimulcastLayer::new(rid));
                }
                s
            });
            let mid = api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                stream,
                Some("cam".into()),
                simulcast,
            );
            self.video_mid = Some(mid);
            offered.push(OfferedTrack {
                mid: mid.to_string(),
                kind: TrackKind::Video,
                rids,
            });
        }
        let (offer, pending) = api.apply().context("nothing to offer")?;
        self.pending = Some(pending);
        Ok((offer.to_sdp_string(), offered))
    }
}
