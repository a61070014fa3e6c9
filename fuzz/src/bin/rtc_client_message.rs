//! `/v1/rtc`: a client's text frame, as the meeting signaling decodes it into
//! `RtcClientMessage`. Whatever parses must serialise, parse back and serialise to the same text.

use parley_proto::RtcClientMessage;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let Ok(message) = serde_json::from_slice::<RtcClientMessage>(data) else {
            return;
        };
        let text = serde_json::to_string(&message).expect("a parsed message serialises");
        let again: RtcClientMessage = serde_json::from_str(&text).expect("what we write parses");
        let text_again = serde_json::to_string(&again).expect("a parsed message serialises");
        assert_eq!(text, text_again, "serialising is stable");
    });
}
