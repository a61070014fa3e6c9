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
    /// The `rid`s this m-line sends (simulcast), in the order of its `a=simulcast:send` line
    /// (or of its `a=rid:... send` lines without one); empty for one encoding.
    pub rids: Vec<String>,
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
                rids: Vec::new(),
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
        } else if let Some(list) = attr.strip_prefix("simulcast:") {
            // `send q;h;f` (`,` separates alternatives, `~` marks a paused stream); a receive
            // list means nothing to a publisher offer.
            let mut words = list.split_whitespace();
            while let (Some(dir), Some(streams)) = (words.next(), words.next()) {
                if dir == "send" {
                    section.rids = streams
                        .split([';', ','])
                        .map(|r| r.trim_start_matches('~').to_string())
                        .filter(|r| !r.is_empty())
                        .collect();
                }
            }
        } else if let Some(rid) = attr.strip_prefix("rid:") {
            let mut words = rid.split_whitespace();
            if let (Some(id), Some("send")) = (words.next(), words.next()) {
                if !section.rids.iter().any(|r| r == id) {
                    section.rids.push(id.to_string());
                }
            }
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

/// The first mid of an SDP's `a=group:BUNDLE` line: the m-line whose transport the group uses.
pub fn bundle_tag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("a=group:BUNDLE "))
        .and_then(|mids| mids.split_whitespace().next())
}

/// Drop the `msid` (`a=msid` and `a=ssrc:... msid:`) of every `inactive` media section. A
/// parked m-line carries nothing, and keeping the stream and track ids of the track it last
/// carried would repeat them when that track is subscribed to again: browsers refuse an offer
/// with a duplicate `a=msid`.
pub fn without_msid_when_inactive(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    let mut section: Vec<&str> = Vec::new();
    let flush = |section: &mut Vec<&str>, out: &mut String| {
        let inactive =
            section.first().is_some_and(|l| l.starts_with("m=")) && section.contains(&"a=inactive");
        for line in section.drain(..) {
            let msid = line.starts_with("a=msid:")
                || (line.starts_with("a=ssrc:") && line.contains(" msid:"));
            if !(inactive && msid) {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    };
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if line.starts_with("m=") {
            flush(&mut section, &mut out);
        }
        if !line.is_empty() {
            section.push(line);
        }
    }
    flush(&mut section, &mut out);
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
        check_layers(t, section)?;
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
    }
    Ok(())
}

/// Most layers a simulcast track may have.
pub const MAX_LAYERS: usize = 3;

/// A track's declared `layers` against the `rid`s its m-line sends: the same set, video only,
/// at most `MAX_LAYERS`.
fn check_layers(t: &PublishTrack, section: &Section) -> SfuResult<()> {
    if section.rids.is_empty() {
        if !t.layers.is_empty() {
            return Err(invalid(format!(
                "mid `{}` declares layers but its m-line sends one encoding (no `a=simulcast:send`)",
                t.mid
            )));
        }
        return Ok(());
    }
    if t.source.kind() != TrackKind::Video {
        return Err(invalid(format!(
            "mid `{}` sends simulcast audio; only video has layers",
            t.mid
        )));
    }
    if section.rids.len() > MAX_LAYERS {
        return Err(invalid(format!(
            "mid `{}` sends {} simulcast layers; at most {MAX_LAYERS}",
            t.mid,
            section.rids.len()
        )));
    }
    if t.layers.is_empty() {
        return Err(invalid(format!(
            "mid `{}` sends simulcast (rids {}); name them in `tracks[].layers`, lowest quality first",
            t.mid,
            section.rids.join(", ")
        )));
    }
    let mut declared: Vec<&str> = t.layers.iter().map(|l| l.rid.as_str()).collect();
    let mut sent: Vec<&str> = section.rids.iter().map(String::as_str).collect();
    declared.sort_unstable();
    sent.sort_unstable();
    if declared != sent {
        return Err(invalid(format!(
            "mid `{}` declares layers [{}] but its m-line sends rids [{}]",
            t.mid,
            t.layers
                .iter()
                .map(|l| l.rid.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            section.rids.join(", ")
        )));
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
            layers: Vec::new(),
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
        let simulcast_audio = OFFER.replace(
            "a=mid:0\r\n",
            "a=mid:0\r\na=rid:h send\r\na=simulcast:send h\r\n",
        );
        assert_eq!(
            check_offer(&simulcast_audio, &[track("0", Microphone)], 8)
                .unwrap_err()
                .code,
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn simulcast_layers_must_match_the_rids_sent() {
        use parley_proto::{PublishLayer, TrackSource::Camera};
        let sdp = "v=0\r\nm=video 9 X 96\r\na=mid:v\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n\
                   a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;~f\r\n";
        assert_eq!(sections(sdp).unwrap()[0].rids, ["q", "h", "f"]);
        let layered = |rids: &[&str]| PublishTrack {
            layers: rids
                .iter()
                .map(|r| PublishLayer {
                    rid: r.to_string(),
                    width: None,
                    height: None,
                })
                .collect(),
            ..track("v", Camera)
        };
        assert_eq!(check_offer(sdp, &[layered(&["q", "h", "f"])], 8), Ok(()));
        let message = |t: PublishTrack| check_offer(sdp, &[t], 8).unwrap_err().message;
        assert!(message(track("v", Camera)).contains("name them in `tracks[].layers`"));
        assert!(message(layered(&["q", "h"])).contains("declares layers [q, h]"));
        let four = sdp
            .replace("~f", "f;x")
            .replace("a=rid:q", "a=rid:x send\r\na=rid:q");
        assert!(check_offer(&four, &[layered(&["q", "h", "f", "x"])], 8)
            .unwrap_err()
            .message
            .contains("at most 3"));
        let plain = sdp
            .replace("a=simulcast:send q;h;~f\r\n", "")
            .replace(" send\r\n", " recv\r\n");
        assert!(check_offer(&plain, &[layered(&["q"])], 8)
            .unwrap_err()
            .message
            .contains("sends one encoding"));
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
    fn a_parked_m_line_loses_its_msid_and_the_bundle_tag_is_read() {
        let sdp = "v=0\r\na=group:BUNDLE exc AIn\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=mid:exc\r\na=inactive\r\na=msid:PA_1 TR_1\r\na=ssrc:5 cname:x\r\n\
                   a=ssrc:5 msid:PA_1 TR_1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:AIn\r\n\
                   a=sendonly\r\na=msid:PA_1 TR_1\r\na=ssrc:6 msid:PA_1 TR_1\r\n";
        assert_eq!(bundle_tag(sdp), Some("exc"));
        let out = without_msid_when_inactive(sdp);
        assert_eq!(out.matches("msid:PA_1 TR_1").count(), 2, "{out}");
        assert!(out.contains("a=ssrc:5 cname:x\r\nm=audio"), "{out}");
        assert!(
            out.ends_with("a=msid:PA_1 TR_1\r\na=ssrc:6 msid:PA_1 TR_1\r\n"),
            "{out}"
        );
        assert_eq!(sections(&out).unwrap().len(), 2);
    }

    #[test]
    fn refuses_what_is_not_sdp() {
        assert!(sections("hello").is_err());
        assert!(sections("").is_err());
    }
}
