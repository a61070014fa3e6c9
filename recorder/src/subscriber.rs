//! The recorder's WebRTC client: joins a meeting over `/v1/rtc` as a hidden, subscribe-only
//! participant and hands out every track's media as whole frames (str0m in frame mode
//! depacketizes Opus, VP8 and H.264). Only the subscriber connection is used: the server offers,
//! this client answers, over one UDP socket on a local address.
//!
//! One task owns the WebSocket, the socket and the `Rtc`; the handle reaches it over a bounded
//! channel. Frames go out on a bounded channel too: if the consumer falls behind by a whole
//! channel, frames are dropped and counted rather than stalling the network loop.

use futures::{SinkExt, StreamExt};
use parley_proto::{RoomInfo, TrackInfo};

/// A track's sid (`TR_...`).
pub type TrackSid = String;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Error)]
pub enum RtcError {
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },
    #[error("the server refused the join: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("the server closed the connection before answering the join")]
    Closed,
    #[error("cannot open a media socket on {0}")]
    Socket(IpAddr, #[source] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct RtcConfig {
    /// The server's base URL (`http://127.0.0.1:7880`).
    pub server_url: String,
    pub token: String,
    /// For tokens that name no room.
    pub room: Option<String>,
    pub bind_ip: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCodec {
    Opus,
    Vp8,
    H264,
    Other,
}

/// One whole frame of a track.
#[derive(Debug, Clone)]
pub struct MediaFrame {
    pub track: TrackSid,
    pub codec: FrameCodec,
    pub clock_rate: u32,
    /// RTP time, extended (it never wraps), in `clock_rate` units.
    pub rtp_time: u64,
    /// When its first packet arrived.
    pub received: Instant,
    pub data: std::sync::Arc<[u8]>,
    pub keyframe: bool,
    /// False after a gap (lost packets) before this frame.
    pub contiguous: bool,
}

#[derive(Debug, Clone)]
pub enum RtcEvent {
    Joined {
        room: RoomInfo,
    },
    /// A track is now received; `identity` and `name` are its publisher's.
    TrackAdded {
        track: TrackInfo,
        identity: String,
        name: String,
    },
    TrackRemoved {
        track: TrackSid,
    },
    Media(MediaFrame),
    /// The connection ended (the meeting ended, the recorder was removed, the network failed).
    Closed {
        reason: String,
    },
}

enum Command {
    RequestKeyframe(TrackSid),
    Leave,
}

/// Controls a running client; dropping it leaves too.
pub struct RtcHandle {
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl RtcHandle {
    pub fn request_keyframe(&self, track: &TrackSid) {
        let _ = self
            .commands
            .try_send(Command::RequestKeyframe(track.clone()));
    }

    /// Say goodbye and wait (briefly) for the client to close.
    pub async fn leave(self) {
        let _ = self.commands.send(Command::Leave).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Join and start receiving. Returns once the server said `joined`.
pub async fn connect(config: RtcConfig) -> Result<(RtcHandle, mpsc::Receiver<RtcEvent>), RtcError> {
    let url = format!(
        "{}/v1/rtc",
        config
            .server_url
            .replacen("http", "ws", 1)
            .trim_end_matches('/')
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|source| RtcError::Connect {
            url: url.clone(),
            source,
        })?;
    let mut join =
        json!({"type": "join", "id": "join", "token": config.token, "auto_subscribe": true});
    if let Some(room) = &config.room {
        join["room"] = json!(room);
    }
    let _ = ws.send(Message::text(join.to_string())).await;
    let joined = loop {
        let Some(Ok(message)) = ws.next().await else {
            return Err(RtcError::Closed);
        };
        let Ok(text) = message.to_text() else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        match value["type"].as_str() {
            Some("joined") => break value,
            Some("error") => {
                return Err(RtcError::Refused {
                    code: value["code"].as_str().unwrap_or_default().to_string(),
                    message: value["message"].as_str().unwrap_or_default().to_string(),
                })
            }
            _ => {}
        }
    };
    let socket = UdpSocket::bind(SocketAddr::new(config.bind_ip, 0))
        .await
        .map_err(|e| RtcError::Socket(config.bind_ip, e))?;
    let (events_tx, events) = mpsc::channel(4096);
    let (commands, commands_rx) = mpsc::channel(64);
    let mut client = Client {
        ws,
        socket,
        rtc: None,
        mids: HashMap::new(),
        people: HashMap::new(),
        events: events_tx,
        dropped: 0,
        last_keyframe_request: HashMap::new(),
        answers: 0,
    };
    client.on_joined(&joined).await;
    let task = tokio::spawn(client.run(commands_rx));
    Ok((RtcHandle { commands, task }, events))
}

struct Client {
    ws: Ws,
    socket: UdpSocket,
    rtc: Option<Rtc>,
    /// What each m-line of the subscriber connection carries.
    mids: HashMap<Mid, TrackInfo>,
    /// Participant sid to (identity, name).
    people: HashMap<String, (String, String)>,
    events: mpsc::Sender<RtcEvent>,
    /// Frames dropped because the consumer fell behind.
    dropped: u64,
    last_keyframe_request: HashMap<Mid, Instant>,
    answers: u64,
}

fn codec_of(codec: Codec) -> FrameCodec {
    match codec {
        Codec::Opus => FrameCodec::Opus,
        Codec::Vp8 => FrameCodec::Vp8,
        Codec::H264 => FrameCodec::H264,
        _ => FrameCodec::Other,
    }
}

impl Client {
    async fn on_joined(&mut self, joined: &Value) {
        if let Ok(room) = serde_json::from_value::<RoomInfo>(joined["room"].clone()) {
            let _ = self.events.send(RtcEvent::Joined { room }).await;
        }
        for p in joined["participants"].as_array().into_iter().flatten() {
            self.person(p);
        }
    }

    fn person(&mut self, p: &Value) {
        if let Some(sid) = p["sid"].as_str() {
            self.people.insert(
                sid.to_string(),
                (
                    p["identity"].as_str().unwrap_or_default().to_string(),
                    p["name"].as_str().unwrap_or_default().to_string(),
                ),
            );
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; 2048];
        let reason = loop {
            let deadline = match self.drain().await {
                Some(at) => at,
                None => break "the media connection failed".to_string(),
            };
            let wait = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                message = self.ws.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reason) = self.on_message(text.as_str()).await {
                            break reason;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        break "the server closed the connection".to_string();
                    }
                    Some(Ok(_)) => {}
                },
                received = self.socket.recv_from(&mut buf) => {
                    if let (Ok((n, source)), Some(rtc)) = (received, self.rtc.as_mut()) {
                        if let (Ok(contents), Ok(destination)) =
                            (DatagramRecv::try_from(&buf[..n]), self.socket.local_addr())
                        {
                            let input = Input::Receive(
                                Instant::now(),
                                Receive { proto: Protocol::Udp, source, destination, contents },
                            );
                            if let Err(err) = rtc.handle_input(input) {
                                tracing::debug!(error = %err, "datagram not accepted");
                            }
                        }
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    if let Some(rtc) = self.rtc.as_mut() {
                        let _ = rtc.handle_input(Input::Timeout(Instant::now()));
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::RequestKeyframe(track)) => self.request_keyframe(&track),
                    Some(Command::Leave) | None => {
                        let _ = self.ws.send(Message::text(json!({"type": "leave"}).to_string())).await;
                        let _ = self.ws.close(None).await;
                        break "left".to_string();
                    }
                },
            }
        };
        if self.dropped > 0 {
            tracing::warn!(
                dropped = self.dropped,
                "frames dropped: the recorder fell behind"
            );
        }
        let _ = self.events.send(RtcEvent::Closed { reason }).await;
    }

    /// Send what str0m wants sent and hand out its events; the next time it wants to be
    /// woken, or `None` once the connection is dead.
    async fn drain(&mut self) -> Option<Instant> {
        let far = Instant::now() + Duration::from_millis(100);
        loop {
            let Some(rtc) = self.rtc.as_mut() else {
                return Some(far);
            };
            if !rtc.is_alive() {
                return None;
            }
            match rtc.poll_output() {
                Ok(Output::Timeout(at)) => return Some(at.min(far)),
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(event)) => self.on_event(event).await,
                Err(err) => {
                    tracing::warn!(error = %err, "media connection failed");
                    return None;
                }
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::MediaData(data) => self.on_media(data),
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::warn!("media connection disconnected");
            }
            _ => {}
        }
    }

    fn on_media(&mut self, data: MediaData) {
        let Some(track) = self.mids.get(&data.mid).map(|t| t.sid.clone()) else {
            return;
        };
        let codec = codec_of(data.params.spec().codec);
        let keyframe = data.is_keyframe();
        if codec != FrameCodec::Opus && !data.contiguous {
            let mid = data.mid;
            self.keyframe_for(mid);
        }
        let frame = MediaFrame {
            track,
            codec,
            clock_rate: data.time.denom(),
            rtp_time: data.time.numer(),
            received: data.network_time,
            data: data.data,
            keyframe,
            contiguous: data.contiguous,
        };
        if self.events.try_send(RtcEvent::Media(frame)).is_err() {
            self.dropped += 1;
        }
    }

    fn request_keyframe(&mut self, track: &TrackSid) {
        let mid = self
            .mids
            .iter()
            .find(|(_, t)| &t.sid == track)
            .map(|(mid, _)| *mid);
        if let Some(mid) = mid {
            self.keyframe_for(mid);
        }
    }

    /// Ask the publisher (through the server) for a keyframe, at most twice a second.
    fn keyframe_for(&mut self, mid: Mid) {
        let now = Instant::now();
        if self
            .last_keyframe_request
            .get(&mid)
            .is_some_and(|at| now.duration_since(*at) < Duration::from_millis(500))
        {
            return;
        }
        let Some(rtc) = self.rtc.as_mut() else { return };
        let mut api = rtc.direct_api();
        if let Some(rx) = api.stream_rx_by_mid(mid, None) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.last_keyframe_request.insert(mid, now);
        }
    }

    /// A signaling message; `Some(reason)` ends the client.
    async fn on_message(&mut self, text: &str) -> Option<String> {
        let message: Value = serde_json::from_str(text).ok()?;
        match message["type"].as_str()? {
            "offer" => self.on_offer(&message).await,
            "participant_joined" | "participant_updated" => self.person(&message["participant"]),
            "track_unpublished" => {
                if let Some(track) = message["track"].as_str().map(str::to_string) {
                    self.mids.retain(|_, t| t.sid != track);
                    let _ = self.events.send(RtcEvent::TrackRemoved { track }).await;
                }
            }
            "participant_left" => {
                let sid = message["participant"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let gone: Vec<TrackSid> = self
                    .mids
                    .values()
                    .filter(|t| t.participant == sid)
                    .map(|t| t.sid.clone())
                    .collect();
                self.mids.retain(|_, t| t.participant != sid);
                for track in gone {
                    let _ = self.events.send(RtcEvent::TrackRemoved { track }).await;
                }
            }
            "removed" => {
                return Some(format!(
                    "removed: {}",
                    message["reason"].as_str().unwrap_or_default()
                ))
            }
            "error" => tracing::warn!(%message, "the server reported an error"),
            _ => {}
        }
        None
    }

    async fn on_offer(&mut self, message: &Value) {
        let Some(sdp) = message["sdp"].as_str() else {
            return;
        };
        let offer = match SdpOffer::from_sdp_string(sdp) {
            Ok(offer) => offer,
            Err(err) => {
                tracing::warn!(error = %err, "the server's offer is not SDP");
                return;
            }
        };
        if self.rtc.is_none() {
            let mut rtc = Rtc::builder().set_ice_lite(false).build(Instant::now());
            if let Ok(local) = self.socket.local_addr() {
                match Candidate::host(local, "udp") {
                    Ok(candidate) => {
                        rtc.add_local_candidate(candidate);
                    }
                    Err(err) => tracing::warn!(error = %err, "no local candidate"),
                }
            }
            self.rtc = Some(rtc);
        }
        let Some(rtc) = self.rtc.as_mut() else { return };
        let answer = match rtc.sdp_api().accept_offer(offer) {
            Ok(answer) => answer,
            Err(err) => {
                tracing::warn!(error = %err, "cannot answer the server's offer");
                return;
            }
        };
        self.answers += 1;
        let reply = json!({"type": "answer", "id": format!("answer-{}", self.answers), "sdp": answer.to_sdp_string()});
        let _ = self.ws.send(Message::text(reply.to_string())).await;
        for entry in message["tracks"].as_array().into_iter().flatten() {
            let (Some(mid), Ok(track)) = (
                entry["mid"].as_str(),
                serde_json::from_value::<TrackInfo>(entry["track"].clone()),
            ) else {
                continue;
            };
            let (identity, name) = self
                .people
                .get(&track.participant)
                .cloned()
                .unwrap_or_default();
            let mid = Mid::from(mid);
            self.mids.insert(mid, track.clone());
            if track.kind == parley_proto::TrackKind::Video {
                self.keyframe_for(mid);
            }
            let _ = self
                .events
                .send(RtcEvent::TrackAdded {
                    track,
                    identity,
                    name,
                })
                .await;
        }
    }
}
