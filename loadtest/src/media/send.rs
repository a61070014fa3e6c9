//! What a publisher sends: its voice every 20 ms and its video frames at the clip's rate, one
//! frame per simulcast layer, each stamped with its send time just before str0m packetizes it.
//! A keyframe request (PLI or FIR) for a layer restarts that layer's clip, whose first frame is
//! a keyframe: the picture jumps, but every decoder can start there, and the RTP timestamps go
//! on increasing.

use super::ivf::VideoClip;
use super::stamp;
use super::synth::{AudioClip, FRAME_SAMPLES};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime, Mid, Rid};
use str0m::Rtc;

/// How late a publisher may fall behind its schedule before it skips rather than bursts.
const MAX_LAG: Duration = Duration::from_millis(200);

/// The media a publisher sends.
#[derive(Clone)]
pub struct PublishMedia {
    pub audio: Option<Arc<AudioClip>>,
    /// Lowest quality first; one entry for a single encoding.
    pub video: Vec<Arc<VideoClip>>,
    /// Where in its clips this publisher starts, so publishers do not speak in unison.
    pub offset: usize,
}

/// The rids of a simulcast camera, lowest first, as browsers name them.
pub const RIDS: [&str; 3] = ["q", "h", "f"];

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct SendStats {
    pub audio_packets: u64,
    pub video_frames: u64,
    pub bytes: u64,
    /// Keyframe requests that restarted a clip.
    pub keyframes_on_request: u64,
    /// NACKs, PLIs and FIRs the server sent this publisher (str0m's totals, all streams).
    pub nacks_received: u64,
    pub plis_received: u64,
    pub firs_received: u64,
}

struct AudioSender {
    mid: Mid,
    clip: Arc<AudioClip>,
    pos: usize,
    rtp: u64,
    due: Instant,
}

struct Layer {
    rid: Option<Rid>,
    clip: Arc<VideoClip>,
    pos: usize,
    enabled: bool,
}

struct VideoSender {
    mid: Mid,
    layers: Vec<Layer>,
    interval: Duration,
    fps: u64,
    frames: u64,
    due: Instant,
}

/// The publisher's schedule; it starts once the connection is up.
pub struct Sender {
    media: PublishMedia,
    audio: Option<AudioSender>,
    video: Option<VideoSender>,
    pub stats: SendStats,
}

impl Sender {
    pub fn new(media: PublishMedia) -> Sender {
        Sender {
            media,
            audio: None,
            video: None,
            stats: SendStats::default(),
        }
    }

    pub fn media(&self) -> &PublishMedia {
        &self.media
    }

    /// The connection is up: start sending on these m-lines.
    pub fn start(&mut self, audio: Option<Mid>, video: Option<Mid>, now: Instant) {
        let offset = self.media.offset;
        if let (Some(mid), Some(clip)) = (audio, &self.media.audio) {
            self.audio = Some(AudioSender {
                mid,
                pos: offset % clip.frames.len(),
                clip: clip.clone(),
                rtp: 0,
                due: now,
            });
        }
        if let (Some(mid), Some(first)) = (video, self.media.video.first()) {
            let simulcast = self.media.video.len() > 1;
            let layers = self
                .media
                .video
                .iter()
                .enumerate()
                .map(|(i, clip)| Layer {
                    rid: simulcast.then(|| Rid::from(RIDS[i])),
                    clip: clip.clone(),
                    // Every layer starts on its clip's first frame, a keyframe.
                    pos: 0,
                    enabled: true,
                })
                .collect();
            self.video = Some(VideoSender {
                mid,
                layers,
                interval: Duration::from_secs_f64(1.0 / first.spec.fps.max(1) as f64),
                fps: u64::from(first.spec.fps.max(1)),
                frames: 0,
                due: now,
            });
        }
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        let a = self.audio.as_ref().map(|a| a.due);
        let v = self.video.as_ref().map(|v| v.due);
        match (a, v) {
            (Some(a), Some(v)) => Some(a.min(v)),
            (a, v) => a.or(v),
        }
    }

    /// Turn simulcast layers on or off (the server's `subscribed_qualities`).
    pub fn enable(&mut self, rid: &str, enabled: bool) {
        if let Some(v) = &mut self.video {
            for l in v
                .layers
                .iter_mut()
                .filter(|l| l.rid.as_deref() == Some(rid))
            {
                if enabled && !l.enabled {
                    // Coming back: start on a keyframe.
                    l.pos = 0;
                }
                l.enabled = enabled;
            }
        }
    }

    pub fn keyframe_requested(&mut self, mid: Mid, rid: Option<Rid>) {
        if let Some(v) = self.video.as_mut().filter(|v| v.mid == mid) {
            for l in v
                .layers
                .iter_mut()
                .filter(|l| rid.is_none() || l.rid == rid)
            {
                if !l.clip.frames[l.pos].keyframe {
                    l.pos = 0;
                    self.stats.keyframes_on_request += 1;
                }
            }
        }
    }

    /// Write every frame that is due by `now`.
    pub fn send_due(&mut self, rtc: &mut Rtc, now: Instant) {
        if let Some(a) = &mut self.audio {
            if now.saturating_duration_since(a.due) > MAX_LAG {
                a.due = now;
            }
            while a.due <= now {
                let frame = &a.clip.frames[a.pos];
                let data = stamp::opus(&frame.padded, stamp::now_micros());
                let len = data.len() as u64;
                let time = MediaTime::new(a.rtp, Frequency::FORTY_EIGHT_KHZ);
                if let Some(writer) = rtc.writer(a.mid) {
                    let pt = writer
                        .payload_params()
                        .find(|p| p.spec().codec == Codec::Opus)
                        .map(|p| p.pt());
                    if let Some(pt) = pt {
                        let written = writer
                            .audio_level(frame.level, frame.voiced)
                            .write(pt, now, time, data);
                        if written.is_ok() {
                            self.stats.audio_packets += 1;
                            self.stats.bytes += len;
                        }
                    }
                }
                a.pos = (a.pos + 1) % a.clip.frames.len();
                a.rtp += FRAME_SAMPLES as u64;
                a.due += Duration::from_millis(20);
            }
        }
        if let Some(v) = &mut self.video {
            if now.saturating_duration_since(v.due) > MAX_LAG {
                v.due = now;
            }
            while v.due <= now {
                // 90 kHz, from the frame count, so the timestamps never drift.
                let rtp = v.frames * 90_000 / v.fps;
                let time = MediaTime::new(rtp, Frequency::NINETY_KHZ);
                for l in v.layers.iter_mut().filter(|l| l.enabled) {
                    let frame = &l.clip.frames[l.pos];
                    let data = stamp::vp8(&frame.data, stamp::now_micros());
                    let len = data.len() as u64;
                    let Some(writer) = rtc.writer(v.mid) else {
                        continue;
                    };
                    let pt = writer
                        .payload_params()
                        .find(|p| p.spec().codec == Codec::Vp8)
                        .map(|p| p.pt());
                    let Some(pt) = pt else { continue };
                    let writer = match l.rid {
                        Some(rid) => writer.rid(rid),
                        None => writer,
                    };
                    if writer.write(pt, now, time, data).is_ok() {
                        self.stats.video_frames += 1;
                        self.stats.bytes += len;
                    }
                    l.pos = (l.pos + 1) % l.clip.frames.len();
                }
                v.frames += 1;
                v.due += v.interval;
            }
        }
    }
}
