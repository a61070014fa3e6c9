//! A meeting in the web app on a server that sheds video (`tests/browser/app_shedding.mjs`):
//! Ann (English) and 李娜 (Simplified Chinese) join a channel's meeting and the meeting's header
//! says, as a status each screen reader announces, that the server is busy and video is
//! paused, in each one's language, and still fits at a phone's width; each receives the other's
//! microphone; axe-core finds no serious or critical fault. Screenshots land in
//! `target/ui-screenshots/shedding-*.png`.

use parley_tests::ui::{check_screenshots, two_in_a_channel};
use parley_tests::{Backend, Server, ServerOptions};
use serde_json::json;

#[tokio::test]
async fn the_meeting_says_the_server_is_busy_and_video_is_paused_in_both_languages() {
    // The floor makes the server shed video from the start, as an overloaded one would.
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_RTC_SHED_FLOOR", "video"),
    )
    .await;
    let report = two_in_a_channel(
        &server,
        "shedding",
        "值班组 On call",
        "app_shedding.mjs",
        120,
    )
    .await;
    eprintln!("app_shedding.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(report["errorToasts"], json!([]), "{report}");

    let en = "The server is busy: video paused, audio continues";
    let zh = "服务器繁忙：视频已暂停，音频继续";
    for (key, text) in [
        ("noteEn", en),
        ("noteZh", zh),
        ("phoneEn", en),
        ("phoneZh", zh),
    ] {
        assert_eq!(
            report[key],
            json!({"text": text, "role": "status", "fits": true}),
            "{key}: {report}"
        );
    }
    assert_eq!(report["hears"], json!({"a": true, "b": true}), "{report}");

    let axe = report["axe"].as_object().expect("axe results");
    for page in ["a:shedding", "b:shedding-phone"] {
        assert_eq!(axe.get(page), Some(&json!([])), "{page}: {}", axe[page]);
    }
    let shots = check_screenshots(&report, &["shedding-"], 10_000);
    assert_eq!(shots, 4, "{}", report["screenshots"]);
}
