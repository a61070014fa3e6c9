//! Janus's VideoRoom plugin driven through Janus's WebSocket API, so the very media bots that
//! load Parley load Janus too and the two servers' CPU per forwarded packet can be compared on
//! the same load. Only what the comparison needs: a session with keepalives, VideoRoom handles,
//! a room, publishing with an offer and subscribing to one publisher's streams with an answer.
//!
//! Janus answers a request either at once (`success`/`error`) or with an `ack` followed by an
//! `event` carrying the same transaction; both end up as one [`Reply`] here. A reader task owns
//! the socket's receiving half and hands each reply to whoever waits for its transaction.

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as Frame;

/// Janus closes a session it has not heard from for `session_timeout` (60 s by default).
const KEEPALIVE: Duration = Duration::from_secs(20);
/// How long a request may take before the run gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// An SDP offer or answer as Janus carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jsep {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

impl Jsep {
    pub fn offer(sdp: String) -> Jsep {
        Jsep {
            kind: "offer".into(),
            sdp,
        }
    }

    pub fn answer(sdp: String) -> Jsep {
        Jsep {
            kind: "answer".into(),
            sdp,
        }
    }
}

/// A request to the VideoRoom plugin (`body` of a Janus `message`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum VideoRoomRequest {
    /// A room for `publishers` publishers, gone when Janus stops.
    Create {
        room: u64,
        publishers: u32,
        /// The most each publisher may send, in bits per second (REMB to the publisher).
        bitrate: u32,
        audiocodec: &'static str,
        videocodec: &'static str,
        /// Tell every participant when someone starts or stops talking: off, as Parley's bots
        /// would otherwise get speaker events Janus does not send.
        audiolevel_event: bool,
        permanent: bool,
    },
    Destroy {
        room: u64,
        permanent: bool,
    },
    /// `ptype` is `publisher` (with `display`) or `subscriber` (with `streams`).
    Join {
        room: u64,
        ptype: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        display: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        streams: Vec<FeedStream>,
    },
    /// Start sending: goes with the publisher's offer.
    Publish {},
    /// A subscriber's go-ahead: goes with its answer.
    Start {},
    /// A subscriber's choice of simulcast layer on its streams.
    Configure {
        streams: Vec<StreamChoice>,
    },
    /// Who is in the room (answered at once).
    #[serde(rename = "listparticipants")]
    ListParticipants {
        room: u64,
    },
}

/// The simulcast layer (0 the lowest) a subscriber wants on the stream it receives at `mid`.
#[derive(Debug, Clone, Serialize)]
pub struct StreamChoice {
    pub mid: String,
    pub substream: u8,
}

/// A publisher's stream a subscriber asks for; `mid: None` takes all of the feed's streams.
#[derive(Debug, Clone, Serialize)]
pub struct FeedStream {
    pub feed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
}

/// What the VideoRoom plugin said (`plugindata.data`): the fields this client reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VideoRoomData {
    #[serde(default)]
    pub videoroom: String,
    /// The participant id a `joined` gives the publisher.
    #[serde(default)]
    pub id: Option<u64>,
    /// What a subscriber's m-lines carry (`attached`).
    #[serde(default)]
    pub streams: Vec<AttachedStream>,
    /// The room's participants (`participants`).
    #[serde(default)]
    pub participants: Vec<Participant>,
    #[serde(default)]
    pub error_code: Option<u32>,
    #[serde(default)]
    pub error: Option<String>,
}

/// One m-line of a subscriber's offer: which publisher's stream it carries.
#[derive(Debug, Clone, Deserialize)]
pub struct AttachedStream {
    /// `audio`, `video` or `data`.
    #[serde(rename = "type")]
    pub kind: String,
    pub mid: String,
    #[serde(default)]
    pub feed_id: u64,
    #[serde(default)]
    pub feed_mid: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Participant {
    pub id: u64,
    #[serde(default)]
    pub publisher: bool,
}

/// Janus's final reply to a request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub data: VideoRoomData,
    pub jsep: Option<Jsep>,
    /// The id a `create` or `attach` returned.
    pub id: Option<u64>,
}

/// One message from Janus; only the fields this client reads.
#[derive(Debug, Deserialize)]
struct Incoming {
    janus: String,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    data: Option<IdData>,
    #[serde(default)]
    plugindata: Option<PluginData>,
    #[serde(default)]
    jsep: Option<Jsep>,
    #[serde(default)]
    error: Option<JanusError>,
}

#[derive(Debug, Deserialize)]
struct IdData {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct PluginData {
    data: VideoRoomData,
}

#[derive(Debug, Deserialize)]
struct JanusError {
    code: i64,
    reason: String,
}

/// A message to Janus.
#[derive(Debug, Serialize)]
struct Outgoing<'a> {
    janus: &'a str,
    transaction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    handle_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a VideoRoomRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jsep: Option<&'a Jsep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate: Option<TrickleDone>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct TrickleDone {
    completed: bool,
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Reply>>>>>;

/// A Janus session on its own WebSocket; dropping it ends the session's tasks (Janus then
/// times the session out, or [`Session::destroy`] ends it at once).
pub struct Session {
    id: u64,
    out: mpsc::Sender<Frame>,
    waiters: Waiters,
    next: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A VideoRoom plugin handle of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(pub u64);

impl Session {
    /// Connect to Janus's WebSocket API (`ws://127.0.0.1:8188`) and create a session.
    pub async fn connect(url: &str) -> Result<Session> {
        let mut request = url
            .into_client_request()
            .with_context(|| format!("{url} is not a WebSocket URL"))?;
        // Janus accepts only its own subprotocol.
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("connecting to Janus at {url}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut outbox) = mpsc::channel::<Frame>(64);
        let waiters: Waiters = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(frame) = outbox.recv().await {
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
        });
        let reader_waiters = waiters.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Frame::Text(text) = frame {
                    dispatch(&reader_waiters, &text);
                }
            }
            // The socket is gone: everyone still waiting hears so.
            for (_, waiter) in reader_waiters.lock().expect("waiters").drain() {
                let _ = waiter.send(Err(anyhow::anyhow!("Janus closed the WebSocket")));
            }
        });
        let mut session = Session {
            id: 0,
            out,
            waiters,
            next: Arc::new(AtomicU64::new(1)),
            tasks: vec![writer, reader],
        };
        let reply = session.call("create", None, None, None, None).await?;
        session.id = reply.id.context("Janus's create answered no session id")?;
        let (id, out, next) = (session.id, session.out.clone(), session.next.clone());
        session.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(KEEPALIVE);
            tick.tick().await;
            loop {
                tick.tick().await;
                let keepalive = Outgoing {
                    janus: "keepalive",
                    transaction: format!("k{}", next.fetch_add(1, Relaxed)),
                    session_id: Some(id),
                    ..Outgoing::empty()
                };
                let text = serde_json::to_string(&keepalive).expect("serialisable");
                if out.send(Frame::text(text)).await.is_err() {
                    break;
                }
            }
        }));
        Ok(session)
    }

    /// Attach a VideoRoom handle.
    pub async fn attach(&self) -> Result<Handle> {
        let reply = self
            .call("attach", None, Some("janus.plugin.videoroom"), None, None)
            .await?;
        Ok(Handle(
            reply.id.context("Janus's attach answered no handle id")?,
        ))
    }

    /// Send a VideoRoom request (with an offer or answer) and wait for its result; a VideoRoom
    /// error is an error here.
    pub async fn message(
        &self,
        handle: Handle,
        body: &VideoRoomRequest,
        jsep: Option<&Jsep>,
    ) -> Result<Reply> {
        let reply = self
            .call("message", Some(handle), None, Some(body), jsep)
            .await?;
        if let Some(code) = reply.data.error_code {
            bail!(
                "Janus VideoRoom refused {body:?}: {code}: {}",
                reply.data.error.as_deref().unwrap_or("")
            );
        }
        Ok(reply)
    }

    /// Let a handle go (its peer connection, if any, with it).
    pub async fn detach(&self, handle: Handle) -> Result<()> {
        self.call("detach", Some(handle), None, None, None).await?;
        Ok(())
    }

    /// Tell Janus this handle has no more candidates than its SDP's.
    pub async fn trickle_done(&self, handle: Handle) -> Result<()> {
        let done = Outgoing {
            janus: "trickle",
            transaction: self.transaction(),
            session_id: Some(self.id),
            handle_id: Some(handle.0),
            candidate: Some(TrickleDone { completed: true }),
            ..Outgoing::empty()
        };
        self.out
            .send(Frame::text(serde_json::to_string(&done)?))
            .await
            .context("Janus's WebSocket is closed")
    }

    /// End the session at once (its handles and their peer connections with it).
    pub async fn destroy(self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(3),
            self.call("destroy", None, None, None, None),
        )
        .await;
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next.fetch_add(1, Relaxed))
    }

    async fn call(
        &self,
        janus: &str,
        handle: Option<Handle>,
        plugin: Option<&str>,
        body: Option<&VideoRoomRequest>,
        jsep: Option<&Jsep>,
    ) -> Result<Reply> {
        let transaction = self.transaction();
        let message = Outgoing {
            janus,
            transaction: transaction.clone(),
            session_id: (self.id != 0).then_some(self.id),
            handle_id: handle.map(|h| h.0),
            plugin,
            body,
            jsep,
            candidate: None,
        };
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .expect("waiters")
            .insert(transaction.clone(), tx);
        self.out
            .send(Frame::text(serde_json::to_string(&message)?))
            .await
            .context("Janus's WebSocket is closed")?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(reply)) => reply.with_context(|| format!("Janus {janus}")),
            Ok(Err(_)) => bail!("Janus {janus}: the session ended before the reply"),
            Err(_) => {
                self.waiters.lock().expect("waiters").remove(&transaction);
                bail!("Janus {janus}: no reply within {REQUEST_TIMEOUT:?}")
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Outgoing<'_> {
    fn empty() -> Outgoing<'static> {
        Outgoing {
            janus: "",
            transaction: String::new(),
            session_id: None,
            handle_id: None,
            plugin: None,
            body: None,
            jsep: None,
            candidate: None,
        }
    }
}

/// Hand a message from Janus to the request it answers; acks and events nobody waits for
/// (`webrtcup`, `media`, `slowlink`, keepalive acks) are dropped.
fn dispatch(waiters: &Waiters, text: &str) {
    let Ok(incoming) = serde_json::from_str::<Incoming>(text) else {
        return;
    };
    if incoming.janus == "ack" {
        return;
    }
    let Some(transaction) = incoming.transaction.as_deref() else {
        return;
    };
    let Some(waiter) = waiters.lock().expect("waiters").remove(transaction) else {
        return;
    };
    let reply = match incoming.error {
        Some(JanusError { code, reason }) => Err(anyhow::anyhow!("{code}: {reason}")),
        None => Ok(Reply {
            data: incoming.plugindata.map(|p| p.data).unwrap_or_default(),
            jsep: incoming.jsep,
            id: incoming.data.map(|d| d.id),
        }),
    };
    let _ = waiter.send(reply);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_written_as_janus_reads_them() {
        let join = VideoRoomRequest::Join {
            room: 7,
            ptype: "subscriber",
            display: None,
            streams: vec![FeedStream { feed: 9, mid: None }],
        };
        assert_eq!(
            serde_json::to_string(&join).unwrap(),
            r#"{"request":"join","room":7,"ptype":"subscriber","streams":[{"feed":9}]}"#
        );
        let done = Outgoing {
            janus: "trickle",
            transaction: "t1".into(),
            session_id: Some(1),
            handle_id: Some(2),
            candidate: Some(TrickleDone { completed: true }),
            ..Outgoing::empty()
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"janus":"trickle","transaction":"t1","session_id":1,"handle_id":2,"candidate":{"completed":true}}"#
        );
    }

    #[test]
    fn an_event_answers_its_transaction_and_an_ack_does_not() {
        let waiters: Waiters = Arc::default();
        let (tx, mut rx) = oneshot::channel();
        waiters.lock().unwrap().insert("t3".into(), tx);
        dispatch(
            &waiters,
            r#"{"janus":"ack","transaction":"t3","session_id":1}"#,
        );
        assert!(rx.try_recv().is_err(), "an ack is not the answer");
        dispatch(
            &waiters,
            r#"{"janus":"event","transaction":"t3","sender":2,
                "plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"joined","room":7,"id":42}},
                "jsep":{"type":"answer","sdp":"v=0"}}"#,
        );
        let reply = rx.try_recv().expect("answered").expect("not an error");
        assert_eq!(reply.data.videoroom, "joined");
        assert_eq!(reply.data.id, Some(42));
        assert_eq!(reply.jsep.expect("jsep").kind, "answer");
        let (tx, mut rx) = oneshot::channel();
        waiters.lock().unwrap().insert("t4".into(), tx);
        dispatch(
            &waiters,
            r#"{"janus":"error","transaction":"t4","error":{"code":458,"reason":"No such session"}}"#,
        );
        let err = rx.try_recv().expect("answered").expect_err("an error");
        assert!(err.to_string().contains("No such session"), "{err}");
    }
}
