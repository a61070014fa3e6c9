//! What the fuzz targets (`fuzz/`, their own workspace) drive: a media worker's engine itself,
//! reached without its thread or its loop. Commands go through `Engine::command` and datagrams
//! through `Engine::datagram`, exactly as the loop hands them in, then `flush` runs as after
//! every wake-up. Adds no behaviour.

use super::*;
use crate::{sdp, ChannelRule};
use parley_proto::{PublishLayer, TrackSource};
use tokio::sync::oneshot;

/// One worker's engine on a real UDP socket bound to 127.0.0.1 (what it sends goes to the
/// sources the fuzzer names, on the loopback), fed as the I/O task feeds it.
pub struct Harness {
    engine: Engine,
    signals: HashMap<ParticipantKey, mpsc::Receiver<RtcServerMessage>>,
    _events: mpsc::Receiver<RoomEvent>,
    /// What the engine tells the I/O task, emptied after every step.
    notices: mpsc::UnboundedReceiver<io::Notice>,
}

impl Harness {
    pub fn new() -> std::io::Result<Harness> {
        static CRYPTO: std::sync::Once = std::sync::Once::new();
        CRYPTO.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let local_addr = socket.local_addr()?;
        let metrics = SfuMetrics::register(&prometheus::Registry::new())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (events, event_rx) = mpsc::channel(4096);
        let (notice_tx, notices) = mpsc::unbounded_channel();
        let io = io::Io::new(0, socket, vec![local_addr], Vec::new(), notice_tx, &metrics)?;
        let placement = Arc::new(crate::placement::Placement::new(
            vec![metrics.worker_participants(0)],
            vec![metrics.worker_rooms(0)],
        ));
        let engine = Engine::new(SfuConfig::default(), io, placement, metrics, events);
        Ok(Harness {
            engine,
            signals: HashMap::new(),
            _events: event_rx,
            notices,
        })
    }

    /// Join room `fuzz` as `identity`, with every grant, as an app token could.
    pub fn join(&mut self, identity: &str) -> SfuResult<ParticipantKey> {
        let (signal, signal_rx) = mpsc::channel(4096);
        let (reply, answer) = oneshot::channel();
        self.engine.command(Command::Join {
            request: JoinRequest {
                channel: ChannelRule::Any,
                room: "fuzz".into(),
                may_create: true,
                identity: identity.into(),
                name: identity.into(),
                grants: ParticipantGrants {
                    can_publish: true,
                    can_subscribe: true,
                    can_publish_sources: Vec::new(),
                    hidden: false,
                    recorder: false,
                    room_admin: true,
                },
                auto_subscribe: true,
                resume: None,
                api_key: None,
            },
            signal,
            reply,
        });
        let joined = Self::reply(answer)?;
        self.signals.insert(joined.key, signal_rx);
        self.engine.flush();
        Ok(joined.key)
    }

    /// A publisher offer as `/v1/rtc` handles it: `sdp::check_offer` against the tracks a
    /// client would name (one per sending m-line, its layers from the m-line's rids), then the
    /// engine. Returns the answer's SDP.
    pub fn offer(&mut self, key: ParticipantKey, offer: &str) -> SfuResult<String> {
        let tracks = claimed_tracks(offer);
        sdp::check_offer(
            offer,
            &tracks,
            self.engine.config.max_tracks_per_participant,
        )?;
        let (reply, answer) = oneshot::channel();
        self.engine.command(Command::Offer {
            key,
            sdp: offer.into(),
            tracks,
            reply,
        });
        let answer = Self::reply(answer)?;
        self.engine.flush();
        Ok(answer.sdp)
    }

    /// The SDP of the last subscriber offer sent to `key`, if one is waiting for its answer.
    pub fn pending_offer(&mut self, key: ParticipantKey) -> Option<String> {
        let rx = self.signals.get_mut(&key)?;
        let mut last = None;
        while let Ok(msg) = rx.try_recv() {
            if let RtcServerMessage::Offer { sdp, .. } = msg {
                last = Some(sdp);
            }
        }
        let p = self.engine.participants.get(&key)?;
        p.sub_pending.as_ref().and(last)
    }

    /// Whether a subscriber offer to `key` waits for its answer.
    pub fn awaits_answer(&self, key: ParticipantKey) -> bool {
        self.engine
            .participants
            .get(&key)
            .is_some_and(|p| p.sub_pending.is_some())
    }

    /// A subscriber answer as `/v1/rtc` hands it to the engine.
    pub fn answer(&mut self, key: ParticipantKey, answer: &str) -> SfuResult<()> {
        let (reply, done) = oneshot::channel();
        self.engine.command(Command::Answer {
            key,
            sdp: answer.into(),
            reply,
        });
        let result = Self::reply(done);
        self.engine.flush();
        result
    }

    /// One datagram from `source`, as the I/O task hands in what the socket read.
    pub fn datagram(&mut self, source: SocketAddr, data: &[u8]) {
        self.engine.inbound(io::Inbound::Data {
            proto: Protocol::Udp,
            source,
            data: data.to_vec(),
            link: None,
            read_at: std::time::Instant::now(),
        });
        self.engine.flush();
        while self.notices.try_recv().is_ok() {}
    }

    /// Whether datagrams from `source` are routed to a peer (it passed an ICE check).
    pub fn knows(&self, source: SocketAddr) -> bool {
        self.engine.routes.contains_key(&(Protocol::Udp, source))
    }

    /// The timer work the loop does every tick.
    pub fn tick(&mut self) {
        self.engine.tick();
        self.engine.flush();
        while self.notices.try_recv().is_ok() {}
    }

    fn reply<T>(mut answer: oneshot::Receiver<SfuResult<T>>) -> SfuResult<T> {
        answer.try_recv().unwrap_or_else(|_| {
            Err(SfuError::new(
                ErrorCode::Internal,
                "the engine did not answer at once",
            ))
        })
    }
}

/// The tracks a client names for an offer: each sending audio or video m-line, simulcast layers
/// from its rids.
fn claimed_tracks(offer: &str) -> Vec<PublishTrack> {
    let Ok(sections) = sdp::sections(offer) else {
        return Vec::new();
    };
    sections
        .into_iter()
        .filter(|s| s.sends)
        .filter_map(|s| {
            let source = match s.kind? {
                TrackKind::Audio => TrackSource::Microphone,
                TrackKind::Video => TrackSource::Camera,
            };
            Some(PublishTrack {
                mid: s.mid,
                source,
                name: String::new(),
                muted: false,
                layers: s
                    .rids
                    .into_iter()
                    .map(|rid| PublishLayer {
                        rid,
                        width: None,
                        height: None,
                    })
                    .collect(),
            })
        })
        .collect()
}
