//! Recording jobs and their files. The job queue lives here: a recorder takes a job under a
//! lease and keeps renewing it; a job whose lease ran out is taken by the next recorder that
//! asks, and the files its last holder left are marked failed with the reason. Each claim is one
//! conditional update, so with several recorders (and several nodes) a job has one holder.

use crate::error::StoreError;
use crate::Database;
use parley_proto::{
    MeetingId, NewRecordingFile, Recording, RecordingId, RecordingJob, RecordingJobId,
    RecordingJobStatus, RecordingKind, RecordingProgress, RecordingStatus, TrackSource, UserId,
};
use sqlx::Row;

const JOB_COLUMNS: &str = "id, meeting_id, room, status, auto, requested_by, recorder, \
    claims, failure, created_at, started_at, ended_at";
const FILE_COLUMNS: &str = "id, meeting_id, job_id, kind, participant, participant_name, \
    user_id, source, track_sid, codec, content_type, object_prefix, start_offset_ms, status, \
    failure, duration_ms, size_bytes, started_at, ended_at";

fn word<T>(
    column: &'static str,
    value: String,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(&value).ok_or(StoreError::Corrupt { column, value })
}

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<RecordingJob, StoreError> {
    Ok(RecordingJob {
        id: RecordingJobId(row.try_get("id")?),
        meeting_id: MeetingId(row.try_get("meeting_id")?),
        room: row.try_get("room")?,
        status: word(
            "recording_jobs.status",
            row.try_get("status")?,
            RecordingJobStatus::parse,
        )?,
        auto: row.try_get::<i64, _>("auto")? != 0,
        requested_by: row.try_get::<Option<i64>, _>("requested_by")?.map(UserId),
        recorder: row.try_get("recorder")?,
        claims: row.try_get("claims")?,
        failure: row.try_get("failure")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

fn source(value: Option<String>) -> Result<Option<TrackSource>, StoreError> {
    value
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
                StoreError::Corrupt {
                    column: "recordings.source",
                    value: s,
                }
            })
        })
        .transpose()
}

fn file_from_row(row: &sqlx::any::AnyRow) -> Result<Recording, StoreError> {
    let id: i64 = row.try_get("id")?;
    Ok(Recording {
        id: RecordingId(id),
        meeting_id: MeetingId(row.try_get("meeting_id")?),
        job_id: RecordingJobId(row.try_get("job_id")?),
        kind: word(
            "recordings.kind",
            row.try_get("kind")?,
            RecordingKind::parse,
        )?,
        participant: row.try_get("participant")?,
        participant_name: row.try_get("participant_name")?,
        user_id: row.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        source: source(row.try_get("source")?)?,
        track_sid: row.try_get("track_sid")?,
        codec: row.try_get("codec")?,
        content_type: row.try_get("content_type")?,
        start_offset_ms: row.try_get("start_offset_ms")?,
        status: word(
            "recordings.status",
            row.try_get("status")?,
            RecordingStatus::parse,
        )?,
        failure: row.try_get("failure")?,
        duration_ms: row.try_get("duration_ms")?,
        size_bytes: row.try_get("size_bytes")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        url: format!("/v1/recordings/{id}/media"),
        object_prefix: row.try_get("object_prefix")?,
    })
}

/// What a claim found.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job: RecordingJob,
    pub meeting_started_at: i64,
    /// Files the previous holder left, now failed.
    pub taken_over: Vec<Recording>,
}

impl Database {
    /// Ask for a recording of `meeting`. The meeting's job already pending or going on is
    /// returned instead of a second one (`false`: nothing new).
    pub async fn request_recording(
        &self,
        meeting: MeetingId,
        room: &str,
        auto: bool,
        by: Option<UserId>,
        now: i64,
    ) -> Result<(RecordingJob, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM recording_jobs WHERE meeting_id = $1 \
               AND status IN ('pending', 'active') ORDER BY id DESC LIMIT 1"
        );
        if let Some(row) = sqlx::query(&sql)
            .bind(meeting.0)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok((job_from_row(&row)?, false));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO recording_jobs (meeting_id, room, status, auto, requested_by, created_at) \
             VALUES ($1, $2, 'pending', $3, $4, $5) RETURNING id",
        )
        .bind(meeting.0)
        .bind(room)
        .bind(i64::from(auto))
        .bind(by.map(|u| u.0))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let job = self
            .recording_job(RecordingJobId(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((job, true))
    }

    pub async fn recording_job(
        &self,
        id: RecordingJobId,
    ) -> Result<Option<RecordingJob>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM recording_jobs WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| job_from_row(&row))
            .transpose()
    }

    /// Stop `meeting`'s recording: a job going on is asked to stop; one no recorder took yet
    /// ends as failed with `reason`. Returns the jobs changed.
    pub async fn stop_recording(
        &self,
        meeting: MeetingId,
        reason: &str,
        now: i64,
    ) -> Result<Vec<RecordingJob>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM recording_jobs WHERE meeting_id = $1 AND status IN ('pending', 'active')",
        )
        .bind(meeting.0)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recording_jobs SET status = 'failed', failure = $2, ended_at = $3 \
             WHERE meeting_id = $1 AND status = 'pending'",
        )
        .bind(meeting.0)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recording_jobs SET status = 'stopping' WHERE meeting_id = $1 AND status = 'active'",
        )
        .bind(meeting.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut jobs = Vec::new();
        for id in ids {
            jobs.extend(self.recording_job(RecordingJobId(id)).await?);
        }
        Ok(jobs)
    }

    /// Take the oldest job that is waiting, or whose holder's lease ran out, for `recorder`
    /// until `now + lease_ms`. A job taken over has its last holder's open files failed.
    pub async fn claim_recording_job(
        &self,
        recorder: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<Claimed>, StoreError> {
        // A job that was stopping when its recorder vanished cannot be finished by anyone.
        self.fail_abandoned_stops(now).await?;
        for _ in 0..5 {
            let candidate = sqlx::query(
                "SELECT id, recorder, claims FROM recording_jobs \
                 WHERE status = 'pending' OR (status = 'active' AND lease_until < $1) \
                 ORDER BY id LIMIT 1",
            )
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = candidate else {
                return Ok(None);
            };
            let id: i64 = row.try_get("id")?;
            let previous: Option<String> = row.try_get("recorder")?;
            let claims: i64 = row.try_get("claims")?;
            let mut tx = self.begin_write().await?;
            let taken = sqlx::query(
                "UPDATE recording_jobs SET status = 'active', recorder = $2, lease_until = $3, \
                     claims = claims + 1, started_at = COALESCE(started_at, $4) \
                 WHERE id = $1 AND claims = $5 \
                   AND (status = 'pending' OR (status = 'active' AND lease_until < $4))",
            )
            .bind(id)
            .bind(recorder)
            .bind(now + lease_ms)
            .bind(now)
            .bind(claims)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                // Another recorder was quicker; look again.
                tx.rollback().await?;
                continue;
            }
            let mut taken_over = Vec::new();
            if let Some(previous) = previous {
                let reason = format!(
                    "recorder {previous} stopped renewing its lease; recorder {recorder} took the \
                     recording over in new files"
                );
                let sql = format!(
                    "SELECT {FILE_COLUMNS} FROM recordings WHERE job_id = $1 AND status = 'recording'"
                );
                for row in sqlx::query(&sql).bind(id).fetch_all(&mut *tx).await? {
                    taken_over.push(file_from_row(&row)?);
                }
                sqlx::query(
                    "UPDATE recordings SET status = 'failed', failure = $2, ended_at = $3, \
                         updated_at = $3 WHERE job_id = $1 AND status = 'recording'",
                )
                .bind(id)
                .bind(&reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                for file in &mut taken_over {
                    file.status = RecordingStatus::Failed;
                    file.failure = Some(reason.clone());
                    file.ended_at = Some(now);
                }
            }
            let started: Option<i64> = sqlx::query_scalar(
                "SELECT m.started_at FROM meetings m JOIN recording_jobs j ON j.meeting_id = m.id \
                 WHERE j.id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            let job = self
                .recording_job(RecordingJobId(id))
                .await?
                .ok_or(StoreError::NotFound)?;
            return Ok(Some(Claimed {
                meeting_started_at: started.unwrap_or(job.created_at),
                job,
                taken_over,
            }));
        }
        Ok(None)
    }

    async fn fail_abandoned_stops(&self, now: i64) -> Result<(), StoreError> {
        // Looked at on every claim: read first, so the usual case takes no write lock.
        let abandoned: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM recording_jobs WHERE status = 'stopping' AND lease_until < $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if abandoned.is_none() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let reason = "the recorder stopped renewing its lease while closing its files";
        sqlx::query(
            "UPDATE recordings SET status = 'failed', failure = $2, ended_at = $1, updated_at = $1 \
             WHERE status = 'recording' AND job_id IN \
               (SELECT id FROM recording_jobs WHERE status = 'stopping' AND lease_until < $1)",
        )
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recording_jobs SET status = 'failed', failure = $2, ended_at = $1 \
             WHERE status = 'stopping' AND lease_until < $1",
        )
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renew `recorder`'s lease on `job`: the job's status, or `None` when the recorder does
    /// not hold it (any more).
    pub async fn renew_recording_lease(
        &self,
        job: RecordingJobId,
        recorder: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<RecordingJobStatus>, StoreError> {
        let renewed = sqlx::query(
            "UPDATE recording_jobs SET lease_until = $3 \
             WHERE id = $1 AND recorder = $2 AND status IN ('active', 'stopping')",
        )
        .bind(job.0)
        .bind(recorder)
        .bind(now + lease_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if renewed == 0 {
            return Ok(None);
        }
        Ok(self.recording_job(job).await?.map(|j| j.status))
    }

    /// Does `recorder` hold `job` right now?
    pub async fn holds_recording_job(
        &self,
        job: RecordingJobId,
        recorder: &str,
    ) -> Result<bool, StoreError> {
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM recording_jobs WHERE id = $1 AND recorder = $2 \
               AND status IN ('active', 'stopping')",
        )
        .bind(job.0)
        .bind(recorder)
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    /// A file the holder of `job` starts; stored under `recordings/{meeting}/{file id}/`.
    pub async fn add_recording(
        &self,
        job: &RecordingJob,
        file: &NewRecordingFile,
        user: Option<UserId>,
        now: i64,
    ) -> Result<Recording, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO recordings (meeting_id, job_id, kind, participant, participant_name, \
                 user_id, source, track_sid, codec, content_type, object_prefix, start_offset_ms, \
                 status, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', $11, 'recording', $12, $12) \
             RETURNING id",
        )
        .bind(job.meeting_id.0)
        .bind(job.id.0)
        .bind(file.kind.as_str())
        .bind(file.participant.as_deref())
        .bind(file.participant_name.as_deref())
        .bind(user.map(|u| u.0))
        .bind(file.source.map(|s| s.as_str()))
        .bind(file.track_sid.as_deref())
        .bind(&file.codec)
        .bind(&file.content_type)
        .bind(file.start_offset_ms)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE recordings SET object_prefix = $2 WHERE id = $1")
            .bind(id)
            .bind(format!("recordings/{}/{id}", job.meeting_id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.recording(RecordingId(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn recording(&self, id: RecordingId) -> Result<Option<Recording>, StoreError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM recordings WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| file_from_row(&row))
            .transpose()
    }

    /// Record how far a file of `job` has got; ending it when `progress.status` says so. Only
    /// while the file is still being recorded (a file failed by a takeover stays failed).
    pub async fn recording_progress(
        &self,
        job: RecordingJobId,
        file: RecordingId,
        progress: &RecordingProgress,
        now: i64,
    ) -> Result<Option<Recording>, StoreError> {
        let status = progress.status.unwrap_or(RecordingStatus::Recording);
        let ended = (status != RecordingStatus::Recording).then_some(now);
        let changed = sqlx::query(
            "UPDATE recordings SET duration_ms = $3, size_bytes = $4, chunks = $5, status = $6, \
                 failure = $7, ended_at = $8, updated_at = $9 \
             WHERE id = $1 AND job_id = $2 AND status = 'recording'",
        )
        .bind(file.0)
        .bind(job.0)
        .bind(progress.duration_ms)
        .bind(progress.size_bytes)
        .bind(progress.chunks)
        .bind(status.as_str())
        .bind(progress.failure.as_deref())
        .bind(ended)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        self.recording(file).await
    }

    /// The holder finished `job` (failed, with `failure`): its files still open end with it.
    pub async fn finish_recording_job(
        &self,
        job: RecordingJobId,
        recorder: &str,
        failure: Option<&str>,
        now: i64,
    ) -> Result<Option<RecordingJob>, StoreError> {
        let mut tx = self.begin_write().await?;
        let status = if failure.is_some() { "failed" } else { "done" };
        let finished = sqlx::query(
            "UPDATE recording_jobs SET status = $3, failure = $4, ended_at = $5, lease_until = NULL \
             WHERE id = $1 AND recorder = $2 AND status IN ('active', 'stopping')",
        )
        .bind(job.0)
        .bind(recorder)
        .bind(status)
        .bind(failure)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if finished == 0 {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE recordings SET status = $2, failure = $3, ended_at = $4, updated_at = $4 \
             WHERE job_id = $1 AND status = 'recording'",
        )
        .bind(job.0)
        .bind(status)
        .bind(failure)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.recording_job(job).await
    }

    /// `meeting`'s jobs and files, oldest first.
    pub async fn recordings_of(
        &self,
        meeting: MeetingId,
    ) -> Result<(Vec<RecordingJob>, Vec<Recording>), StoreError> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM recording_jobs WHERE meeting_id = $1 ORDER BY id");
        let jobs = sqlx::query(&sql)
            .bind(meeting.0)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect::<Result<_, _>>()?;
        let sql =
            format!("SELECT {FILE_COLUMNS} FROM recordings WHERE meeting_id = $1 ORDER BY id");
        let files = sqlx::query(&sql)
            .bind(meeting.0)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(file_from_row)
            .collect::<Result<_, _>>()?;
        Ok((jobs, files))
    }
}
