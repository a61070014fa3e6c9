//! A minimal look at an offer's media sections, to check it before str0m takes it: which
//! m-lines exist, what they send and which codecs they carry.

use crate::{SfuError, SfuResult};
use parley_proto::{ErrorCode, PublishTrack, TrackKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub kind: Option<TrackKind>,
    pub mid: String,
    /// The client sends media on this m-line (`sendonly` or `sendrecv`, port not 0).
    pub sends: bool,
    /// Codec names from `a=rtpmap`, lower case.
    pub codecs: Vec<String>,
    /// `a=simulcast` or `a=rid` lines: several encodings on this m-line.
    pub simulcast: bool,
}

/// Codecs Parley forwards.
pub const FORWARDED: [&str; 3] = ["opus", "vp8", "h264"];

impl Section {
    pub fn has_forwarded_codec(&self) -> bool {
        self.codecs.iter().any(|c| FORWARDED.contains(&c.as_str()))
    }
}

/// The media sections of an SDP, or a reason it is not one.
pub fn sections(sdp: &str) -> Result<Vec<Section>, String> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err("SDP must start with `v=0`".into());
    }
    let mut out: Vec<Section> = Vec::new();
    let mut session_direction_sends = true;
    let mut in_media = false;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let kind = match parts.next() {
                Some("audio") => Some(TrackKind::Audio),
                Some("video") => Some(TrackKind::Video),
                _ => None,
            };
            let port = parts.next().unwrap_or("0");
            out.push(Section {
                kind,
                mid: String::new(),
                sends: port != "0" && session_direction_sends,
                codecs: Vec::new(),
                simulcast: false,
            });
            in_media = true;
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let direction = match attr {
            "sendonly" | "sendrecv" => Some(true),
            "recvonly" | "inactive" => Some(false),
            _ => None,
        };
        if !in_media {
            if let Some(sends) = direction {
                session_direction_sends = sends;
            }
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if let Some(sends) = direction {
            section.sends = section.sends && sends;
        } else if attr.starts_with("simulcast:") || attr.starts_with("rid:") {
            section.simulcast = true;
        } else if let Some(mid) = attr.strip_prefix("mid:") {
            section.mid = mid.trim().to_string();
        } else if let Some(map) = attr.strip_prefix("rtpmap:") {
            if let Some(name) = map
                .split_whitespace()
                .nth(1)
                .and_then(|e| e.split('/').next())
            {
                section.codecs.push(name.to_ascii_lowercase());
            }
        }
    }
    Ok(out)
}

/// Repeat the `a=candidate` lines of the first media section in every media section that has
/// none. With BUNDLE they belong only in the first, and browsers read them there; some clients
/// (aiortc) read the transport's candidates from another m-line and would find none.
pub fn candidates_in_every_section(sdp: &str) -> String {
    let candidates: Vec<&str> = sdp
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    if candidates.is_empty() {
        return sdp.to_string();
    }
    // Split into the session part and one block per m= section.
    let mut blocks: Vec<Vec<&str>> = vec![Vec::new()];
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if line.starts_with("m=") {
            blocks.push(Vec::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push(line);
        }
    }
    let mut out = String::with_capacity(sdp.len() + 128 * blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        for line in block.iter().filter(|l| !l.is_empty()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if i > 0 && !block.iter().any(|l| l.starts_with("a=candidate:")) {
            for c in &candidates {
                out.push_str(c);
                out.push_str("\r\n");
            }
        }
    }
    out
}

fn invalid(message: String) -> SfuError {
    SfuError::new(ErrorCode::InvalidInput, message)
}

/// Check a publisher offer against the tracks it claims to carry, before anything is changed:
/// every named mid is a sending m-line of the source's kind, every sending m-line is named, each
/// carries a codec Parley forwards and one encoding, and there are at most `max_tracks`.
pub fn check_offer(sdp: &str, tracks: &[PublishTrack], max_tracks: usize) -> SfuResult<()> {
    let sections = sections(sdp).map_err(|e| SfuError::new(ErrorCode::InvalidSdp, e))?;
    for (i, t) in tracks.iter().enumerate() {
        if tracks[..i].iter().any(|o| o.mid == t.mid) {
            return Err(invalid(format!("`tracks` names mid `{}` twice", t.mid)));
        }
        let section = sections.iter().find(|s| s.mid == t.mid).ok_or_else(|| {
            invalid(format!(
                "`tracks` names mid `{}`, which the offer does not have",
                t.mid
            ))
        })?;
        if section.kind != Some(t.source.kind()) {
            return Err(invalid(format!(
                "mid `{}` is not {} but `{}` is an {} source",
                t.mid,
                t.source.kind().as_str(),
                t.source.as_str(),
                t.source.kind().as_str()
            )));
        }
        if !section.sends {
            return Err(invalid(format!(
                "mid `{}` sends nothing (recvonly, inactive or rejected); name only sending m-lines",
                t.mid
            )));
        }
    }
    if tracks.len() > max_tracks {
        return Err(SfuError::new(
            ErrorCode::TooManyTracks,
            format!(
                "the offer sends {} tracks; a participant may publish {max_tracks}",
                tracks.len()
            ),
        ));
    }
    for s in sections.iter().filter(|s| s.kind.is_some() && s.sends) {
        if !tracks.iter().any(|t| t.mid == s.mid) {
            return Err(invalid(format!(
                "m-line `{}` sends media but `tracks` does not say its source",
                s.mid
            )));
        }
        if !s.has_forwarded_codec() {
            return Err(SfuError::new(
                ErrorCode::NoUsableCodec,
                format!(
                    "m-line `{}` offers only [{}]; Parley forwards Opus, VP8 and H.264",
                    s.mid,
                    s.codecs.join(", ")
                ),
            ));
        }
        if s.simulcast {
            return Err(invalid(format!(
                "m-line `{}` sends simulcast; this server takes one encoding per track",
                s.mid
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 98\r\na=mid:2\r\na=sendonly\r\na=rtpmap:98 AV1/90000\r\n";

    #[test]
    fn reads_kinds_mids_directions_and_codecs() {
        let s = sections(OFFER).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].kind, Some(TrackKind::Audio));
        assert_eq!((s[0].mid.as_str(), s[0].sends), ("0", true));
        assert!(s[0].has_forwarded_codec());
        assert_eq!((s[1].mid.as_str(), s[1].sends), ("1", false));
        assert_eq!(s[1].codecs, ["vp8", "rtx"]);
        // Port 0: rejected m-line, sends nothing.
        assert!(!s[2].sends);
        assert!(!s[2].has_forwarded_codec());
    }

    fn track(mid: &str, source: parley_proto::TrackSource) -> PublishTrack {
        PublishTrack {
            mid: mid.into(),
            source,
            name: String::new(),
            muted: false,
        }
    }

    #[test]
    fn offers_are_checked_against_their_tracks() {
        use parley_proto::TrackSource::{Camera, Microphone};
        let check = |tracks: &[PublishTrack], max: usize| {
            check_offer(OFFER, tracks, max).map_err(|e| (e.code, e.message))
        };
        assert_eq!(check(&[track("0", Microphone)], 8), Ok(()));
        let code = |r: Result<(), (ErrorCode, String)>| r.unwrap_err().0;
        assert_eq!(
            code(check(&[], 8)),
            ErrorCode::InvalidInput,
            "an unnamed sender"
        );
        assert_eq!(
            code(check(&[track("0", Camera)], 8)),
            ErrorCode::InvalidInput,
            "wrong kind"
        );
        assert_eq!(
            code(check(&[track("0", Microphone), track("1", Camera)], 8)),
            ErrorCode::InvalidInput,
            "a recvonly m-line named as a track"
        );
        assert_eq!(
            code(check(&[track("0", Microphone), track("0", Microphone)], 8)),
            ErrorCode::InvalidInput,
            "a mid named twice"
        );
        assert_eq!(
            code(check(&[track("0", Microphone)], 0)),
            ErrorCode::TooManyTracks
        );
        let simulcast = OFFER.replace(
            "a=mid:0\r\n",
            "a=mid:0\r\na=rid:h send\r\na=simulcast:send h\r\n",
        );
        assert_eq!(
            check_offer(&simulcast, &[track("0", Microphone)], 8)
                .unwrap_err()
                .code,
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn every_media_section_gets_the_candidates() {
        let sdp = "v=0\r\ns=-\r\nm=audio 9 X 111\r\na=mid:a\r\na=candidate:1 1 udp 9 127.0.0.1 7882 typ host\r\n\
                   m=audio 9 X 111\r\na=mid:b\r\n";
        let out = candidates_in_every_section(sdp);
        assert_eq!(
            out.matches("a=candidate:1 1 udp 9 127.0.0.1 7882 typ host")
                .count(),
            2
        );
        assert!(out.ends_with("a=mid:b\r\na=candidate:1 1 udp 9 127.0.0.1 7882 typ host\r\n"));
        assert_eq!(sections(&out).unwrap().len(), 2);
    }

    #[test]
    fn refuses_what_is_not_sdp() {
        assert!(sections("hello").is_err());
        assert!(sections("").is_err());
    }
}
