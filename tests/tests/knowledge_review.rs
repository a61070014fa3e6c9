//! Review in the knowledge base under pressure, with the real binary, from docs/protocol.md
//! ("Knowledge base"): readers know nothing of the version being reviewed, two reviewers
//! deciding at once leave one decision and a consistent article, pages of a space's articles
//! reach every article once, and submissions are told to knowledge admins, never to guests.
//! On SQLite and PostgreSQL.

mod knowledge_org;

use knowledge_org::*;
use parley_tests::{on_both_backends, Backend};
use serde_json::{json, Value};

on_both_backends!(
    readers_know_nothing_of_the_next_version,
    two_reviewers_at_once_leave_one_decision,
    pages_reach_every_article_once,
    submissions_are_told_to_knowledge_admins_never_to_guests,
);

/// A published article whose next version was returned with a comment: its readers see the
/// published version as published, no review, and no unpublished version by number (a number
/// that does not exist answers the same); its author sees it all.
async fn readers_know_nothing_of_the_next_version(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague, keeper) = (&o.author.1, &o.colleague.1, &o.keeper.1);
    let id = published(&o, json!({"title": "客户回访", "body": "每月一次"})).await;
    succeeds(edit(
        s,
        author,
        id,
        json!({"body": "每月一次，电话 138-0000-0000"}),
    ))
    .await;
    succeeds(review(s, author, id, "submit", json!({}))).await;
    let comment = "请删去客户的电话号码";
    succeeds(review(s, keeper, id, "return", json!({"comment": comment}))).await;

    let seen = read(s, colleague, id, "").await;
    has(
        &seen,
        json!({"status": "published", "version": 1, "published_version": 1, "shown_version": 1,
               "body": "每月一次"}),
    );
    assert!(seen.get("review").is_none(), "{seen}");
    let listed = list(s, colleague, o.space, "").await;
    let entry = listed.iter().find(|a| a["id"] == id).expect("listed");
    has(entry, json!({"status": "published", "version": 1}));
    let unpublished = refuses(
        s.get(&format!("{}?version=2", article_path(id)), Some(colleague)),
        403,
        "forbidden",
    )
    .await;
    let missing = refuses(
        s.get(&format!("{}?version=9", article_path(id)), Some(colleague)),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(unpublished["error"]["message"], missing["error"]["message"]);

    let own = read(s, author, id, "").await;
    has(
        &own,
        json!({"status": "returned", "version": 2, "published_version": 1, "shown_version": 2}),
    );
    assert_eq!(own["review"]["outcome"], "returned");
    assert_eq!(own["review"]["comment"], comment);
    refuses(
        s.get(&format!("{}?version=9", article_path(id)), Some(author)),
        404,
        "not_found",
    )
    .await;
}

/// Two knowledge admins decide on the same submitted article at the same moment, one
/// publishing, the other returning it: one decision is made and the other is refused with
/// `409`, and the article is as that one decision left it. Five times over.
async fn two_reviewers_at_once_leave_one_decision(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, keeper, head) = (&o.author.1, &o.keeper.1, &o.head.1);
    for round in 0..5 {
        let created = new_article(
            s,
            author,
            o.space,
            json!({"title": format!("巡检记录 {round}"), "body": "第一版"}),
        )
        .await;
        let id = created["id"].as_i64().unwrap();
        succeeds(review(s, author, id, "submit", json!({}))).await;
        let (publish, send_back) = tokio::join!(
            review(s, keeper, id, "publish", json!({})),
            review(s, head, id, "return", json!({"comment": "再补充一点"})),
        );
        let statuses = [publish.status().as_u16(), send_back.status().as_u16()];
        assert!(
            statuses == [200, 409] || statuses == [409, 200],
            "round {round}: {statuses:?}"
        );
        let now = read(s, author, id, "").await;
        if statuses[0] == 200 {
            has(&now, json!({"status": "published", "published_version": 1}));
            assert_eq!(now["review"]["outcome"], "published");
        } else {
            has(&now, json!({"status": "returned"}));
            assert_eq!(now["review"]["outcome"], "returned");
            assert!(now.get("published_version").is_none(), "{now}");
        }
    }
}

/// Articles are listed most recently updated first; an old article updated last comes first,
/// and paging with `before` (the previous page's last article) reaches every article exactly
/// once. The tag filter does not mind case.
async fn pages_reach_every_article_once(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let author = &o.author.1;
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = json!({"title": format!("第 {n} 条"), "tags": ["Safety"]});
        ids.push(
            new_article(s, author, o.space, body).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // The first one, changed last, is now the most recently updated.
    succeeds(edit(s, author, ids[0], json!({"body": "更新"}))).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let query = match before {
            Some(id) => format!("?status=mine&limit=2&before={id}"),
            None => "?status=mine&limit=2".to_string(),
        };
        let page: Vec<i64> = list(s, author, o.space, &query)
            .await
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        if page.is_empty() {
            break;
        }
        before = page.last().copied();
        seen.extend(page);
        assert!(seen.len() <= ids.len(), "{seen:?}");
    }
    let expected: Vec<i64> = std::iter::once(ids[0])
        .chain(ids[1..].iter().rev().copied())
        .collect();
    assert_eq!(seen, expected);
    let tagged = list(s, author, o.space, "?status=mine&tag=%20safety%20").await;
    assert_eq!(tagged.len(), ids.len());
    let listed: Vec<Value> = list(s, author, o.space, "?status=mine&tag=danger").await;
    assert!(listed.is_empty());
}

/// A guest named a space's admin only reads there, so is not told of submissions (nor learns
/// of drafts through them); the named knowledge admin is. In a topic space its creator, named
/// its knowledge admin, is told.
async fn submissions_are_told_to_knowledge_admins_never_to_guests(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, keeper, guest) = (&o.author, &o.keeper, &o.guest);
    let members = json!([
        named(user(keeper.0), "admin"),
        named(user(guest.0), "admin")
    ]);
    succeeds(name_in_space(s, &o.admin, o.space, members)).await;
    let draft = new_article(s, &author.1, o.space, json!({"title": "未发布的草稿"})).await;
    let id = draft["id"].as_i64().unwrap();
    succeeds(review(s, &author.1, id, "submit", json!({}))).await;
    assert_eq!(
        kinds(&article_notices(s, &keeper.1).await),
        ["article_submitted"]
    );
    assert!(article_notices(s, &guest.1).await.is_empty());

    // A department admin's topic space: its creator reviews.
    let topic = ok(
        s.post("/v1/spaces", Some(&o.head.1), &json!({"name": "设备维护"})),
        201,
    )
    .await;
    assert_eq!(topic["level"], "admin");
    let topic = topic["id"].as_i64().unwrap();
    let draft = new_article(s, &o.outsider.1, topic, json!({"title": "销售部的问题"})).await;
    let id = draft["id"].as_i64().unwrap();
    succeeds(review(s, &o.outsider.1, id, "submit", json!({}))).await;
    assert!(kinds(&article_notices(s, &o.head.1).await).contains(&"article_submitted"));
}
