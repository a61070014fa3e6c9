//! One simulated participant on Parley: joins over `/v1/rtc`, publishes through a publishing
//! peer, subscribes through a subscribing peer as its layout says, stays until the run is done,
//! then leaves and hands back what its peers measured.

use super::layout::Layout;
use super::peer::{self, PeerHandle, PeerReport, RemoteTrack, Shared};
use super::send::PublishMedia;
use super::signal::{Endpoint, Signal};
use anyhow::{bail, Context, Result};
use parley_proto::{
    PublishLayer, PublishTrack, RtcClientMessage, RtcServerMessage, TrackInfo, TrackKind,
    TrackSource, VideoQuality,
};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a bot waits for `joined` and for its publish answer.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Done,
}

pub struct BotSpec {
    pub token: String,
    pub source: IpAddr,
    pub publish: Option<PublishMedia>,
    /// `None`: take what the server sends (a voice bridge's slots).
    pub layout: Option<Layout>,
    /// The participant shown large at first, in speaker view (its identity).
    pub main_identity: Option<String>,
}

pub struct BotResult {
    pub started: Instant,
    pub joined: Option<Instant>,
    pub error: Option<String>,
    /// `error` messages from the server that did not end the bot.
    pub server_errors: Vec<String>,
    pub publisher: Option<PeerReport>,
    pub subscriber: Option<PeerReport>,
    /// The tracks it subscribed to (by sid), or the slots it was offered.
    pub expected: HashSet<String>,
}

impl BotResult {
    /// A bot that starts now and has done nothing yet.
    pub fn starting() -> BotResult {
        BotResult {
            started: Instant::now(),
            joined: None,
            error: None,
            server_errors: Vec::new(),
            publisher: None,
            subscriber: None,
            expected: HashSet::new(),
        }
    }
}

struct Bot {
    spec: BotSpec,
    shared: Arc<Shared>,
    signal: Signal,
    me: String,
    publisher: Option<PeerHandle>,
    subscriber: Option<PeerHandle>,
    /// Published tracks of the others: sid to info.
    tracks: HashMap<String, TrackInfo>,
    /// Participant sid to identity.
    people: HashMap<String, String>,
    /// The participant shown large (speaker view).
    main: Option<String>,
    expected: HashSet<String>,
    server_errors: Vec<String>,
    requests: u64,
}

/// Run one bot until `phase` says done.
pub async fn run(
    spec: BotSpec,
    endpoint: Endpoint,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
) -> BotResult {
    let mut result = BotResult::starting();
    let mut bot = match join(spec, &endpoint, shared).await {
        Ok(bot) => bot,
        Err(err) => {
            result.error = Some(format!("{err:#}"));
            return result;
        }
    };
    result.joined = Some(Instant::now());
    if let Err(err) = bot.live(phase).await {
        result.error = Some(format!("{err:#}"));
    }
    result.server_errors = std::mem::take(&mut bot.server_errors);
    result.expected = std::mem::take(&mut bot.expected);
    if let Some(p) = bot.publisher.take() {
        result.publisher = Some(p.finish().await);
    }
    if let Some(s) = bot.subscriber.take() {
        result.subscriber = Some(s.finish().await);
    }
    bot.signal.close().await;
    result
}

async fn join(spec: BotSpec, endpoint: &Endpoint, shared: Arc<Shared>) -> Result<Bot> {
    let mut signal = Signal::connect(endpoint, Some(spec.source)).await?;
    signal
        .send(&RtcClientMessage::Join {
            id: Some("join".into()),
            token: Some(spec.token.clone()),
            room: None,
            auto_subscribe: spec.layout.is_none(),
            resume: None,
        })
        .await?;
    let joined = tokio::time::timeout(SIGNAL_TIMEOUT, signal.recv())
        .await
        .context("no answer to join")??;
    let (me, participants) = match joined {
        Some(RtcServerMessage::Joined {
            participant,
            participants,
            ..
        }) => (participant.sid, participants),
        Some(RtcServerMessage::Error { code, message, .. }) => {
            bail!("join refused: {code:?}: {message}")
        }
        Some(other) => bail!("expected joined, got {other:?}"),
        None => bail!("the server closed before joined"),
    };
    let mut bot = Bot {
        main: None,
        spec,
        shared,
        signal,
        me,
        publisher: None,
        subscriber: None,
        tracks: HashMap::new(),
        people: HashMap::new(),
        expected: HashSet::new(),
        server_errors: Vec::new(),
        requests: 0,
    };
    for p in participants {
        bot.people.insert(p.sid.clone(), p.identity.clone());
        if bot.spec.main_identity.as_deref() == Some(p.identity.as_str()) {
            bot.main = Some(p.sid.clone());
        }
        for t in p.tracks {
            bot.published(t).await?;
        }
    }
    if let Some(media) = bot.spec.publish.clone() {
        bot.publish(media).await?;
    }
    Ok(bot)
}

impl Bot {
    fn next_id(&mut self) -> String {
        self.requests += 1;
        format!("r{}", self.requests)
    }

    async fn publish(&mut self, media: PublishMedia) -> Result<()> {
        let layers: Vec<PublishLayer> = media
            .video
            .iter()
            .zip(super::send::RIDS)
            .map(|(clip, rid)| PublishLayer {
                rid: rid.into(),
                width: Some(clip.spec.width),
                height: Some(clip.spec.height),
            })
            .collect();
        let peer = peer::start(self.spec.source, Some(media), self.shared.clone()).await?;
        let (sdp, offered) = peer.publish_offer().await?;
        let tracks = offered
            .iter()
            .map(|t| PublishTrack {
                mid: t.mid.clone(),
                source: match t.kind {
                    TrackKind::Audio => TrackSource::Microphone,
                    TrackKind::Video => TrackSource::Camera,
                },
                name: String::new(),
                muted: false,
                layers: if t.rids.is_empty() {
                    Vec::new()
                } else {
                    layers.clone()
                },
            })
            .collect();
        self.signal
            .send(&RtcClientMessage::Offer {
                id: Some("publish".into()),
                sdp,
                tracks,
            })
            .await?;
        self.publisher = Some(peer);
        // Until the answer, take what else comes (others' tracks, a subscriber offer).
        let deadline = tokio::time::Instant::now() + SIGNAL_TIMEOUT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.signal.recv())
                .await
                .context("no answer to the publish offer")??
                .context("the server closed before answering the publish offer")?;
            match message {
                RtcServerMessage::Answer { sdp, .. } => {
                    let peer = self.publisher.as_ref().context("publisher")?;
                    return peer.accept_answer(sdp).await;
                }
                RtcServerMessage::Error {
                    id: Some(id),
                    code,
                    message,
                } if id == "publish" => {
                    bail!("publish refused: {code:?}: {message}")
                }
                other => {
                    if let Some(reason) = self.on_message(other).await? {
                        bail!("{reason}");
                    }
                }
            }
        }
    }

    /// Follow the room until the run is done.
    async fn live(&mut self, mut phase: watch::Receiver<Phase>) -> Result<()> {
        loop {
            if *phase.borrow() == Phase::Done {
                return Ok(());
            }
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                message = self.signal.recv() => {
                    let Some(message) = message? else {
                        bail!("the server closed the signaling connection");
                    };
                    if let Some(reason) = self.on_message(message).await? {
                        bail!("{reason}");
                    }
                }
            }
        }
    }

    /// One server message; `Some(reason)` when it ends the bot.
    async fn on_message(&mut self, message: RtcServerMessage) -> Result<Option<String>> {
        match message {
            RtcServerMessage::Offer { sdp, tracks } => {
                if self.subscriber.is_none() {
                    self.subscriber =
                        Some(peer::start(self.spec.source, None, self.shared.clone()).await?);
                }
                let remote = tracks
                    .iter()
                    .map(|t| RemoteTrack {
                        mid: t.mid.clone(),
                        id: t.track.sid.clone(),
                        kind: t.track.kind,
                    })
                    .collect();
                if self.spec.layout.is_none() {
                    // What the server chose for us (a bridge's slots) is what we expect.
                    self.expected
                        .extend(tracks.iter().map(|t| t.track.sid.clone()));
                }
                let peer = self.subscriber.as_ref().context("subscriber")?;
                let answer = peer.accept_offer(sdp, remote).await?;
                let id = self.next_id();
                self.signal
                    .send(&RtcClientMessage::Answer {
                        id: Some(id),
                        sdp: answer,
                    })
                    .await?;
            }
            RtcServerMessage::ParticipantJoined { participant } => {
                self.people
                    .insert(participant.sid.clone(), participant.identity.clone());
                if self.spec.main_identity.as_deref() == Some(participant.identity.as_str()) {
                    self.main = Some(participant.sid.clone());
                }
            }
            RtcServerMessage::TrackPublished { track } => self.published(track).await?,
            RtcServerMessage::TrackUnpublished { track, .. } => {
                self.tracks.remove(&track);
                self.expected.remove(&track);
            }
            RtcServerMessage::ActiveSpeakers { speakers } => {
                if let Some(loudest) = speakers.first() {
                    self.show_large(loudest.participant.clone()).await?;
                }
            }
            RtcServerMessage::SubscribedQualities { qualities, .. } => {
                if let Some(p) = &self.publisher {
                    for q in qualities {
                        p.enable_layer(q.rid, q.enabled).await;
                    }
                }
            }
            RtcServerMessage::Removed { reason, message } => {
                return Ok(Some(format!("removed: {reason:?}: {message}")))
            }
            RtcServerMessage::Error { code, message, .. } => {
                self.server_errors.push(format!("{code:?}: {message}"));
            }
            _ => {}
        }
        Ok(None)
    }

    fn cameras(&self) -> usize {
        self.tracks
            .values()
            .filter(|t| t.kind == TrackKind::Video)
            .count()
    }

    /// Someone else's track: subscribe as the layout says.
    async fn published(&mut self, track: TrackInfo) -> Result<()> {
        if track.participant == self.me {
            return Ok(());
        }
        self.tracks.insert(track.sid.clone(), track.clone());
        let Some(layout) = self.spec.layout else {
            return Ok(());
        };
        if self.main.is_none() && track.kind == TrackKind::Video {
            self.main = Some(track.participant.clone());
        }
        let main = self.main.as_deref() == Some(track.participant.as_str());
        let Some(quality) = layout.choose(&track, self.cameras(), main) else {
            return Ok(());
        };
        let id = self.next_id();
        self.signal
            .send(&RtcClientMessage::Subscribe {
                id: Some(id),
                tracks: vec![track.sid.clone()],
                subscribe: true,
            })
            .await?;
        self.expected.insert(track.sid.clone());
        if let Some(quality) = quality {
            self.set_quality(&track.sid, quality).await?;
        }
        Ok(())
    }

    async fn set_quality(&mut self, track: &str, quality: VideoQuality) -> Result<()> {
        let id = self.next_id();
        self.signal
            .send(&RtcClientMessage::SetQuality {
                id: Some(id),
                track: track.to_string(),
                quality,
            })
            .await
    }

    /// Speaker view: the loudest speaker's camera goes large, the last one back to a thumbnail.
    async fn show_large(&mut self, participant: String) -> Result<()> {
        if self.spec.layout != Some(Layout::Speaker)
            || self.main.as_deref() == Some(participant.as_str())
            || participant == self.me
        {
            return Ok(());
        }
        let camera_of = |who: &str| {
            self.tracks
                .values()
                .find(|t| {
                    t.participant == who && t.kind == TrackKind::Video && !t.layers.is_empty()
                })
                .map(|t| t.sid.clone())
        };
        let Some(new) = camera_of(&participant) else {
            return Ok(());
        };
        let old = self.main.as_deref().and_then(camera_of);
        self.main = Some(participant);
        if let Some(old) = old {
            self.set_quality(&old, VideoQuality::Low).await?;
        }
        self.set_quality(&new, VideoQuality::High).await
    }
}
