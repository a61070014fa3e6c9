use crate::Server;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(15);

/// A real WebSocket client of `/v1/ws`, as an app would be one. Replies are matched to requests
/// by id; pushes (events, read markers, reloads) wait in order until asked for.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pushes: VecDeque<Value>,
    next_id: u64,
    pub welcome: Value,
    /// Drop `presence_changed` pushes (on by default: they arrive whenever someone's
    /// coalescing window ends, which most tests do not care about).
    pub skip_presence: bool,
}

/// The next text message on a WebSocket as JSON; `None` once it is closed. Panics after 15 s of
/// silence, so a test never hangs.
pub(crate) async fn next_json(
    stream: &mut WebSocketStream<MaybeTlsStream<TcpStream>>,
) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("no message from the server within 15 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("JSON from the server"))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Is this a reply to a request (it names the request's id)?
fn is_reply(message: &Value) -> bool {
    message.get("id").is_some_and(|id| !id.is_null())
}

type WsError = tokio_tungstenite::tungstenite::Error;

impl WsClient {
    /// Connect with `?access_token=`, say hello, and return once welcomed.
    pub async fn connect(server: &Server, token: &str) -> WsClient {
        WsClient::connect_resuming(server, token, json!([])).await
    }

    /// Connect, resuming from `[{"channel": C, "seq": S}, ...]`.
    pub async fn connect_resuming(server: &Server, token: &str, resume: Value) -> WsClient {
        WsClient::connect_to(&server.url, token, resume)
            .await
            .expect("connect and hello")
    }

    /// Connect to the server at `url` and say hello; an error if the server is not there.
    pub async fn connect_to(url: &str, token: &str, resume: Value) -> Result<WsClient, String> {
        let mut client = WsClient::open_url(url, Some(token))
            .await
            .map_err(|e| e.to_string())?;
        client
            .send(json!({"type": "hello", "id": "hello", "versions": [1], "resume": resume}))
            .await;
        let welcome = client.try_recv().await.ok_or("closed before welcome")?;
        if welcome["type"] != "welcome" {
            return Err(welcome.to_string());
        }
        client.welcome = welcome;
        Ok(client)
    }

    /// Only the upgrade; the caller says (or does not say) hello.
    pub async fn open(server: &Server, token: Option<&str>) -> Result<WsClient, WsError> {
        WsClient::open_url(&server.url, token).await
    }

    async fn open_url(url: &str, token: Option<&str>) -> Result<WsClient, WsError> {
        let base = url.replacen("http", "ws", 1);
        let url = match token {
            Some(t) => format!("{base}/v1/ws?access_token={t}"),
            None => format!("{base}/v1/ws"),
        };
        let (stream, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(WsClient {
            stream,
            pushes: VecDeque::new(),
            next_id: 1,
            welcome: Value::Null,
            skip_presence: true,
        })
    }

    /// Connect over a socket with a tiny receive buffer, to play a client that reads slowly.
    pub async fn connect_slow(server: &Server, token: &str) -> WsClient {
        let addr: std::net::SocketAddr = server
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("server address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let tcp = socket.connect(addr).await.expect("connect");
        let url = format!("ws://{addr}/v1/ws?access_token={token}");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .expect("upgrade");
        let mut client = WsClient {
            stream,
            pushes: VecDeque::new(),
            next_id: 1,
            welcome: Value::Null,
            skip_presence: true,
        };
        client
            .send(json!({"type": "hello", "id": "hello", "versions": [1]}))
            .await;
        client.welcome = client.recv().await;
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send");
    }

    /// The next text message from the server (but skipped presence). `None` once closed.
    pub async fn try_recv(&mut self) -> Option<Value> {
        loop {
            let message = self.try_recv_any().await?;
            if !(self.skip_presence && message["type"] == "presence_changed") {
                return Some(message);
            }
        }
    }

    async fn try_recv_any(&mut self) -> Option<Value> {
        next_json(&mut self.stream).await
    }

    pub async fn recv(&mut self) -> Value {
        self.try_recv()
            .await
            .expect("the server closed the connection")
    }

    /// Send a request (an `id` is added) and wait for its reply; pushes that arrive meanwhile
    /// are kept for `push`.
    pub async fn request(&mut self, mut message: Value) -> Value {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        message["id"] = json!(id);
        self.send(message).await;
        loop {
            let reply = self.recv().await;
            if reply["id"] == id.as_str() {
                return reply;
            }
            assert!(!is_reply(&reply), "a reply to another request: {reply}");
            self.pushes.push_back(reply);
        }
    }

    /// The next push (event, read marker, reload, closing).
    pub async fn push(&mut self) -> Value {
        if let Some(push) = self.pushes.pop_front() {
            return push;
        }
        let message = self.recv().await;
        assert!(
            !is_reply(&message),
            "expected a push, got a reply: {message}"
        );
        message
    }

    /// The next push of type `kind`, passing over the others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let push = self.push().await;
            if push["type"] == kind {
                return push;
            }
        }
    }

    /// The next `n` pushes.
    pub async fn pushes(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.push().await);
        }
        out
    }

    /// Assert nothing was pushed: a ping's pong comes after anything already queued, because the
    /// server writes queued events before it reads the next request.
    pub async fn expect_no_push(&mut self) {
        let pong = self.request(json!({"type": "ping"})).await;
        assert_eq!(pong["type"], "pong");
        assert!(
            self.pushes.is_empty(),
            "unexpected pushes: {:?}",
            self.pushes
        );
    }

    /// Send a message; returns the `sent` reply.
    pub async fn say(&mut self, channel: i64, client_id: &str, body: &str) -> Value {
        let reply = self
            .request(
                json!({"type": "send", "channel": channel, "client_id": client_id, "body": body}),
            )
            .await;
        assert_eq!(reply["type"], "sent", "{reply}");
        reply
    }

    /// Send a message; `None` if the connection is gone before the acknowledgement.
    pub async fn try_say(&mut self, channel: i64, client_id: &str, body: &str) -> Option<Value> {
        let request = json!({"type": "send", "id": client_id, "channel": channel, "client_id": client_id, "body": body});
        self.stream
            .send(Message::text(request.to_string()))
            .await
            .ok()?;
        loop {
            let reply = self.try_recv().await?;
            if reply["id"] == client_id {
                return Some(reply);
            }
            if !is_reply(&reply) {
                self.pushes.push_back(reply);
            }
        }
    }

    /// Pushes received and not yet taken, then whatever arrives until the server closes.
    pub async fn drain_until_closed(&mut self) -> Vec<Value> {
        let mut out: Vec<Value> = self.pushes.drain(..).collect();
        while let Some(message) = self.try_recv().await {
            out.push(message);
        }
        out
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
