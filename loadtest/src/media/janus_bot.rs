//! One simulated participant on Janus's VideoRoom, with the same peers (and so the same media
//! and the same measurements) as a Parley bot: the side-by-side comparison changes only the
//! signaling. A publisher joins, publishes its offer and takes Janus's answer; every bot that
//! subscribes waits until the room's publishers are all there, then subscribes to their feeds
//! on one handle (Janus offers, the bot answers), as a grid or audio-only layout would.

use super::bot::{BotResult, BotSpec, Phase};
use super::layout::Layout;
use super::peer::{self, RemoteTrack, Shared};
use crate::janus::{FeedStream, Handle, Jsep, Session, StreamChoice, VideoRoomRequest};
use anyhow::{bail, Context, Result};
use parley_proto::{TrackInfo, TrackKind, TrackSource, VideoLayer, VideoQuality};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a subscriber waits for the room's publishers to be there.
const PUBLISHERS_WAIT: Duration = Duration::from_secs(30);

/// Which Janus room a bot goes to, and what it should find there.
#[derive(Debug, Clone)]
pub struct JanusRoom {
    /// Janus's WebSocket API (`ws://127.0.0.1:8188`).
    pub url: String,
    pub room: u64,
    /// Publishers the room will have.
    pub publishers: usize,
    /// Whether publishers send simulcast (subscribers then pick a layer as the layout says).
    pub simulcast: bool,
}

/// Run one bot on Janus until `phase` says done.
pub async fn run(
    spec: BotSpec,
    display: String,
    room: JanusRoom,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) -> BotResult {
    let mut result = BotResult::starting();
    let session = match Session::connect(&room.url).await {
        Ok(session) => session,
        Err(err) => {
            result.error = Some(format!("{err:#}"));
            return result;
        }
    };
    let mut publisher = None;
    let mut subscriber = None;
    let setup = async {
        let me = match spec.publish.clone() {
            Some(media) => {
                let handle = session.attach().await?;
                let joined = session
                    .message(
                        handle,
                        &VideoRoomRequest::Join {
                            room: room.room,
                            ptype: "publisher",
                            display: Some(display.clone()),
                            streams: Vec::new(),
                        },
                        None,
                    )
                    .await?;
                let peer =
                    publisher.insert(peer::start(spec.source, Some(media), shared.clone()).await?);
                let (offer, _) = peer.publish_offer().await?;
                let reply = session
                    .message(
                        handle,
                        &VideoRoomRequest::Publish {},
                        Some(&Jsep::offer(offer)),
                    )
                    .await?;
                let answer = reply
                    .jsep
                    .context("Janus answered the publish without SDP")?;
                peer.accept_answer(answer.sdp).await?;
                session.trickle_done(handle).await?;
                joined.data.id
            }
            None => None,
        };
        result.joined = Some(Instant::now());
        let layout = spec.layout.unwrap_or(Layout::Grid);
        let feeds = others(&session, &room, me).await?;
        if !feeds.is_empty() {
            let handle = session.attach().await?;
            let streams = feeds
                .iter()
                .map(|&feed| FeedStream { feed, mid: None })
                .collect();
            let reply = session
                .message(
                    handle,
                    &VideoRoomRequest::Join {
                        room: room.room,
                        ptype: "subscriber",
                        display: None,
                        streams,
                    },
                    None,
                )
                .await?;
            let offer = reply
                .jsep
                .context("Janus attached a subscriber without SDP")?;
            let cameras = reply
                .data
                .streams
                .iter()
                .filter(|s| s.kind == "video")
                .count();
            let mut remote = Vec::new();
            let mut layers = Vec::new();
            for s in &reply.data.streams {
                let kind = match s.kind.as_str() {
                    "audio" => TrackKind::Audio,
                    "video" => TrackKind::Video,
                    _ => continue,
                };
                let id = format!("{}/{}", s.feed_id, s.feed_mid);
                // The same choice a Parley subscriber of this layout makes.
                let Some(quality) =
                    layout.choose(&track_info(&id, kind, room.simulcast), cameras, true)
                else {
                    continue;
                };
                if let Some(q) = quality {
                    layers.push(StreamChoice {
                        mid: s.mid.clone(),
                        substream: q.index() as u8,
                    });
                }
                result.expected.insert(id.clone());
                remote.push(RemoteTrack {
                    mid: s.mid.clone(),
                    id,
                    kind,
                });
            }
            let peer = subscriber.insert(peer::start(spec.source, None, shared.clone()).await?);
            let answer = peer.accept_offer(offer.sdp, remote).await?;
            session
                .message(
                    handle,
                    &VideoRoomRequest::Start {},
                    Some(&Jsep::answer(answer)),
                )
                .await?;
            session.trickle_done(handle).await?;
            if !layers.is_empty() {
                session
                    .message(
                        handle,
                        &VideoRoomRequest::Configure { streams: layers },
                        None,
                    )
                    .await?;
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    if let Err(err) = setup.await {
        result.error = Some(format!("{err:#}"));
    } else {
        while *phase.borrow() == Phase::Running {
            if phase.changed().await.is_err() {
                break;
            }
        }
    }
    if let Some(p) = publisher {
        result.publisher = Some(p.finish().await);
    }
    if let Some(s) = subscriber {
        result.subscriber = Some(s.finish().await);
    }
    session.destroy().await;
    result
}

/// The feeds of the room's other publishers, once they are all there.
async fn others(session: &Session, room: &JanusRoom, me: Option<u64>) -> Result<Vec<u64>> {
    let want = room.publishers - usize::from(me.is_some());
    let handle: Handle = session.attach().await?;
    let deadline = Instant::now() + PUBLISHERS_WAIT;
    loop {
        let reply = session
            .message(
                handle,
                &VideoRoomRequest::ListParticipants { room: room.room },
                None,
            )
            .await?;
        let feeds: Vec<u64> = reply
            .data
            .participants
            .iter()
            .filter(|p| p.publisher && Some(p.id) != me)
            .map(|p| p.id)
            .collect();
        if feeds.len() >= want {
            session.detach(handle).await?;
            return Ok(feeds);
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of the room's {want} other publishers were there after {PUBLISHERS_WAIT:?}",
                feeds.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a layout needs to know of a Janus stream to choose as it does for a Parley track.
fn track_info(id: &str, kind: TrackKind, simulcast: bool) -> TrackInfo {
    let layers = if simulcast && kind == TrackKind::Video {
        [VideoQuality::Low, VideoQuality::Medium, VideoQuality::High]
            .into_iter()
            .zip(super::send::RIDS)
            .map(|(quality, rid)| VideoLayer {
                quality,
                rid: rid.into(),
                width: None,
                height: None,
            })
            .collect()
    } else {
        Vec::new()
    };
    TrackInfo {
        sid: id.into(),
        participant: String::new(),
        kind,
        source: match kind {
            TrackKind::Audio => TrackSource::Microphone,
            TrackKind::Video => TrackSource::Camera,
        },
        name: String::new(),
        muted: false,
        codec: None,
        layers,
    }
}
