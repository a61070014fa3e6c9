//! The messaging hub's hot path: one committed event fanned out to 1,000 connections.
//!
//! - `hub/publish_1000`: what the hub does per event (`ws/hub.rs`, driven synchronously through
//!   `ws::hub_bench::Core`): serialise it once, look its recipients up in `Routes`, queue it in
//!   1,000 bounded outboxes. The hub is one task, so this bounds a node's delivery rate.
//! - `hub/deliver_1000`: what the 1,000 connection tasks do with it before their socket write
//!   (`ws/mod.rs` `serve` and `deliver`): take it from the outbox and pass it through the
//!   connection's `Cursors`.
//! - `hub/publish_1000_to_tasks`: both through the real `HubHandle`, with 1,000 waiting
//!   connection tasks on one current-thread runtime (the command hop, the wake-ups and the
//!   scheduling included); an iteration ends when the last task has passed the event through.
//!
//! Each checks once per event, outside the timed part where it can, that every connection got
//! exactly that event. Run with `cargo bench -p parley-signaling --bench fanout`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parley_presence::{Cursors, PresenceConfig, Step};
use parley_proto::{ChannelEvent, ChannelId, Message, MessageId, Priority, UserId};
use parley_signaling::metrics::Metrics;
use parley_signaling::ws::hub_bench::Core;
use parley_signaling::ws::{HubHandle, Outbound, Registration};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const CONNECTIONS: usize = 1000;
const CHANNEL: ChannelId = ChannelId(1);
/// The server's default outbox (`ws.outbound_queue`).
const QUEUE: usize = 1024;
/// Events published between two drains of the outboxes: well within `QUEUE`.
const BATCH: u64 = 256;

/// A 100-character message, as the load tester sends.
fn event(seq: i64) -> ChannelEvent {
    ChannelEvent::Message {
        channel: CHANNEL,
        seq,
        message: Message {
            id: MessageId(1_000_000 + seq),
            channel: CHANNEL,
            seq,
            sender: Some(UserId(1)),
            body: Some("m".repeat(100)),
            reply_to: None,
            thread_only: false,
            reply_count: 0,
            mentions: Vec::new(),
            mention_channel: false,
            priority: Priority::Normal,
            ack_requested: false,
            action: None,
            pinned_at: None,
            reactions: Vec::new(),
            attachments: Vec::new(),
            created_at: 1_800_000_000_000 + seq,
            edited_at: None,
            recalled_at: None,
        },
    }
}

fn presence() -> PresenceConfig {
    PresenceConfig {
        idle_after: Duration::from_secs(600),
        coalesce: Duration::from_secs(1),
    }
}

/// A hub with 1,000 users of one device each, all members of `CHANNEL`.
fn core() -> (Core, Vec<Registration>) {
    let mut core = Core::new(Metrics::new().expect("metrics"), presence());
    let registrations = (1..=CONNECTIONS as i64)
        .map(|i| core.connect(i as u64, UserId(i), vec![CHANNEL], QUEUE))
        .collect();
    (core, registrations)
}

/// What a connection task does with an outbox entry before writing it: `Connection::deliver`
/// without the socket. The payload is what would be written.
fn deliver(cursors: &mut Cursors, out: Outbound) -> Option<usize> {
    let Outbound::Event {
        channel,
        seq,
        payload,
    } = out
    else {
        return None;
    };
    if cursors.check(channel, seq) != Step::Deliver {
        return None;
    }
    let written = black_box(payload).len();
    cursors.advance(channel, seq);
    Some(written)
}

/// Every outbox holds exactly events `from..to`, in order.
fn drain_checked(registrations: &mut [Registration], from: i64, to: i64) {
    for r in registrations.iter_mut() {
        for expected in from..to {
            match r.outbox.try_recv() {
                Ok(Outbound::Event { seq, channel, .. }) => {
                    assert_eq!((channel, seq), (CHANNEL, expected), "conn {}", r.conn)
                }
                other => panic!("conn {}: expected event {expected}, got {other:?}", r.conn),
            }
        }
        assert!(
            r.outbox.try_recv().is_err(),
            "conn {}: more than sent",
            r.conn
        );
    }
}

fn publish(c: &mut Criterion) {
    let (mut core, mut registrations) = core();
    let mut next = 1i64;
    let mut group = c.benchmark_group("hub");
    group.throughput(Throughput::Elements(CONNECTIONS as u64));
    group.bench_function("publish_1000", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                let events: Vec<_> = (next..next + n as i64).map(event).collect();
                let start = Instant::now();
                for e in &events {
                    core.publish(e);
                }
                spent += start.elapsed();
                drain_checked(&mut registrations, next, next + n as i64);
                next += n as i64;
                left -= n;
            }
            spent
        })
    });
    group.finish();
}

fn deliver_all(c: &mut Criterion) {
    let (mut core, mut registrations) = core();
    let mut cursors: Vec<Cursors> = (0..CONNECTIONS).map(|_| Cursors::default()).collect();
    let mut next = 1i64;
    let mut group = c.benchmark_group("hub");
    group.throughput(Throughput::Elements(CONNECTIONS as u64));
    group.bench_function("deliver_1000", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                for seq in next..next + n as i64 {
                    core.publish(&event(seq));
                }
                let start = Instant::now();
                let mut delivered = 0u64;
                for (r, cursors) in registrations.iter_mut().zip(&mut cursors) {
                    while let Ok(out) = r.outbox.try_recv() {
                        delivered += u64::from(deliver(cursors, out).is_some());
                    }
                }
                spent += start.elapsed();
                assert_eq!(
                    delivered,
                    n * CONNECTIONS as u64,
                    "every event to every one"
                );
                next += n as i64;
                left -= n;
            }
            spent
        })
    });
    group.finish();
}

fn through_tasks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let delivered = Arc::new(AtomicU64::new(0));
    let all_in = Arc::new(Notify::new());
    let hub = rt.block_on(async {
        let hub = HubHandle::spawn(Metrics::new().expect("metrics"), presence(), None);
        for i in 1..=CONNECTIONS as i64 {
            let mut registration = hub.connect(UserId(i), None, vec![CHANNEL], QUEUE).await;
            let (delivered, all_in) = (delivered.clone(), all_in.clone());
            tokio::spawn(async move {
                let mut cursors = Cursors::default();
                while let Some(out) = registration.outbox.recv().await {
                    if deliver(&mut cursors, out).is_some()
                        && delivered.fetch_add(1, Ordering::Relaxed) % CONNECTIONS as u64
                            == CONNECTIONS as u64 - 1
                    {
                        all_in.notify_one();
                    }
                }
            });
        }
        hub
    });
    let mut next = 1i64;
    let mut group = c.benchmark_group("hub");
    group.throughput(Throughput::Elements(CONNECTIONS as u64));
    group.bench_function("publish_1000_to_tasks", |b| {
        b.iter_custom(|iters| {
            let events: Vec<_> = (next..next + iters as i64).map(event).collect();
            let before = delivered.load(Ordering::Relaxed);
            let start = Instant::now();
            rt.block_on(async {
                for e in &events {
                    hub.publish(e).await;
                    all_in.notified().await;
                }
            });
            let spent = start.elapsed();
            assert_eq!(
                delivered.load(Ordering::Relaxed) - before,
                iters * CONNECTIONS as u64,
                "every event to every task"
            );
            next += iters as i64;
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, publish, deliver_all, through_tasks);
criterion_main!(benches);
