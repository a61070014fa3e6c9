//! A media run from start to end: make the media, open the rooms, start the publishers (or a
//! bridge's speakers) and wait until they send, bring in the subscribers (or listeners) over
//! the ramp-up, hold for the duration, then end every bot and put the report together.

use super::access::{self, App};
use super::bot::{self, BotResult, BotSpec, Phase};
use super::ivf;
use super::janus_bot::{self, JanusRoom};
use super::layout::Layout;
use super::peer::{Counters, Shared};
use super::recv::Timeline;
use super::report::{self, MediaReport, Role};
use super::send::PublishMedia;
use super::signal::Endpoint;
use super::synth;
use crate::cost;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Distinct voices made per run (publishers beyond share them, from other offsets).
const VOICES: usize = 8;
/// Seconds of each voice, looped.
const VOICE_SECS: u32 = 12;
/// The names of Parley's media threads start with this (`parley-media-0`, `parley-media-1`…).
const MEDIA_THREADS: &str = "parley-media";

/// How long the publishers may take to be up before subscribers come anyway.
const PUBLISHERS_UP: Duration = Duration::from_secs(30);
/// How long bots may take to leave and hand in their figures at the end.
const WIND_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// `rooms` meetings of `publishers` (audio, and video if asked) and `subscribers` each.
    Meeting {
        rooms: usize,
        publishers: usize,
        subscribers: usize,
        video: bool,
        simulcast: bool,
        layout: Layout,
    },
    /// One voice bridge: `speakers` who publish, `listeners` who only listen, `slots`
    /// loudest-speaker slots.
    Bridge {
        speakers: usize,
        listeners: usize,
        slots: u32,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct MediaConfig {
    pub server: String,
    pub kind: Kind,
    pub duration: Duration,
    pub ramp_up: Duration,
    /// Frames per second of the video clips.
    pub fps: u32,
    /// Spread bots over 127.0.0.2 .. 127.0.0.(1 + n) (loopback servers only).
    pub source_ips: u8,
    pub server_pid: Option<u32>,
    /// Where the VP8 clips are kept between runs.
    pub clip_cache: PathBuf,
}

/// Which source address bot `i` uses.
fn source(i: usize, loopback: bool, spread: u8, fallback: IpAddr) -> IpAddr {
    if loopback && spread > 0 {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % spread as usize) as u8))
    } else {
        fallback
    }
}

/// The local address the machine reaches `server` from.
fn local_ip_towards(server: std::net::SocketAddr) -> Result<IpAddr> {
    let probe = std::net::UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

/// One bot to start: what it is, and when.
struct Planned {
    role: Role,
    identity: String,
    room: usize,
    spec: BotSpec,
    after: Duration,
}

/// The server the bots load: Parley (bots sign their tokens with the run's API key), or
/// Janus's VideoRoom at a WebSocket URL, for the side-by-side comparison.
pub enum Target {
    Parley(App),
    Janus(String),
}

impl Target {
    fn token(&self, identity: &str, room: &str, publish: bool, ttl: Duration) -> Result<String> {
        match self {
            Target::Parley(app) => app.token(identity, access::grants(room, publish), ttl),
            Target::Janus(_) => Ok(String::new()),
        }
    }
}

pub async fn run(config: MediaConfig, target: Target, tag: &str) -> Result<MediaReport> {
    let endpoint = match &target {
        Target::Parley(_) => Endpoint::resolve(&config.server).await?,
        Target::Janus(url) => Endpoint::resolve(&url.replacen("ws", "http", 1)).await?,
    };
    let loopback = endpoint.addr.ip().is_loopback() && endpoint.addr.is_ipv4();
    let fallback = local_ip_towards(endpoint.addr)?;
    let ttl = config.duration + config.ramp_up + Duration::from_secs(3600);

    let (publishers, video, simulcast) = match &config.kind {
        Kind::Meeting {
            rooms,
            publishers,
            video,
            simulcast,
            ..
        } => (rooms * publishers, *video, *simulcast),
        Kind::Bridge { speakers, .. } => (*speakers, false, false),
    };
    eprintln!("encoding {} voices ...", publishers.min(VOICES));
    let voices: Vec<Arc<synth::AudioClip>> = (0..publishers.min(VOICES))
        .map(|n| synth::encode_clip(n as u64, VOICE_SECS).map(Arc::new))
        .collect::<Result<_>>()?;
    let clips: Vec<Arc<ivf::VideoClip>> = if video {
        eprintln!("VP8 clips in {} ...", config.clip_cache.display());
        ivf::layers(simulcast, config.fps)
            .into_iter()
            .map(|spec| ivf::clip(&config.clip_cache, spec).map(Arc::new))
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let media = |i: usize| PublishMedia {
        audio: Some(voices[i % voices.len()].clone()),
        video: clips.clone(),
        // Publishers sharing a voice start 3.7 s apart in it.
        offset: (i / voices.len()) * 185,
    };

    let mut plan = Vec::new();
    match &config.kind {
        Kind::Meeting {
            rooms,
            publishers,
            subscribers,
            layout,
            ..
        } => {
            let per_sub = config.ramp_up.as_secs_f64() / (rooms * subscribers).max(1) as f64;
            for r in 0..*rooms {
                let room = format!("lt-{tag}-{r}");
                for p in 0..*publishers {
                    let identity = format!("pub-{r}-{p}");
                    plan.push(Planned {
                        role: Role::Publisher,
                        spec: BotSpec {
                            token: target.token(&identity, &room, true, ttl)?,
                            source: source(plan.len(), loopback, config.source_ips, fallback),
                            publish: Some(media(r * publishers + p)),
                            layout: Some(*layout),
                            main_identity: Some(format!("pub-{r}-0")),
                        },
                        identity,
                        room: r,
                        after: Duration::ZERO,
                    });
                }
            }
            for s in 0..rooms * subscribers {
                let r = s % rooms;
                let room = format!("lt-{tag}-{r}");
                let identity = format!("sub-{r}-{}", s / rooms);
                plan.push(Planned {
                    role: Role::Subscriber,
                    spec: BotSpec {
                        token: target.token(&identity, &room, false, ttl)?,
                        source: source(plan.len(), loopback, config.source_ips, fallback),
                        publish: None,
                        layout: Some(*layout),
                        main_identity: Some(format!("pub-{r}-0")),
                    },
                    identity,
                    room: r,
                    after: Duration::from_secs_f64(per_sub * s as f64),
                });
            }
        }
        Kind::Bridge {
            speakers,
            listeners,
            slots,
        } => {
            let room = format!("lt-{tag}-bridge");
            let Target::Parley(app) = &target else {
                bail!("Janus's VideoRoom has no voice bridge (loudest-speaker slots) to compare");
            };
            app.open_bridge(&room, *slots).await?;
            for s in 0..*speakers {
                let identity = format!("speaker-{s}");
                plan.push(Planned {
                    role: Role::Publisher,
                    spec: BotSpec {
                        token: target.token(&identity, &room, true, ttl)?,
                        source: source(plan.len(), loopback, config.source_ips, fallback),
                        publish: Some(media(s)),
                        layout: None,
                        main_identity: None,
                    },
                    identity,
                    room: 0,
                    after: Duration::ZERO,
                });
            }
            let per = config.ramp_up.as_secs_f64() / (*listeners).max(1) as f64;
            for l in 0..*listeners {
                let identity = format!("listener-{l}");
                plan.push(Planned {
                    role: Role::Subscriber,
                    spec: BotSpec {
                        token: target.token(&identity, &room, false, ttl)?,
                        source: source(plan.len(), loopback, config.source_ips, fallback),
                        publish: None,
                        layout: None,
                        main_identity: None,
                    },
                    identity,
                    room: 0,
                    after: Duration::from_secs_f64(per * l as f64),
                });
            }
        }
    }

    let epoch = Instant::now();
    let shared = Arc::new(Shared {
        timeline: Timeline::new(epoch),
        counters: Counters::default(),
    });
    let before = config.server_pid.map(cost::sample).transpose()?;
    let threads_before = config
        .server_pid
        .map(|pid| cost::thread_cpu(pid, MEDIA_THREADS))
        .unwrap_or_default();
    let parley = matches!(target, Target::Parley(_));
    let forwarded_before = match parley {
        true => report::server_packets_out(&config.server).await,
        false => None,
    };
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let progress = tokio::spawn(report::progress(shared.clone(), plan.len(), epoch));

    // Publishers first, and on the air, so a subscriber's first packet measures its join.
    let (first, rest): (Vec<Planned>, Vec<Planned>) =
        plan.into_iter().partition(|p| p.role == Role::Publisher);
    let janus_rooms = match &target {
        Target::Parley(_) => Vec::new(),
        Target::Janus(url) => janus_rooms(url, &config.kind, tag).await?,
    };
    let start = |p: Planned, shared: Arc<Shared>, phase: watch::Receiver<Phase>| match janus_rooms
        .get(p.room)
    {
        None => tokio::spawn(bot::run(p.spec, endpoint.clone(), shared, phase)),
        Some(room) => tokio::spawn(janus_bot::run(
            p.spec,
            p.identity,
            room.clone(),
            shared,
            phase,
        )),
    };
    let mut tasks = Vec::new();
    for p in first {
        tasks.push((p.role, start(p, shared.clone(), phase_rx.clone())));
    }
    let publishers_up = Instant::now() + PUBLISHERS_UP;
    while shared.counters.publishing.load(Relaxed) < publishers as u64
        && Instant::now() < publishers_up
        && !tasks.iter().all(|(_, t)| t.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ramp_start = tokio::time::Instant::now();
    for p in rest {
        let role = p.role;
        tokio::time::sleep_until(ramp_start + p.after).await;
        tasks.push((role, start(p, shared.clone(), phase_rx.clone())));
    }
    tokio::time::sleep_until(ramp_start + config.ramp_up + config.duration).await;
    let after = config.server_pid.map(cost::sample).transpose()?;
    let threads_after = config
        .server_pid
        .map(|pid| cost::thread_cpu(pid, MEDIA_THREADS))
        .unwrap_or_default();
    let forwarded_after = match parley {
        true => report::server_packets_out(&config.server).await,
        false => None,
    };
    let active = epoch.elapsed();
    phase_tx.send(Phase::Done).ok();

    let wind_down = tokio::time::Instant::now() + WIND_DOWN;
    let mut results: Vec<(Role, BotResult)> = Vec::new();
    for (role, task) in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(wind_down, task).await {
            Ok(Ok(result)) => results.push((role, result)),
            Ok(Err(err)) => results.push((role, report::failed(format!("bot task: {err}")))),
            Err(_) => {
                abort.abort();
                results.push((role, report::failed("did not finish in time".into())));
            }
        }
    }
    progress.abort();
    // Once every bot is gone, what the server sent in all compares with what arrived.
    let forwarded_final = report::server_packets_out(&config.server).await;
    let server = match (config.server_pid, before, after) {
        (Some(pid), Some(before), Some(after)) => Some(report::ServerSide::new(
            pid,
            (before, after),
            results.len() * 2,
            forwarded_before.zip(forwarded_after).map(|(b, a)| a - b),
            forwarded_before.zip(forwarded_final).map(|(b, a)| a - b),
            cost::thread_cpu_between(&threads_before, &threads_after),
        )),
        _ => None,
    };
    let seconds = shared.timeline.take();
    let target = if parley { "parley" } else { "janus" };
    report::assemble(config, target, results, seconds, server, active)
        .context("assembling the report")
}

/// Make the meeting rooms on Janus, one VideoRoom each, numbered from the run's tag.
async fn janus_rooms(url: &str, kind: &Kind, tag: &str) -> Result<Vec<JanusRoom>> {
    let Kind::Meeting {
        rooms,
        publishers,
        simulcast,
        layout,
        ..
    } = kind
    else {
        bail!("Janus's VideoRoom has no voice bridge (loudest-speaker slots) to compare");
    };
    if *layout == Layout::Speaker {
        bail!("the speaker layout follows Parley's active-speaker events, which Janus does not send: compare with --layout grid or audio");
    }
    let session = crate::janus::Session::connect(url).await?;
    let handle = session.attach().await?;
    let base = u64::from_str_radix(tag, 16).unwrap_or(1) % 1_000_000 * 1000;
    let mut made = Vec::new();
    for r in 0..*rooms {
        let room = base + r as u64;
        session
            .message(
                handle,
                &crate::janus::VideoRoomRequest::Create {
                    room,
                    publishers: *publishers as u32,
                    bitrate: 0,
                    audiocodec: "opus",
                    videocodec: "vp8",
                    audiolevel_event: false,
                    permanent: false,
                },
                None,
            )
            .await
            .with_context(|| format!("creating Janus room {room}"))?;
        made.push(JanusRoom {
            url: url.to_string(),
            room,
            publishers: *publishers,
            simulcast: *simulcast,
        });
    }
    // The rooms stay until Janus stops; the control session may go.
    session.destroy().await;
    Ok(made)
}
