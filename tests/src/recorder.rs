//! What the recording tests run beside the server: `parley-recorder` processes, a Chromium page
//! publishing its fake camera, and ffprobe/ffmpeg to look inside what was recorded.

use crate::rtc::{rtc_url, App};
use crate::{S3Server, Server};
use parley_proto::{NewRecordingFile, RecordingKind, RecordingProgress, RecordingStatus};
use parley_storage::{Database, ObjectStorage};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The `parley-recorder` binary under test, beside `parley`.
pub fn recorder_bin() -> PathBuf {
    let bin = crate::parley_bin().with_file_name("parley-recorder");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// A running `parley-recorder`, killed when dropped; its log is kept in `log`.
pub struct RecorderProcess {
    child: tokio::process::Child,
    pub name: String,
    pub log: PathBuf,
}

impl RecorderProcess {
    /// A recorder for `server`'s jobs, signing with `app`'s key, writing to `s3`'s bucket.
    pub fn start(server: &Server, app: &App, s3: &S3Server, name: &str) -> RecorderProcess {
        let log = server.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("recorder log");
        let mut command = tokio::process::Command::new(recorder_bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("PARLEY_") {
                command.env_remove(key);
            }
        }
        let child = command
            .env("RUST_LOG", "info,str0m=warn")
            .args(["--server", &server.url, "--name", name])
            .args(["--api-key", &app.key, "--api-secret", &app.secret])
            .args(["--s3-bucket", &s3.bucket, "--s3-endpoint", &s3.endpoint])
            .args([
                "--s3-access-key-id",
                "testing",
                "--s3-secret-access-key",
                "testing",
            ])
            .args(["--s3-allow-http", "--flush-ms", "1000"])
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("start parley-recorder");
        RecorderProcess {
            child,
            name: name.to_string(),
            log,
        }
    }

    /// SIGKILL: no goodbye at all, as in a crash.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the recorder");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A Chromium page publishing its fake camera and microphone (`tests/browser/publish.mjs`).
pub struct ChromiumPublisher {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl ChromiumPublisher {
    /// Join with `token` and return once the page is sending frames.
    pub async fn start(server: &Server, token: &str, codec: &str) -> ChromiumPublisher {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/publish.mjs");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .args([
                "--rtc",
                &rtc_url(server),
                "--token",
                token,
                "--codec",
                codec,
            ])
            .args(["--seconds", "120"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (scripts/install-test-deps installs playwright-core and chromium)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let published = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    return value;
                }
            }
            Value::Null
        })
        .await
        .expect("Chromium did not start publishing within 60 s");
        assert!(
            published.get("published").is_some(),
            "Chromium: {published}"
        );
        ChromiumPublisher { child, lines }
    }

    /// Leave; what the page reports of what it sent.
    pub async fn stop(mut self) -> Value {
        drop(self.child.stdin.take());
        let mut last = Value::Null;
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    last = value;
                }
            }
        })
        .await;
        let _ = self.child.wait().await;
        last
    }
}

/// `ffprobe`'s view of a media file: its streams' codecs and the container's duration.
pub fn probe(file: &Path) -> Value {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["stream=codec_name,codec_type,width,height:format=duration,format_name"])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .expect("run ffprobe (scripts/install-test-deps installs ffmpeg)");
    assert!(
        output.status.success(),
        "ffprobe {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe json")
}

/// The container's duration in seconds, as ffprobe reports it.
pub fn duration_secs(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration: {probe}"))
}

/// Decode an audio file to mono 48 kHz samples with ffmpeg; also fails the test on any error
/// ffmpeg reports, so a file that does not decode cleanly is caught.
pub fn decode_audio(file: &Path) -> Vec<f32> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        output.status.success(),
        "ffmpeg {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// The strongest frequency in `samples` (48 kHz) among 100 Hz to 2 kHz in 5 Hz steps (Goertzel).
pub fn dominant_frequency(samples: &[f32]) -> f64 {
    let power = |freq: f64| goertzel(samples, freq);
    (20..=400)
        .map(|step| f64::from(step) * 5.0)
        .map(|freq| (freq, power(freq)))
        .fold(
            (0.0, f64::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
        .0
}

/// How much stronger `freq` is in `samples` (48 kHz) than the band around it on average
/// (100 Hz to 2 kHz, leaving out 40 Hz either side of it).
pub fn tone_power_ratio(samples: &[f32], freq: f64) -> f64 {
    let power = |f: f64| goertzel(samples, f);
    let others: Vec<f64> = (20..=400)
        .map(|step| f64::from(step) * 5.0)
        .filter(|f| (f - freq).abs() > 40.0)
        .map(power)
        .collect();
    let mean = others.iter().sum::<f64>() / others.len() as f64;
    power(freq) / mean.max(f64::MIN_POSITIVE)
}

/// The power of `freq` in `samples` (48 kHz), by the Goertzel algorithm.
fn goertzel(samples: &[f32], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 48_000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// A real WebM/Opus file of `secs` seconds of a 440 Hz tone.
pub fn tone_webm(dir: &Path, secs: u32) -> Vec<u8> {
    let path = dir.join(format!("tone-{secs}.webm"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args(["-c:a", "libopus", "-b:a", "64k"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success());
    std::fs::read(&path).expect("read the tone")
}

/// Store `file` as a finished recording of a new meeting, in `chunk`-byte objects, the way the
/// recorder does (its job claimed, the file added, its chunks uploaded, then marked done).
/// Returns the recording's id.
pub async fn store_recording(
    db: &Database,
    objects: &ObjectStorage,
    file: &[u8],
    chunk: usize,
) -> i64 {
    let now = parley_storage::now_ms();
    let room_sid = crate::unique("RM_stored");
    db.meeting_started(&room_sid, "backup-room", None, false, now)
        .await
        .expect("meeting");
    let meeting = db
        .meeting_by_sid(&room_sid)
        .await
        .unwrap()
        .expect("meeting id");
    db.request_recording(meeting, "backup-room", false, None, now)
        .await
        .expect("job");
    let claimed = db
        .claim_recording_job("test-recorder", 60_000, now)
        .await
        .unwrap()
        .expect("claimed");
    let recording = db
        .add_recording(
            &claimed.job,
            &NewRecordingFile {
                recorder: "test-recorder".into(),
                kind: RecordingKind::Mixed,
                participant: None,
                participant_name: None,
                source: None,
                track_sid: None,
                codec: "opus".into(),
                content_type: "audio/webm".into(),
                start_offset_ms: 0,
            },
            None,
            now,
        )
        .await
        .expect("recording");
    let chunks = file.chunks(chunk).collect::<Vec<_>>();
    for (i, part) in chunks.iter().enumerate() {
        objects
            .put(
                &format!("{}/{i:06}", recording.object_prefix),
                bytes::Bytes::copy_from_slice(part),
            )
            .await
            .expect("chunk");
    }
    db.recording_progress(
        claimed.job.id,
        recording.id,
        &RecordingProgress {
            recorder: "test-recorder".into(),
            duration_ms: 3000,
            size_bytes: file.len() as i64,
            chunks: chunks.len() as i64,
            status: Some(RecordingStatus::Done),
            failure: None,
        },
        now,
    )
    .await
    .expect("done");
    db.finish_recording_job(claimed.job.id, "test-recorder", None, now)
        .await
        .expect("job done");
    recording.id.0
}
