//! The SFU's per-packet, per-subscriber work: header rewrite, and forwarding through the
//! subscriber's str0m connection to an SRTP datagram.
//!
//! - `sfu/rewrite`: `rewrite::Rewriter::rewrite`, the subscriber's own sequence number and RTP
//!   time for a publisher's packet.
//! - `sfu/forward_audio`: what `engine/media.rs` `forward` and `engine/mod.rs` `poll` do for
//!   one subscriber and one 160-byte Opus packet: rewrite, build the `RtpWrite` (payload shared,
//!   not copied), `write_rtp` on the subscriber connection's stream, then poll that connection
//!   until it wants time to pass, which yields the SRTP-protected datagram. The connection is a
//!   real str0m `Rtc`, made as the media thread makes a subscriber's (`bench::subscriber_rtc`,
//!   ICE-lite, RTP mode, TWCC estimate on), connected in memory to a client `Rtc`: datagrams
//!   are handed from one to the other, no socket. Time is simulated, 20 ms per packet, so the
//!   connection's own timers (RTCP reports, stats, pacing) cost what they cost per packet of
//!   one audio stream. The server's handling of the client's feedback (receiver reports, TWCC)
//!   is timed; the client's work is not. Every packet is checked at the client: each arrives,
//!   once, its sequence numbers continuous.
//!
//! Not included: receiving and decrypting the publisher's packet (once per packet, shared by
//! all subscribers), the room lookups in `forward`, and the `sendto` itself.
//!
//! Run with `cargo bench -p parley-sfu --bench forward`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parley_sfu::bench::subscriber_rtc;
use parley_sfu::rewrite::Rewriter;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc};

const PUBLISHER_SSRC: u32 = 0x5eed;
const PACKET_EVERY: Duration = Duration::from_millis(20);
const SAMPLES_PER_PACKET: u32 = 960;
/// Packets forwarded between two visits of the client (one simulated second).
const BATCH: u64 = 50;

fn rewrite(c: &mut Criterion) {
    let now = Instant::now();
    let mut rewriter = Rewriter::new(48_000);
    // Checked once: a publisher's stream from a random start comes out numbered 1, 2, 3...
    for i in 0..1000u64 {
        let out = rewriter.rewrite(PUBLISHER_SSRC, 40_000 + i, 7 + i as u32 * 960, now);
        assert_eq!(out.map(|o| o.0), Some(i + 1), "continuous");
    }
    let mut seq = 41_000u64;
    let mut group = c.benchmark_group("sfu");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rewrite", |b| {
        b.iter(|| {
            seq += 1;
            black_box(rewriter.rewrite(
                PUBLISHER_SSRC,
                black_box(seq),
                (seq as u32).wrapping_mul(SAMPLES_PER_PACKET),
                now,
            ))
        })
    });
    group.finish();
}

/// One datagram on its way.
struct Datagram {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// Hand `rtc` the time, then take what it has to say until it wants time to pass.
fn poll(rtc: &mut Rtc, now: Instant, out: &mut Vec<Datagram>, events: &mut Vec<Event>) {
    rtc.handle_input(Input::Timeout(now)).expect("timeout");
    loop {
        match rtc.poll_output().expect("poll") {
            Output::Transmit(t) => out.push(Datagram {
                from: t.source,
                to: t.destination,
                bytes: t.contents.to_vec(),
            }),
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => return,
        }
    }
}

/// Hand `rtc` the datagrams, polling it after each as str0m expects; what it says goes to
/// `out` and `events`.
fn receive(
    rtc: &mut Rtc,
    now: Instant,
    datagrams: &mut Vec<Datagram>,
    out: &mut Vec<Datagram>,
    events: &mut Vec<Event>,
) {
    for d in datagrams.drain(..) {
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: d.from,
                destination: d.to,
                contents: d.bytes.as_slice().try_into().expect("datagram"),
            },
        );
        rtc.handle_input(input).expect("receive");
        poll(rtc, now, out, events);
    }
}

/// A subscriber connection, as the server has it, connected in memory to its client.
struct Pair {
    server: Rtc,
    client: Rtc,
    now: Instant,
    mid: Mid,
    to_client: Vec<Datagram>,
    to_server: Vec<Datagram>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

impl Pair {
    fn connect() -> Pair {
        let now = Instant::now();
        let server_addr: SocketAddr = "127.0.0.1:7882".parse().expect("addr");
        let client_addr: SocketAddr = "127.0.0.2:40000".parse().expect("addr");
        let mut server = subscriber_rtc(now, server_addr);
        let mut client = Rtc::builder().set_rtp_mode(true).build(now);
        client
            .add_local_candidate(Candidate::host(client_addr, "udp").expect("candidate"))
            .expect("candidate");
        // The server offers the track, as `tracks.rs` does for a subscription.
        let mut api = server.sdp_api();
        let mid = api.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            Some("publisher".into()),
            Some("track".into()),
            None,
        );
        let (offer, pending) = api.apply().expect("an offer");
        let answer = client.sdp_api().accept_offer(offer).expect("answer");
        server
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("accepted");
        let mut pair = Pair {
            server,
            client,
            now,
            mid,
            to_client: Vec::new(),
            to_server: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        };
        for _ in 0..2000 {
            pair.exchange();
            let connected = |events: &[Event]| events.iter().any(|e| matches!(e, Event::Connected));
            if connected(&pair.server_events) && connected(&pair.client_events) {
                pair.server_events.clear();
                pair.client_events.clear();
                return pair;
            }
            pair.now += Duration::from_millis(5);
        }
        panic!("the in-memory pair never connected");
    }

    /// Let both sides talk until neither has anything more to send now.
    fn exchange(&mut self) {
        for _ in 0..50 {
            poll(
                &mut self.server,
                self.now,
                &mut self.to_client,
                &mut self.server_events,
            );
            poll(
                &mut self.client,
                self.now,
                &mut self.to_server,
                &mut self.client_events,
            );
            if self.to_client.is_empty() && self.to_server.is_empty() {
                return;
            }
            let mut to_server = Vec::new();
            receive(
                &mut self.client,
                self.now,
                &mut self.to_client,
                &mut to_server,
                &mut self.client_events,
            );
            let mut to_client = Vec::new();
            receive(
                &mut self.server,
                self.now,
                &mut self.to_server,
                &mut to_client,
                &mut self.server_events,
            );
            self.to_server.append(&mut to_server);
            self.to_client.append(&mut to_client);
        }
    }
}

/// Forwards a publisher's Opus packets to the subscriber and checks what its client gets.
struct Forwarder {
    pair: Pair,
    rewriter: Rewriter,
    pt: str0m::format::PayloadParams,
    payload: Arc<[u8]>,
    next_in: u64,
    next_out: u64,
}

impl Forwarder {
    fn new() -> Forwarder {
        let pair = Pair::connect();
        let pt = pair
            .server
            .codec_config()
            .find(|p| p.spec().codec == Codec::Opus)
            .cloned()
            .expect("opus");
        Forwarder {
            pair,
            rewriter: Rewriter::new(48_000),
            pt,
            payload: (0..160u32).map(|i| (i * 7) as u8).collect(),
            next_in: 17_000,
            next_out: 1,
        }
    }

    /// Forward `n` packets; the time the server spent on them, its client's feedback
    /// included.
    fn forward(&mut self, n: u64) -> Duration {
        let p = &mut self.pair;
        let ext = ExtensionValues {
            audio_level: Some(-30),
            voice_activity: Some(true),
            ..Default::default()
        };
        let start = Instant::now();
        for _ in 0..n {
            let seq = self.next_in;
            let time = (seq as u32).wrapping_mul(SAMPLES_PER_PACKET);
            if let Some((out_seq, out_time)) =
                self.rewriter.rewrite(PUBLISHER_SSRC, seq, time, p.now)
            {
                let mut api = p.server.direct_api();
                let tx = api.stream_tx_by_mid(p.mid, None).expect("stream");
                let write = RtpWrite::new(
                    self.pt.pt(),
                    out_seq.into(),
                    out_time,
                    p.now,
                    self.payload.clone(),
                )
                .marker(false)
                .ext_vals(ext.clone())
                .nackable(false);
                tx.write_rtp(write);
            }
            poll(&mut p.server, p.now, &mut p.to_client, &mut p.server_events);
            self.next_in += 1;
            p.now += PACKET_EVERY;
        }
        let mut spent = start.elapsed();
        // The client, untimed: it takes the datagrams and answers (reports, TWCC).
        receive(
            &mut p.client,
            p.now,
            &mut p.to_client,
            &mut p.to_server,
            &mut p.client_events,
        );
        let start = Instant::now();
        receive(
            &mut p.server,
            p.now,
            &mut p.to_server,
            &mut p.to_client,
            &mut p.server_events,
        );
        spent += start.elapsed();
        // What the server said back, if anything, reaches the client before the next batch.
        receive(
            &mut p.client,
            p.now,
            &mut p.to_client,
            &mut p.to_server,
            &mut p.client_events,
        );
        p.server_events.clear();
        self.check();
        spent
    }

    /// Every packet written reached the client, once, numbered on from the last.
    fn check(&mut self) {
        let before = self.next_out;
        for e in self.pair.client_events.drain(..) {
            if let Event::RtpPacket(packet) = e {
                assert_eq!(*packet.seq_no, self.next_out, "continuous at the client");
                assert_eq!(packet.payload.len(), self.payload.len());
                self.next_out += 1;
            }
        }
        let expected = self.next_in - 17_000 + 1;
        assert_eq!(self.next_out, expected, "every packet, from {before}");
    }
}

fn forward(c: &mut Criterion) {
    let mut forwarder = Forwarder::new();
    forwarder.forward(BATCH);
    let mut group = c.benchmark_group("sfu");
    group.throughput(Throughput::Elements(1));
    group.bench_function("forward_audio", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                spent += forwarder.forward(n);
                left -= n;
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, rewrite, forward);
criterion_main!(benches);
