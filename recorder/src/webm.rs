//! WebM (VP8) and Matroska (H.264) for one video track, written as frames arrive.
//!
//! A minimal live muxer, written by hand because what a recorder needs is small and specific:
//! a header whose length is fixed before the first cluster (so the uploader can store it first
//! and rewrite it with the duration at the end), a Segment of unknown size (so no byte already
//! uploaded ever changes but the header), and Clusters written whole with their size once
//! closed. Any prefix that ends at a cluster boundary is therefore a playable file. No Cues:
//! players seek by scanning clusters, which is fine for meeting-length recordings.
//!
//! Layout: EBML header, Segment { Info, Tracks, Cluster* }. Timestamps are milliseconds
//! (TimestampScale 1 ms) from the track's start, kept as given so that the file stays in sync
//! with the track's audio even when the first keyframe came late.

use crate::TrackMuxer;

/// The video codecs the recorder writes without re-encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// VP8 in WebM.
    Vp8,
    /// H.264 in Matroska (WebM allows only VP8/VP9/AV1).
    H264,
}

/// EBML and Matroska element IDs (RFC 8794, RFC 9559), with their marker bits.
mod id {
    pub const EBML: u32 = 0x1a45_dfa3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42f7;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_a966;
    pub const TIMESTAMP_SCALE: u32 = 0x2a_d7b1;
    pub const MUXING_APP: u32 = 0x4d80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const DURATION: u32 = 0x4489;
    pub const VOID: u32 = 0xec;
    pub const TRACKS: u32 = 0x1654_ae6b;
    pub const TRACK_ENTRY: u32 = 0xae;
    pub const TRACK_NUMBER: u32 = 0xd7;
    pub const TRACK_UID: u32 = 0x73c5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63a2;
    pub const VIDEO: u32 = 0xe0;
    pub const PIXEL_WIDTH: u32 = 0xb0;
    pub const PIXEL_HEIGHT: u32 = 0xba;
    pub const CLUSTER: u32 = 0x1f43_b675;
    pub const TIMESTAMP: u32 = 0xe7;
    pub const SIMPLE_BLOCK: u32 = 0xa3;
}

/// A Segment size of all ones: "unknown", so the Segment can grow while being uploaded.
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
/// A new cluster starts at a keyframe once the open one is this old (ms)...
const CLUSTER_MIN_MS: u64 = 250;
/// ... or at any frame once it is this old (which also keeps block timecodes within an i16):
/// a cluster is uploaded only when closed, so this bounds what a recorder that dies loses.
const CLUSTER_MAX_MS: u64 = 500;
/// The last frame is assumed to last as long as the interval before it, up to this much.
const MAX_FRAME_MS: u64 = 1_000;

fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
}

/// An EBML variable-length size in the fewest bytes (never all ones, which means unknown).
fn put_size(out: &mut Vec<u8>, size: u64) {
    let length = (1..=8u32)
        .find(|&n| size < (1u64 << (7 * n)) - 1)
        .unwrap_or(8);
    let marked = size | (1u64 << (7 * length));
    out.extend_from_slice(&marked.to_be_bytes()[8 - length as usize..]);
}

fn put_element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn put_uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    put_element(out, id, &bytes[skip..]);
}

/// The picture and codec setup, known from the first keyframe.
struct TrackSetup {
    width: u32,
    height: u32,
    codec_private: Option<Vec<u8>>,
}

/// The cluster being filled: its timestamp and its SimpleBlocks, written whole when closed.
struct Cluster {
    start_ms: u64,
    blocks: Vec<u8>,
}

/// One video track in a WebM or Matroska file: `push_frame` whole frames, upload the header
/// once it exists, then whatever `take_ready` returns, then `finish`.
pub struct WebmWriter {
    codec: VideoCodec,
    setup: Option<TrackSetup>,
    /// The latest H.264 parameter sets seen, in case the keyframe comes without them.
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    cluster: Option<Cluster>,
    ready: Vec<u8>,
    last_ms: Option<u64>,
    /// Where the written video ends: the last frame's time plus its assumed length.
    end_ms: u64,
    finished: bool,
}

impl WebmWriter {
    /// A writer for one track; its header exists once the first keyframe has been pushed.
    pub fn new(codec: VideoCodec) -> Self {
        Self {
            codec,
            setup: None,
            sps: None,
            pps: None,
            cluster: None,
            ready: Vec::new(),
            last_ms: None,
            end_ms: 0,
            finished: false,
        }
    }

    /// Add one whole frame (VP8 as depacketized, H.264 as an Annex-B access unit) at `ts_ms`
    /// from the track's start. Returns `false` when it is dropped: before the first keyframe
    /// (nothing could decode it), when its time goes backwards, or after `finish`. The
    /// `keyframe` flag is trusted only when the bitstream agrees.
    pub fn push_frame(&mut self, data: &[u8], ts_ms: u64, keyframe: bool) -> bool {
        if self.finished || self.last_ms.is_some_and(|last| ts_ms < last) {
            return false;
        }
        let (block, keyframe) = match self.codec {
            VideoCodec::Vp8 => (data.to_vec(), keyframe && vp8_is_keyframe(data)),
            VideoCodec::H264 => {
                let nals = annex_b_nal_units(data);
                for nal in &nals {
                    match nal.first().map(|b| b & 0x1f) {
                        Some(7) => self.sps = Some(nal.to_vec()),
                        Some(8) => self.pps = Some(nal.to_vec()),
                        _ => {}
                    }
                }
                let idr = nals
                    .iter()
                    .any(|nal| nal.first().map(|b| b & 0x1f) == Some(5));
                (length_prefixed(&nals), keyframe && idr)
            }
        };
        if self.setup.is_none() {
            if !keyframe {
                return false;
            }
            let setup = match self.codec {
                VideoCodec::Vp8 => vp8_picture_size(data).map(|(width, height)| TrackSetup {
                    width,
                    height,
                    codec_private: None,
                }),
                VideoCodec::H264 => self.h264_setup(),
            };
            let Some(setup) = setup else {
                return false;
            };
            self.setup = Some(setup);
        }
        if block.is_empty() {
            return false;
        }
        self.add_block(&block, ts_ms, keyframe);
        true
    }

    fn h264_setup(&self) -> Option<TrackSetup> {
        let (sps, pps) = (self.sps.as_deref()?, self.pps.as_deref()?);
        let info = parse_sps(sps)?;
        Some(TrackSetup {
            width: info.width,
            height: info.height,
            codec_private: Some(avc_decoder_configuration(sps, pps, &info)),
        })
    }

    fn add_block(&mut self, block: &[u8], ts_ms: u64, keyframe: bool) {
        if let Some(cluster) = &self.cluster {
            let age = ts_ms - cluster.start_ms;
            if (keyframe && age >= CLUSTER_MIN_MS) || age >= CLUSTER_MAX_MS {
                self.close_cluster();
            }
        }
        let cluster = self.cluster.get_or_insert_with(|| Cluster {
            start_ms: ts_ms,
            blocks: Vec::new(),
        });
        // Less than CLUSTER_MAX_MS by the rule above, so it fits.
        let relative = i16::try_from(ts_ms - cluster.start_ms).unwrap_or(i16::MAX);
        let mut body = Vec::with_capacity(block.len() + 4);
        body.push(0x81); // track number 1 as an EBML vint
        body.extend_from_slice(&relative.to_be_bytes());
        body.push(if keyframe { 0x80 } else { 0x00 });
        body.extend_from_slice(block);
        put_element(&mut cluster.blocks, id::SIMPLE_BLOCK, &body);

        let frame_ms = self
            .last_ms
            .map_or(0, |last| (ts_ms - last).min(MAX_FRAME_MS));
        self.last_ms = Some(ts_ms);
        self.end_ms = ts_ms + frame_ms;
    }

    fn close_cluster(&mut self) {
        if let Some(cluster) = self.cluster.take() {
            let mut body = Vec::with_capacity(cluster.blocks.len() + 10);
            put_uint(&mut body, id::TIMESTAMP, cluster.start_ms);
            body.extend_from_slice(&cluster.blocks);
            put_element(&mut self.ready, id::CLUSTER, &body);
        }
    }
}

impl TrackMuxer for WebmWriter {
    /// `None` until the first keyframe gives the picture size. The Duration is reserved as an
    /// 11-byte Void until `finished`, when it takes exactly those bytes: a file cut short says
    /// nothing of its duration rather than something wrong.
    fn header(&self, finished: bool) -> Option<Vec<u8>> {
        let setup = self.setup.as_ref()?;
        let mut out = Vec::new();

        let mut ebml = Vec::new();
        put_uint(&mut ebml, id::EBML_VERSION, 1);
        put_uint(&mut ebml, id::EBML_READ_VERSION, 1);
        let doc_type: &[u8] = match self.codec {
            VideoCodec::Vp8 => b"webm",
            VideoCodec::H264 => b"matroska",
        };
        put_element(&mut ebml, id::DOC_TYPE, doc_type);
        put_uint(&mut ebml, id::DOC_TYPE_VERSION, 4);
        put_uint(&mut ebml, id::DOC_TYPE_READ_VERSION, 2);
        put_element(&mut out, id::EBML, &ebml);

        put_id(&mut out, id::SEGMENT);
        out.extend_from_slice(&UNKNOWN_SIZE);

        let mut info = Vec::new();
        put_uint(&mut info, id::TIMESTAMP_SCALE, 1_000_000);
        put_element(&mut info, id::MUXING_APP, b"parley");
        put_element(&mut info, id::WRITING_APP, b"parley");
        if finished {
            put_element(&mut info, id::DURATION, &(self.end_ms as f64).to_be_bytes());
        } else {
            put_element(&mut info, id::VOID, &[0; 9]);
        }
        put_element(&mut out, id::INFO, &info);

        let mut video = Vec::new();
        put_uint(&mut video, id::PIXEL_WIDTH, u64::from(setup.width));
        put_uint(&mut video, id::PIXEL_HEIGHT, u64::from(setup.height));
        let mut entry = Vec::new();
        put_uint(&mut entry, id::TRACK_NUMBER, 1);
        put_uint(&mut entry, id::TRACK_UID, 1);
        put_uint(&mut entry, id::TRACK_TYPE, 1);
        let codec_id: &[u8] = match self.codec {
            VideoCodec::Vp8 => b"V_VP8",
            VideoCodec::H264 => b"V_MPEG4/ISO/AVC",
        };
        put_element(&mut entry, id::CODEC_ID, codec_id);
        if let Some(private) = &setup.codec_private {
            put_element(&mut entry, id::CODEC_PRIVATE, private);
        }
        put_element(&mut entry, id::VIDEO, &video);
        let mut tracks = Vec::new();
        put_element(&mut tracks, id::TRACK_ENTRY, &entry);
        put_element(&mut out, id::TRACKS, &tracks);
        Some(out)
    }

    fn take_ready(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.ready)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.finished = true;
        self.close_cluster();
        self.take_ready()
    }

    fn duration_ms(&self) -> u64 {
        self.end_ms
    }
}

/// VP8 frame tag bit 0 (RFC 6386 §9.1) is 0 on keyframes.
fn vp8_is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 1 == 0)
}

/// The picture size from a VP8 keyframe header: the 3-byte frame tag, the start code
/// 9d 01 2a, then 14-bit width and height (little-endian, top 2 bits are scaling).
fn vp8_picture_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || !vp8_is_keyframe(frame) || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    (width > 0 && height > 0).then_some((u32::from(width), u32::from(height)))
}

/// The NAL units of an Annex-B access unit, without start codes. Data without any start code
/// is taken as one NAL unit.
fn annex_b_nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    if starts.is_empty() {
        return if data.is_empty() {
            Vec::new()
        } else {
            vec![data]
        };
    }
    let mut nals = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(data.len(), |&next| next - 3);
        // Zero bytes before a start code belong to it (a 4-byte start code, or padding).
        let mut nal = &data[start..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

/// NAL units with 4-byte big-endian lengths, as Matroska stores AVC. Access unit delimiters
/// and filler data carry nothing a Matroska reader needs.
fn length_prefixed(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        if matches!(nal[0] & 0x1f, 9 | 12) {
            continue;
        }
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// What the recorder needs from an H.264 sequence parameter set.
#[derive(Debug, PartialEq, Eq)]
struct SpsInfo {
    width: u32,
    height: u32,
    profile_idc: u8,
    chroma_format_idc: u32,
    bit_depth_luma: u32,
    bit_depth_chroma: u32,
}

/// Reads bits and Exp-Golomb codes (H.264 §9.1) from an RBSP.
struct BitReader {
    bytes: Vec<u8>,
    bit: usize,
}

impl BitReader {
    /// The RBSP of a NAL unit's payload: emulation prevention bytes (00 00 03) removed.
    fn from_nal_payload(payload: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(payload.len());
        let mut zeros = 0;
        for &b in payload {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            bytes.push(b);
        }
        Self { bytes, bit: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = self.bytes.get(self.bit / 8)?;
        let value = (byte >> (7 - self.bit % 8)) & 1;
        self.bit += 1;
        Some(u32::from(value))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        u32::try_from((1u64 << zeros) - 1 + u64::from(rest)).ok()
    }

    fn se(&mut self) -> Option<i32> {
        let k = i64::from(self.ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).ok()
    }

    /// Skips a scaling_list() of `size` coefficients (H.264 §7.3.2.1.1.1).
    fn skip_scaling_list(&mut self, size: usize) -> Option<()> {
        let (mut last, mut next) = (8i32, 8i32);
        for _ in 0..size {
            if next != 0 {
                // delta_scale is -128 to 127 (§7.4.2.1.1.1); more would overflow.
                let delta = self.se()?;
                if !(-128..=127).contains(&delta) {
                    return None;
                }
                next = (last + delta + 256) % 256;
            }
            if next != 0 {
                last = next;
            }
        }
        Some(())
    }
}

/// Parses a sequence parameter set NAL unit (with its header byte) far enough to know the
/// cropped picture size (H.264 §7.3.2.1.1, §7.4.2.1.1). `None` if it is not a valid SPS.
fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let mut r = BitReader::from_nal_payload(&nal[1..]);
    let profile_idc = u8::try_from(r.bits(8)?).ok()?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let (mut chroma_format_idc, mut separate_colour_plane) = (1, false);
    let (mut bit_depth_luma, mut bit_depth_chroma) = (8, 8);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return None;
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        let (luma_minus8, chroma_minus8) = (r.ue()?, r.ue()?);
        // 0 to 6 (§7.4.2.1.1); more would overflow the depths.
        if luma_minus8 > 6 || chroma_minus8 > 6 {
            return None;
        }
        bit_depth_luma = 8 + luma_minus8;
        bit_depth_chroma = 8 + chroma_minus8;
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    r.skip_scaling_list(if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            for _ in 0..r.ue()? {
                r.se()?; // offset_for_ref_frame
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        left = r.ue()?.into();
        right = r.ue()?.into();
        top = r.ue()?.into();
        bottom = r.ue()?.into();
    }
    // Cropping counts in chroma samples (§7.4.2.1.1, CropUnitX / CropUnitY).
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_x, crop_y) = match chroma_array_type {
        0 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        2 => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let width = (width_mbs * 16).checked_sub(crop_x * (left + right))?;
    let height =
        ((2 - frame_mbs_only) * height_map_units * 16).checked_sub(crop_y * (top + bottom))?;
    Some(SpsInfo {
        width: u32::try_from(width).ok().filter(|&w| w > 0)?,
        height: u32::try_from(height).ok().filter(|&h| h > 0)?,
        profile_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
    })
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) Matroska wants as the
/// CodecPrivate of V_MPEG4/ISO/AVC, for 4-byte NAL unit lengths.
fn avc_decoder_configuration(sps: &[u8], pps: &[u8], info: &SpsInfo) -> Vec<u8> {
    let mut record = vec![
        1,      // configurationVersion
        sps[1], // AVCProfileIndication
        sps[2], // profile_compatibility
        sps[3], // AVCLevelIndication
        0xff,   // reserved bits, lengthSizeMinusOne = 3
        0xe1,   // reserved bits, one SPS
    ];
    record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    record.extend_from_slice(sps);
    record.push(1);
    record.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    record.extend_from_slice(pps);
    if matches!(info.profile_idc, 100 | 110 | 122 | 144) {
        record.push(0xfc | (info.chroma_format_idc as u8 & 0x03));
        record.push(0xf8 | ((info.bit_depth_luma - 8) as u8 & 0x07));
        record.push(0xf8 | ((info.bit_depth_chroma - 8) as u8 & 0x07));
        record.push(0); // no SPS extensions
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogg_opus::test_tools::{ffmpeg, ffprobe, frame_count, have_ffmpeg};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn sizes_use_the_fewest_bytes_and_never_mean_unknown() {
        let cases = [
            (0, 1),
            (126, 1),
            (127, 2),
            (16_382, 2),
            (16_383, 3),
            (1 << 49, 8),
        ];
        for (size, length) in cases {
            let mut out = Vec::new();
            put_size(&mut out, size);
            assert_eq!(vint(&out, false), (size, length), "size {size}");
        }
        let mut out = Vec::new();
        put_uint(&mut out, id::TIMESTAMP_SCALE, 1_000_000);
        assert_eq!(out, [0x2a, 0xd7, 0xb1, 0x83, 0x0f, 0x42, 0x40]);
    }

    /// Parameter sets from libx264 through ffmpeg, with the size ffprobe reports.
    #[test]
    fn sps_gives_the_cropped_picture_size() {
        let cases = [
            "6742c00dd90141fb011000000300100000030320f142a480 320x240 Baseline",
            "67640028acd940780227e5c044000003000400000300c83c60c658 1920x1080 High",
            "674d401eeca05017f5360220000003002000000641e2c5b2c0 638x358 Main",
            "6764000bacd942c4ec0440000003004000000c83c50a6580 176x144 scaling-lists",
            "6764001eacd940b024fde022000003000200000300643e28532c 704x568 interlaced",
            "677a001ebcd940a02fea2f011000000300100000030320f162d960 638x358 4:2:2",
            "67f4000d919b282a10f1f1f808800000030080000019078a14cb 322x242 4:4:4",
            "6764000af36515f8fbc05b20000003002000000641e244b2c0 66x46 monochrome",
        ];
        for case in cases {
            let [sps, size, _] = case.split(' ').collect::<Vec<_>>()[..] else {
                panic!("{case}");
            };
            let info = parse_sps(&hex(sps)).expect("parses");
            let found = format!("{}x{}", info.width, info.height);
            assert_eq!(found, size, "{case}: {info:?}");
        }
        let sps = hex("6764000bacd942c4ec0440000003004000000c83c50a6580");
        assert_eq!(parse_sps(&sps[..6]), None, "truncated");
        assert_eq!(parse_sps(&hex("68ee3cb0")), None, "a PPS");
        assert_eq!(parse_sps(&[]), None);
    }

    /// A High-profile SPS whose bit_depth_luma_minus8 is the largest Exp-Golomb number the
    /// reader takes (2^32 - 2) overflowed `8 + depth`: a panic with overflow checks, a wrapped
    /// depth in the avcC otherwise. Found by the `webm` fuzz target.
    #[test]
    fn sps_with_an_impossible_bit_depth_is_refused() {
        // sps_id 0 (1), chroma_format_idc 1 (010), then 31 zeros, 1 and 31 ones: 2^32 - 2.
        let sps = [
            0x67, 0x64, 0x00, 0x1e, 0xa0, 0x00, 0x00, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(parse_sps(&sps), None);
        let mut writer = WebmWriter::new(VideoCodec::H264);
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(&sps);
        au.extend_from_slice(&[0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84]);
        assert!(!writer.push_frame(&au, 0, true), "no header from a bad SPS");
    }

    /// A scaling list whose delta_scale is the largest the reader takes (2^31 - 1) overflowed
    /// `last + delta`. Found by the `webm` fuzz target.
    #[test]
    fn sps_with_an_impossible_scaling_delta_is_refused() {
        // sps_id 0, chroma 1, depths 8, no bypass, a scaling matrix, list 0 present, then
        // delta_scale: Exp-Golomb 2^32 - 3, which is +(2^31 - 1).
        let sps = [
            0x67, 0x64, 0x00, 0x1e, 0xad, 0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xfe,
        ];
        assert_eq!(parse_sps(&sps), None);
    }

    #[test]
    fn avcc_holds_the_parameter_sets_and_high_profile_fields() {
        let sps = hex("67640028acd940780227e5c044000003000400000300c83c60c658");
        let pps = hex("68ebe3cb22c0");
        let info = parse_sps(&sps).expect("sps");
        let mut expected = vec![1, 0x64, 0x00, 0x28, 0xff, 0xe1, 0, sps.len() as u8];
        expected.extend(&sps);
        expected.extend([1, 0, pps.len() as u8]);
        expected.extend(&pps);
        expected.extend([0xfd, 0xf8, 0xf8, 0]);
        assert_eq!(avc_decoder_configuration(&sps, &pps, &info), expected);
    }

    #[test]
    fn annex_b_is_split_into_nal_units_and_length_prefixed() {
        let au = [
            0, 0, 0, 1, 0x09, 0xf0, // AUD, dropped from blocks
            0, 0, 1, 0x67, 1, 2, 0, // SPS with a trailing zero byte
            0, 0, 0, 1, 0x68, 3, // PPS
            0, 0, 1, 0x65, 0, 0, 3, 1, // IDR slice keeping its emulation prevention
        ];
        let nals = annex_b_nal_units(&au);
        let expected: [&[u8]; 4] = [&[9, 0xf0], &[0x67, 1, 2], &[0x68, 3], &[0x65, 0, 0, 3, 1]];
        assert_eq!(nals, expected);
        let prefixed = [
            0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 5, 0x65, 0, 0, 3, 1,
        ];
        assert_eq!(length_prefixed(&nals), prefixed);
        assert_eq!(annex_b_nal_units(&[0x41, 7]), [&[0x41u8, 7][..]]);
    }

    #[test]
    fn vp8_keyframe_header_gives_the_picture_size() {
        let key = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x41, 0xf0, 0x80];
        assert_eq!(vp8_picture_size(&key), Some((320, 240)));
        let mut inter = key;
        inter[0] |= 1;
        assert_eq!(vp8_picture_size(&inter), None);
        assert_eq!(vp8_picture_size(&key[..9]), None);
    }

    /// A made-up VP8 frame: a keyframe header for 64x48, or an interframe tag.
    fn vp8(key: bool) -> Vec<u8> {
        if key {
            vec![0x50, 0, 0, 0x9d, 0x01, 0x2a, 64, 0, 48, 0, 1]
        } else {
            vec![0x51, 0, 0, 2]
        }
    }

    /// Reads an EBML vint: (value, with its length marker for IDs; length).
    fn vint(data: &[u8], keep_marker: bool) -> (u64, usize) {
        let length = data[0].leading_zeros() as usize + 1;
        let mask = if keep_marker { 0xff } else { 0xff >> length };
        let first = u64::from(data[0]) & mask;
        let rest = &data[1..length];
        (
            rest.iter().fold(first, |v, &b| v << 8 | u64::from(b)),
            length,
        )
    }

    /// The elements in `data`, as (id, body); an unknown size runs to the end.
    fn elements(data: &[u8]) -> Vec<(u32, &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let (id, id_len) = vint(&data[at..], true);
            let (size, size_len) = vint(&data[at + id_len..], false);
            let start = at + id_len + size_len;
            let unknown = size == (1u64 << (7 * size_len)) - 1;
            at = if unknown {
                data.len()
            } else {
                start + size as usize
            };
            out.push((id as u32, &data[start..at]));
        }
        out
    }

    /// The body of the element at `path`, each found inside the one before.
    fn child<'a>(data: &'a [u8], path: &[u32]) -> &'a [u8] {
        path.iter().fold(data, |data, &wanted| {
            let found = elements(data).into_iter().find(|e| e.0 == wanted);
            found
                .unwrap_or_else(|| panic!("no {wanted:x} in {path:x?}"))
                .1
        })
    }

    /// A SimpleBlock's relative timecode, keyframe flag and payload.
    type Block<'a> = (i16, bool, &'a [u8]);

    /// Clusters as (timestamp, blocks).
    fn clusters(data: &[u8]) -> Vec<(u64, Vec<Block<'_>>)> {
        let mut out = Vec::new();
        for (cluster, body) in elements(data) {
            assert_eq!(cluster, id::CLUSTER);
            let elements = elements(body);
            assert_eq!(elements[0].0, id::TIMESTAMP, "the timestamp comes first");
            let timestamp = elements[0].1.iter().fold(0, |v, &b| v << 8 | u64::from(b));
            let blocks = elements[1..].iter().map(|&(block, body)| {
                assert_eq!((block, body[0]), (id::SIMPLE_BLOCK, 0x81), "track 1");
                let relative = i16::from_be_bytes([body[1], body[2]]);
                (relative, body[3] == 0x80, &body[4..])
            });
            out.push((timestamp, blocks.collect()));
        }
        out
    }

    #[test]
    fn header_waits_for_a_keyframe_and_keeps_its_length_when_finished() {
        let mut writer = WebmWriter::new(VideoCodec::Vp8);
        assert!(!writer.push_frame(&vp8(false), 0, false));
        assert!(!writer.push_frame(&vp8(false), 10, true), "not key");
        assert_eq!(writer.header(false), None);
        assert!(writer.push_frame(&vp8(true), 40, true));
        assert!(writer.push_frame(&vp8(false), 73, false));
        let partial = writer.header(false).expect("header");
        writer.finish();
        let finished = writer.header(true).expect("header");
        assert_eq!(partial.len(), finished.len());

        assert_eq!(child(&finished, &[id::EBML, id::DOC_TYPE]), b"webm");
        let top = elements(&finished);
        assert_eq!(top[1].0, id::SEGMENT);
        let segment_size = finished.len() - top[1].1.len() - 8;
        assert_eq!(finished[segment_size..][..8], UNKNOWN_SIZE);
        let info = child(&finished, &[id::SEGMENT, id::INFO]);
        assert_eq!(child(info, &[id::DURATION]), 106.0f64.to_be_bytes());
        assert_eq!(writer.duration_ms(), 106);
        let partial_info = child(&partial, &[id::SEGMENT, id::INFO]);
        assert!(elements(partial_info).iter().all(|e| e.0 != id::DURATION));
        assert_eq!(child(partial_info, &[id::VOID]), [0; 9]);

        let entry = child(&finished, &[id::SEGMENT, id::TRACKS, id::TRACK_ENTRY]);
        assert_eq!(child(entry, &[id::CODEC_ID]), b"V_VP8");
        assert_eq!(child(entry, &[id::TRACK_TYPE]), [1]);
        assert_eq!(child(entry, &[id::VIDEO, id::PIXEL_WIDTH]), [64]);
        assert_eq!(child(entry, &[id::VIDEO, id::PIXEL_HEIGHT]), [48]);
    }

    #[test]
    fn clusters_start_at_keyframes_after_a_quarter_second_and_anyway_after_half_a_second() {
        let mut writer = WebmWriter::new(VideoCodec::Vp8);
        let mut out = Vec::new();
        // A keyframe too soon stays in its cluster, one after 250 ms starts a new one, and a
        // run without keyframes is cut every 500 ms (what a recorder that dies may lose).
        let times = [1_000, 1_100, 1_200, 1_300, 1_400, 1_900, 2_450, 2_500];
        let keys = [true, false, true, true, false, false, false, false];
        for (ts, key) in times.into_iter().zip(keys) {
            assert!(writer.push_frame(&vp8(key), ts, key), "frame at {ts}");
            out.extend(writer.take_ready());
        }
        assert!(!writer.push_frame(&vp8(false), 2_499, false), "backwards");
        assert!(writer.push_frame(&vp8(false), 2_500, false), "same time");
        assert_eq!(clusters(&out).len(), 3, "the open one comes with finish");
        out.extend(writer.finish());
        let found: Vec<(u64, Vec<(i16, bool)>)> = clusters(&out)
            .into_iter()
            .map(|(ts, blocks)| (ts, blocks.into_iter().map(|b| (b.0, b.1)).collect()))
            .collect();
        let expected = vec![
            (1_000, vec![(0, true), (100, false), (200, true)]),
            (1_300, vec![(0, true), (100, false)]),
            (1_900, vec![(0, false)]),
            (2_450, vec![(0, false), (50, false), (50, false)]),
        ];
        assert_eq!(found, expected);
        assert_eq!(writer.duration_ms(), 2_500);
        assert!(!writer.push_frame(&vp8(true), 3_000, true), "after finish");
    }

    #[test]
    fn h264_blocks_are_length_prefixed_and_codec_private_is_avcc() {
        let sps = hex("6742c00dd90141fb011000000300100000030320f142a480");
        let pps = hex("68ce3c80");
        let start = [0, 0, 0, 1];
        let key = [&start, &sps[..], &start, &pps, &[0, 0, 1, 0x65, 0x88]].concat();
        let inter = [0, 0, 1, 0x41, 0x9a];
        let mut writer = WebmWriter::new(VideoCodec::H264);
        assert!(!writer.push_frame(&inter, 0, false));
        assert!(!writer.push_frame(&inter, 10, true), "no IDR");
        assert!(writer.push_frame(&key, 33, true));
        assert!(writer.push_frame(&[&[0, 0, 1, 0x09, 0x10][..], &inter].concat(), 66, false));
        let header = writer.header(false).expect("header");
        assert_eq!(child(&header, &[id::EBML, id::DOC_TYPE]), b"matroska");
        let entry = child(&header, &[id::SEGMENT, id::TRACKS, id::TRACK_ENTRY]);
        assert_eq!(child(entry, &[id::CODEC_ID]), b"V_MPEG4/ISO/AVC");
        let avcc = avc_decoder_configuration(&sps, &pps, &parse_sps(&sps).expect("sps"));
        assert_eq!(child(entry, &[id::CODEC_PRIVATE]), avcc);
        assert_eq!(child(entry, &[id::VIDEO, id::PIXEL_WIDTH]), [0x01, 0x40]);

        let out = writer.finish();
        let blocks = &clusters(&out)[0].1;
        let length = |nal: &[u8]| (nal.len() as u32).to_be_bytes();
        let idr = [0, 0, 0, 2, 0x65, 0x88];
        let first = [&length(&sps), &sps[..], &length(&pps), &pps, &idr].concat();
        assert_eq!(blocks[0], (0, true, &first[..]));
        assert_eq!(blocks[1], (33, false, &[0, 0, 0, 2, 0x41, 0x9a][..]));
    }

    /// Frames of an IVF file: (data, time in ms).
    fn ivf_frames(ivf: &[u8]) -> Vec<(Vec<u8>, u64)> {
        assert_eq!(&ivf[..4], b"DKIF");
        let word = |at: usize| u64::from(u32::from_le_bytes(ivf[at..at + 4].try_into().unwrap()));
        let (rate, scale) = (word(16), word(20));
        let mut frames = Vec::new();
        let mut at = usize::from(u16::from_le_bytes([ivf[6], ivf[7]]));
        while at + 12 <= ivf.len() {
            let size = word(at) as usize;
            let pts = word(at + 4) | (word(at + 8) << 32);
            let frame = ivf[at + 12..at + 12 + size].to_vec();
            frames.push((frame, pts * 1_000 * scale / rate));
            at += 12 + size;
        }
        frames
    }

    /// Access units of an Annex-B stream with access unit delimiters, each starting at one.
    fn access_units(stream: &[u8]) -> Vec<Vec<u8>> {
        let mut starts: Vec<usize> = (0..stream.len().saturating_sub(3))
            .filter(|&i| stream[i..i + 3] == [0, 0, 1] && stream[i + 3] & 0x1f == 9)
            .map(|i| i - usize::from(i > 0 && stream[i - 1] == 0))
            .collect();
        starts.push(stream.len());
        starts
            .windows(2)
            .map(|w| stream[w[0]..w[1]].to_vec())
            .collect()
    }

    /// Muxes 3 s of 320x`height` video at 30 fps with a keyframe every second, then checks
    /// with ffprobe both the whole file and the file as a crash would have left it (header
    /// and ready clusters, no finish): codec, picture size, duration, every frame decodes.
    fn check_whole_and_cut_short(codec: VideoCodec, frames: &[(Vec<u8>, u64, bool)], height: u64) {
        assert_eq!(frames.len(), 90);
        assert_eq!(frames.iter().filter(|f| f.2).count(), 3);
        let mut writer = WebmWriter::new(codec);
        let mut body = Vec::new();
        for (data, ts, key) in frames {
            assert!(writer.push_frame(data, *ts, *key), "frame at {ts} ms");
            body.extend(writer.take_ready());
        }
        let crashed = [writer.header(false).expect("header"), body.clone()].concat();
        body.extend(writer.finish());
        let whole = [writer.header(true).expect("header"), body].concat();
        // Clusters close at each keyframe and every half second: the crash loses the open
        // one, from 2.5 s on.
        let kept = frames.iter().filter(|f| f.1 < 2_500).count() as u64;
        let dir = tempfile::tempdir().expect("tempdir");
        for (file, bytes, count) in [("whole", whole, 90), ("crashed", crashed, kept)] {
            let path = dir.path().join(file);
            std::fs::write(&path, bytes).expect("write");
            let probe = ffprobe(&path);
            assert!(probe.stderr.is_empty(), "{file}: {}", probe.stderr);
            let name = if codec == VideoCodec::Vp8 {
                "vp8"
            } else {
                "h264"
            };
            assert_eq!(probe.codec, name, "{file}");
            assert_eq!((probe.width, probe.height), (Some(320), Some(height)));
            if file == "whole" {
                let found = probe.duration.expect("duration");
                assert!((found - 3.0).abs() < 0.15, "{file}: {found} s");
            }
            assert_eq!(frame_count(&path), count, "{file}: every frame decodes");
        }
    }

    #[test]
    fn ffprobe_plays_vp8_from_libvpx_whole_and_cut_short() {
        if !have_ffmpeg("ffprobe_plays_vp8_from_libvpx_whole_and_cut_short") {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let args = "-f lavfi -i testsrc=size=320x240:rate=30 -t 3 -c:v libvpx -g 30 -f ivf";
        let frames: Vec<_> = ivf_frames(&ffmpeg(dir.path(), args, "in.ivf"))
            .into_iter()
            .map(|(data, ts)| {
                let key = data[0] & 1 == 0;
                (data, ts, key)
            })
            .collect();
        check_whole_and_cut_short(VideoCodec::Vp8, &frames, 240);
    }

    #[test]
    fn ffprobe_plays_h264_from_libx264_whole_and_cut_short() {
        if !have_ffmpeg("ffprobe_plays_h264_from_libx264_whole_and_cut_short") {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // 180 lines are coded as 192: the size comes from the SPS cropping. No B-frames, as
        // in WebRTC, and an access unit delimiter before each frame to split them at.
        let args = "-f lavfi -i testsrc=size=320x180:rate=30 -t 3 -c:v libx264 -pix_fmt yuv420p \
                    -bf 0 -x264-params keyint=30 -bsf:v h264_metadata=aud=insert -f h264";
        let frames: Vec<_> = access_units(&ffmpeg(dir.path(), args, "in.h264"))
            .into_iter()
            .enumerate()
            .map(|(n, au)| {
                let key = annex_b_nal_units(&au).iter().any(|nal| nal[0] & 0x1f == 5);
                (au, n as u64 * 1_000 / 30, key)
            })
            .collect();
        check_whole_and_cut_short(VideoCodec::H264, &frames, 180);
    }
}
