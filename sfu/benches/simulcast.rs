//! A simulcast subscription switching layers: the per-packet decision in `engine/media.rs`
//! `forward` for a VP8 simulcast track.
//!
//! `simulcast/switch`, per incoming packet of any of the three layers: parse its VP8 payload
//! descriptor, tell whether it starts a keyframe (`bench::starts_keyframe`), decide whether
//! the subscription takes it (`SimDown::accept`: the current layer, or the target's keyframe,
//! which switches), and for a packet taken, the picture id and TL0PICIDX patch that keeps the
//! numbers continuous across switches (`SimDown::vp8_patch`). The layers send 1, 2 and 4
//! packets per frame at 30 frames per second, each a keyframe once a second (staggered), and
//! the subscription's target moves every 1.5 s (2, 0, 1, 2, ...), as bandwidth allocation
//! would move it. One pass over the 30-second sequence is checked first: every switch happens,
//! on a keyframe of the target, and every packet taken carries the picture id and TL0PICIDX
//! that continue the subscriber's numbering.
//!
//! Run with `cargo bench -p parley-sfu --bench simulcast`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parley_sfu::bench::{starts_keyframe, SimDown};
use std::hint::black_box;
use str0m::rtp::{Vp8Descriptor, Vp8Patch};

const LAYERS: usize = 3;
const FRAMES: u32 = 900;
const KEYFRAME_EVERY: u32 = 30;
const TARGET_EVERY: u32 = 45;
const TARGETS: [usize; 3] = [0, 1, 2];
const PICTURE_MASK: u16 = 0x7fff;
/// Each layer's numbering starts elsewhere, as each has its own encoder; the top one wraps.
const PICTURE_BASE: [u16; LAYERS] = [100, 20_000, 32_400];
const TL0_BASE: [u8; LAYERS] = [3, 90, 250];

struct Packet {
    layer: usize,
    frame: u32,
    /// The subscription's target moves before this packet.
    target: Option<usize>,
    payload: Vec<u8>,
}

/// A VP8 packet with a 15-bit picture id and TL0PICIDX; `first` of its frame or not.
fn vp8_payload(picture: u16, tl0: u8, first: bool, key: bool) -> Vec<u8> {
    let mut payload = vec![
        if first { 0x90 } else { 0x80 },
        0xe0,
        0x80 | (picture >> 8) as u8,
        picture as u8,
        tl0,
        0x00,
        // The VP8 frame header's P bit: 0 for a keyframe.
        if key { 0x00 } else { 0x01 },
    ];
    payload.resize(64, 0x5a);
    payload
}

fn sequence() -> Vec<Packet> {
    let mut packets = Vec::new();
    for frame in 0..FRAMES {
        let mut target = (frame % TARGET_EVERY == 0)
            .then(|| TARGETS[(frame / TARGET_EVERY) as usize % TARGETS.len()]);
        for layer in 0..LAYERS {
            let picture = PICTURE_BASE[layer].wrapping_add(frame as u16) & PICTURE_MASK;
            let tl0 = TL0_BASE[layer].wrapping_add(frame as u8);
            let key = frame % KEYFRAME_EVERY == 10 * layer as u32;
            for k in 0..1 << layer {
                packets.push(Packet {
                    layer,
                    frame,
                    target: target.take(),
                    payload: vp8_payload(picture, tl0, k == 0, key),
                });
            }
        }
    }
    packets
}

/// What `forward` does with one packet for one simulcast subscription: `None` if it is not
/// forwarded, else the descriptor patch it is written with.
fn step(sim: &mut SimDown, packet: &Packet) -> Option<Option<Vp8Patch>> {
    if let Some(target) = packet.target {
        sim.target = target;
    }
    let vp8 = Vp8Descriptor::parse(&packet.payload).ok();
    let keyframe = starts_keyframe(Some("vp8"), &packet.payload, vp8.as_ref());
    if !sim.accept(packet.layer, keyframe, vp8.as_ref()) {
        return None;
    }
    Some(vp8.as_ref().and_then(|d| sim.vp8_patch(d)))
}

/// One pass, checked: switches on the target's keyframes, numbers continuous.
fn check(packets: &[Packet]) {
    let mut sim = SimDown::new(LAYERS);
    // The last packet taken: its layer and frame, and the numbers the subscriber saw.
    let mut last: Option<(usize, u32, u16, u8)> = None;
    let (mut switches, mut taken) = (0, 0);
    for packet in packets {
        let before = sim.current;
        let Some(patch) = step(&mut sim, packet) else {
            continue;
        };
        taken += 1;
        let d = Vp8Descriptor::parse(&packet.payload).expect("vp8");
        if before != sim.current {
            switches += 1;
            assert_eq!(sim.current, Some(sim.target), "a switch goes to the target");
            assert!(
                d.starts_keyframe(&packet.payload),
                "a switch waits for a keyframe"
            );
        }
        let (picture, tl0) = (d.picture_id().expect("pid"), d.tl0_pic_idx().expect("tl0"));
        let seen = match last {
            None => (picture, tl0),
            Some((layer, frame, p, t)) if (layer, frame) == (packet.layer, packet.frame) => (p, t),
            Some((_, _, p, t)) => (p.wrapping_add(1) & PICTURE_MASK, t.wrapping_add(1)),
        };
        match patch {
            None => assert_eq!((picture, tl0), seen, "unpatched numbers continue"),
            Some(patch) => {
                let expected = d.patch().picture_id(seen.0).tl0_pic_idx(seen.1).build();
                assert_eq!(Ok(patch), expected, "frame {}", packet.frame);
            }
        }
        last = Some((packet.layer, packet.frame, seen.0, seen.1));
    }
    // A target move to the layer already carried is no switch: 2 → 0 → 1 → 2 ... starting
    // at 0 from the first keyframe of the top layer.
    let moves = (FRAMES / TARGET_EVERY) as usize;
    assert!(
        switches >= moves,
        "{switches} switches for {moves} target moves"
    );
    assert!(
        taken > packets.len() / 4,
        "{taken} of {} taken",
        packets.len()
    );
}

fn switch(c: &mut Criterion) {
    let packets = sequence();
    check(&packets);
    let mut sim = SimDown::new(LAYERS);
    let mut next = 0;
    let mut group = c.benchmark_group("simulcast");
    group.throughput(Throughput::Elements(1));
    group.bench_function("switch", |b| {
        b.iter(|| {
            if next == packets.len() {
                next = 0;
                sim = SimDown::new(LAYERS);
            }
            let out = step(&mut sim, &packets[next]);
            next += 1;
            black_box(out)
        })
    });
    group.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
