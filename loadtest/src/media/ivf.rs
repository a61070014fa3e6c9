//! Real VP8 video for the publishers: clips made once by ffmpeg (libvpx) into a cache folder,
//! one per simulcast layer, read back with a small IVF reader and looped with increasing
//! timestamps. All layers are made from the same moving test pattern at the same frame rate,
//! with keyframes at the same interval, as a browser's simulcast encoder would.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// One layer's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSpec {
    pub width: u32,
    pub height: u32,
    pub kbps: u32,
    pub fps: u32,
    pub secs: u32,
}

pub struct VideoFrame {
    pub data: Arc<[u8]>,
    pub keyframe: bool,
}

pub struct VideoClip {
    pub spec: ClipSpec,
    pub frames: Vec<VideoFrame>,
}

/// The three layers a browser sends for a 640x360 camera (`q`, `h`, `f`), or its one encoding.
pub fn layers(simulcast: bool, fps: u32) -> Vec<ClipSpec> {
    let spec = |width, height, kbps| ClipSpec {
        width,
        height,
        kbps,
        fps,
        secs: 10,
    };
    if simulcast {
        vec![spec(160, 90, 100), spec(320, 180, 250), spec(640, 360, 600)]
    } else {
        vec![spec(640, 360, 600)]
    }
}

/// The clip for `spec`, from `cache` or made there with ffmpeg.
pub fn clip(cache: &Path, spec: ClipSpec) -> Result<VideoClip> {
    let path = cache.join(format!(
        "vp8-{}x{}-{}k-{}fps-{}s.ivf",
        spec.width, spec.height, spec.kbps, spec.fps, spec.secs
    ));
    if !path.exists() {
        make(&path, spec)?;
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let frames = read_ivf(&bytes).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        frames.first().is_some_and(|f| f.keyframe),
        "{} does not start with a keyframe",
        path.display()
    );
    Ok(VideoClip { spec, frames })
}

fn make(path: &Path, spec: ClipSpec) -> Result<()> {
    std::fs::create_dir_all(path.parent().context("clip path")?)?;
    // Written under a temporary name and renamed, so parallel runs never read half a clip.
    let partial = PathBuf::from(format!("{}.{}.partial", path.display(), std::process::id()));
    let ClipSpec {
        width,
        height,
        kbps,
        fps,
        secs,
    } = spec;
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={width}x{height}:rate={fps}"))
        .args(["-t", &secs.to_string(), "-c:v", "libvpx"])
        .args(["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k")])
        .args([
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-error-resilient",
            "1",
        ])
        .args(["-lag-in-frames", "0", "-auto-alt-ref", "0"])
        // A keyframe every 3 s, as a browser's camera sends when nobody asks for one.
        .args([
            "-g",
            &(fps * 3).to_string(),
            "-keyint_min",
            &(fps * 3).to_string(),
        ])
        .args(["-f", "ivf"])
        .arg(&partial)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "ffmpeg is not installed: it makes the VP8 clips the publishers send \
             (apt-get install ffmpeg, or scripts/install-test-deps)"
        ),
        Err(err) => return Err(err).context("running ffmpeg"),
    };
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "ffmpeg could not make a VP8 clip (is it built with libvpx?): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// The frames of an IVF file (a 32-byte header, then 12-byte frame headers and frames).
pub fn read_ivf(bytes: &[u8]) -> Result<Vec<VideoFrame>> {
    ensure!(
        bytes.len() >= 32 && &bytes[..4] == b"DKIF",
        "not an IVF file"
    );
    ensure!(&bytes[8..12] == b"VP80", "not VP8");
    let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let mut at = header_len;
    let mut frames = Vec::new();
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
        at += 12;
        let data = bytes.get(at..at + size).context("truncated frame")?;
        at += size;
        // The frame tag's lowest bit is 0 for a keyframe (RFC 6386 §9.1).
        let keyframe = data.first().is_some_and(|b| b & 1 == 0);
        frames.push(VideoFrame {
            data: data.into(),
            keyframe,
        });
    }
    ensure!(!frames.is_empty(), "no frames");
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivf(frames: &[&[u8]]) -> Vec<u8> {
        let mut b = b"DKIF".to_vec();
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&32u16.to_le_bytes());
        b.extend_from_slice(b"VP80");
        b.resize(32, 0);
        for (i, f) in frames.iter().enumerate() {
            b.extend_from_slice(&(f.len() as u32).to_le_bytes());
            b.extend_from_slice(&(i as u64).to_le_bytes());
            b.extend_from_slice(f);
        }
        b
    }

    #[test]
    fn frames_and_keyframes_are_read() {
        let frames = read_ivf(&ivf(&[&[0x50, 1, 2], &[0x51, 3]])).unwrap();
        assert_eq!(frames.len(), 2);
        assert!(frames[0].keyframe && !frames[1].keyframe);
        assert_eq!(&frames[1].data[..], &[0x51, 3]);
        assert!(read_ivf(b"RIFF....").is_err());
        let mut cut = ivf(&[&[0x50, 1, 2]]);
        cut.pop();
        assert!(read_ivf(&cut).is_err());
    }
}
