//! The knowledge base with the real binary, written from docs/protocol.md ("Knowledge base"
//! and "Search"): published articles found by their readers only, drafts and unpublished edits
//! never; bad input refused naming the field, and review steps that do not apply refused. On
//! SQLite and PostgreSQL.

mod knowledge_org;

use knowledge_org::*;
use parley_tests::{eventually, expect_error, on_both_backends, Backend, Server};
use reqwest::{header, Method};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    search_finds_published_articles_for_their_readers,
    bad_input_and_steps_that_do_not_apply_are_refused,
);

/// Poll until the search `q` finds exactly `want` (type and id) for the holder of `token`: the
/// index follows the database a moment after each change.
async fn until_searched(server: &Server, token: &str, q: &str, want: &[(&str, i64)]) -> Value {
    let mut want: Vec<(String, i64)> = want.iter().map(|(k, id)| (k.to_string(), *id)).collect();
    want.sort();
    let want = &want;
    let page = eventually(100, Duration::from_millis(100), || async move {
        let (hits, page) = server.search_hits(token, q).await;
        (hits == *want && page["total"] == want.len()).then_some(page)
    })
    .await;
    page.unwrap_or_else(|| panic!("{q:?}: never found {want:?}\n{}", server.log()))
}

/// What the search finds now, as (type, id).
async fn searched(server: &Server, token: &str, q: &str) -> Vec<(String, i64)> {
    server.search_hits(token, q).await.0
}

fn nothing() -> Vec<(String, i64)> {
    Vec::new()
}

/// Published articles are found by those who may read their space, by the published version's
/// words only; drafts never. Each "not found" follows a "found" of something that changed
/// later, so the index has caught up with it.
async fn search_finds_published_articles_for_their_readers(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague) = (o.author.1.as_str(), o.colleague.1.as_str());
    let (night, keeper, guest) = (o.night.1.as_str(), o.keeper.1.as_str(), o.guest.1.as_str());
    let secret = json!({"title": "液压站草稿", "body": "液压站 保密草稿 备忘"});
    let draft = new_article(s, colleague, o.space, secret).await;
    let body = "液压站每周检查一次密封圈，发现渗漏立即停机。";
    let id = published(
        &o,
        json!({"title": "液压站巡检", "body": body, "tags": ["液压"]}),
    )
    .await;
    let members = json!([
        named(user(o.keeper.0), "admin"),
        named(user(o.guest.0), "reader")
    ]);
    succeeds(name_in_space(s, keeper, o.space, members)).await;

    let article = [("article", id)];
    let page = until_searched(s, night, "type:article 液压站", &article).await;
    let hit = json!({"space_id": o.space, "title": "液压站巡检", "sender_id": o.author.0});
    has(&page["results"][0], hit);
    until_searched(s, night, &format!("液压站 from:{}", o.author.0), &article).await;
    for token in [night, colleague, author, keeper, &o.head.1, &o.admin, guest] {
        until_searched(s, token, "液压站", &article).await;
    }
    until_searched(s, night, "密封圈", &article).await;
    for token in [colleague, keeper, &o.admin] {
        assert_eq!(
            searched(s, token, "保密草稿").await,
            nothing(),
            "draft {draft}"
        );
    }
    let outside = s.search(&o.outsider.1, "type:article 液压站").await;
    has(&outside, json!({"total": 0, "results": []}));
    assert_eq!(searched(s, &o.outsider.1, "密封圈").await, nothing());

    // Edited, the new words wait for publication; then they replace the old ones.
    let edited = json!({"body": "液压站每周用扭矩扳手检查一次接头。"});
    ok(edit(s, author, id, edited), 200).await;
    let later = published(&o, json!({"title": "润滑", "body": "润滑泵每月加注一次。"})).await;
    until_searched(s, night, "润滑泵", &[("article", later)]).await;
    for token in [author, night, keeper] {
        assert_eq!(
            searched(s, token, "扭矩").await,
            nothing(),
            "a draft version's words"
        );
    }
    until_searched(s, night, "密封圈", &article).await;
    republish(&o, id).await;
    until_searched(s, night, "扭矩", &article).await;
    until_searched(s, night, "密封圈", &[]).await;
    until_searched(s, guest, "扭矩", &article).await;
    assert_eq!(searched(s, &o.outsider.1, "扭矩").await, nothing());
}

/// Bad input (the field named), filters that do not parse, review steps that do not apply,
/// members that do not exist, deletion, and an archived space.
async fn bad_input_and_steps_that_do_not_apply_are_refused(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague, keeper) = (
        o.author.1.as_str(),
        o.colleague.1.as_str(),
        o.keeper.1.as_str(),
    );
    let create = articles_path(o.space);
    let many_tags: Vec<String> = (0..21).map(|n| format!("标签{n}")).collect();
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"body": "没有标题"}), "title"),
        (json!({"title": "题".repeat(201)}), "title"),
        (json!({"title": "ok", "scope": "范".repeat(501)}), "scope"),
        (json!({"title": "ok", "tags": many_tags}), "tag"),
        (json!({"title": "ok", "tags": ["签".repeat(51)]}), "tag"),
        (json!({"title": "ok", "body": "a".repeat(200_001)}), "body"),
        (json!({"title": "ok", "template": "memo"}), "template"),
        (json!({"template": "issue_report", "lang": "fr"}), "lang"),
    ] {
        let error = refuses(s.post(&create, Some(author), &body), 422, "invalid_input").await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "names {field}: {message}");
    }
    // At each limit, counted in characters (a Chinese one takes three bytes).
    let tags: Vec<String> = (0..20)
        .map(|n| format!("{n:02}{}", "签".repeat(48)))
        .collect();
    let full = json!({"title": "题".repeat(200), "scope": "范".repeat(500), "tags": tags, "body": "文".repeat(200_000)});
    let full = new_article(s, author, o.space, full).await;
    assert_eq!(full["tags"].as_array().map(Vec::len), Some(20));
    assert_eq!(
        full["body"].as_str().map(|b| b.chars().count()),
        Some(200_000)
    );
    let id = full["id"].as_i64().expect("article id");
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"body": "a".repeat(200_001)}), "body"),
    ] {
        let error = refuses(edit(s, author, id, body), 422, "invalid_input").await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "names {field}: {message}");
    }
    let odd = json!({"title": "ok", "colour": "red"});
    refuses(s.post(&create, Some(author), &odd), 422, "unknown_field").await;
    let malformed = s
        .request(Method::POST, &create, Some(author))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"title\": ")
        .send();
    expect_error(malformed.await.expect("post"), 400, "malformed_json").await;
    // Queries that do not parse: bad values, and parameters an endpoint does not know.
    let article = article_path(id);
    for path in [
        format!("{create}?status=archived"),
        format!("{create}?limit=0"),
        format!("{create}?limit=201"),
        format!("{create}?before=abc"),
        format!("{create}?colour=red"),
        "/v1/article-templates?lang=zh&colour=red".to_string(),
        format!("{article}?colour=red"),
        format!("{article}/diff?from=1&to=1&colour=red"),
    ] {
        let answer = s.get(&path, Some(author)).await;
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap_or_default();
        assert_eq!(status, 422, "{path}: {body}");
        assert!(body.contains("\"invalid_input\""), "{path}: {body}");
    }

    // Review steps that do not apply to the status.
    let comment = json!({"comment": "意见"});
    refuses(
        review(s, keeper, id, "return", comment.clone()),
        409,
        "conflict",
    )
    .await;
    ok(review(s, author, id, "submit", json!({})), 200).await;
    refuses(review(s, author, id, "submit", json!({})), 409, "conflict").await;
    ok(review(s, keeper, id, "publish", comment.clone()), 200).await;
    for (token, step) in [(keeper, "publish"), (keeper, "return"), (author, "submit")] {
        refuses(review(s, token, id, step, comment.clone()), 409, "conflict").await;
    }

    // Members: only a knowledge admin names them, and only people and channels that exist.
    let keeper_named = named(user(o.keeper.0), "admin");
    let by_author = name_in_space(s, author, o.space, json!([keeper_named]));
    refuses(by_author, 403, "forbidden").await;
    for wrong in [
        named(user(999_999), "reader"),
        named(channel(999_999), "reader"),
        named(user(o.night.0), "owner"),
    ] {
        let members = json!([keeper_named, wrong]);
        refuses(
            name_in_space(s, keeper, o.space, members),
            422,
            "invalid_input",
        )
        .await;
    }
    let space = space_path(o.space);
    let renamed = json!({"name": "改名"});
    let renamed = s.send_json(Method::PATCH, &space, author, &renamed);
    refuses(renamed, 403, "forbidden").await;

    // Deleting: the author while never published; a knowledge admin always.
    let scratch = new_article(s, author, o.space, json!({"title": "草稿"})).await;
    let scratch = scratch["id"].as_i64().expect("id");
    refuses(delete(s, colleague, scratch), 404, "not_found").await;
    assert_eq!(delete(s, author, scratch).await.status().as_u16(), 204);
    refuses(
        s.get(&article_path(scratch), Some(author)),
        404,
        "not_found",
    )
    .await;
    refuses(delete(s, author, id), 403, "forbidden").await;
    assert_eq!(delete(s, keeper, id).await.status().as_u16(), 204);
    refuses(s.get(&article_path(id), Some(colleague)), 404, "not_found").await;

    // Archived, the space is read-only for everyone.
    let kept = published(&o, json!({"title": "旧规程", "body": "存档"})).await;
    succeeds(s.send_json(Method::PATCH, &space, keeper, &json!({"archived": true}))).await;
    has(&read(s, colleague, kept, "").await, json!({"body": "存档"}));
    let late = json!({"title": "新"});
    refuses(s.post(&create, Some(author), &late), 409, "conflict").await;
    refuses(
        edit(s, keeper, kept, json!({"title": "改"})),
        409,
        "conflict",
    )
    .await;
    let comments = format!("{}/comments", article_path(kept));
    let comment = json!({"body": "还在用吗"});
    refuses(
        s.post(&comments, Some(colleague), &comment),
        409,
        "conflict",
    )
    .await;
}
