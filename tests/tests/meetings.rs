//! Meetings end to end: real aiortc peers publish and subscribe through the real server's SFU,
//! the room service acts on them over REST, webhooks report the room's life, and bad input of
//! every kind gets a clear error that touches nobody else.

use parley_tests::rtc::{
    assert_heard_440_hz, first_received, metric, until_in_room, AiortcPeer, App, RtcClient,
};
use parley_tests::{expect_error, expect_json, Backend, Server, ServerOptions, Team};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const OFFER_AUDIO: &str = include_str!("../fixtures/aiortc-offer-audio.sdp");
const OFFER_AUDIO_VIDEO: &str = include_str!("../fixtures/aiortc-offer-audio-video.sdp");

async fn start() -> Server {
    Server::start(Backend::Sqlite).await
}

/// The media port the server opened, from its log.
fn media_port(server: &Server) -> u16 {
    let log = server.log();
    let at = log.find("udp=").expect("the server logs its media port");
    log[at + 4..]
        .split_whitespace()
        .next()
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .expect("a port after udp=")
}

/// A listener, then a speaker sending a 440 Hz tone for `seconds` (with `speaker_args` too),
/// in a new room. The listener stays until the speaker leaves (at most 40 s, for a busy
/// machine).
async fn tone_call(
    server: &Server,
    room: &str,
    seconds: f64,
    speaker_args: &[&str],
) -> (AiortcPeer, AiortcPeer) {
    let app = App::register(server).await;
    let room = parley_tests::unique(room);
    let listener = AiortcPeer::spawn(
        server,
        &app.participant("listener", &room),
        40.0,
        &["--until-left"],
    );
    until_in_room(server, &app, &room, 1, 0).await;
    let mut args = vec!["--tone", "440"];
    args.extend_from_slice(speaker_args);
    let speaker = AiortcPeer::spawn(server, &app.participant("speaker", &room), seconds, &args);
    (listener, speaker)
}

#[tokio::test]
async fn a_440_hz_tone_reaches_the_subscriber_at_440_hz_despite_garbage_on_the_media_port() {
    let server = start().await;
    let (listener, speaker) = tone_call(&server, "tone", 6.0, &[]).await;

    // Meanwhile a stranger on another loopback address throws junk at the media port: random
    // bytes, a fake DTLS record, a STUN binding request for credentials nobody has.
    let port = media_port(&server);
    let junk = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7u8; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun.extend_from_slice(b"nobo:dy!");
    let dtls = [0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3];
    for i in 0..300u32 {
        let random: Vec<u8> = (0..(i % 200 + 1)).map(|_| rand::random()).collect();
        for datagram in [&random[..], &dtls[..], &stun[..]] {
            junk.send_to(datagram, ("127.0.0.1", port)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let spoke = speaker.report().await;
    let heard = listener.report().await;
    assert!(
        spoke["errors"].as_array().unwrap().is_empty(),
        "speaker: {spoke}"
    );
    assert_heard_440_hz(&heard);
    let seen: Vec<&str> = heard["seen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for kind in [
        "participant_joined",
        "track_published",
        "offer",
        "active_speakers",
        "participant_left",
    ] {
        assert!(seen.contains(&kind), "the listener saw {kind}: {seen:?}");
    }
    assert!(
        metric(
            &server,
            "parley_rtc_dropped_datagrams_total{reason=\"unknown_source\"}"
        )
        .await
            + metric(
                &server,
                "parley_rtc_dropped_datagrams_total{reason=\"unrecognised\"}"
            )
            .await
            >= 300.0,
        "the junk was counted and dropped"
    );
    assert!(metric(&server, "parley_rtc_packets_total{direction=\"in\"}").await > 100.0);
    assert!(metric(&server, "parley_rtc_packets_total{direction=\"out\"}").await > 100.0);
    assert!(server.get("/healthz", None).await.status().is_success());
}

#[tokio::test]
async fn the_room_service_mutes_updates_removes_and_ends_with_live_peers() {
    let server = start().await;
    let app = App::register(&server).await;
    let admin = app.room_admin();
    let room = parley_tests::unique("svc");
    let created: Value = expect_json(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": room, "empty_timeout_secs": 30}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(created["name"], room.as_str());
    assert_eq!(created["num_participants"], 0);

    // An observer that only watches events (no subscription), an aiortc listener, and an
    // aiortc speaker sending a tone for up to 30 seconds.
    let mut observer = RtcClient::join(
        &server,
        &app.token("observer", json!({"room": room, "room_join": true})),
    )
    .await;
    let listener = AiortcPeer::spawn(&server, &app.participant("listener", &room), 30.0, &[]);
    let speaker = AiortcPeer::spawn(
        &server,
        &app.participant("speaker", &room),
        30.0,
        &["--tone", "440"],
    );
    let published = observer.next_of("track_published").await;
    let track = published["track"]["sid"].as_str().unwrap().to_string();
    assert_eq!(published["track"]["source"], "microphone");

    let out = "parley_rtc_packets_total{direction=\"out\"}";
    let inbound = "parley_rtc_packets_total{direction=\"in\"}";
    parley_tests::eventually(100, Duration::from_millis(100), || async {
        (metric(&server, out).await > 50.0).then_some(())
    })
    .await;

    let listed: Value = expect_json(server.get("/v1/rooms", Some(&admin)).await, 200).await;
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == room.as_str())
        .expect("the room is listed");
    assert_eq!(ours["num_participants"], 3);
    assert_eq!(ours["num_publishers"], 1);
    let participants: Value = expect_json(
        server
            .get(&format!("/v1/rooms/{room}/participants"), Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(participants.as_array().unwrap().len(), 3);
    assert_eq!(
        metric(
            &server,
            "parley_rtc_tracks{kind=\"audio\",source=\"microphone\"}"
        )
        .await,
        1.0
    );
    assert_eq!(metric(&server, "parley_rtc_participants").await, 3.0);

    // Mute: the server stops forwarding at once and says so to everyone.
    let muted: Value = expect_json(
        server
            .post(
                &format!("/v1/rooms/{room}/participants/speaker/mute"),
                Some(&admin),
                &json!({"track": track, "muted": true}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(muted["muted"], true);
    let event = observer.next_of("track_muted").await;
    assert_eq!(event["track"], track.as_str());
    assert_eq!(event["by_admin"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (out_before, in_before) = (metric(&server, out).await, metric(&server, inbound).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        metric(&server, out).await,
        out_before,
        "nothing is forwarded while muted"
    );
    assert!(
        metric(&server, inbound).await > in_before + 20.0,
        "the speaker still sends"
    );

    // Unmute: forwarding resumes.
    expect_json::<Value>(
        server
            .post(
                &format!("/v1/rooms/{room}/participants/speaker/mute"),
                Some(&admin),
                &json!({"track": track, "muted": false}),
            )
            .await,
        200,
    )
    .await;
    parley_tests::eventually(50, Duration::from_millis(100), || async {
        (metric(&server, out).await > out_before + 20.0).then_some(())
    })
    .await;

    // Limiting the speaker to its camera unpublishes its microphone; the grants it was not
    // told about stay as they were.
    let updated: Value = expect_json(
        server
            .request(
                reqwest::Method::PATCH,
                &format!("/v1/rooms/{room}/participants/speaker"),
                Some(&admin),
            )
            .json(&json!({"grants": {"can_publish_sources": ["camera"]}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(updated["grants"]["can_publish"], true);
    assert_eq!(updated["grants"]["can_subscribe"], true);
    assert_eq!(updated["tracks"], json!([]));
    let gone = observer.next_of("track_unpublished").await;
    assert_eq!(gone["track"], track.as_str());
    let event = observer.next_of("participant_updated").await;
    assert_eq!(event["participant"]["identity"], "speaker");
    expect_error(
        server
            .request(
                reqwest::Method::PATCH,
                &format!("/v1/rooms/{room}/participants/speaker"),
                Some(&admin),
            )
            .json(&json!({"grants": {"hidden": false}}))
            .send()
            .await
            .unwrap(),
        422,
        "unknown_field",
    )
    .await;

    // Taking away the listener's right to subscribe is announced to the room.
    let updated: Value = expect_json(
        server
            .request(
                reqwest::Method::PATCH,
                &format!("/v1/rooms/{room}/participants/listener"),
                Some(&admin),
            )
            .json(&json!({"grants": {"can_subscribe": false}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(updated["grants"]["can_subscribe"], false);
    assert_eq!(updated["grants"]["can_publish"], true, "kept");
    let event = observer.next_of("participant_updated").await;
    assert_eq!(event["participant"]["identity"], "listener");

    // Remove the speaker: it is told why, and the others see it leave.
    let removed = server
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/rooms/{room}/participants/speaker"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let left = observer.next_of("participant_left").await;
    assert_eq!(left["identity"], "speaker");
    let spoke = speaker.report().await;
    assert_eq!(spoke["removed"]["reason"], "removed_by_admin", "{spoke}");

    // End the room: everyone still in it is removed, and the room is gone.
    let ended = server
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/rooms/{room}"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let last = observer.until_closed().await;
    let removed = last
        .iter()
        .find(|m| m["type"] == "removed")
        .expect("the observer is removed");
    assert_eq!(removed["reason"], "room_ended");
    let listened = listener.report().await;
    assert_eq!(listened["removed"]["reason"], "room_ended", "{listened}");
    let dominant = first_received(&listened)["dominant_hz"]
        .as_f64()
        .unwrap_or(0.0);
    assert!((dominant - 440.0).abs() < 5.0, "{listened}");
    expect_error(
        server.get(&format!("/v1/rooms/{room}"), Some(&admin)).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn room_service_needs_admin_or_room_grants() {
    let server = start().await;
    let app = App::register(&server).await;
    let admin_user = server.admin_token().await;
    let (_, member) = server.user_with_role(&admin_user, "member", None).await;
    let joiner = app.token("joiner", json!({"room": "r", "room_join": true}));
    for (token, code) in [(&member, "forbidden"), (&joiner, "insufficient_grant")] {
        expect_error(server.get("/v1/rooms", Some(token)).await, 403, code).await;
        expect_error(
            server
                .post("/v1/rooms", Some(token), &json!({"name": "x"}))
                .await,
            403,
            code,
        )
        .await;
    }
    let created: Value = expect_json(
        server
            .post("/v1/rooms", Some(&admin_user), &json!({"name": "会议室 1"}))
            .await,
        201,
    )
    .await;
    assert_eq!(created["name"], "会议室 1");
    expect_error(
        server
            .post("/v1/rooms", Some(&admin_user), &json!({"name": "a/b"}))
            .await,
        422,
        "invalid_input",
    )
    .await;
    expect_error(
        server
            .post(
                "/v1/rooms",
                Some(&admin_user),
                &json!({"name": "c", "channel_id": 999_999}),
            )
            .await,
        404,
        "not_found",
    )
    .await;
    let doc: Value = expect_json(server.get("/v1/openapi.json", None).await, 200).await;
    for path in [
        "/v1/rooms",
        "/v1/rooms/{name}",
        "/v1/rooms/{name}/participants",
        "/v1/rooms/{name}/participants/{identity}",
        "/v1/rooms/{name}/participants/{identity}/mute",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }
}

async fn expect_rtc_error(client: &mut RtcClient, message: Value, code: &str) -> Value {
    let reply = client.request(message).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert!(!reply["message"].as_str().unwrap_or("").is_empty());
    reply
}

fn offer(sdp: &str, tracks: Value) -> Value {
    json!({"type": "offer", "sdp": sdp, "tracks": tracks})
}

#[tokio::test]
async fn bad_signaling_gets_a_clear_error_and_harms_nobody() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_RTC_MAX_TRACKS_PER_PARTICIPANT", "1"),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("bad");
    // A bystander in another room, to show it is untouched by all of this.
    let mut bystander = RtcClient::join(&server, &app.participant("bystander", "elsewhere")).await;

    // Requests before `join`, and broken frames.
    let mut c = RtcClient::open(&server).await;
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.recv().await["code"], "hello_required");
    c.send_raw(Message::text("{not json")).await;
    assert_eq!(c.recv().await["code"], "malformed_json");
    c.send(json!({"type": "dance"})).await;
    assert_eq!(c.recv().await["code"], "unknown_type");
    c.send_raw(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(c.recv().await["code"], "malformed_json");
    c.send_raw(Message::text(format!(
        "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(300 * 1024)
    )))
    .await;
    assert_eq!(c.recv().await["code"], "frame_too_large");

    // Tokens: forged, expired, for another room, without the join grant.
    let forged = App {
        key: app.key.clone(),
        secret: "not-the-secret".into(),
    }
    .participant("mallory", &room);
    let expired = app.token_with(
        json!({"sub": "late", "grants": {"room": room, "room_join": true}}),
        -3600,
    );
    let other_room = app.participant("wanderer", "another-room");
    let no_join = app.token("nojoin", json!({"room": room, "can_publish": true}));
    let impostor = app.participant("user:1", &room);
    for (token, room_asked, code) in [
        (&impostor, None, "token_invalid"),
        (&forged, None, "token_invalid"),
        (&expired, None, "token_expired"),
        (&other_room, Some(room.as_str()), "insufficient_grant"),
        (&no_join, None, "insufficient_grant"),
    ] {
        let mut c = RtcClient::open(&server).await;
        let mut join = json!({"type": "join", "id": "j", "token": token});
        if let Some(r) = room_asked {
            join["room"] = json!(r);
        }
        c.send(join).await;
        let reply = c.recv().await;
        assert_eq!(reply["code"], code, "{reply}");
        assert!(c.try_recv().await.is_none(), "then the server closes");
    }

    // Offers that cannot be taken.
    let mut p = RtcClient::join(&server, &app.participant("publisher", &room)).await;
    expect_rtc_error(
        &mut p,
        offer(
            "this is not SDP",
            json!([{"mid": "0", "source": "microphone"}]),
        ),
        "invalid_sdp",
    )
    .await;
    let no_codec: String = OFFER_AUDIO
        .lines()
        .filter(|l| !l.contains("opus"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let reply = expect_rtc_error(
        &mut p,
        offer(&no_codec, json!([{"mid": "0", "source": "microphone"}])),
        "no_usable_codec",
    )
    .await;
    assert!(
        reply["message"].as_str().unwrap().contains("pcmu"),
        "{reply}"
    );
    expect_rtc_error(
        &mut p,
        offer(
            OFFER_AUDIO_VIDEO,
            json!([{"mid": "0", "source": "microphone"}, {"mid": "1", "source": "camera"}]),
        ),
        "too_many_tracks",
    )
    .await;
    expect_rtc_error(
        &mut p,
        offer(OFFER_AUDIO, json!([{"mid": "7", "source": "microphone"}])),
        "invalid_input",
    )
    .await;
    expect_rtc_error(&mut p, offer(OFFER_AUDIO, json!([])), "invalid_input").await;
    expect_rtc_error(
        &mut p,
        offer(OFFER_AUDIO, json!([{"mid": "0", "source": "camera"}])),
        "invalid_input",
    )
    .await;
    expect_rtc_error(
        &mut p,
        json!({"type": "answer", "sdp": OFFER_AUDIO}),
        "invalid_input",
    )
    .await;
    expect_rtc_error(
        &mut p,
        json!({"type": "subscribe", "tracks": ["TR_nothing"]}),
        "not_found",
    )
    .await;
    expect_rtc_error(
        &mut p,
        json!({"type": "mute", "track": "TR_nothing", "muted": true}),
        "not_found",
    )
    .await;
    p.send(json!({"type": "candidate", "target": "publisher", "candidate": "candidate:garbage"}))
        .await;
    assert_eq!(p.next_of("error").await["code"], "invalid_input");

    // After all that the same connection still publishes.
    let answer = p
        .request(offer(
            OFFER_AUDIO,
            json!([{"mid": "0", "source": "microphone", "name": "话筒"}]),
        ))
        .await;
    assert_eq!(answer["type"], "answer", "{answer}");
    assert!(answer["sdp"].as_str().unwrap().contains("typ host"));
    assert_eq!(answer["tracks"][0]["track"]["source"], "microphone");
    assert_eq!(answer["tracks"][0]["track"]["name"], "话筒");

    // Grants: no publishing at all, or only some sources.
    let mut viewer = RtcClient::join(
        &server,
        &app.token(
            "viewer",
            json!({"room": room, "room_join": true, "can_subscribe": true}),
        ),
    )
    .await;
    expect_rtc_error(
        &mut viewer,
        offer(OFFER_AUDIO, json!([{"mid": "0", "source": "microphone"}])),
        "insufficient_grant",
    )
    .await;
    let mut camera_only = RtcClient::join(
        &server,
        &app.token(
            "camera-only",
            json!({"room": room, "room_join": true, "can_publish": true, "can_publish_sources": ["camera"]}),
        ),
    )
    .await;
    expect_rtc_error(
        &mut camera_only,
        offer(OFFER_AUDIO, json!([{"mid": "0", "source": "microphone"}])),
        "insufficient_grant",
    )
    .await;
    expect_rtc_error(
        &mut viewer,
        json!({"type": "join", "token": "x"}),
        "invalid_input",
    )
    .await;

    // The bystander in the other room noticed nothing and still answers.
    let pong = bystander.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
}

#[tokio::test]
async fn a_full_room_refuses_and_users_join_by_channel_membership() {
    let server = start().await;
    let team = Team::new(server, "设计评审", false).await;
    let server = &team.server;
    let app = App::register(server).await;
    let admin = app.room_admin();
    expect_json::<Value>(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": "tiny", "max_participants": 1}),
            )
            .await,
        201,
    )
    .await;
    let _first = RtcClient::join(server, &app.participant("one", "tiny")).await;
    let mut second = RtcClient::open(server).await;
    second
        .send(json!({"type": "join", "token": app.participant("two", "tiny")}))
        .await;
    assert_eq!(second.recv().await["code"], "room_full");

    // A meeting linked to Ann's channel: members join with their own sign-in token, Cat (not
    // a member) and a guest do not.
    expect_json::<Value>(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": "review", "channel_id": team.channel}),
            )
            .await,
        201,
    )
    .await;
    let bob = RtcClient::join_room(server, &team.bob.1, "review").await;
    let joined = &bob.joined;
    assert_eq!(joined["room"]["channel_id"], team.channel);
    assert_eq!(
        joined["participant"]["identity"],
        format!("user:{}", team.bob.0)
    );
    let mut cat = RtcClient::open(server).await;
    cat.send(json!({"type": "join", "token": team.cat.1, "room": "review"}))
        .await;
    assert_eq!(cat.recv().await["code"], "not_member");
    // Cat opens an unlinked room by joining it; it cannot then be passed off as the channel's.
    let mut squatter = RtcClient::open(server).await;
    squatter
        .send(json!({"type": "join", "token": team.cat.1, "room": "squat"}))
        .await;
    assert_eq!(squatter.recv().await["type"], "joined");
    expect_error(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": "squat", "channel_id": team.channel}),
            )
            .await,
        409,
        "conflict",
    )
    .await;
    let (_, guest) = server.user_with_role(&team.admin, "guest", None).await;
    let mut g = RtcClient::open(server).await;
    g.send(json!({"type": "join", "token": guest, "room": "adhoc"}))
        .await;
    assert_eq!(g.recv().await["code"], "forbidden");
}

#[tokio::test]
async fn webhooks_report_the_room_life_signed() {
    let secret = "a-meeting-webhook-secret";
    let (url, mut calls) = parley_tests::webhook_receiver(vec![]).await;
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_RTC_WEBHOOK_URL", url)
            .env("PARLEY_RTC_WEBHOOK_SECRET", secret)
            .env("PARLEY_RTC_EMPTY_TIMEOUT_SECS", "1"),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("hook");
    let mut p = RtcClient::join(&server, &app.participant("ann", &room)).await;
    let answer = p
        .request(offer(
            OFFER_AUDIO,
            json!([{"mid": "0", "source": "microphone"}]),
        ))
        .await;
    assert_eq!(answer["type"], "answer");
    p.send(json!({"type": "leave"})).await;
    assert!(p.until_closed().await.is_empty());

    let mut events = Vec::new();
    while events.last().map(|e: &Value| e["event"].clone()) != Some(json!("room_finished")) {
        let (head, body) = tokio::time::timeout(Duration::from_secs(15), calls.recv())
            .await
            .expect("a webhook call")
            .expect("receiver alive");
        let event = parley_tests::verified_body(&head, &body, secret);
        assert_eq!(event["room"]["name"], room.as_str());
        events.push(event);
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "room_started",
            "participant_joined",
            "track_published",
            "track_unpublished",
            "participant_left",
            "room_finished"
        ]
    );
    assert_eq!(events[2]["track"]["source"], "microphone");
    assert_eq!(events[1]["participant"]["identity"], "ann");
    let ids: std::collections::HashSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
}

#[tokio::test]
async fn hidden_participants_are_never_listed_or_announced() {
    let server = start().await;
    let app = App::register(&server).await;
    let admin = app.room_admin();
    let room = parley_tests::unique("hidden");
    let mut ann = RtcClient::join(&server, &app.participant("ann", &room)).await;
    let recorder = RtcClient::join(
        &server,
        &app.token(
            "recorder",
            json!({"room": room, "room_join": true, "can_subscribe": true, "recorder": true}),
        ),
    )
    .await;
    assert_eq!(recorder.joined["participant"]["grants"]["hidden"], true);
    assert_eq!(
        recorder.joined["participants"].as_array().unwrap().len(),
        1,
        "the recorder sees Ann"
    );
    // Bob joins after the recorder: he sees only Ann; Ann sees Bob and never the recorder.
    let bob = RtcClient::join(&server, &app.participant("bob", &room)).await;
    let listed: Vec<&str> = bob.joined["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["ann"]);
    let joined = ann.next_of("participant_joined").await;
    assert_eq!(joined["participant"]["identity"], "bob");
    let detail: Value = expect_json(
        server.get(&format!("/v1/rooms/{room}"), Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(detail["room"]["num_participants"], 2);
    let identities: Vec<&str> = detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert!(!identities.contains(&"recorder"), "{identities:?}");
    // Hidden participants do not publish.
    let mut recorder = recorder;
    let reply = recorder
        .request(offer(
            OFFER_AUDIO,
            json!([{"mid": "0", "source": "microphone"}]),
        ))
        .await;
    assert_eq!(reply["code"], "insufficient_grant", "{reply}");
    // The recorder leaving is not announced either; Bob leaving is.
    drop(recorder);
    let mut bob = bob;
    bob.send(json!({"type": "leave"})).await;
    let left = ann.next_of("participant_left").await;
    assert_eq!(left["identity"], "bob");
}

#[tokio::test]
async fn a_silent_signaling_connection_is_closed_after_the_heartbeat() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_HUB_HEARTBEAT_SECS", "2")
            .env("PARLEY_RTC_RESUME_WINDOW_SECS", "1"),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("quiet");
    let mut silent = RtcClient::join(&server, &app.participant("silent", &room)).await;
    let mut lively = RtcClient::join(&server, &app.participant("lively", &room)).await;
    // The lively client keeps reading, so its WebSocket library answers the server's pings;
    // the silent one reads nothing; after the heartbeat and the resume window it is gone.
    let until = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < until {
        if let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(200), lively.try_recv()).await
        {
            seen.push(m);
        }
    }
    silent.until_closed().await;
    let pong = lively.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "the lively client is still connected");
    assert!(
        seen.iter()
            .any(|m| m["type"] == "participant_left" && m["identity"] == "silent"),
        "the silent one left the room: {seen:?}"
    );
}

/// Messages a client receives within `for_how_long`.
async fn collect(client: &mut RtcClient, for_how_long: Duration) -> Vec<Value> {
    let until = tokio::time::Instant::now() + for_how_long;
    let mut seen = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout_at(until, client.try_recv()).await {
        seen.push(m);
    }
    seen
}

#[tokio::test]
async fn a_dropped_signaling_connection_resumes_as_the_same_participant() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_RTC_RESUME_WINDOW_SECS", "3"),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("resume");
    let token = app.participant("ann", &room);
    let mut ann = RtcClient::join(&server, &token).await;
    let mut bob = RtcClient::join(&server, &app.participant("bob", &room)).await;
    let published = ann
        .request(offer(
            OFFER_AUDIO,
            json!([{"mid": "0", "source": "microphone"}]),
        ))
        .await;
    assert_eq!(published["type"], "answer");
    assert_eq!(
        bob.next_of("track_published").await["track"]["participant"],
        ann.joined["participant"]["sid"]
    );

    // Ann's connection drops; she comes back within the window with her resume token.
    let resume = ann.joined["resume_token"].as_str().unwrap().to_string();
    let sid = ann.joined["participant"]["sid"].clone();
    drop(ann);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut again = RtcClient::open(&server).await;
    again
        .send(json!({"type": "join", "id": "j", "token": token, "resume": resume}))
        .await;
    let joined = again.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["resumed"], true);
    assert_eq!(joined["participant"]["sid"], sid, "the same participant");
    assert_eq!(
        joined["participant"]["tracks"][0]["source"], "microphone",
        "its track stayed"
    );
    assert_ne!(
        joined["resume_token"],
        resume.as_str(),
        "a new token each time"
    );
    assert_eq!(joined["participants"][0]["identity"], "bob");
    // The old token is spent; someone else's token cannot take Ann over.
    for (t, r) in [
        (&token, resume.as_str()),
        (
            &app.participant("mallory", &room),
            joined["resume_token"].as_str().unwrap(),
        ),
    ] {
        let mut c = RtcClient::open(&server).await;
        c.send(json!({"type": "join", "token": t, "resume": r}))
            .await;
        assert_eq!(c.recv().await["code"], "not_found");
    }
    // Bob noticed nothing.
    let seen = collect(&mut bob, Duration::from_millis(1500)).await;
    assert!(
        seen.iter()
            .all(|m| m["type"] != "participant_left" && m["type"] != "participant_joined"),
        "{seen:?}"
    );

    // This time Ann does not come back: after the window she leaves, and Bob is told.
    drop(again);
    let left = bob.next_of("participant_left").await;
    assert_eq!(left["identity"], "ann");
    let mut late = RtcClient::open(&server).await;
    late.send(json!({"type": "join", "token": token, "resume": joined["resume_token"]}))
        .await;
    assert_eq!(late.recv().await["code"], "not_found");
}

#[tokio::test]
async fn media_keeps_flowing_while_a_dropped_signaling_connection_is_resumed() {
    let server = start().await;
    // The speaker drops its signaling connection 3 s in and resumes it a second later.
    let (listener, speaker) =
        tone_call(&server, "reattach", 8.0, &["--reconnect-after", "3"]).await;
    let spoke = speaker.report().await;
    let heard = listener.report().await;
    assert_eq!(
        spoke["joins"],
        json!([{"resumed": false, "sid": spoke["joins"][0]["sid"]},
               {"resumed": true, "sid": spoke["joins"][0]["sid"]}]),
        "{spoke}"
    );
    assert!(spoke["errors"].as_array().unwrap().is_empty(), "{spoke}");
    // The listener heard the tone throughout: more than the 8 s minus start-up, and saw the
    // speaker leave once, at the end.
    let track = first_received(&heard);
    assert!(
        (track["dominant_hz"].as_f64().unwrap_or(0.0) - 440.0).abs() < 5.0,
        "{heard}"
    );
    assert!(
        track["samples"].as_u64().unwrap_or(0) > 48_000 * 5,
        "audio kept flowing across the reconnect: {heard}"
    );
    let seen = heard["seen"].as_array().unwrap();
    let count = |kind: &str| seen.iter().filter(|t| *t == kind).count();
    assert_eq!(count("participant_joined"), 1, "{seen:?}");
    assert_eq!(count("participant_left"), 1, "{seen:?}");
}

/// The speaker's network (inside a namespace of its own) is cut for 10 s and restored, well
/// within the resume window: its media flows again without a leave or a join, and the room
/// sees only its connection quality go `lost` and come back.
#[tokio::test]
async fn a_participant_whose_network_is_cut_and_restored_carries_on_without_leaving() {
    let netns = parley_tests::Netns::create();
    let host = netns.host_ip.to_string();
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_HTTP_LISTEN", format!("{host}:0"))
            .env("PARLEY_RTC_UDP_BIND", format!("{host}:0")),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("netcut");
    let listener = AiortcPeer::spawn(
        &server,
        &app.participant("listener", &room),
        60.0,
        &["--until-left"],
    );
    until_in_room(&server, &app, &room, 1, 0).await;
    let speaker = AiortcPeer::spawn_in(
        &netns,
        &server,
        &app.participant("speaker", &room),
        30.0,
        &["--tone", "440"],
    );
    until_in_room(&server, &app, &room, 2, 1).await;
    // Four seconds of the tone through the server (50 packets a second) before the cut.
    parley_tests::eventually(300, Duration::from_millis(100), || async {
        (metric(&server, "parley_rtc_packets_total{direction=\"out\"}").await >= 200.0)
            .then_some(())
    })
    .await
    .expect("the tone reached the listener");
    netns.cut();
    tokio::time::sleep(Duration::from_secs(10)).await;
    netns.restore();

    let spoke = speaker.report().await;
    let heard = listener.report().await;
    assert!(spoke["errors"].as_array().unwrap().is_empty(), "{spoke}");
    assert_eq!(
        spoke["joins"].as_array().unwrap().len(),
        1,
        "no rejoin: {spoke}"
    );
    let speaker_sid = spoke["joins"][0]["sid"].clone();

    // The listener saw the speaker join once and leave once (at the end), nothing between.
    let seen = heard["seen"].as_array().unwrap();
    let count = |kind: &str| seen.iter().filter(|t| *t == kind).count();
    assert_eq!(count("participant_joined"), 1, "{seen:?}");
    assert_eq!(count("participant_left"), 1, "{seen:?}");
    // What it saw instead: the speaker's connection lost, then back.
    let qualities: Vec<&Value> = heard["quality_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["participant"] == speaker_sid)
        .collect();
    let lost = qualities
        .iter()
        .position(|q| q["quality"] == "lost")
        .unwrap_or_else(|| panic!("the speaker showed as lost: {qualities:?}"));
    assert!(
        qualities[lost + 1..].iter().any(|q| q["quality"] != "lost"),
        "and came back: {qualities:?} {}",
        first_received(&heard)
    );

    // The tone stopped during the cut and flowed again after it, at its full rate.
    let track = first_received(&heard);
    let per_second: Vec<u64> = track["per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    // From the first frame: a run of seconds with frames, the cut (none), and frames again.
    let media: Vec<u64> = per_second.iter().copied().skip_while(|n| *n == 0).collect();
    let before = media.iter().take_while(|n| **n > 0).count();
    let gap = media[before..].iter().take_while(|n| **n == 0).count();
    let after = &media[before + gap..];
    // A busy machine may hand the listener a second's frames late, in the next second (29
    // then 71 has been seen), but loses none: judged over whole runs, not second by second.
    let full_rate =
        |run: &[u64]| !run.is_empty() && run.iter().sum::<u64>() >= 45 * run.len() as u64;
    assert!(
        before >= 3 && full_rate(&media[1..before - 1]),
        "50 Opus frames a second flowed before the cut: {per_second:?}"
    );
    assert!(
        (5..=12).contains(&gap),
        "nothing arrived while the network was cut: {per_second:?}"
    );
    let steady = after.get(1..7).unwrap_or_default();
    assert!(
        steady.len() == 6 && steady.iter().all(|n| *n > 0) && full_rate(steady),
        "the tone flowed again after the cut: {per_second:?}"
    );
    assert!(
        (track["dominant_hz"].as_f64().unwrap_or(0.0) - 440.0).abs() < 5.0,
        "{heard}"
    );
}

/// Issue 19: qualities were announced only when they changed, so whoever joined (or resumed)
/// after a change never learned it. Right after `joined` comes one `connection_quality` with
/// every member's current quality, the joiner's own included: here a speaker whose network
/// (inside a namespace of its own) is cut shows as `lost` to a participant who joins, and
/// again when that participant resumes.
#[tokio::test]
async fn joining_and_resuming_participants_hear_everyones_current_connection_quality() {
    let netns = parley_tests::Netns::create();
    let host = netns.host_ip.to_string();
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_HTTP_LISTEN", format!("{host}:0"))
            .env("PARLEY_RTC_UDP_BIND", format!("{host}:0")),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("quality");
    let mut watcher = RtcClient::join(&server, &app.participant("watcher", &room)).await;
    let _speaker = AiortcPeer::spawn_in(
        &netns,
        &server,
        &app.participant("speaker", &room),
        30.0,
        &["--tone", "440"],
    );
    until_in_room(&server, &app, &room, 2, 1).await;
    parley_tests::eventually(300, Duration::from_millis(100), || async {
        (metric(&server, "parley_rtc_packets_total{direction=\"in\"}").await >= 50.0).then_some(())
    })
    .await
    .expect("the tone reached the server");
    netns.cut();
    // The watcher hears the speaker go `lost`.
    let speaker_sid = loop {
        let m = tokio::time::timeout(
            Duration::from_secs(15),
            watcher.next_of("connection_quality"),
        )
        .await
        .expect("the speaker shows as lost");
        if let Some(u) = m["updates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["quality"] == "lost")
        {
            break u["participant"].clone();
        }
    };

    let token = app.participant("late", &room);
    let mut late = RtcClient::join(&server, &token).await;
    let watcher_sid = &watcher.joined["participant"]["sid"];
    current_qualities(&mut late, &speaker_sid, watcher_sid, "join").await;

    // Its signaling connection drops; resuming brings the current qualities again.
    let resume = late.joined["resume_token"].as_str().unwrap().to_string();
    drop(late);
    let mut again = RtcClient::open(&server).await;
    again
        .send(json!({"type": "join", "id": "j", "token": token, "resume": resume}))
        .await;
    let joined = again.recv().await;
    assert_eq!(joined["resumed"], true, "{joined}");
    again.joined = joined;
    current_qualities(&mut again, &speaker_sid, watcher_sid, "resume").await;
    netns.restore();
}

/// The message right after `joined`: every member's current quality, the speaker `lost`.
async fn current_qualities(
    client: &mut RtcClient,
    speaker: &Value,
    watcher: &Value,
    context: &str,
) {
    let first = tokio::time::timeout(Duration::from_secs(5), client.recv())
        .await
        .unwrap_or_else(|_| panic!("{context}: a message right after joined"));
    assert_eq!(first["type"], "connection_quality", "{context}: {first}");
    let updates = first["updates"].as_array().unwrap();
    let quality = |sid: &Value| {
        updates
            .iter()
            .find(|u| u["participant"] == *sid)
            .map(|u| u["quality"].clone())
            .unwrap_or_else(|| panic!("{context}: {sid} in {first}"))
    };
    assert_eq!(quality(speaker), "lost", "{context}: {first}");
    assert_eq!(
        quality(&client.joined["participant"]["sid"]),
        "excellent",
        "{context}: its own: {first}"
    );
    assert_eq!(quality(watcher), "excellent", "{context}: {first}");
    assert_eq!(updates.len(), 3, "{context}: {first}");
}

/// In a voice bridge listeners are listen-only; raised hands queue in order; a moderator
/// (`room_admin`) gives the floor (the listener may then publish its microphone), mutes, and
/// takes the floor back (its track is unpublished). Nobody else may moderate.
#[tokio::test]
async fn raised_hands_queue_and_a_moderator_gives_mutes_and_takes_the_floor() {
    let server = start().await;
    let app = App::register(&server).await;
    let admin = app.room_admin();
    let room = parley_tests::unique("floor");
    expect_json::<Value>(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": room, "bridge": {}}),
            )
            .await,
        201,
    )
    .await;
    let mut moderator = RtcClient::join(
        &server,
        &app.token(
            "moderator",
            json!({"room": room, "room_join": true, "can_subscribe": true, "room_admin": true}),
        ),
    )
    .await;
    let listen_only = |name: &str| {
        app.token(
            name,
            json!({"room": room, "room_join": true, "can_subscribe": true}),
        )
    };
    let mut ann = RtcClient::join(&server, &listen_only("ann")).await;
    let mut bob = RtcClient::join(&server, &listen_only("bob")).await;
    let sid = |c: &RtcClient| c.joined["participant"]["sid"].as_str().unwrap().to_string();
    let (ann_sid, bob_sid) = (sid(&ann), sid(&bob));
    let microphone = json!([{"mid": "0", "source": "microphone"}]);

    let refused = ann.request(offer(OFFER_AUDIO, microphone.clone())).await;
    assert_eq!(
        refused["code"], "insufficient_grant",
        "listen-only: {refused}"
    );

    // Bob raises his hand first, then Ann; raising again keeps Bob's place.
    let raise = json!({"type": "raise_hand", "raised": true});
    assert_eq!(bob.request(raise.clone()).await["type"], "ok");
    assert_eq!(ann.request(raise.clone()).await["type"], "ok");
    assert_eq!(bob.request(raise).await["type"], "ok");
    let update = moderator.next_of("participant_updated").await;
    assert_eq!(update["participant"]["sid"], bob_sid.as_str());
    assert!(update["participant"]["hand_raised_at"].as_i64().is_some());
    let detail_path = format!("/v1/rooms/{room}");
    let hands = || async {
        expect_json::<Value>(server.get(&detail_path, Some(&admin)).await, 200).await
            ["raised_hands"]
            .clone()
    };
    assert_eq!(hands().await, json!([bob_sid, ann_sid]));

    // Only a moderator moderates.
    let denied = ann
        .request(json!({"type": "moderate", "participant": bob_sid, "action": "give_floor"}))
        .await;
    assert_eq!(denied["code"], "insufficient_grant", "{denied}");
    let nobody = moderator
        .request(json!({"type": "moderate", "participant": "PA_nobody", "action": "mute"}))
        .await;
    assert_eq!(nobody["code"], "not_found", "{nobody}");

    // The moderator gives Bob the floor: he may speak, his hand is down, Ann is next.
    let given = moderator
        .request(json!({"type": "moderate", "participant": bob_sid, "action": "give_floor"}))
        .await;
    assert_eq!(given["type"], "ok", "{given}");
    let mine = bob.until_may_publish(&bob_sid).await;
    assert!(
        mine["participant"].get("hand_raised_at").is_none(),
        "{mine}"
    );
    assert_eq!(hands().await, json!([ann_sid]));
    let published = bob.request(offer(OFFER_AUDIO, microphone.clone())).await;
    assert_eq!(published["type"], "answer", "{published}");
    // Muted by the moderator, then the floor taken back: his track is unpublished.
    let muted = moderator
        .request(json!({"type": "moderate", "participant": bob_sid, "action": "mute"}))
        .await;
    assert_eq!(muted["type"], "ok", "{muted}");
    let notice = bob.next_of("track_muted").await;
    assert_eq!(
        (notice["muted"].clone(), notice["by_admin"].clone()),
        (json!(true), json!(true))
    );
    let taken = moderator
        .request(json!({"type": "moderate", "participant": bob_sid, "action": "take_floor"}))
        .await;
    assert_eq!(taken["type"], "ok", "{taken}");
    let gone = ann.next_of("track_unpublished").await;
    assert_eq!(gone["participant"], bob_sid.as_str());
    let again = bob.request(offer(OFFER_AUDIO, microphone)).await;
    assert_eq!(again["code"], "insufficient_grant", "{again}");

    // A moderator lowers Ann's hand.
    let lowered = moderator
        .request(json!({"type": "moderate", "participant": ann_sid, "action": "lower_hand"}))
        .await;
    assert_eq!(lowered["type"], "ok", "{lowered}");
    assert_eq!(hands().await, json!([]));
}

#[tokio::test]
async fn a_voice_bridge_sends_every_listener_the_loudest_speakers_only() {
    let server = start().await;
    let app = App::register(&server).await;
    let admin = app.room_admin();
    let room = parley_tests::unique("bridge");
    let created: Value = expect_json(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": room, "bridge": {"max_speakers": 2}}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(created["bridge"]["max_speakers"], 2);

    // Listen-only participants first: as many as two cores decode in real time beside the
    // speakers (the load tester takes a bridge to hundreds).
    const LISTENERS: usize = 8;
    let listen_only = |name: &str| {
        app.token(
            name,
            json!({"room": room, "room_join": true, "can_subscribe": true}),
        )
    };
    let listeners: Vec<AiortcPeer> = (0..LISTENERS)
        .map(|i| AiortcPeer::spawn(&server, &listen_only(&format!("listener-{i}")), 14.0, &[]))
        .collect();
    until_in_room(&server, &app, &room, LISTENERS, 0).await;
    // Two loud speakers, one that is muted, and (once they publish) a quiet one.
    let speaker = |name: &str, args: &[&str]| {
        AiortcPeer::spawn(&server, &app.participant(name, &room), 10.0, args)
    };
    let loud = speaker("loud", &["--tone", "440", "--amplitude", "0.8"]);
    let louder_but_muted = speaker(
        "muted",
        &["--tone", "1000", "--amplitude", "0.9", "--muted"],
    );
    let mid = speaker("mid", &["--tone", "660", "--amplitude", "0.3"]);
    until_in_room(&server, &app, &room, LISTENERS + 3, 3).await;
    // It stops before the others, so it is never alone (and then the loudest).
    let quiet = AiortcPeer::spawn(
        &server,
        &app.participant("quiet", &room),
        6.0,
        &["--tone", "880", "--amplitude", "0.02"],
    );

    for s in [loud, louder_but_muted, mid, quiet] {
        let report = s.report().await;
        assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    }
    for listener in listeners {
        let heard = listener.report().await;
        let tracks = heard["tracks"].as_object().expect("tracks");
        let mut slots: Vec<&String> = tracks.keys().collect();
        slots.sort();
        assert_eq!(slots, ["slot:0", "slot:1"], "two slots: {heard}");
        let mut dominant: Vec<i64> = tracks
            .values()
            .map(|t| t["dominant_hz"].as_f64().unwrap_or(0.0).round() as i64)
            .collect();
        dominant.sort();
        assert_eq!(
            dominant,
            [440, 660],
            "the two loudest, not the quiet one or the muted one: {heard}"
        );
    }
}

#[tokio::test]
async fn a_channel_bridge_pings_everyone_and_its_roster_shows_acks_joins_and_speakers() {
    let team = Team::new(start().await, "应急小组", true).await;
    let server = &team.server;
    let mut bob_ws = parley_tests::WsClient::connect(server, &team.bob.1).await;
    let opened: Value = expect_json(
        server
            .post(
                &format!("/v1/channels/{}/bridge", team.channel),
                Some(&team.ann.1),
                &json!({}),
            )
            .await,
        201,
    )
    .await;
    let room = opened["room"]["name"].as_str().unwrap().to_string();
    assert_eq!(opened["room"]["channel_id"], team.channel);
    assert_eq!(opened["room"]["bridge"]["max_speakers"], 3);
    let message_id = opened["message_id"].clone();

    // Bob is pinged, urgently, with the action that joins the bridge; he acknowledges.
    let ping = bob_ws.next_of("message").await;
    assert_eq!(ping["message"]["id"], message_id);
    assert_eq!(ping["message"]["priority"], "urgent");
    assert_eq!(
        ping["message"]["action"],
        json!({"kind": "join_bridge", "room": room}),
        "{ping}"
    );
    let acked = bob_ws
        .request(json!({"type": "ack", "channel": team.channel, "message_id": message_id}))
        .await;
    assert_ne!(acked["type"], "error", "{acked}");

    // Bob joins with his own sign-in token; Cat joins and talks (an aiortc tone).
    let mut bob = RtcClient::open(server).await;
    bob.send(json!({"type": "join", "token": team.bob.1, "room": room}))
        .await;
    assert_eq!(bob.recv().await["type"], "joined");
    let cat = AiortcPeer::spawn(
        server,
        &team.cat.1,
        20.0,
        &["--tone", "440", "--room", &room],
    );
    let roster_path = format!(
        "/v1/channels/{}/bridge?message_id={}",
        team.channel, message_id
    );
    let member = |roster: &Value, id: i64| -> Value {
        roster["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let roster = parley_tests::eventually(150, Duration::from_millis(100), || async {
        let roster: Value =
            expect_json(server.get(&roster_path, Some(&team.ann.1)).await, 200).await;
        (member(&roster, team.cat.0)["speaking"] == true).then_some(roster)
    })
    .await
    .expect("Cat shows as speaking");
    let (b, c) = (member(&roster, team.bob.0), member(&roster, team.cat.0));
    assert_eq!(
        (&b["ping"], &b["joined"], &b["speaking"]),
        (&json!("acked"), &json!(true), &json!(false)),
        "{roster}"
    );
    assert_ne!(c["ping"], "acked", "{roster}");
    assert_eq!(c["joined"], true, "{roster}");
    drop(cat);
    // Someone outside the channel can neither open its bridge nor read its roster.
    let (_, outsider) = server.user_with_role(&team.admin, "member", None).await;
    expect_error(
        server
            .post(
                &format!("/v1/channels/{}/bridge", team.channel),
                Some(&outsider),
                &json!({}),
            )
            .await,
        403,
        "not_member",
    )
    .await;
}
