//! One recording job, from claim to finish: join the meeting as a hidden participant, write
//! every track to its own file without re-encoding (Opus in Ogg, VP8 in WebM, H.264 in
//! Matroska) and all the speakers into one mixed Ogg/Opus file, upload as it goes, keep the
//! lease, and stop when asked, when the meeting ends, or when the lease is lost.

use crate::api::{ApiError, JobApi};
use crate::mixer::Mixer;
use crate::ogg_opus::OggOpusWriter;
use crate::subscriber::{self as rtc, FrameCodec, MediaFrame, RtcConfig, RtcEvent, TrackSid};
use crate::upload::StoredFile;
use crate::webm::{VideoCodec, WebmWriter};
use crate::TrackMuxer;
use parley_proto::{
    ClaimedJob, Grants, NewRecordingFile, RecordingJobId, RecordingKind, RecordingStatus, TrackInfo,
};
use parley_storage::ObjectStorage;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// How the recorder runs its jobs.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// The local address media is received on.
    pub bind_ip: IpAddr,
    /// How often finished pages and clusters are uploaded: at most this much is lost in a crash.
    pub flush_every: Duration,
    /// How long the mix waits for late packets before mixing a moment.
    pub mix_delay: Duration,
}

#[derive(Debug, Error)]
pub enum JobError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot join the meeting")]
    Join(#[source] rtc::RtcError),
    #[error("cannot write to the object store")]
    Store(#[from] parley_storage::ObjectError),
    #[error("cannot start the audio mix")]
    Mix(#[source] crate::mixer::MixError),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// A track's file: audio as it arrived in Ogg, video in WebM or Matroska.
enum TrackWriter {
    Audio(StoredFile<OggOpusWriter>),
    Video(StoredFile<WebmWriter>),
}

/// A track being recorded.
struct TrackFile {
    file: TrackWriter,
    /// The first frame's RTP time: the file's zero.
    first_rtp: u64,
    /// When the first frame arrived: no frame can be further into the file than the time since.
    first_received: Instant,
    clock_rate: u32,
    /// Where the file starts on the job's timeline (48 kHz samples), for the mix.
    mix_start: u64,
    /// The mixer's name for this source.
    source: u64,
}

/// What the job knows of each track from the signaling, before its first frame arrives.
struct Announced {
    track: TrackInfo,
    identity: String,
    name: String,
}

struct Job<'a> {
    api: &'a JobApi,
    store: &'a ObjectStorage,
    id: RecordingJobId,
    meeting_started_at: i64,
    /// When the job started, on both clocks.
    started: Instant,
    started_ms: i64,
    announced: HashMap<TrackSid, Announced>,
    tracks: HashMap<TrackSid, TrackFile>,
    /// Files of tracks that went away, closed.
    mixer: Mixer,
    mixed: StoredFile<OggOpusWriter>,
    next_source: u64,
    handle: Option<rtc::RtcHandle>,
}

/// How a job ended.
enum End {
    /// Asked to stop, or the meeting ended: close everything and finish.
    Finish,
    /// Another recorder holds the job now: leave without touching its state.
    Lost,
    /// Cannot go on: finish as failed with this reason.
    Failed(String),
    /// Lost the meeting while it goes on: close the files as failed and stop renewing the
    /// lease, so that a recorder (this one too) takes the job over in new files.
    Abandon(String),
}

pub async fn run(
    api: &JobApi,
    store: &ObjectStorage,
    claimed: ClaimedJob,
    config: &JobConfig,
) -> Result<(), JobError> {
    let job = claimed.job;
    tracing::info!(job = %job.id, room = %job.room, claims = job.claims, "recording");
    let token = api.key().token(
        &format!("recorder-job-{}", job.id),
        Grants {
            room: job.room.clone(),
            room_join: true,
            can_subscribe: true,
            recorder: true,
            ..Grants::default()
        },
        Duration::from_secs(12 * 3600),
    )?;
    let (handle, mut events) = match rtc::connect(RtcConfig {
        server_url: api.server().to_string(),
        token,
        room: None,
        bind_ip: config.bind_ip,
    })
    .await
    {
        Ok(joined) => joined,
        Err(err) => {
            let reason = format!("the recorder could not join the meeting: {err}");
            api.finish(job.id, Some(reason)).await?;
            return Err(JobError::Join(err));
        }
    };
    let started_ms = now_ms();
    let mixer = Mixer::new(u32::try_from(config.mix_delay.as_millis()).unwrap_or(500))
        .map_err(JobError::Mix)?;
    let mixed_row = api
        .add_file(
            job.id,
            &NewRecordingFile {
                recorder: api.name.clone(),
                kind: RecordingKind::Mixed,
                participant: None,
                participant_name: None,
                source: None,
                track_sid: None,
                codec: "opus".into(),
                content_type: "audio/ogg".into(),
                start_offset_ms: (started_ms - claimed.meeting_started_at).max(0),
            },
        )
        .await?;
    let mixed = StoredFile::new(
        mixed_row,
        OggOpusWriter::new(rand::random(), 1, mixer.pre_skip()),
    );
    let mut state = Job {
        api,
        store,
        id: job.id,
        meeting_started_at: claimed.meeting_started_at,
        started: Instant::now(),
        started_ms,
        announced: HashMap::new(),
        tracks: HashMap::new(),
        mixer,
        mixed,
        next_source: 0,
        handle: Some(handle),
    };
    let mut flush = tokio::time::interval(config.flush_every);
    let mut beat = tokio::time::interval(
        Duration::from_millis(claimed.lease_ms / 4).max(Duration::from_millis(250)),
    );
    let end = loop {
        tokio::select! {
            event = events.recv() => match event {
                // The meeting ended: the recording is complete.
                Some(RtcEvent::Closed { reason }) if reason.contains("room_ended") => {
                    tracing::info!(job = %state.id, %reason, "the meeting ended");
                    break End::Finish;
                }
                // Anything else (the server restarting, the media connection failing) leaves
                // the meeting going on without this recorder: hand the job back.
                Some(RtcEvent::Closed { reason }) => break End::Abandon(reason),
                None => break End::Abandon("the meeting connection ended".into()),
                Some(event) => {
                    if let Err(err) = state.on_event(event).await {
                        break End::Failed(err.to_string());
                    }
                }
            },
            _ = flush.tick() => {
                if let Err(err) = state.flush().await {
                    break End::Failed(err.to_string());
                }
            }
            _ = beat.tick() => match api.heartbeat(state.id).await {
                Ok(true) => break End::Finish,
                Ok(false) => {}
                Err(ApiError::LostJob(why)) => {
                    tracing::warn!(job = %state.id, %why, "lost the job to another recorder");
                    break End::Lost;
                }
                // The server may be restarting: the lease allows a few missed beats.
                Err(err) => tracing::warn!(job = %state.id, error = %err, "heartbeat failed"),
            },
        }
    };
    if let Some(handle) = state.handle.take() {
        handle.leave().await;
    }
    match end {
        End::Lost => Ok(()),
        End::Abandon(reason) => {
            tracing::warn!(job = %state.id, %reason, "lost the meeting; the job goes back to the queue");
            state
                .fail_all(&format!(
                    "the recorder lost the meeting ({reason}); the recording continues in new files once a recorder takes the job again"
                ))
                .await
        }
        End::Finish => {
            state.close_all().await?;
            api.finish(state.id, None).await?;
            Ok(())
        }
        End::Failed(reason) => {
            let _ = state.close_all().await;
            api.finish(state.id, Some(reason)).await?;
            Ok(())
        }
    }
}

impl Job<'_> {
    async fn on_event(&mut self, event: RtcEvent) -> Result<(), JobError> {
        match event {
            RtcEvent::TrackAdded {
                track,
                identity,
                name,
            } => {
                self.announced.insert(
                    track.sid.clone(),
                    Announced {
                        track,
                        identity,
                        name,
                    },
                );
            }
            RtcEvent::TrackRemoved { track } => {
                self.announced.remove(&track);
                if let Some(ended) = self.tracks.remove(&track) {
                    self.close_track(ended).await?;
                }
            }
            RtcEvent::Media(frame) => self.on_frame(frame).await?,
            _ => {}
        }
        Ok(())
    }

    /// The job's timeline now, in 48 kHz samples.
    fn now_48k(&self) -> u64 {
        (self.started.elapsed().as_micros() as u64) * 48 / 1000
    }

    async fn on_frame(&mut self, frame: MediaFrame) -> Result<(), JobError> {
        if !self.tracks.contains_key(&frame.track) {
            let Some(announced) = self.announced.get(&frame.track) else {
                return Ok(());
            };
            let (codec, content_type) = match frame.codec {
                FrameCodec::Opus => ("opus", "audio/ogg"),
                FrameCodec::Vp8 => ("vp8", "video/webm"),
                FrameCodec::H264 => ("h264", "video/x-matroska"),
                _ => return Ok(()),
            };
            let arrived_ms = self.started_ms
                + i64::try_from(
                    frame
                        .received
                        .saturating_duration_since(self.started)
                        .as_millis(),
                )
                .unwrap_or(0);
            let row = self
                .api
                .add_file(
                    self.id,
                    &NewRecordingFile {
                        recorder: self.api.name.clone(),
                        kind: RecordingKind::Track,
                        participant: Some(announced.identity.clone()),
                        participant_name: Some(announced.name.clone()),
                        source: Some(announced.track.source),
                        track_sid: Some(announced.track.sid.to_string()),
                        codec: codec.into(),
                        content_type: content_type.into(),
                        start_offset_ms: (arrived_ms - self.meeting_started_at).max(0),
                    },
                )
                .await?;
            tracing::info!(job = %self.id, track = %frame.track, codec, file = %row.id, "recording a track");
            let mix_start = (frame
                .received
                .saturating_duration_since(self.started)
                .as_micros() as u64)
                * 48
                / 1000;
            self.next_source += 1;
            self.tracks.insert(
                frame.track.clone(),
                TrackFile {
                    file: match frame.codec {
                        // Opus in WebRTC is always signalled as two channels.
                        FrameCodec::Opus => TrackWriter::Audio(StoredFile::new(
                            row,
                            OggOpusWriter::new(rand::random(), 2, 0),
                        )),
                        FrameCodec::H264 => TrackWriter::Video(StoredFile::new(
                            row,
                            WebmWriter::new(VideoCodec::H264),
                        )),
                        _ => TrackWriter::Video(StoredFile::new(
                            row,
                            WebmWriter::new(VideoCodec::Vp8),
                        )),
                    },
                    first_rtp: frame.rtp_time,
                    first_received: frame.received,
                    clock_rate: frame.clock_rate.max(1),
                    mix_start,
                    source: self.next_source,
                },
            );
        }
        let Some(track) = self.tracks.get_mut(&frame.track) else {
            return Ok(());
        };
        let elapsed = frame
            .received
            .saturating_duration_since(track.first_received);
        match &mut track.file {
            TrackWriter::Audio(file) => {
                // RTP time of Opus runs at 48 kHz: gaps (loss, silence) keep their length.
                let Some(pts) = track_position(
                    frame.rtp_time,
                    track.first_rtp,
                    track.clock_rate,
                    48_000,
                    elapsed,
                ) else {
                    return Ok(());
                };
                file.muxer().push(&frame.data, pts);
                self.mixer
                    .push(track.source, track.mix_start + pts, &frame.data);
            }
            TrackWriter::Video(file) => {
                let Some(ts_ms) = track_position(
                    frame.rtp_time,
                    track.first_rtp,
                    track.clock_rate,
                    1_000,
                    elapsed,
                ) else {
                    return Ok(());
                };
                file.muxer().push_frame(&frame.data, ts_ms, frame.keyframe);
            }
        }
        Ok(())
    }

    /// Mix what is due, upload what is complete, and tell the server how far each file got.
    async fn flush(&mut self) -> Result<(), JobError> {
        let now = self.now_48k();
        for (pts, packet) in self.mixer.mix_until(now) {
            self.mixed.muxer().push(&packet, pts);
        }
        let name = self.api.name.clone();
        for track in self.tracks.values_mut() {
            let (flushed, id, progress) = match &mut track.file {
                TrackWriter::Audio(f) => (
                    f.flush(self.store).await?,
                    f.recording.id,
                    f.progress(&name, None),
                ),
                TrackWriter::Video(f) => (
                    f.flush(self.store).await?,
                    f.recording.id,
                    f.progress(&name, None),
                ),
            };
            if flushed {
                self.api.progress(self.id, id, &progress).await?;
            }
        }
        if self.mixed.flush(self.store).await? {
            self.api
                .progress(
                    self.id,
                    self.mixed.recording.id,
                    &self.mixed.progress(&name, None),
                )
                .await?;
        }
        Ok(())
    }

    async fn close_track(&mut self, track: TrackFile) -> Result<(), JobError> {
        match track.file {
            TrackWriter::Audio(mut f) => close_file(self.api, self.store, self.id, &mut f).await,
            TrackWriter::Video(mut f) => close_file(self.api, self.store, self.id, &mut f).await,
        }
    }

    /// Upload what is complete and mark every file failed with `reason`, leaving the job to
    /// be taken over.
    async fn fail_all(&mut self, reason: &str) -> Result<(), JobError> {
        self.flush().await?;
        let name = self.api.name.clone();
        let mut progress: Vec<(parley_proto::RecordingId, parley_proto::RecordingProgress)> = self
            .tracks
            .values()
            .map(|t| match &t.file {
                TrackWriter::Audio(f) => (
                    f.recording.id,
                    f.progress(&name, Some(RecordingStatus::Failed)),
                ),
                TrackWriter::Video(f) => (
                    f.recording.id,
                    f.progress(&name, Some(RecordingStatus::Failed)),
                ),
            })
            .collect();
        progress.push((
            self.mixed.recording.id,
            self.mixed.progress(&name, Some(RecordingStatus::Failed)),
        ));
        for (file, mut p) in progress {
            p.failure = Some(reason.to_string());
            self.api.progress(self.id, file, &p).await?;
        }
        Ok(())
    }

    async fn close_all(&mut self) -> Result<(), JobError> {
        for (pts, packet) in self.mixer.finish() {
            self.mixed.muxer().push(&packet, pts);
        }
        let tracks: Vec<TrackFile> = self.tracks.drain().map(|(_, t)| t).collect();
        for track in tracks {
            self.close_track(track).await?;
        }
        let placeholder =
            StoredFile::new(self.mixed.recording.clone(), OggOpusWriter::new(0, 1, 0));
        let mut mixed = std::mem::replace(&mut self.mixed, placeholder);
        close_file(self.api, self.store, self.id, &mut mixed).await
    }
}

/// Close a file: its tail and final header uploaded, the server told it is done.
/// Where a frame goes on its track's file, in `rate` units per second: its RTP time since the
/// track's first frame, at the track's clock rate. `None` for a frame from before the first,
/// and for one further ahead than `elapsed` (the time since the first frame arrived) allows:
/// the writers fill a gap with silence, so an RTP timestamp that jumps ahead (a broken or
/// hostile sender can jump 2^31 ticks, 12 hours of Opus, with every packet) would otherwise
/// cost hours of silence per packet. Found by fuzzing (docs/FUZZING.md).
pub fn track_position(
    rtp_time: u64,
    first_rtp: u64,
    clock_rate: u32,
    rate: u64,
    elapsed: Duration,
) -> Option<u64> {
    let since = u128::from(rtp_time.checked_sub(first_rtp)?);
    let position = since * u128::from(rate) / u128::from(clock_rate.max(1));
    let allowed =
        (elapsed + elapsed / 100 + AHEAD_ALLOWANCE).as_micros() * u128::from(rate) / 1_000_000;
    if position > allowed {
        return None;
    }
    u64::try_from(position).ok()
}

/// How far a frame may be ahead of the time since its track's first frame arrived, besides 1%
/// of that time for a sender whose clock runs fast (far more than any sound card drifts):
/// jitter, and a first frame that was held up in the network.
const AHEAD_ALLOWANCE: Duration = Duration::from_secs(10);

async fn close_file<M: TrackMuxer>(
    api: &JobApi,
    store: &ObjectStorage,
    job: RecordingJobId,
    file: &mut StoredFile<M>,
) -> Result<(), JobError> {
    file.close(store).await?;
    let progress = file.progress(&api.name, Some(RecordingStatus::Done));
    api.progress(job, file.recording.id, &progress).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Opus packet of 20 ms of silence (CELT, stereo).
    const SILENCE: [u8; 3] = [0xfc, 0xff, 0xfe];

    /// (RTP ticks since the first frame, clock rate, rate, time since the first frame arrived
    /// in ms, position expected).
    #[test]
    fn track_position_follows_the_rtp_clock_as_far_as_time_allows() {
        let first = 1 << 32;
        let check = |since: u64, clock: u32, rate: u64, elapsed_ms: u64, expected: Option<u64>| {
            let elapsed = Duration::from_millis(elapsed_ms);
            let found = track_position(first + since, first, clock, rate, elapsed);
            assert_eq!(
                found, expected,
                "{since} ticks at {clock} Hz after {elapsed_ms} ms"
            );
        };
        check(48_000, 48_000, 48_000, 1_000, Some(48_000));
        check(3_000, 90_000, 1_000, 40, Some(33));
        // Jitter, and a first frame held up: up to 10 s ahead.
        check(480_000, 48_000, 48_000, 0, Some(480_000));
        check(480_001, 48_000, 48_000, 0, None);
        // A sender whose clock runs 1% fast, after 1,000 s: 1,010 s, plus the 10.
        check(
            48_000 * 1_020,
            48_000,
            48_000,
            1_000_000,
            Some(48_000 * 1_020),
        );
        check(48_000 * 1_021, 48_000, 48_000, 1_000_000, None);
        assert_eq!(
            track_position(first - 1, first, 48_000, 48_000, Duration::from_secs(5)),
            None,
            "before the first frame"
        );
    }

    /// An RTP timestamp that jumps ahead 2^31 ticks with every packet (12 hours of Opus) made
    /// the Ogg writer fill each jump with silence: seconds of CPU and megabytes per packet.
    /// Found by the `ogg_opus` fuzz target.
    #[test]
    fn ogg_track_survives_rtp_timestamp_jumps() {
        let first = 1 << 32;
        let mut writer = OggOpusWriter::new(1, 2, 0);
        let mut written = 0;
        for k in 0..8u64 {
            let elapsed = Duration::from_millis(20 * k);
            let rtp_time = first + k * 0x7fff_ffff;
            if let Some(pts) = track_position(rtp_time, first, 48_000, 48_000, elapsed) {
                writer.push(&SILENCE, pts);
            }
            written += writer.take_ready().len();
        }
        written += writer.finish().len();
        assert!(written < 1_000, "{written} bytes for 20 ms of audio");
        assert_eq!(writer.duration_ms(), 20);
    }
}
