//! Recordings: jobs (one recording of one meeting, `/v1/meetings/{id}/recordings`), the files
//! they produce (`/v1/recordings/{id}`), and the recorder's side of the job queue
//! (`/v1/recording-jobs/...`, for tokens with the `recorder` grant).

use crate::{MeetingId, RecordingId, RecordingJobId, TrackSource, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($word => Some($name::$variant),)* _ => None }
            }
        }
    };
}

word_enum!(
    /// `pending` until a recorder takes it; `active` while one records; `stopping` once asked
    /// to stop (or the meeting ended) until the recorder has closed its files.
    RecordingJobStatus {
        Pending = "pending",
        Active = "active",
        Stopping = "stopping",
        Done = "done",
        Failed = "failed",
    }
);

word_enum!(
    RecordingKind {
        /// One participant's track as it arrived, not re-encoded.
        Track = "track",
        /// Every speaker mixed into one Ogg/Opus stream.
        Mixed = "mixed",
    }
);

word_enum!(
    RecordingStatus {
        Recording = "recording",
        Done = "done",
        /// `failure` says why; what was stored before it still plays.
        Failed = "failed",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordingJob {
    pub id: RecordingJobId,
    pub meeting_id: MeetingId,
    pub room: String,
    pub status: RecordingJobStatus,
    /// Started by the server (voice bridges are recorded by default), not by a person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<UserId>,
    /// The recorder process holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<String>,
    /// How many recorders have taken it; more than one means it was taken over.
    pub claims: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
}

/// One recorded file, with what is needed to play the tracks of a meeting in sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    pub id: RecordingId,
    pub meeting_id: MeetingId,
    pub job_id: RecordingJobId,
    pub kind: RecordingKind,
    /// The participant's identity (track files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TrackSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_sid: Option<String>,
    /// `opus`, `vp8` or `h264`.
    pub codec: String,
    /// `audio/ogg`, `video/webm` or `video/x-matroska`.
    pub content_type: String,
    /// Where the file starts, in milliseconds from the meeting's start.
    pub start_offset_ms: i64,
    pub status: RecordingStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// As last reported by the recorder.
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Where the file is streamed from (HTTP range requests work).
    pub url: String,
    /// Where its chunks are stored in the object store (for the recorder).
    pub object_prefix: String,
}

/// `GET /v1/meetings/{id}/recordings`: the meeting's jobs and files, the manifest for playing
/// its tracks in sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordingList {
    pub jobs: Vec<RecordingJob>,
    pub recordings: Vec<Recording>,
}

/// `POST /v1/recording-jobs/claim`: take the next job, waiting up to `wait_secs` for one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimJob {
    /// This recorder process's name, unique among recorders (host and pid, say).
    pub recorder: String,
    #[serde(default)]
    pub wait_secs: u64,
}

/// A job the recorder took: keep its lease with heartbeats more often than `lease_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimedJob {
    pub job: RecordingJob,
    /// When the meeting started (ms since the epoch): file offsets are measured from it.
    pub meeting_started_at: i64,
    pub lease_ms: u64,
    /// Files a previous recorder of this job left (now failed), for the record.
    pub taken_over: Vec<Recording>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobHeartbeat {
    pub recorder: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobHeartbeatReply {
    /// Close the files and finish: a stop was asked for, or the meeting ended.
    pub stop: bool,
    pub lease_ms: u64,
}

/// `POST /v1/recording-jobs/{id}/files`: a file the recorder starts writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecordingFile {
    pub recorder: String,
    pub kind: RecordingKind,
    #[serde(default)]
    pub participant: Option<String>,
    #[serde(default)]
    pub participant_name: Option<String>,
    #[serde(default)]
    pub source: Option<TrackSource>,
    #[serde(default)]
    pub track_sid: Option<String>,
    pub codec: String,
    pub content_type: String,
    pub start_offset_ms: i64,
}

/// `PATCH /v1/recording-jobs/{id}/files/{file}`: how far a file has got, or that it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingProgress {
    pub recorder: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub chunks: i64,
    /// `done` or `failed` to end the file; absent while it goes on.
    #[serde(default)]
    pub status: Option<RecordingStatus>,
    #[serde(default)]
    pub failure: Option<String>,
}

/// `POST /v1/recording-jobs/{id}/finish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishJob {
    pub recorder: String,
    /// Set when the recording could not go on.
    #[serde(default)]
    pub failure: Option<String>,
}

/// A recording event POSTed to `rtc.webhook_url`, signed like the room webhooks. `event` is
/// `recording_started`, `recording_finished` or `recording_failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordingWebhook {
    pub event: String,
    /// Unique per event, so a receiver can drop retried duplicates.
    pub id: String,
    pub created_at: i64,
    pub job: RecordingJob,
    /// The job's files so far (all of them, once finished).
    pub recordings: Vec<Recording>,
}
