//! Parley's meeting signaling for a bot: one `/v1/rtc` WebSocket, typed messages both ways
//! (`parley_proto`'s `RtcClientMessage` and `RtcServerMessage`).

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use parley_proto::{RtcClientMessage, RtcServerMessage};
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

/// Where the server is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `ws://host:port/v1/rtc`.
    pub rtc_url: String,
    pub addr: SocketAddr,
}

impl Endpoint {
    /// From the server's base URL (`http://127.0.0.1:7880`).
    pub async fn resolve(server: &str) -> Result<Endpoint> {
        let url = reqwest::Url::parse(server).context("--server must be a URL")?;
        if url.scheme() != "http" {
            bail!("--server must be http:// (the load tester speaks plain WebSockets)");
        }
        let host = url.host_str().context("--server has no host")?.to_string();
        let port = url
            .port_or_known_default()
            .context("--server has no port")?;
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .context("--server does not resolve")?;
        let mut rtc = url.join("/v1/rtc")?;
        rtc.set_scheme("ws").ok();
        Ok(Endpoint {
            rtc_url: rtc.to_string(),
            addr,
        })
    }
}

pub struct Signal {
    ws: WebSocketStream<TcpStream>,
}

impl Signal {
    /// Open the WebSocket from `source` (a loopback address of the run's spread).
    pub async fn connect(endpoint: &Endpoint, source: Option<IpAddr>) -> Result<Signal> {
        let socket = if endpoint.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("binding {ip}"))?;
        }
        let stream = socket.connect(endpoint.addr).await.context("connecting")?;
        stream.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(endpoint.rtc_url.as_str(), stream)
            .await
            .context("WebSocket upgrade")?;
        Ok(Signal { ws })
    }

    pub async fn send(&mut self, message: &RtcClientMessage) -> Result<()> {
        let text = serde_json::to_string(message)?;
        self.ws.send(Frame::text(text)).await.context("sending")?;
        Ok(())
    }

    /// The next message; `None` once the server closed.
    pub async fn recv(&mut self) -> Result<Option<RtcServerMessage>> {
        while let Some(frame) = self.ws.next().await {
            match frame.context("receiving")? {
                Frame::Text(text) => {
                    return serde_json::from_str(&text)
                        .map(Some)
                        .with_context(|| format!("unreadable message: {text}"))
                }
                Frame::Close(_) => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }

    pub async fn close(mut self) {
        let _ = self.send(&RtcClientMessage::Leave {}).await;
        let _ = self.ws.close(None).await;
    }
}
