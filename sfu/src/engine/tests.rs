//! The media workers driven through their `Sfu` handle, as the signaling side drives them: real
//! threads, socket and str0m peers, without a network client.

use crate::{JoinRequest, Sfu, SfuConfig, SfuMetrics};
use parley_proto::{ErrorCode, ParticipantGrants, RemovedReason, RtcServerMessage};
use std::time::Duration;
use tokio::sync::mpsc;

use super::PanicStep;

struct Joined {
    key: crate::ParticipantKey,
    signals: mpsc::Receiver<RtcServerMessage>,
}

async fn join(sfu: &Sfu, room: &str, identity: &str) -> Joined {
    try_join(sfu, room, identity, None).await.expect("join")
}

async fn try_join(
    sfu: &Sfu,
    room: &str,
    identity: &str,
    api_key: Option<&str>,
) -> crate::SfuResult<Joined> {
    let (tx, signals) = mpsc::channel(64);
    let joined = sfu
        .join(
            JoinRequest {
                channel: crate::ChannelRule::Any,
                room: room.into(),
                may_create: true,
                identity: identity.into(),
                name: identity.into(),
                grants: ParticipantGrants {
                    can_publish: true,
                    can_subscribe: true,
                    ..ParticipantGrants::default()
                },
                auto_subscribe: true,
                resume: None,
                api_key: api_key.map(str::to_string),
            },
            tx,
        )
        .await?;
    Ok(Joined {
        key: joined.key,
        signals,
    })
}

/// The next message on `signals` that `pick` accepts, within five seconds.
async fn next<T>(
    signals: &mut mpsc::Receiver<RtcServerMessage>,
    mut pick: impl FnMut(RtcServerMessage) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let message = signals.recv().await.expect("signals end");
            if let Some(found) = pick(message) {
                return found;
            }
        }
    })
    .await
    .expect("no such message within 5 s")
}

fn removed(message: RtcServerMessage) -> Option<RemovedReason> {
    match message {
        RtcServerMessage::Removed { reason, .. } => Some(reason),
        _ => None,
    }
}

async fn identities(sfu: &Sfu, room: &str) -> Vec<String> {
    let detail = sfu.room(room.into()).await.expect("room");
    detail
        .participants
        .into_iter()
        .map(|p| p.identity)
        .collect()
}

/// Issue 18: one panic in SDP, STUN, DTLS, RTP or RTCP handling ended every meeting on the
/// node.
#[tokio::test]
async fn a_panic_in_one_participants_step_removes_only_that_participant() {
    let (sfu, metrics) = start();
    let mut ann = join(&sfu, "a", "ann").await;
    let mut bob = join(&sfu, "a", "bob").await;
    let mut cat = join(&sfu, "b", "cat").await;
    let mut dan = join(&sfu, "a", "dan").await;

    // Ann's connection panics when it is next polled (its timers are served every tick).
    sfu.inject_panic(ann.key, PanicStep::Poll).await;
    assert_eq!(
        next(&mut ann.signals, removed).await,
        RemovedReason::InternalError
    );
    let left = |message| match message {
        RtcServerMessage::ParticipantLeft { identity, .. } => Some(identity),
        _ => None,
    };
    assert_eq!(next(&mut bob.signals, left).await, "ann");
    let panics = |step: &str| metrics.peer_panics.with_label_values(&[step]).get();
    assert_eq!(panics("poll"), 1);
    // Everyone else carries on: their requests are answered, their rooms are as they were.
    sfu.raise_hand(bob.key, true).await.expect("bob's request");
    sfu.raise_hand(cat.key, true).await.expect("cat's request");
    assert_eq!(identities(&sfu, "a").await, ["bob", "dan"]);
    assert_eq!(identities(&sfu, "b").await, ["cat"]);

    // Bob's next request panics while it is applied: he gets an error and is removed.
    sfu.inject_panic(bob.key, PanicStep::Command).await;
    let refused = sfu.raise_hand(bob.key, false).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Internal);
    assert_eq!(
        next(&mut bob.signals, removed).await,
        RemovedReason::InternalError
    );
    assert_eq!(next(&mut dan.signals, left).await, "ann");
    assert_eq!(next(&mut dan.signals, left).await, "bob");
    assert_eq!(panics("command"), 1);
    assert_eq!(metrics.participants.get(), 2, "dan and cat");
    sfu.raise_hand(dan.key, true).await.expect("dan's request");
    assert_eq!(identities(&sfu, "a").await, ["dan"]);
    assert_eq!(identities(&sfu, "b").await, ["cat"]);
    // A new participant still gets in, next to those who stayed.
    let _eve = join(&sfu, "b", "eve").await;
    let joined = |message| match message {
        RtcServerMessage::ParticipantJoined { participant } => Some(participant.identity),
        _ => None,
    };
    assert_eq!(next(&mut cat.signals, joined).await, "eve");
    sfu.shutdown().await;
}

fn start() -> (Sfu, SfuMetrics) {
    let registry = prometheus::Registry::new();
    let metrics = SfuMetrics::register(&registry).expect("metrics");
    let config = SfuConfig {
        udp_bind: "127.0.0.1:0".parse().expect("address"),
        ..SfuConfig::default()
    };
    let (sfu, _events) = Sfu::start(config, metrics.clone()).expect("start");
    (sfu, metrics)
}

/// Issue 18: revoking an API key left the participants its tokens let in connected.
#[tokio::test]
async fn a_revoked_keys_participants_go_and_its_late_joins_are_refused() {
    let (sfu, metrics) = start();
    let mut ann = try_join(&sfu, "a", "ann", Some("PK1")).await.expect("ann");
    let mut rec = try_join(&sfu, "b", "rec", Some("PK1")).await.expect("rec");
    let _bob = try_join(&sfu, "a", "bob", Some("PK2")).await.expect("bob");
    let _cat = join(&sfu, "a", "cat").await;
    assert_eq!(sfu.remove_signed_by("PK1".into()).await, Ok(2));
    for signals in [&mut ann.signals, &mut rec.signals] {
        assert_eq!(next(signals, removed).await, RemovedReason::TokenRevoked);
    }
    assert_eq!(identities(&sfu, "a").await, ["bob", "cat"]);
    // Rooms may be on different workers: each has carried out the removals it answered for
    // once it answers its next request.
    assert!(identities(&sfu, "b").await.is_empty());
    assert_eq!(metrics.participants.get(), 2);
    // A join whose token was checked just before the revocation is refused when it arrives.
    let late = try_join(&sfu, "a", "dan", Some("PK1"))
        .await
        .err()
        .expect("refused");
    assert_eq!(late.code, ErrorCode::TokenInvalid);
    sfu.shutdown().await;
}

/// A STUN message: the header, then each attribute as type, length, value padded to four bytes.
fn stun(attributes: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (kind, value) in attributes {
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut message = vec![0x00, 0x01];
    message.extend_from_slice(&(body.len() as u16).to_be_bytes());
    message.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    message.extend_from_slice(&[7; 12]);
    message.extend_from_slice(&body);
    message
}

#[test]
fn an_ice_checks_username_is_read_past_other_attributes_and_bad_messages_give_none() {
    use super::stun_username;
    let check = stun(&[
        (0x0024, &[0, 0, 1, 2]),
        (0x0006, b"srv1:cli"),
        (0x8029, &[1; 8]),
    ]);
    assert_eq!(stun_username(&check), Some("srv1:cli"));
    // A name whose length is not a multiple of four, after one that is padded.
    let check = stun(&[(0x8022, b"abc"), (0x0006, b"a:bcdef")]);
    assert_eq!(stun_username(&check), Some("a:bcdef"));
    // No USERNAME; a message cut short; an attribute longer than the message; not UTF-8.
    assert_eq!(stun_username(&stun(&[(0x0024, &[0, 0, 1, 2])])), None);
    let whole = stun(&[(0x0006, b"srv1:cli")]);
    assert_eq!(stun_username(&whole[..whole.len() - 2]), None);
    let mut long = whole.clone();
    long[22..24].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(stun_username(&long), None);
    assert_eq!(stun_username(&stun(&[(0x0006, &[0xff, 0xfe])])), None);
    assert_eq!(stun_username(&[]), None);
    assert_eq!(stun_username(&[0, 1, 0, 8]), None);
}

/// A room is open on one worker only: a request that reached another worker (it was routed
/// before the room opened) is sent on to the one holding it, and a new room goes to the worker
/// with the fewest participants.
#[tokio::test]
async fn a_room_lives_on_one_worker_and_requests_follow_it_there() {
    let registry = prometheus::Registry::new();
    let metrics = SfuMetrics::register(&registry).expect("metrics");
    let config = SfuConfig {
        udp_bind: "127.0.0.1:0".parse().expect("address"),
        workers: 2,
        ..SfuConfig::default()
    };
    let (sfu, _events) = Sfu::start(config, metrics.clone()).expect("start");
    assert_eq!(sfu.workers(), 2);
    // Room `x` opens on worker 1, as if a join had raced there.
    sfu.ask_worker(1, |reply| crate::Command::CreateRoom {
        settings: crate::RoomSettings::named("x"),
        reply,
    })
    .await
    .expect("x opens on worker 1");
    // Worker 0, asked to open it too, says where it is instead of opening a second one.
    let refused = sfu
        .ask_worker(0, |reply| crate::Command::CreateRoom {
            settings: crate::RoomSettings::named("x"),
            reply,
        })
        .await
        .expect_err("worker 0 does not open x");
    assert_eq!(refused.moved, Some(1));
    // Through the handle, joins land in the one room on worker 1.
    let ann = join(&sfu, "x", "ann").await;
    let bob = join(&sfu, "x", "bob").await;
    assert_eq!((ann.key.worker(), bob.key.worker()), (1, 1));
    let detail = sfu.room("x".into()).await.expect("room x");
    assert_eq!(detail.participants.len(), 2);
    // Worker 1 has two participants: the next new room goes to worker 0.
    let cat = join(&sfu, "y", "cat").await;
    assert_eq!(cat.key.worker(), 0);
    assert_eq!(metrics.worker_participants(0).get(), 1);
    assert_eq!(metrics.worker_participants(1).get(), 2);
    let rooms = sfu.list_rooms().await.expect("rooms");
    let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["x", "y"], "every worker's rooms, in name order");
    // Ending the room frees its name on worker 1; it may open anywhere again.
    sfu.end_room("x".into()).await.expect("end x");
    assert_eq!(metrics.worker_rooms(1).get(), 0);
    assert_eq!(sfu.placement.worker_of("x"), None);
    sfu.shutdown().await;
}
