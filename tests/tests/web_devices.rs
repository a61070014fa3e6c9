//! Devices during a call in the web app, as Ann (English) and 李娜 (Simplified Chinese) use
//! them, each in a headless Chromium with three fake cameras and three fake microphones and
//! speakers (`tests/browser/app_devices.mjs`): "Devices" on the meeting bar opens a panel with a
//! labelled list per kind at the device in use, closed by Esc and opened again from the
//! keyboard; switching microphone, camera and speaker mid-call keeps the lists at the choice,
//! 李娜 goes on receiving Ann's video (the same track, frames advancing) and 李娜's voice plays
//! on Ann's new speaker; the microphone's level meter moves while the panel is open and its loop
//! stops when it closes; a device that cannot be used is refused with a toast; a voice bridge in
//! a browser without `setSinkId` lists only microphones; axe-core finds no serious or critical
//! fault on the open panel. Screenshots land in `target/ui-screenshots/devices-*.png`.

use parley_tests::ui::{check_screenshots, two_in_a_channel};
use parley_tests::{Backend, Server};
use serde_json::json;

#[tokio::test]
async fn devices_switch_mid_call_with_a_level_meter_in_both_languages() {
    let server = Server::start(Backend::Sqlite).await;
    let report =
        two_in_a_channel(&server, "devices", "发布组 Release", "app_devices.mjs", 150).await;
    eprintln!("app_devices.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(report["errorToasts"], json!([]), "{report}");

    // The control: named by its label, described by its tooltip, pressed while open.
    assert_eq!(
        report["button"],
        json!({"name": "Devices", "title": "Microphone, camera and speaker", "pressed": "false"})
    );
    assert_eq!(report["pressedOpen"], "true");

    // Opened: a labelled list per kind with the fake devices' names, at the devices in use (the
    // default microphone and speaker, the first camera), the focus on the first list.
    let opened = &report["openedEn"];
    assert_eq!(opened["heading"], "Devices", "{opened}");
    assert_eq!(
        opened["kinds"],
        json!(["audioinput", "videoinput", "audiooutput"])
    );
    assert_eq!(opened["focused"], "device-audioinput", "{opened}");
    assert_eq!(opened["meterLabel"], "Microphone level", "{opened}");
    let lists = &opened["lists"];
    assert_eq!(
        lists["audioinput"]["options"],
        json!([
            "Fake Default Audio Input",
            "Fake Audio Input 1",
            "Fake Audio Input 2"
        ])
    );
    assert_eq!(
        lists["videoinput"]["options"],
        json!(["fake_device_0", "fake_device_1", "fake_device_2"])
    );
    assert_eq!(
        lists["audiooutput"]["options"],
        json!([
            "Fake Default Audio Output",
            "Fake Audio Output 1",
            "Fake Audio Output 2"
        ])
    );
    for (kind, label, selected) in [
        ("audioinput", "Microphone", "Fake Default Audio Input"),
        ("videoinput", "Camera", "fake_device_0"),
        ("audiooutput", "Speaker", "Fake Default Audio Output"),
    ] {
        let list = &lists[kind];
        assert_eq!(list["label"], label, "{list}");
        assert_eq!(list["selected"], selected, "{list}");
        assert_eq!(list["disabled"], false, "{list}");
    }

    // Esc closes it, back to its button; Enter opens it again. Its meter's loop runs only open.
    assert_eq!(
        report["escape"],
        json!({"focused": "panel-devices", "pressed": "false"})
    );
    assert_eq!(report["reopened"]["focused"], "device-audioinput");
    assert!(report["framesOpen"].as_u64() >= Some(4), "{report}");
    assert_eq!(report["framesClosed"], 0, "{report}");

    // Each switch: the list shows the choice once it is done.
    for (key, kind, selected) in [
        ("micSwitched", "audioinput", json!("Fake Audio Input 2")),
        ("camSwitched", "videoinput", json!("fake_device_2")),
        (
            "speakerSwitched",
            "audiooutput",
            json!("Fake Audio Output 2"),
        ),
    ] {
        let list = &report[key]["lists"][kind];
        assert_eq!(list["selected"], selected, "{key}: {list}");
        assert_eq!(list["busy"], false, "{key}: {list}");
    }
    assert_eq!(report["camFrom"], "fake_device_0");
    assert_eq!(report["localCamera"], true);
    assert_eq!(report["sinks"], json!({"count": 1, "onChosen": true}));

    // 李娜 receives Ann's camera all along: the same track (replaced in place), frames advancing.
    let (before, after) = (&report["before"], &report["after"]);
    assert_eq!(after["sid"], before["sid"], "{before} {after}");
    assert!(after["width"].as_u64() > Some(0), "{after}");
    assert!(after["advanced"].as_u64() >= Some(15), "{after}");
    assert!(report["stillVideo"]["width"].as_u64() > Some(0), "{report}");

    // The meter moved with the fake microphone's beeps within 3 s.
    let meter = &report["meter"];
    assert!(meter["max"].as_f64() > Some(0.0), "{meter}");

    // A camera that is not there: refused with the SDK's reason, the list back at the camera in use.
    let refused = &report["refused"];
    assert_eq!(refused["reverted"], true, "{refused}");
    assert!(
        refused["toast"]
            .as_str()
            .is_some_and(|t| t.starts_with("Could not switch the device: ") && t.len() > 30),
        "{refused}"
    );

    // In Chinese: the same lists, their labels and the control in Chinese.
    let zh = &report["openedZh"];
    assert_eq!(zh["heading"], "设备", "{zh}");
    assert_eq!(zh["meterLabel"], "麦克风音量", "{zh}");
    assert_eq!(zh["lists"]["audioinput"]["label"], "麦克风", "{zh}");
    assert_eq!(zh["lists"]["videoinput"]["label"], "摄像头", "{zh}");
    assert_eq!(zh["lists"]["audiooutput"]["label"], "扬声器", "{zh}");
    assert_eq!(report["buttonZh"], "设备");

    // On a phone the panel and its lists fit the screen.
    assert_eq!(report["phoneFitsEn"], true);
    assert_eq!(report["phoneFitsZh"], true);

    // A voice bridge has no camera; a browser without setSinkId no speaker list.
    let bridge = &report["bridge"];
    assert_eq!(bridge["kinds"], json!(["audioinput"]), "{bridge}");
    assert_eq!(bridge["lists"]["audioinput"]["label"], "麦克风", "{bridge}");

    // axe-core: nothing serious or critical on the open panel, in either language or width.
    let axe = report["axe"].as_object().expect("axe results");
    for page in [
        "a:devices",
        "a:devices-phone",
        "b:devices",
        "b:devices-phone",
        "b:devices-bridge",
    ] {
        assert_eq!(axe.get(page), Some(&json!([])), "{page}: {}", axe[page]);
    }

    let shots = check_screenshots(&report, &["devices-"], 10_000);
    assert_eq!(shots, 5, "{}", report["screenshots"]);
}
