//! Recordings over REST: start and stop a meeting's recording, list its files (the manifest
//! for playing them in sync), stream a file with HTTP range requests, and the recorder's side
//! of the job queue (tokens with the `recorder` grant).
//!
//! A file is stored as numbered chunks (`{prefix}/000000`, the header, then `000001`...) that
//! the recorder uploads as it goes, so a recorder that dies loses only the chunk it was filling
//! and what was stored still plays. Streaming a file concatenates its chunks.

use super::meetings::load;
use crate::auth::{Caller, Principal};
use crate::error::{AppError, AppResult, Json};
use crate::policy::MeetingAction;
use crate::{tasks, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parley_proto::{
    ClaimJob, ClaimedJob, ErrorCode, FinishJob, JobHeartbeat, JobHeartbeatReply, MeetingId,
    NewRecordingFile, NotificationKind, Recording, RecordingId, RecordingJob, RecordingJobId,
    RecordingJobStatus, RecordingKind, RecordingList, RecordingProgress, RecordingStatus,
    RecordingWebhook, UserId,
};
use parley_storage::{identity_user, now_ms};
use std::time::Duration;

/// A recorder renews its lease well within this; a recorder silent for longer loses its job to
/// the next recorder that asks.
pub const LEASE_MS: u64 = 5_000;
/// The longest a claim waits for a job before answering 204.
const MAX_WAIT_SECS: u64 = 30;

/// Start recording a meeting that is going on (its attendees and admins may).
#[utoipa::path(post, path = "/v1/meetings/{id}/recordings", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 201, body = RecordingJob), (status = 200, body = RecordingJob,
        description = "already being recorded"), (status = 403, body = parley_proto::ErrorBody),
        (status = 409, body = parley_proto::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<(StatusCode, axum::Json<RecordingJob>)> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    if meeting.ended_at.is_some() {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "the meeting has ended; only a meeting going on can be recorded",
        ));
    }
    let (job, new) = state
        .db
        .request_recording(meeting.id, &meeting.room, false, Some(me.id), now_ms())
        .await?;
    if new {
        state.recording_jobs.notify_waiters();
        state.hub.recording_job_requested();
        tracing::info!(meeting = %meeting.id, job = %job.id, by = %me.id, "recording requested");
    }
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(job)))
}

/// Stop recording: the recorder closes its files and the job ends as done.
#[utoipa::path(post, path = "/v1/meetings/{id}/recordings/stop", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = RecordingList), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<RecordingList>> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    let stopped = state
        .db
        .stop_recording(
            meeting.id,
            "stopped before a recorder took the job",
            now_ms(),
        )
        .await?;
    if stopped.is_empty() {
        return Err(AppError::not_found("the meeting is not being recorded"));
    }
    let (jobs, recordings) = state.db.recordings_of(meeting.id).await?;
    Ok(axum::Json(RecordingList { jobs, recordings }))
}

/// The meeting's recording jobs and files, with each file's start offset from the meeting's
/// start: the manifest for playing its tracks in sync.
#[utoipa::path(get, path = "/v1/meetings/{id}/recordings", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = RecordingList), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<RecordingList>> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::View).await?;
    let (jobs, recordings) = state.db.recordings_of(meeting.id).await?;
    Ok(axum::Json(RecordingList { jobs, recordings }))
}

/// A recording the caller may see (those who may see its meeting).
async fn visible(state: &AppState, caller: &Principal, id: i64) -> AppResult<Recording> {
    let me = caller.user()?;
    let recording = state
        .db
        .recording(RecordingId(id))
        .await?
        .ok_or_else(|| AppError::not_found("no such recording"))?;
    load(state, me, recording.meeting_id, MeetingAction::View).await?;
    Ok(recording)
}

#[utoipa::path(get, path = "/v1/recordings/{id}", tag = "recordings", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Recording), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Recording>> {
    Ok(axum::Json(visible(&state, &caller, id).await?))
}

/// The file's bytes, as a browser's `<audio>` or `<video>` asks for them: whole, or one range
/// (`206 Partial Content`), so playback can seek.
#[utoipa::path(get, path = "/v1/recordings/{id}/media", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "the whole file"),
        (status = 206, description = "the range asked for"),
        (status = 403, body = parley_proto::ErrorBody), (status = 404, body = parley_proto::ErrorBody),
        (status = 416, description = "the range is outside the file")))]
pub async fn media(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let recording = visible(&state, &caller, id).await?;
    stream(&state, &recording, &headers).await
}

/// A recording's bytes, whole or the range `headers` ask for.
pub async fn stream(
    state: &AppState,
    recording: &Recording,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let chunks = state
        .objects
        .list(&format!("{}/", recording.object_prefix))
        .await?;
    let size: u64 = chunks.iter().map(|c| c.size).sum();
    if chunks.is_empty() {
        return Err(AppError::not_found("nothing of this recording was stored"));
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => match parley_files::byte_range(value, size) {
            Some(range) => Some(range),
            None => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                )
                    .into_response())
            }
        },
        None => None,
    };
    let wanted = range.clone().unwrap_or(0..size);
    // Which part of which chunk each piece of the answer comes from.
    let mut pieces = Vec::new();
    let mut at = 0u64;
    for chunk in chunks {
        let (start, end) = (at, at + chunk.size);
        at = end;
        let (from, to) = (wanted.start.max(start), wanted.end.min(end));
        if from < to {
            pieces.push((chunk.key, (from - start)..(to - start)));
        }
    }
    let objects = state.objects.clone();
    let body = futures::stream::iter(pieces).then(move |(key, range)| {
        let objects = objects.clone();
        async move {
            objects
                .get_range(&key, range)
                .await
                .map_err(std::io::Error::other)
        }
    });
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, recording.content_type.as_str())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, wanted.end - wanted.start);
    response = match range {
        Some(r) => response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", r.start, r.end - 1),
        ),
        None => response.status(StatusCode::OK),
    };
    response
        .body(Body::from_stream(body))
        .map_err(|e| AppError::internal(&e))
}

/// Tell those concerned that `job` started, finished or failed: a notification to whoever
/// asked for it and to everyone (signed in) who attended, and a webhook to `rtc.webhook_url`.
async fn announce(state: &AppState, job: &RecordingJob, kind: NotificationKind) -> AppResult<()> {
    let now = now_ms();
    let mut to: Vec<UserId> = job.requested_by.into_iter().collect();
    if let Some(meeting) = state.db.meeting(job.meeting_id).await? {
        for user in meeting.attendees.iter().filter_map(|a| a.user_id) {
            if !to.contains(&user) {
                to.push(user);
            }
        }
    }
    let (_, files) = state.db.recordings_of(job.meeting_id).await?;
    let files: Vec<Recording> = files.into_iter().filter(|f| f.job_id == job.id).collect();
    let mut n = tasks::notification(kind, now);
    n.meeting_id = Some(job.meeting_id);
    n.recording_job_id = Some(job.id.0);
    n.recording_id = playable(&files).map(|f| f.id.0);
    for user in to {
        tasks::notify(state, user, &n).await?;
    }
    if !state.rtc.webhook_url.is_empty() {
        let event = match kind {
            NotificationKind::RecordingStarted => "recording_started",
            NotificationKind::RecordingFailed => "recording_failed",
            _ => "recording_finished",
        };
        let body = RecordingWebhook {
            event: event.to_string(),
            id: crate::auth::random_hex(12),
            created_at: now,
            job: job.clone(),
            recordings: files,
        };
        if let Ok(body) = serde_json::to_vec(&body) {
            crate::webhook::send(
                reqwest::Client::new(),
                state.rtc.webhook_url.clone(),
                state.rtc.webhook_secret.clone(),
                body,
            );
        }
    }
    Ok(())
}

/// The file a notice points at: the mixed recording unless it failed, else the first file that
/// did not fail (after a takeover, the failed fragments of the first recorder are passed over).
fn playable(files: &[Recording]) -> Option<&Recording> {
    let alive = || files.iter().filter(|f| f.status != RecordingStatus::Failed);
    alive()
        .find(|f| f.kind == RecordingKind::Mixed)
        .or_else(|| alive().next())
}

/// The recorder calling: an app token with the `recorder` grant.
fn recorder(caller: &Principal) -> AppResult<()> {
    match caller {
        Principal::App(claims) if claims.grants.recorder => Ok(()),
        _ => Err(AppError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::InsufficientGrant,
            "the recording job queue is for tokens with the recorder grant",
        )),
    }
}

fn recorder_name(name: &str) -> AppResult<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid("recorder must be 1 to 200 characters"));
    }
    Ok(())
}

fn lost_job() -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        ErrorCode::Conflict,
        "this recorder does not hold the job (any more): its lease ran out and another recorder may have taken it",
    )
}

/// Take the next recording job, waiting up to `wait_secs` (at most 30) for one: 204 if none.
#[utoipa::path(post, path = "/v1/recording-jobs/claim", tag = "recordings",
    security(("bearer" = [])), request_body = ClaimJob,
    responses((status = 200, body = ClaimedJob), (status = 204, description = "no job came"),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<ClaimJob>,
) -> AppResult<Response> {
    recorder(&caller)?;
    recorder_name(&req.recorder)?;
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(req.wait_secs.min(MAX_WAIT_SECS));
    loop {
        // Register for a wake-up before looking, so a job requested meanwhile is not missed.
        let woken = state.recording_jobs.notified();
        if let Some(claimed) = state
            .db
            .claim_recording_job(&req.recorder, LEASE_MS as i64, now_ms())
            .await?
        {
            tracing::info!(job = %claimed.job.id, recorder = %req.recorder,
                claims = claimed.job.claims, taken_over = claimed.taken_over.len(), "recording job claimed");
            return Ok(axum::Json(ClaimedJob {
                job: claimed.job,
                meeting_started_at: claimed.meeting_started_at,
                lease_ms: LEASE_MS,
                taken_over: claimed.taken_over,
            })
            .into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        // A job requested on any node wakes us at once (other nodes' through the cluster bus);
        // leases running out, and a job whose wake-up was lost, are found by looking again
        // within a second.
        let _ = tokio::time::timeout((deadline - now).min(Duration::from_secs(1)), woken).await;
    }
}

/// Keep the lease; `stop` tells the recorder to close its files and finish.
#[utoipa::path(post, path = "/v1/recording-jobs/{id}/heartbeat", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = JobHeartbeat,
    responses((status = 200, body = JobHeartbeatReply), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<JobHeartbeat>,
) -> AppResult<axum::Json<JobHeartbeatReply>> {
    recorder(&caller)?;
    let status = state
        .db
        .renew_recording_lease(RecordingJobId(id), &req.recorder, LEASE_MS as i64, now_ms())
        .await?
        .ok_or_else(lost_job)?;
    Ok(axum::Json(JobHeartbeatReply {
        stop: status == RecordingJobStatus::Stopping,
        lease_ms: LEASE_MS,
    }))
}

/// `type/subtype`, optionally with parameters, in printable ASCII: what a `Content-Type`
/// header may carry (no line breaks to split the answer's headers with).
fn is_media_type(text: &str) -> bool {
    let essence = text.split(';').next().unwrap_or_default().trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    text.len() <= 255
        && text.chars().all(|c| c == ' ' || c.is_ascii_graphic())
        && essence
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && token(sub))
}

/// A file the recorder starts: where to store its chunks.
#[utoipa::path(post, path = "/v1/recording-jobs/{id}/files", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = NewRecordingFile,
    responses((status = 201, body = Recording), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn add_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<NewRecordingFile>,
) -> AppResult<(StatusCode, axum::Json<Recording>)> {
    recorder(&caller)?;
    let job = state
        .db
        .recording_job(RecordingJobId(id))
        .await?
        .ok_or_else(|| AppError::not_found("no such recording job"))?;
    if !state.db.holds_recording_job(job.id, &req.recorder).await? {
        return Err(lost_job());
    }
    if req.start_offset_ms < 0 || req.codec.is_empty() || req.content_type.is_empty() {
        return Err(AppError::invalid(
            "a file needs a codec, a content type and a start offset of 0 or more",
        ));
    }
    // The content type is served back as a header when the file is streamed.
    if !is_media_type(&req.content_type) {
        return Err(AppError::invalid(format!(
            "content_type {:?} is not a media type such as `audio/ogg` or `video/webm; codecs=vp8`",
            req.content_type
        )));
    }
    if req.codec.len() > 64 || !req.codec.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::invalid(format!(
            "codec {:?} is not a codec name such as `opus` or `vp8`",
            req.codec
        )));
    }
    let user = req.participant.as_deref().and_then(identity_user);
    let file = state.db.add_recording(&job, &req, user, now_ms()).await?;
    // The recording has started once its first file has (so the notice can name it); a
    // takeover's files are not a new start.
    let (_, files) = state.db.recordings_of(job.meeting_id).await?;
    let first = files
        .iter()
        .filter(|f| f.job_id == job.id)
        .map(|f| f.id)
        .min();
    if first == Some(file.id) {
        announce(&state, &job, NotificationKind::RecordingStarted).await?;
    }
    Ok((StatusCode::CREATED, axum::Json(file)))
}

/// How far a file has got; with `status` `done` or `failed`, the file ends.
#[utoipa::path(patch, path = "/v1/recording-jobs/{id}/files/{file}", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path), ("file" = i64, Path)),
    request_body = RecordingProgress,
    responses((status = 200, body = Recording), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn file_progress(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, file)): Path<(i64, i64)>,
    Json(req): Json<RecordingProgress>,
) -> AppResult<axum::Json<Recording>> {
    recorder(&caller)?;
    let job = RecordingJobId(id);
    if !state.db.holds_recording_job(job, &req.recorder).await? {
        return Err(lost_job());
    }
    if req.status == Some(RecordingStatus::Recording) {
        return Err(AppError::invalid("status ends a file: done or failed"));
    }
    state
        .db
        .recording_progress(job, RecordingId(file), &req, now_ms())
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found("no such file being recorded in this job"))
}

/// The recording is over (or could not go on: `failure`).
#[utoipa::path(post, path = "/v1/recording-jobs/{id}/finish", tag = "recordings",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = FinishJob,
    responses((status = 200, body = RecordingJob), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn finish(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<FinishJob>,
) -> AppResult<axum::Json<RecordingJob>> {
    recorder(&caller)?;
    let job = state
        .db
        .finish_recording_job(
            RecordingJobId(id),
            &req.recorder,
            req.failure.as_deref(),
            now_ms(),
        )
        .await?
        .ok_or_else(lost_job)?;
    tracing::info!(job = %job.id, status = job.status.as_str(), "recording job finished");
    let kind = match job.status {
        RecordingJobStatus::Failed => NotificationKind::RecordingFailed,
        _ => NotificationKind::RecordingFinished,
    };
    announce(&state, &job, kind).await?;
    Ok(axum::Json(job))
}

#[cfg(test)]
mod media_type_tests {
    use super::is_media_type;

    #[test]
    fn content_types_are_header_safe() {
        for good in [
            "audio/ogg",
            "video/webm",
            "video/x-matroska",
            "audio/webm; codecs=opus",
        ] {
            assert!(is_media_type(good), "{good}");
        }
        for bad in [
            "",
            "audio",
            "audio/ogg\r\nx-evil: 1",
            "audio/ogg\n",
            "a/b\0",
            "/ogg",
            "音频/ogg",
        ] {
            assert!(!is_media_type(bad), "{bad:?}");
        }
    }
}
