//! The knowledge base with the real binary, written from docs/protocol.md ("Knowledge base"):
//! a department's space and each person's level in it (writers of the department and below,
//! readers named by user or by channel, guests who only ever read, knowledge admins named or by
//! role); drafts nobody else sees; review with its notices in the inbox and on `/v1/ws`; readers
//! kept on the published version while the next one is written; versions, diffs, comments,
//! votes, templates, onboarding spaces. On SQLite and PostgreSQL. Search and bad input are in
//! `knowledge_search.rs`.

mod knowledge_org;

use knowledge_org::*;
use parley_tests::{on_both_backends, Backend, Server, ServerOptions, WsClient};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    review_follows_each_persons_level,
    readers_keep_the_published_version_while_the_next_is_written,
    comments_and_helpful_votes,
    templates_fill_articles_and_onboarding_spaces,
    a_stale_article_is_flagged_and_its_author_told_once,
    readers_download_what_an_article_carries_through_it,
);

const TITLE: &str = "2 号线换模 SOP / Line 2 mould change";
const BODY_V1: &str = "## 步骤\n\n1. 停机断电 power off\n2. 更换模具";
const BODY_V2: &str = "## 步骤\n\n1. 停机断电 power off\n2. 更换模具（约 40 分钟）\n3. 安全检查";

/// Each person's level in a department's space, the review of one article from draft to
/// published with its notices, and who reads it then: the department's people, a guest named
/// through a channel; never the rest of the organisation.
async fn review_follows_each_persons_level(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague) = (o.author.1.as_str(), o.colleague.1.as_str());
    let (keeper, guest) = (o.keeper.1.as_str(), o.guest.1.as_str());
    for (who, token, level) in [
        ("the author", author, "write"),
        ("a colleague", colleague, "write"),
        ("the night shift, below", &o.night.1, "write"),
        ("production's department admin", &o.head.1, "admin"),
        ("the keeper, named admin", keeper, "admin"),
        ("an admin", &o.admin, "admin"),
    ] {
        let listed = listed_space(s, token, o.space).await;
        let listed = listed.unwrap_or_else(|| panic!("{who} does not see the space"));
        has(&listed, json!({"level": level, "articles": 0}));
    }
    for (who, token) in [("sales", o.outsider.1.as_str()), ("the guest", guest)] {
        assert!(listed_space(s, token, o.space).await.is_none(), "{who}");
        refuses(s.get(&space_path(o.space), Some(token)), 404, "not_found").await;
        refuses(
            s.get(&articles_path(o.space), Some(token)),
            404,
            "not_found",
        )
        .await;
        let body = json!({"title": "x"});
        let path = articles_path(o.space);
        refuses(s.post(&path, Some(token), &body), 404, "not_found").await;
    }

    // A draft, seen by its author and the knowledge admins only.
    let scope = "生产部 夜班 night shift";
    let body = json!({"title": TITLE, "body": BODY_V1, "scope": scope, "tags": ["注塑", "SOP"]});
    let draft = new_article(s, author, o.space, body).await;
    let id = draft["id"].as_i64().expect("article id");
    has(
        &draft,
        json!({"space_id": o.space, "title": TITLE, "body": BODY_V1, "scope": scope,
               "tags": ["注塑", "SOP"], "status": "draft", "author": o.author.0, "version": 1,
               "shown_version": 1, "reads": 0, "helpful": 0, "unhelpful": 0, "stale": false,
               "can_edit": true, "can_review": false}),
    );
    assert!(
        draft["created_at"].is_i64() && draft["updated_at"].is_i64(),
        "{draft}"
    );
    assert!(
        draft.get("published_version").is_none(),
        "absent until published: {draft}"
    );
    for token in [colleague, &o.night.1, &o.outsider.1, guest] {
        refuses(s.get(&article_path(id), Some(token)), 404, "not_found").await;
    }
    for query in ["", "?status=draft", "?status=mine"] {
        let theirs = list(s, colleague, o.space, query).await;
        assert!(theirs.is_empty(), "the colleague's {query:?}: {theirs:?}");
    }
    let mine = list(s, author, o.space, "?status=mine").await;
    assert_eq!(ids(&mine), [id]);
    assert!(
        mine[0].get("body").is_none(),
        "lists carry the first group only: {mine:?}"
    );
    assert_eq!(ids(&list(s, author, o.space, "?status=draft").await), [id]);
    assert_eq!(ids(&list(s, author, o.space, "").await), Vec::<i64>::new());
    assert_eq!(ids(&list(s, keeper, o.space, "?status=draft").await), [id]);
    let reviewers = json!({"body": BODY_V1, "can_review": true});
    has(&read(s, keeper, id, "").await, reviewers.clone());
    has(&read(s, &o.head.1, id, "").await, reviewers);

    // Submitted: the knowledge admins are told and find it in their queue.
    let mut author_ws = WsClient::connect(s, author).await;
    let mut keeper_ws = WsClient::connect(s, keeper).await;
    refuses(
        review(s, colleague, id, "submit", json!({})),
        404,
        "not_found",
    )
    .await;
    let submitted = ok(review(s, author, id, "submit", json!({})), 200).await;
    has(&submitted, json!({"status": "submitted"}));
    let told = notification(&mut keeper_ws).await;
    has(
        &told,
        json!({"kind": "article_submitted", "by": o.author.0}),
    );
    has(
        &told["article"],
        json!({"id": id, "space_id": o.space, "title": TITLE}),
    );
    refuses(review(s, author, id, "submit", json!({})), 409, "conflict").await;
    assert_eq!(
        ids(&list(s, keeper, o.space, "?status=submitted").await),
        [id]
    );
    let keepers = listed_space(s, keeper, o.space).await.expect("listed");
    has(&keepers, json!({"pending": 1}));
    // `pending` is for knowledge admins; a writer learns nothing of the queue from it.
    let authors = listed_space(s, author, o.space).await.expect("listed");
    let pending = &authors["pending"];
    assert!(pending.is_null() || pending == 0, "{authors}");
    let queue = format!("{}?status=submitted", articles_path(o.space));
    refuses(s.get(&queue, Some(author)), 403, "forbidden").await;
    refuses(s.get(&article_path(id), Some(colleague)), 404, "not_found").await;
    refuses(
        review(s, author, id, "publish", json!({})),
        403,
        "forbidden",
    )
    .await;
    let own = review(s, author, id, "return", json!({"comment": "自己退回"}));
    refuses(own, 403, "forbidden").await;

    // Returned: a comment is required; the author is told, live and in the inbox.
    refuses(
        review(s, keeper, id, "return", json!({})),
        422,
        "invalid_input",
    )
    .await;
    let comment = "请补充换模时间和安全检查";
    let returned = ok(
        review(s, keeper, id, "return", json!({"comment": comment})),
        200,
    )
    .await;
    has(&returned, json!({"status": "returned"}));
    let decision = json!({"outcome": "returned", "by": o.keeper.0, "comment": comment});
    has(&returned["review"], decision);
    assert!(returned["review"]["at"].is_i64(), "{returned}");
    let told = notification(&mut author_ws).await;
    let about = json!({"id": id, "space_id": o.space, "title": TITLE, "comment": comment});
    has(
        &told,
        json!({"kind": "article_returned", "article": about, "by": o.keeper.0}),
    );
    let inbox = article_notices(s, author).await;
    assert_eq!(kinds(&inbox), ["article_returned"]);
    has(&inbox[0], json!({"article": about, "by": o.keeper.0}));
    has(
        &listed_space(s, keeper, o.space).await.expect("listed"),
        json!({"pending": 0}),
    );

    // The author's edit is version 2 and a draft again; resubmitted, published.
    let note = json!({"body": BODY_V2, "note": "补充换模时间"});
    let edited = ok(edit(s, author, id, note), 200).await;
    has(&edited, json!({"version": 2, "status": "draft"}));
    ok(review(s, author, id, "submit", json!({})), 200).await;
    let told = notification(&mut keeper_ws).await;
    has(&told, json!({"kind": "article_submitted"}));
    has(&told["article"], json!({"id": id}));
    let done = ok(
        review(s, keeper, id, "publish", json!({"comment": "可以发布"})),
        200,
    )
    .await;
    has(
        &done,
        json!({"status": "published", "published_version": 2}),
    );
    has(
        &done["review"],
        json!({"outcome": "published", "by": o.keeper.0}),
    );
    assert!(done["published_at"].is_i64(), "{done}");
    let told = notification(&mut author_ws).await;
    let about = json!({"id": id, "space_id": o.space, "title": TITLE, "comment": "可以发布"});
    has(
        &told,
        json!({"kind": "article_published", "article": about, "by": o.keeper.0}),
    );
    let inbox = article_notices(s, author).await;
    assert_eq!(kinds(&inbox), ["article_published", "article_returned"]);

    // The department reads it now, each reader counted once a day.
    assert_eq!(reads(s, colleague, o.space, id).await, 0);
    for _ in 0..2 {
        let seen = read(s, colleague, id, "").await;
        has(
            &seen,
            json!({"status": "published", "shown_version": 2, "published_version": 2,
                   "body": BODY_V2, "can_edit": false, "can_review": false}),
        );
    }
    assert_eq!(
        reads(s, colleague, o.space, id).await,
        1,
        "once a day per person"
    );
    has(
        &read(s, &o.night.1, id, "").await,
        json!({"shown_version": 2}),
    );
    assert_eq!(reads(s, colleague, o.space, id).await, 2);
    let space = ok(s.get(&space_path(o.space), Some(colleague)), 200).await;
    let top = json!([{"id": id, "title": TITLE, "reads": 2}]);
    has(&space, json!({"top": top, "members": []}));
    has(
        &listed_space(s, colleague, o.space).await.expect("listed"),
        json!({"articles": 1}),
    );
    for token in [&o.outsider.1, guest] {
        refuses(s.get(&article_path(id), Some(token)), 404, "not_found").await;
    }

    // A guest named a reader through a channel reads it, and never writes, whatever the name.
    let room = json!({"name": "模具供应商", "kind": "group", "category": "supplier", "members": [o.guest.0]});
    let room = ok(s.post("/v1/channels", Some(author), &room), 201).await;
    let room = room["id"].as_i64().expect("channel id");
    let keeper_named = named(user(o.keeper.0), "admin");
    let readers = json!([keeper_named, named(channel(room), "reader")]);
    succeeds(name_in_space(s, keeper, o.space, readers.clone())).await;
    let space = ok(s.get(&space_path(o.space), Some(keeper)), 200).await;
    let mut members = space["members"].as_array().expect("members").clone();
    members.sort_by_key(|m| m["role"].to_string());
    assert_eq!(Value::Array(members), readers, "{space}");
    for role in ["reader", "writer", "admin"] {
        if role != "reader" {
            let guest_named = json!([keeper_named, named(user(o.guest.0), role)]);
            succeeds(name_in_space(s, keeper, o.space, guest_named)).await;
        }
        let listed = listed_space(s, guest, o.space).await;
        let listed = listed.unwrap_or_else(|| panic!("the guest named {role} sees no space"));
        assert_eq!(listed["level"], "read", "named {role}: {listed}");
        has(
            &read(s, guest, id, "").await,
            json!({"shown_version": 2, "body": BODY_V2}),
        );
        let body = json!({"title": "报价"});
        let path = articles_path(o.space);
        refuses(s.post(&path, Some(guest), &body), 403, "forbidden").await;
        refuses(
            edit(s, guest, id, json!({"title": "改了"})),
            403,
            "forbidden",
        )
        .await;
    }

    // Nobody else was told of this review; production's department admin was, of submissions.
    assert_eq!(
        kinds(&article_notices(s, colleague).await),
        Vec::<&str>::new()
    );
    let head = article_notices(s, &o.head.1).await;
    let submissions = head.iter().filter(|n| n["kind"] == "article_submitted");
    assert_eq!(submissions.count(), 2, "{head:?}");
}

/// Twenty numbered steps, the first and last changeable, and any lines after.
fn steps(first: &str, last: &str, after: &[&str]) -> String {
    let mut lines = vec![first.to_string()];
    lines.extend((2..20).map(step));
    lines.push(last.to_string());
    lines.extend(after.iter().map(|l| l.to_string()));
    lines.join("\n")
}

fn step(n: i32) -> String {
    format!("第 {n} 步：检查 {n} 号阀门")
}

/// The version numbers of an article for the holder of `token`, as listed.
async fn versions(s: &Server, token: &str, id: i64) -> Vec<Value> {
    let path = format!("{}/versions", article_path(id));
    let page = ok(s.get(&path, Some(token)), 200).await;
    page["versions"].as_array().expect("versions").clone()
}

fn numbers(versions: &[Value]) -> Vec<i64> {
    versions
        .iter()
        .filter_map(|v| v["version"].as_i64())
        .collect()
}

/// Editing a published article: readers keep the published version while the author works on
/// the next; versions and diffs; an edit from an old version is refused.
async fn readers_keep_the_published_version_while_the_next_is_written(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague) = (o.author.1.as_str(), o.colleague.1.as_str());
    let (first, first2) = (step(1), "第 1 步：先停机并挂牌上锁".to_string());
    let (last, last3) = (step(20), "第 20 步：记录扭矩读数".to_string());
    let added = "第 21 步：交班签字";
    let v1 = steps(&first, &last, &[]);
    let v2 = steps(&first2, &last, &[]);
    let v3 = steps(&first2, &last3, &[added]);
    let (title1, title2) = ("液压站阀门点检", "液压站阀门点检（修订）");
    let tags1 = json!(["点检", "液压"]);
    let body = json!({"title": title1, "body": v1, "scope": "生产部", "tags": tags1});
    let id = published(&o, body).await;

    let saved = ok(
        edit(
            s,
            author,
            id,
            json!({"title": title2, "body": v2, "note": "先上锁"}),
        ),
        200,
    )
    .await;
    has(
        &saved,
        json!({"version": 2, "status": "draft", "published_version": 1}),
    );
    let authors = read(s, author, id, "").await;
    has(
        &authors,
        json!({"shown_version": 2, "title": title2, "body": v2}),
    );
    let readers = read(s, colleague, id, "").await;
    has(
        &readers,
        json!({"shown_version": 1, "published_version": 1, "title": title1, "body": v1}),
    );
    let draft_version = format!("{}?version=2", article_path(id));
    let status = s
        .get(&draft_version, Some(colleague))
        .await
        .status()
        .as_u16();
    assert!(
        matches!(status, 403 | 404),
        "a reader asked for a draft version: {status}"
    );
    has(
        &read(s, colleague, id, "?version=1").await,
        json!({"body": v1}),
    );
    has(
        &read(s, author, id, "?version=1").await,
        json!({"shown_version": 1, "body": v1}),
    );
    let missing = format!("{}?version=9", article_path(id));
    refuses(s.get(&missing, Some(author)), 404, "not_found").await;

    // An edit that started from version 1 is refused; one from version 2 saves version 3.
    let stale = json!({"body": v3, "base_version": 1});
    refuses(edit(s, author, id, stale), 409, "conflict").await;
    let tags3 = json!(["点检", "液压", "扭矩"]);
    let fresh = json!({"body": v3, "tags": tags3, "base_version": 2});
    has(
        &ok(edit(s, author, id, fresh), 200).await,
        json!({"version": 3, "status": "draft"}),
    );

    // Versions: all for the author, newest first; the published ones only for readers.
    let all = versions(s, author, id).await;
    assert_eq!(numbers(&all), [3, 2, 1]);
    has(
        &all[1],
        json!({"note": "先上锁", "editor": o.author.0, "title": title2}),
    );
    assert!(
        all[2]["published_at"].is_i64() && all[1]["published_at"].is_null(),
        "{all:?}"
    );
    assert_eq!(numbers(&versions(s, colleague, id).await), [1]);

    // The diff from 1 to 3: the fields that changed, and the body line by line with the long
    // unchanged run in the middle cut to 3 lines each side.
    let path = format!("{}/diff?from=1&to=3", article_path(id));
    let diff = ok(s.get(&path, Some(author)), 200).await;
    has(&diff, json!({"from": 1, "to": 3}));
    let mut fields = diff["fields"].as_array().expect("fields").clone();
    fields.sort_by_key(|f| f["field"].to_string());
    let names: Vec<&str> = fields.iter().filter_map(|f| f["field"].as_str()).collect();
    assert_eq!(names, ["tags", "title"], "{diff}");
    has(&fields[1], json!({"from": title1, "to": title2}));
    // How tags are shown (a list, or one line of them) the docs leave open.
    let shown = |tags: &Value| match tags.as_array() {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        None => tags.as_str().unwrap_or_default().to_string(),
    };
    let (from, to) = (shown(&fields[0]["from"]), shown(&fields[0]["to"]));
    assert!(from.contains("液压") && !from.contains("扭矩"), "{diff}");
    assert!(to.contains("液压") && to.contains("扭矩"), "{diff}");
    let lines = diff["lines"].as_array().expect("lines");
    let texts = |op: &str| -> Vec<&str> {
        let of_op = lines.iter().filter(|l| l["op"] == op);
        of_op.filter_map(|l| l["text"].as_str()).collect()
    };
    assert_eq!(texts("removed"), [&first, &last], "{diff}");
    assert_eq!(texts("added"), [&first2, &last3, added], "{diff}");
    let kept: Vec<String> = [2, 3, 4, 17, 18, 19].into_iter().map(step).collect();
    assert_eq!(texts("same"), kept, "{diff}");
    let skipped: Vec<i64> = lines.iter().filter_map(|l| l["skipped"].as_i64()).collect();
    assert_eq!(skipped, [12], "{diff}");

    // Published again: readers move to version 3; version 2 never was published.
    republish(&o, id).await;
    has(
        &read(s, colleague, id, "").await,
        json!({"shown_version": 3, "body": v3}),
    );
    assert_eq!(numbers(&versions(s, colleague, id).await), [3, 1]);
    let readers_diff = ok(s.get(&path, Some(colleague)), 200).await;
    assert_eq!(readers_diff["lines"], diff["lines"]);
}

/// Comments tell the author; "was this helpful?" is one changeable answer per person.
async fn comments_and_helpful_votes(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague, night) = (
        o.author.1.as_str(),
        o.colleague.1.as_str(),
        o.night.1.as_str(),
    );
    let id = published(
        &o,
        json!({"title": "冷却水温度", "body": "保持在 25 到 30 度"}),
    )
    .await;
    let comments = format!("{}/comments", article_path(id));

    let mut author_ws = WsClient::connect(s, author).await;
    let said = "第 3 步要先泄压 release the pressure first";
    let first = ok(
        s.post(&comments, Some(colleague), &json!({"body": said})),
        201,
    )
    .await;
    has(&first, json!({"author": o.colleague.0, "body": said}));
    assert!(
        first["id"].is_i64() && first["created_at"].is_i64(),
        "{first}"
    );
    let told = notification(&mut author_ws).await;
    let about = json!({"id": id, "space_id": o.space, "title": "冷却水温度", "comment": said});
    has(
        &told,
        json!({"kind": "article_comment", "article": about, "by": o.colleague.0}),
    );
    let inbox = article_notices(s, author).await;
    assert_eq!(kinds(&inbox), ["article_comment", "article_published"]);
    let longest = "评".repeat(4000);
    ok(
        s.post(&comments, Some(night), &json!({"body": longest})),
        201,
    )
    .await;
    for body in [
        json!({"body": ""}),
        json!({"body": "评".repeat(4001)}),
        json!({}),
    ] {
        refuses(s.post(&comments, Some(night), &body), 422, "invalid_input").await;
    }
    for token in [&o.outsider.1, &o.guest.1] {
        let hello = json!({"body": "hi"});
        refuses(s.post(&comments, Some(token), &hello), 404, "not_found").await;
        refuses(s.get(&comments, Some(token)), 404, "not_found").await;
    }
    let page = ok(s.get(&comments, Some(author)), 200).await;
    let all = page["comments"].as_array().expect("comments");
    let authors: Vec<i64> = all.iter().filter_map(|c| c["author"].as_i64()).collect();
    assert_eq!(authors, [o.colleague.0, o.night.0], "oldest first: {page}");
    has(&all[1], json!({"body": longest}));

    // Votes: helpful, changed to unhelpful, a second person's, one taken back.
    let vote = format!("{}/vote", article_path(id));
    for (token, helpful, expected) in [
        (
            colleague,
            true,
            json!({"helpful": 1, "unhelpful": 0, "my_vote": true}),
        ),
        (
            colleague,
            false,
            json!({"helpful": 0, "unhelpful": 1, "my_vote": false}),
        ),
        (
            night,
            true,
            json!({"helpful": 1, "unhelpful": 1, "my_vote": true}),
        ),
    ] {
        let answer = s
            .send_json(Method::PUT, &vote, token, &json!({"helpful": helpful}))
            .await;
        let status = answer.status().as_u16();
        assert_eq!(status, 204, "{}", answer.text().await.unwrap_or_default());
        has(&read(s, token, id, "").await, expected);
    }
    has(&read(s, colleague, id, "").await, json!({"my_vote": false}));
    let taken = s
        .request(Method::DELETE, &vote, Some(colleague))
        .send()
        .await;
    assert_eq!(taken.expect("delete").status().as_u16(), 204);
    let seen = read(s, colleague, id, "").await;
    has(
        &seen,
        json!({"helpful": 1, "unhelpful": 0, "my_vote": null}),
    );
    let listed = list(s, colleague, o.space, "").await;
    has(&listed[0], json!({"helpful": 1, "unhelpful": 0}));
    let (yes, helpful) = (json!({"helpful": "yes"}), json!({"helpful": true}));
    let bad = s.send_json(Method::PUT, &vote, colleague, &yes);
    refuses(bad, 422, "invalid_input").await;
    let outside = s.send_json(Method::PUT, &vote, &o.outsider.1, &helpful);
    refuses(outside, 404, "not_found").await;
}

const TEMPLATES: [&str; 7] = [
    "company_rules",
    "department_intro",
    "issue_report",
    "mentor",
    "minutes",
    "project_progress",
    "training_plan",
];

/// `GET /v1/article-templates?lang=`, sorted by id.
async fn templates(s: &Server, token: &str, lang: &str) -> Vec<Value> {
    let path = format!("/v1/article-templates?lang={lang}");
    let page = ok(s.get(&path, Some(token)), 200).await;
    let mut templates = page["templates"].as_array().expect("templates").clone();
    templates.sort_by_key(|t| t["id"].to_string());
    let ids: Vec<&str> = templates.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, TEMPLATES, "{lang}");
    templates
}

fn template<'a>(templates: &'a [Value], id: &str) -> &'a Value {
    let found = templates.iter().find(|t| t["id"] == id);
    found.unwrap_or_else(|| panic!("no template {id}"))
}

/// The seven templates in Chinese and English; articles started from one; a space started
/// with the onboarding drafts; who may make spaces.
async fn templates_fill_articles_and_onboarding_spaces(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, head) = (o.author.1.as_str(), o.head.1.as_str());
    let zh = templates(s, author, "zh").await;
    for t in &zh {
        for field in ["name", "title", "body"] {
            let text = t[field].as_str().unwrap_or_default();
            assert!(has_chinese(text), "{field} in Chinese: {t}");
        }
    }
    let issue = template(&zh, "issue_report");
    assert!(
        issue["body"]
            .as_str()
            .is_some_and(|b| b.contains("问题描述")),
        "{issue}"
    );
    let en = templates(s, author, "en").await;
    let issue_en = template(&en, "issue_report");
    let body_en = issue_en["body"].as_str().unwrap_or_default();
    let in_english = body_en.to_lowercase().contains("priority") && !has_chinese(body_en);
    assert!(in_english, "{issue_en}");
    let unknown = s.get("/v1/article-templates?lang=fr", Some(author));
    refuses(unknown, 422, "invalid_input").await;

    // A template fills in title and body; what is given besides wins.
    let tags = json!(["设备", "故障"]);
    let body =
        json!({"template": "issue_report", "lang": "zh", "scope": "生产部 夜班", "tags": tags});
    let filled = new_article(s, author, o.space, body).await;
    let expected = json!({"title": issue["title"], "body": issue["body"], "scope": "生产部 夜班", "tags": tags});
    has(&filled, expected);
    let body = json!({"template": "issue_report", "lang": "zh", "title": "2 号线停机"});
    let titled = new_article(s, author, o.space, body).await;
    has(
        &titled,
        json!({"title": "2 号线停机", "body": issue["body"]}),
    );
    let both =
        json!({"template": "issue_report", "lang": "en", "title": "Line 2", "body": "Stopped."});
    let both = new_article(s, author, o.space, both).await;
    has(&both, json!({"title": "Line 2", "body": "Stopped."}));
    let unknown = json!({"template": "weekly_report", "lang": "zh"});
    let path = articles_path(o.space);
    refuses(s.post(&path, Some(author), &unknown), 422, "invalid_input").await;

    // Production's head starts an onboarding space: four drafts, theirs, seen by nobody else.
    let onboarding = json!({"name": "新员工入职", "department_id": o.production, "template": "onboarding", "lang": "zh"});
    let space = ok(s.post("/v1/spaces", Some(head), &onboarding), 201).await;
    let space = space["id"].as_i64().expect("space id");
    let drafts = list(s, head, space, "?status=mine").await;
    assert_eq!(drafts.len(), 4, "{drafts:?}");
    for draft in &drafts {
        has(
            draft,
            json!({"status": "draft", "author": o.head.0, "space_id": space}),
        );
    }
    let mut titles: Vec<&str> = drafts.iter().filter_map(|d| d["title"].as_str()).collect();
    let onboarding_set = [
        "company_rules",
        "department_intro",
        "mentor",
        "training_plan",
    ];
    let mut expected: Vec<&str> = onboarding_set
        .iter()
        .filter_map(|id| template(&zh, id)["title"].as_str())
        .collect();
    titles.sort_unstable();
    expected.sort_unstable();
    assert_eq!(titles, expected);
    let first = read(s, head, ids(&drafts)[0], "").await;
    assert!(first["body"].as_str().is_some_and(has_chinese), "{first}");
    assert_eq!(
        list(s, author, space, "").await.len(),
        0,
        "drafts are not published"
    );
    assert_eq!(
        list(s, author, space, "?status=mine").await.len(),
        0,
        "not the author's"
    );

    // Who makes spaces: admins, and department admins for their own department.
    let topic = json!({"name": "安全手册"});
    refuses(s.post("/v1/spaces", Some(author), &topic), 403, "forbidden").await;
    let sales = json!({"name": "销售知识库", "department_id": o.sales});
    refuses(s.post("/v1/spaces", Some(head), &sales), 403, "forbidden").await;
    let taken = json!({"name": SPACE_NAME});
    refuses(
        s.post("/v1/spaces", Some(&o.admin), &taken),
        409,
        "conflict",
    )
    .await;
    let unknown = json!({"name": "手册", "template": "wiki"});
    refuses(
        s.post("/v1/spaces", Some(&o.admin), &unknown),
        422,
        "invalid_input",
    )
    .await;
    let unnamed = json!({"name": ""});
    refuses(
        s.post("/v1/spaces", Some(&o.admin), &unnamed),
        422,
        "invalid_input",
    )
    .await;
}

const DAY_MS: i64 = 86_400_000;

/// A published article left alone longer than its space's `stale_days` is flagged `stale` and
/// its author told once (`article_stale`); published again, it is fresh, and told again only
/// when it goes stale again. The check runs every `tasks.poll_ms` (100 ms here); the article's
/// publication is moved back in the server's own database.
async fn a_stale_article_is_flagged_and_its_author_told_once(backend: Backend) {
    let options = ServerOptions::backend(backend).env("PARLEY_TASKS_POLL_MS", "100");
    let server = Server::start_with(options).await;
    let s = &server;
    let admin = s.admin_token().await;
    let (_, author) = s.user_with_role(&admin, "member", None).await;
    let space = ok(
        s.post(
            "/v1/spaces",
            Some(&admin),
            &json!({"name": "客服手册", "stale_days": 30}),
        ),
        201,
    )
    .await;
    assert_eq!(space["stale_days"], 30);
    let space = space["id"].as_i64().unwrap();
    let id = new_article(
        s,
        &author,
        space,
        json!({"title": "退货流程", "body": "七天内可退货"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    succeeds(review(s, &author, id, "submit", json!({}))).await;
    succeeds(review(s, &admin, id, "publish", json!({}))).await;
    assert_eq!(read(s, &author, id, "").await["stale"], false);

    let pool = parley_tests::database_pool(&s.database_url).await;
    let backdate = |days: i64| {
        let pool = pool.clone();
        async move {
            let at = now_ms() - days * DAY_MS;
            sqlx::query("UPDATE kb_articles SET published_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&pool)
                .await
                .expect("backdate the article");
        }
    };
    let mut ws = WsClient::connect(s, &author).await;
    backdate(29).await;
    assert_eq!(read(s, &author, id, "").await["stale"], false);
    backdate(31).await;
    let notice = notification(&mut ws).await;
    assert_eq!(notice["kind"], "article_stale");
    assert_eq!(notice["article"]["id"], id);
    assert_eq!(notice["article"]["space_id"], space);
    assert_eq!(notice["article"]["title"], "退货流程");
    let article = read(s, &author, id, "").await;
    assert_eq!(article["stale"], true);
    let listed = list(s, &author, space, "").await;
    assert_eq!(listed[0]["stale"], true);

    // Published again: fresh; stale again later: told a second time, and only twice in all.
    succeeds(edit(
        s,
        &author,
        id,
        json!({"body": "七天内可退货，需保留包装"}),
    ))
    .await;
    succeeds(review(s, &author, id, "submit", json!({}))).await;
    succeeds(review(s, &admin, id, "publish", json!({}))).await;
    assert_eq!(read(s, &author, id, "").await["stale"], false);
    backdate(40).await;
    // The republication's own notice comes first.
    assert_eq!(notification(&mut ws).await["kind"], "article_published");
    let again = notification(&mut ws).await;
    assert_eq!(again["kind"], "article_stale");
    let stale: Vec<Value> = article_notices(s, &author)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "article_stale")
        .collect();
    assert_eq!(stale.len(), 2, "{stale:?}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// A file of the caller's own library, uploaded in one request; its id.
async fn own_file(s: &Server, token: &str, name: &str, bytes: &[u8]) -> i64 {
    let roots = ok(s.get("/v1/folders", Some(token)), 200).await;
    let root = roots["roots"][0]["id"].as_i64().expect("a root of my own");
    let response = s
        .request(Method::POST, "/v1/files", Some(token))
        .query(&[("name", name), ("folder", &root.to_string())])
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    ok(async { response }, 201).await["id"].as_i64().unwrap()
}

/// `GET /v1/articles/{id}/files/{file}`.
async fn carried(s: &Server, token: &str, id: i64, file: i64) -> reqwest::Response {
    s.get(&format!("{}/files/{file}", article_path(id)), Some(token))
        .await
}

/// An article carries files of its author's library: its readers download them through the
/// article (and only once it is published), never directly, and only the files it lists; a
/// file the author may not read cannot be attached.
async fn readers_download_what_an_article_carries_through_it(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let (author, colleague, outsider) = (&o.author.1, &o.colleague.1, &o.outsider.1);
    let manual = own_file(s, author, "换模手册.txt", "第一步：停机断电".as_bytes()).await;
    let private = own_file(s, author, "工资.txt", b"private").await;
    let others = own_file(s, outsider, "报价.txt", b"not the author's").await;

    let refused = s
        .post(
            &articles_path(o.space),
            Some(author),
            &json!({"title": "换模", "attachments": [others]}),
        )
        .await;
    refuses(async { refused }, 422, "invalid_input").await;
    let article = new_article(
        s,
        author,
        o.space,
        json!({"title": "换模", "body": "见 [手册](file:MANUAL)".replace("MANUAL", &manual.to_string()),
               "attachments": [manual]}),
    )
    .await;
    let id = article["id"].as_i64().unwrap();
    assert_eq!(article["attachments"][0]["id"], manual);
    assert_eq!(article["attachments"][0]["name"], "换模手册.txt");
    // The author reads the draft's files; a colleague sees no draft, so no file.
    let own = carried(s, author, id, manual).await;
    assert_eq!(own.status(), 200);
    assert_eq!(own.text().await.unwrap(), "第一步：停机断电");
    refuses(carried(s, colleague, id, manual), 404, "not_found").await;
    succeeds(review(s, author, id, "submit", json!({}))).await;
    succeeds(review(s, &o.keeper.1, id, "publish", json!({}))).await;

    let got = carried(s, colleague, id, manual).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "第一步：停机断电");
    // Not the file itself, nor a file the article does not carry, nor to outsiders.
    refuses(
        s.get(&format!("/v1/files/{manual}/content"), Some(colleague)),
        404,
        "not_found",
    )
    .await;
    refuses(carried(s, colleague, id, private), 404, "not_found").await;
    refuses(carried(s, outsider, id, manual), 404, "not_found").await;

    // A new draft without the file: readers keep it until that draft is published.
    succeeds(edit(s, author, id, json!({"attachments": []}))).await;
    assert_eq!(carried(s, colleague, id, manual).await.status(), 200);
    assert_eq!(read(s, author, id, "").await["attachments"], json!([]));
    succeeds(review(s, author, id, "submit", json!({}))).await;
    succeeds(review(s, &o.keeper.1, id, "publish", json!({}))).await;
    refuses(carried(s, colleague, id, manual), 404, "not_found").await;
}
