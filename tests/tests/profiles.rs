//! Profiles people edit themselves and channels they join themselves, over the real binary on
//! SQLite and PostgreSQL: a title and time zone set with PATCH; an avatar uploaded as a PNG that
//! comes back as a 256 × 256 JPEG, announced on `/v1/ws` to someone who shares a channel, at a URL
//! that stops working once the picture is replaced; bad images, oversized images, bad time zones
//! and someone else's avatar refused with their codes; and an open group that a member finds in
//! "Browse channels" and joins (their WebSocket follows it at once) while a guest cannot.

use parley_tests::{
    expect_error, expect_json, on_both_backends, unique, Backend, Server, Team, WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    a_profile_and_its_avatar_reach_everyone_who_shares_a_channel,
    a_member_finds_an_open_channel_and_joins_it_and_a_guest_cannot
);

async fn a_profile_and_its_avatar_reach_everyone_who_shares_a_channel(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "采购 Purchasing", false).await;
    let (ann, ann_token) = (t.ann.0, &t.ann.1);
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;

    // Title and time zone, in the person's own words.
    let body = json!({"title": "采购经理 Purchasing lead", "time_zone": "Asia/Shanghai"});
    let user: Value = expect_json(
        t.server
            .send_json(Method::PATCH, &format!("/v1/users/{ann}"), ann_token, &body)
            .await,
        200,
    )
    .await;
    assert_eq!(user["title"], "采购经理 Purchasing lead");
    assert_eq!(user["time_zone"], "Asia/Shanghai");
    assert!(user.get("avatar").is_none(), "no avatar yet: {user}");
    let told = bob.next_of("user_updated").await;
    assert_eq!(told["user"]["id"], ann);
    assert_eq!(told["user"]["title"], "采购经理 Purchasing lead");
    assert_eq!(told["user"]["time_zone"], "Asia/Shanghai");
    assert!(
        told["user"].get("email").is_none(),
        "a card, not the account: {told}"
    );

    for (body, what) in [
        (json!({"time_zone": "Shanghai"}), "no area"),
        (json!({"time_zone": "Asia/Shang hai"}), "a space"),
        (json!({"time_zone": "../../etc/passwd"}), "a path"),
        (json!({"title": "x".repeat(101)}), "too long"),
        (json!({"title": "two\nlines"}), "a line break"),
    ] {
        let response = t
            .server
            .send_json(Method::PATCH, &format!("/v1/users/{ann}"), ann_token, &body)
            .await;
        expect_error(response, 422, "invalid_input").await;
        eprintln!("refused: {what}");
    }
    // Someone else's profile is not yours to change.
    let response = t
        .server
        .send_json(
            Method::PATCH,
            &format!("/v1/users/{ann}"),
            &t.bob.1,
            &json!({"title": "intern"}),
        )
        .await;
    expect_error(response, 403, "forbidden").await;

    // An avatar: a wide PNG becomes its centred square, 256 × 256, as a JPEG.
    let first = put_avatar(&t.server, ann, ann_token, png(800, 400)).await;
    let first = expect_json::<Value>(first, 200).await["avatar"]
        .as_str()
        .expect("avatar URL")
        .to_string();
    assert!(
        first.starts_with(&format!("/v1/users/{ann}/avatar?v=")),
        "{first}"
    );
    let told = bob.next_of("user_updated").await;
    assert_eq!(told["user"]["avatar"], first.as_str());
    // Bob reads it as an <img> would: the token in the query, no header.
    let img = t
        .server
        .request(
            Method::GET,
            &format!("{first}&access_token={}", t.bob.1),
            None,
        )
        .send()
        .await
        .expect("GET avatar");
    assert_eq!(img.status(), 200);
    assert_eq!(img.headers()["content-type"], "image/jpeg");
    assert!(img.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
    let bytes = img.bytes().await.expect("body");
    let decoded = image::load_from_memory(&bytes).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    // The centre of the picture is what the square kept: the left and right quarters were red,
    // the middle blue.
    let centre = decoded.to_rgb8().get_pixel(128, 128).0;
    assert!(centre[2] > 200 && centre[0] < 60, "{centre:?}");

    // A new picture has a new URL; the old URL does not show the new picture.
    let second = put_avatar(&t.server, ann, ann_token, png(300, 300)).await;
    let second = expect_json::<Value>(second, 200).await["avatar"]
        .as_str()
        .expect("avatar URL")
        .to_string();
    assert_ne!(first, second);
    expect_error(t.server.get(&first, Some(&t.bob.1)).await, 404, "not_found").await;
    assert_eq!(t.server.get(&second, Some(&t.bob.1)).await.status(), 200);
    assert_eq!(
        bob.next_of("user_updated").await["user"]["avatar"],
        second.as_str()
    );
    // And the directory shows it.
    let listed: Value = expect_json(
        t.server
            .get(&format!("/v1/users/{ann}"), Some(&t.bob.1))
            .await,
        200,
    )
    .await;
    assert_eq!(listed["avatar"], second.as_str());

    // What is not an image, what is too big, and someone else's avatar.
    let garbage = put_avatar(&t.server, ann, ann_token, b"GIF89a not really".to_vec()).await;
    expect_error(garbage, 422, "invalid_input").await;
    let huge = put_avatar(&t.server, ann, ann_token, vec![0u8; 5 * 1024 * 1024 + 1]).await;
    expect_error(huge, 413, "payload_too_large").await;
    let theirs = put_avatar(&t.server, ann, &t.bob.1, png(64, 64)).await;
    expect_error(theirs, 403, "forbidden").await;
    // A guest who shares no channel with Ann cannot look at her.
    let guest = t.server.user_with_role(&t.admin, "guest", None).await;
    let peek = t.server.get(&second, Some(&guest.1)).await;
    assert!(
        [403, 404].contains(&peek.status().as_u16()),
        "{}",
        peek.status()
    );
    // The refused uploads left the picture as it was.
    let still: Value = expect_json(
        t.server
            .get(&format!("/v1/users/{ann}"), Some(ann_token))
            .await,
        200,
    )
    .await;
    assert_eq!(still["avatar"], second.as_str());

    // Removing it: gone from the user, the URL, and everyone is told.
    let removed: Value = expect_json(
        t.server
            .request(
                Method::DELETE,
                &format!("/v1/users/{ann}/avatar"),
                Some(ann_token),
            )
            .send()
            .await
            .expect("DELETE"),
        200,
    )
    .await;
    assert!(removed.get("avatar").is_none(), "{removed}");
    expect_error(
        t.server.get(&second, Some(&t.bob.1)).await,
        404,
        "not_found",
    )
    .await;
    let told = bob.next_of("user_updated").await;
    assert!(told["user"].get("avatar").is_none(), "{told}");
    // A title cleared with "".
    let cleared: Value = expect_json(
        t.server
            .send_json(
                Method::PATCH,
                &format!("/v1/users/{ann}"),
                ann_token,
                &json!({"title": ""}),
            )
            .await,
        200,
    )
    .await;
    assert!(cleared.get("title").is_none(), "{cleared}");
    assert_eq!(cleared["time_zone"], "Asia/Shanghai");
}

async fn a_member_finds_an_open_channel_and_joins_it_and_a_guest_cannot(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "值班 On call", false).await;
    let name = format!("读书会 Book club {}", unique("open"));
    let body = json!({"name": name, "kind": "group", "category": "temporary", "open": true});
    let open: Value = expect_json(
        t.server.post("/v1/channels", Some(&t.ann.1), &body).await,
        201,
    )
    .await;
    assert_eq!(open["open"], true);
    let open_id = open["id"].as_i64().expect("id");
    let closed: Value = expect_json(
        t.server
            .post(
                "/v1/channels",
                Some(&t.ann.1),
                &json!({"name": "closed", "kind": "group", "category": "project"}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(closed["open"], false);
    let closed_id = closed["id"].as_i64().expect("id");

    // Cat is in neither: she finds the open one only.
    let found: Value = expect_json(
        t.server.get("/v1/channels/browse", Some(&t.cat.1)).await,
        200,
    )
    .await;
    let ids: Vec<i64> = found
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.contains(&open_id), "{found}");
    assert!(!ids.contains(&closed_id), "{found}");
    // Ann, who is in it, is not offered it.
    let hers: Value = expect_json(
        t.server.get("/v1/channels/browse", Some(&t.ann.1)).await,
        200,
    )
    .await;
    assert!(!hers
        .as_array()
        .expect("list")
        .iter()
        .any(|c| c["id"] == open_id));

    // Cat joins; her open WebSocket follows the channel at once.
    let mut cat = WsClient::connect(&t.server, &t.cat.1).await;
    let joined: Value = expect_json(
        t.server
            .post(
                &format!("/v1/channels/{open_id}/join"),
                Some(&t.cat.1),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(joined["member_count"], 2);
    assert_eq!(
        cat.next_of("channel_joined").await["channel"]["id"],
        open_id
    );
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    ann.say(open_id, "welcome-1", "欢迎 welcome").await;
    let heard = cat.next_of("message").await;
    assert_eq!(heard["message"]["body"], "欢迎 welcome");
    // Joining again changes nothing.
    let again: Value = expect_json(
        t.server
            .post(
                &format!("/v1/channels/{open_id}/join"),
                Some(&t.cat.1),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(again["member_count"], 2);
    let now: Value = expect_json(
        t.server.get("/v1/channels/browse", Some(&t.cat.1)).await,
        200,
    )
    .await;
    assert!(!now
        .as_array()
        .expect("list")
        .iter()
        .any(|c| c["id"] == open_id));

    // A closed channel is not there for her to join.
    let response = t
        .server
        .post(
            &format!("/v1/channels/{closed_id}/join"),
            Some(&t.cat.1),
            &json!({}),
        )
        .await;
    expect_error(response, 404, "not_found").await;
    // A guest sees nothing to browse and cannot join even an open one.
    let guest = t.server.user_with_role(&t.admin, "guest", None).await;
    let none: Value = expect_json(
        t.server.get("/v1/channels/browse", Some(&guest.1)).await,
        200,
    )
    .await;
    assert_eq!(none, json!([]));
    let response = t
        .server
        .post(
            &format!("/v1/channels/{open_id}/join"),
            Some(&guest.1),
            &json!({}),
        )
        .await;
    expect_error(response, 403, "forbidden").await;

    // Closing it takes it out of the list; only groups may be open.
    let shut: Value = expect_json(
        t.server
            .send_json(
                Method::PATCH,
                &format!("/v1/channels/{open_id}"),
                &t.ann.1,
                &json!({"open": false}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(shut["open"], false);
    let bob_sees: Value = expect_json(
        t.server.get("/v1/channels/browse", Some(&t.bob.1)).await,
        200,
    )
    .await;
    assert!(!bob_sees
        .as_array()
        .expect("list")
        .iter()
        .any(|c| c["id"] == open_id));
    let direct = json!({"name": "dm", "kind": "direct", "category": "project", "members": [t.bob.0], "open": true});
    expect_error(
        t.server.post("/v1/channels", Some(&t.ann.1), &direct).await,
        422,
        "invalid_input",
    )
    .await;
    // An archived open channel cannot be joined.
    let archived_name = format!("archived {}", unique("open"));
    let body =
        json!({"name": archived_name, "kind": "group", "category": "temporary", "open": true});
    let doomed: Value = expect_json(
        t.server.post("/v1/channels", Some(&t.ann.1), &body).await,
        201,
    )
    .await;
    let doomed_id = doomed["id"].as_i64().expect("id");
    let archived = t
        .server
        .request(
            Method::DELETE,
            &format!("/v1/channels/{doomed_id}"),
            Some(&t.ann.1),
        )
        .send()
        .await
        .expect("DELETE");
    assert!(archived.status().is_success(), "{}", archived.status());
    let response = t
        .server
        .post(
            &format!("/v1/channels/{doomed_id}/join"),
            Some(&t.bob.1),
            &json!({}),
        )
        .await;
    expect_error(response, 409, "conflict").await;
}

async fn put_avatar(server: &Server, user: i64, token: &str, body: Vec<u8>) -> reqwest::Response {
    server
        .request(
            Method::PUT,
            &format!("/v1/users/{user}/avatar"),
            Some(token),
        )
        .header("content-type", "image/png")
        .body(body)
        .send()
        .await
        .expect("PUT avatar")
}

/// A PNG whose left and right quarters are red and whose middle half is blue.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 4 || x >= width * 3 / 4 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode PNG");
    out
}
