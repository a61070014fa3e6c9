//! What several fuzz targets share: reading structured records out of the fuzzer's bytes, RTP
//! timestamps extended as str0m extends them, and the recorder's arithmetic from RTP time to a
//! writer's timeline.
//!
//! Each target in `src/bin/` is one `afl::fuzz` loop over one entry point of Parley's code;
//! `docs/FUZZING.md` says what each reaches.

use std::net::SocketAddr;

/// Bytes taken from the front of the fuzzer's input; every read past the end gives zeros or
/// nothing, so any input is a valid (if short) sequence of records.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        let Some((first, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        *first
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        taken
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(usize::MAX)
    }
}

/// One media frame as the recorder's subscriber hands it out: its RTP timestamp as sent (the
/// fuzzer picks any 32-bit value, so jumps, wraps and reordering are all in reach), the
/// keyframe flag, a few flag bits for the target, and the payload.
pub struct Frame<'a> {
    pub rtp_timestamp: u32,
    pub keyframe: bool,
    pub flags: u8,
    pub payload: &'a [u8],
}

/// Frames from the fuzzer's bytes: `[flags u8][timestamp u32 LE][length u16 LE][payload]`,
/// repeated; at most `max` frames.
pub fn frames(data: &[u8], max: usize) -> Vec<Frame<'_>> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() && out.len() < max {
        let flags = r.u8();
        let rtp_timestamp = r.u32();
        let length = usize::from(r.u16());
        out.push(Frame {
            rtp_timestamp,
            keyframe: flags & 1 != 0,
            flags,
            payload: r.bytes(length),
        });
    }
    out
}

/// RTP timestamps extended to 64 bits as a receiver does (RFC 3550 style: the shorter way
/// round from the previous one), never below 0.
#[derive(Default)]
pub struct Extender {
    last: Option<(u32, u64)>,
}

impl Extender {
    pub fn extend(&mut self, ts: u32) -> u64 {
        let extended = match self.last {
            None => u64::from(ts) + (1 << 32),
            Some((last, last_ext)) => {
                let delta = i64::from(ts.wrapping_sub(last) as i32);
                last_ext.saturating_add_signed(delta)
            }
        };
        self.last = Some((ts, extended));
        extended
    }
}

/// A source address on the loopback. What the engine sends back goes there (port 9, discard).
pub fn loopback(last_octet: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last_octet], 9))
}

/// A Chromium-style publisher offer: Opus and VP8 (with H.264 and RTX), BUNDLE, rtcp-mux, the
/// usual header extensions. Its ICE ufrag is `fuzzufrag`.
pub const CHROMIUM_OFFER: &str = include_str!("../corpus/sdp_offer/chromium-audio-video.sdp");

/// The client ICE ufrag of [`CHROMIUM_OFFER`].
pub const OFFER_UFRAG: &str = "fuzzufrag";

/// The value of `a=<name>:` in an SDP, first occurrence.
pub fn sdp_attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines().find_map(|line| {
        line.trim_end_matches('\r')
            .strip_prefix("a=")?
            .strip_prefix(name)?
            .strip_prefix(':')
    })
}

/// A STUN binding request with USE-CANDIDATE from the controlling client, as a browser sends
/// it to nominate a pair: `server_ufrag:client_ufrag`, signed with the server's password.
pub fn ice_check(server_ufrag: &str, client_ufrag: &str, server_pwd: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    use str0m::ice::{StunMessage, TransId};
    let username = format!("{server_ufrag}:{client_ufrag}");
    let message =
        StunMessage::binding_request(&username, TransId::new(), true, 0x1234, 0x7e00_00ff, true);
    let mut buf = vec![0u8; 512];
    let sha1_hmac = |key: &[u8], parts: &[&[u8]]| -> [u8; 20] {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    };
    let n = message
        .to_bytes(Some(server_pwd.as_bytes()), &mut buf, sha1_hmac)
        .expect("a binding request fits 512 bytes");
    buf.truncate(n);
    buf
}
