//! What a subscriber's screen shows, and so what it subscribes to, as a meeting UI would:
//!
//! - `grid`: every camera, at a quality that fits the tile (high for up to 2 cameras, medium
//!   for up to 6, low beyond);
//! - `speaker`: the active speaker's camera large (high) and the others as thumbnails (low),
//!   following `active_speakers`;
//! - `audio`: audio only.
//!
//! Everyone hears every microphone.

use parley_proto::{TrackInfo, TrackKind, VideoQuality};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Grid,
    Speaker,
    Audio,
}

impl Layout {
    /// Whether to subscribe to `track`, and (for a simulcast camera) the most quality to ask
    /// for. `cameras` is how many cameras the room has; `main` is whether the track's publisher
    /// is the speaker shown large.
    pub fn choose(
        self,
        track: &TrackInfo,
        cameras: usize,
        main: bool,
    ) -> Option<Option<VideoQuality>> {
        if track.kind == TrackKind::Audio {
            return Some(None);
        }
        let quality = match self {
            Layout::Audio => return None,
            Layout::Grid if cameras <= 2 => VideoQuality::High,
            Layout::Grid if cameras <= 6 => VideoQuality::Medium,
            Layout::Grid => VideoQuality::Low,
            Layout::Speaker if main => VideoQuality::High,
            Layout::Speaker => VideoQuality::Low,
        };
        Some((!track.layers.is_empty()).then_some(quality))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_proto::{TrackSource, VideoLayer};

    fn track(kind: TrackKind, simulcast: bool) -> TrackInfo {
        let layer = |quality, rid: &str| VideoLayer {
            quality,
            rid: rid.into(),
            width: None,
            height: None,
        };
        TrackInfo {
            sid: "TR_x".into(),
            participant: "PA_x".into(),
            kind,
            source: if kind == TrackKind::Audio {
                TrackSource::Microphone
            } else {
                TrackSource::Camera
            },
            name: String::new(),
            muted: false,
            codec: None,
            layers: if simulcast {
                vec![
                    layer(VideoQuality::Low, "q"),
                    layer(VideoQuality::High, "f"),
                ]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn layouts_choose_like_a_meeting_ui() {
        let mic = track(TrackKind::Audio, false);
        let cam = track(TrackKind::Video, true);
        let plain = track(TrackKind::Video, false);
        for layout in [Layout::Grid, Layout::Speaker, Layout::Audio] {
            assert_eq!(layout.choose(&mic, 9, false), Some(None), "{layout:?}");
        }
        assert_eq!(Layout::Audio.choose(&cam, 1, true), None);
        assert_eq!(
            Layout::Grid.choose(&cam, 2, false),
            Some(Some(VideoQuality::High))
        );
        assert_eq!(
            Layout::Grid.choose(&cam, 4, false),
            Some(Some(VideoQuality::Medium))
        );
        assert_eq!(
            Layout::Grid.choose(&cam, 10, false),
            Some(Some(VideoQuality::Low))
        );
        assert_eq!(
            Layout::Speaker.choose(&cam, 10, true),
            Some(Some(VideoQuality::High))
        );
        assert_eq!(
            Layout::Speaker.choose(&cam, 10, false),
            Some(Some(VideoQuality::Low))
        );
        // One encoding: subscribed, nothing to choose.
        assert_eq!(Layout::Speaker.choose(&plain, 10, false), Some(None));
    }
}
