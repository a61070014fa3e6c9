//! `/v1/ws`: a client's text frame, as the connection task decodes it into `ClientMessage`.
//! Whatever parses must serialise, parse back and serialise to the same text.

use parley_proto::ClientMessage;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let Ok(message) = serde_json::from_slice::<ClientMessage>(data) else {
            return;
        };
        let text = serde_json::to_string(&message).expect("a parsed message serialises");
        let again: ClientMessage = serde_json::from_str(&text).expect("what we write parses");
        let text_again = serde_json::to_string(&again).expect("a parsed message serialises");
        assert_eq!(text, text_again, "serialising is stable");
    });
}
