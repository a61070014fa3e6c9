//! The accept loop: serves the router on a listener (plain or TLS) over HTTP/1.1 with upgrades,
//! with what `axum::serve` leaves out — a deadline for each request head (so a client trickling
//! its headers, or idling on a kept-alive connection, is closed), caps on open connections in
//! all and per client address, and the client's address on every request (`ClientAddr`).
//! Shutdown stops accepting, lets each connection finish its request in flight, and returns
//! when all have closed.

use crate::listener::Guarded;
use crate::metrics::Metrics;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use parley_proto::{ErrorBody, ErrorCode, ErrorDetail};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tower_service::Service;

/// How connections are limited.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Their connections count towards `max_connections` only.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Serve `router` on `listener` until `shutdown` turns true and every connection has closed.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: ServeLimits,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let caps = Arc::new(Caps::new(&limits));
    // Every connection holds a receiver; when the last is dropped, all have closed.
    let (all_closed, open) = watch::channel(());
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        };
        match caps.admit(addr.ip()) {
            Ok(slot) => {
                let connection = Connection {
                    router: router.clone(),
                    addr,
                    header_timeout: limits.header_timeout,
                    shutdown: shutdown.clone(),
                    open: open.clone(),
                    slot,
                };
                tokio::spawn(connection.run(io));
            }
            Err(refused) => {
                metrics
                    .connections_refused
                    .with_label_values(&[refused.label()])
                    .inc();
                tracing::warn!(%addr, limit = refused.label(), "connection refused: too many open");
                tokio::spawn(refuse(io));
            }
        }
    }
    drop(listener);
    drop(open);
    all_closed.closed().await;
}

struct Connection {
    router: Router,
    addr: SocketAddr,
    header_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    open: watch::Receiver<()>,
    slot: Slot,
}

impl Connection {
    async fn run<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let router = self.router;
        let addr = self.addr;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(addr));
            let mut router = router.clone();
            async move { router.call(request.map(Body::new)).await }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        // The place among the open connections goes with the stream itself, so a connection
        // upgraded to a WebSocket (which outlives hyper's connection) keeps it until it closes.
        let io = Guarded::new(io, self.slot);
        let mut conn = pin!(http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades());
        let mut shutdown = self.shutdown;
        let stopping = async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        };
        tokio::select! {
            result = conn.as_mut() => finished(addr, result),
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                finished(addr, conn.await);
            }
        }
        drop(self.open);
    }
}

fn finished(addr: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        if err.is_timeout() {
            tracing::debug!(%addr, "connection closed: no request head in time");
        } else {
            tracing::trace!(%addr, %err, "connection ended with an error");
        }
    }
}

/// Answer a connection over the caps with a JSON 503 and close it.
async fn refuse<I: AsyncWrite + Unpin>(mut io: I) {
    const RETRY_AFTER: u64 = 5;
    let body = serde_json::to_string(&ErrorBody {
        error: ErrorDetail {
            code: ErrorCode::TooManyConnections,
            message: "the server has as many open connections as it allows; retry later".into(),
            details: Vec::new(),
            retry_after: Some(RETRY_AFTER),
        },
    })
    .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {RETRY_AFTER}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Open connections, in all and per client address.
struct Caps {
    total: usize,
    per_ip: usize,
    trusted: Vec<IpAddr>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Total,
    PerAddress,
}

impl Refused {
    fn label(self) -> &'static str {
        match self {
            Refused::Total => "total",
            Refused::PerAddress => "per_address",
        }
    }
}

/// A place among the open connections, given back when dropped.
struct Slot {
    caps: Arc<Caps>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.caps.lock();
        open.total -= 1;
        if let Some(ip) = self.ip {
            if let Some(n) = open.by_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    open.by_ip.remove(&ip);
                }
            }
        }
    }
}

impl Caps {
    fn new(limits: &ServeLimits) -> Caps {
        Caps {
            total: limits.max_connections,
            per_ip: limits.max_connections_per_ip,
            trusted: limits.trusted_proxies.clone(),
            open: Mutex::new(Open::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let peer = canonical(peer);
        let ip = (!self.trusted.contains(&peer)).then(|| client_block(peer));
        let mut open = self.lock();
        if open.total >= self.total {
            return Err(Refused::Total);
        }
        if let Some(ip) = ip {
            let n = open.by_ip.entry(ip).or_insert(0);
            if *n >= self.per_ip {
                return Err(Refused::PerAddress);
            }
            *n += 1;
        }
        open.total += 1;
        Ok(Slot {
            caps: self.clone(),
            ip,
        })
    }
}

/// An IPv4 address seen through an IPv6 socket is that IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What counts as one client: an IPv4 address, or an IPv6 /64 (one subscriber's network).
pub fn client_block(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(total: usize, per_ip: usize, trusted: Vec<IpAddr>) -> Arc<Caps> {
        Arc::new(Caps::new(&ServeLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: total,
            max_connections_per_ip: per_ip,
            trusted_proxies: trusted,
        }))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn caps_count_per_address_and_in_all_and_give_back_on_drop() {
        let caps = caps(3, 2, Vec::new());
        let a1 = caps.admit(ip("127.0.0.2")).unwrap();
        let _a2 = caps.admit(ip("::ffff:127.0.0.2")).unwrap();
        assert_eq!(caps.admit(ip("127.0.0.2")).err(), Some(Refused::PerAddress));
        let _b = caps.admit(ip("127.0.0.3")).unwrap();
        assert_eq!(caps.admit(ip("127.0.0.4")).err(), Some(Refused::Total));
        drop(a1);
        let _a3 = caps.admit(ip("127.0.0.2")).unwrap();
        assert_eq!(caps.lock().total, 3);
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let caps = caps(10, 1, Vec::new());
        let _a = caps.admit(ip("2001:db8:1:2::10")).unwrap();
        assert_eq!(
            caps.admit(ip("2001:db8:1:2:ffff::1")).err(),
            Some(Refused::PerAddress)
        );
        caps.admit(ip("2001:db8:1:3::10")).unwrap();
    }

    #[test]
    fn trusted_proxies_count_only_in_all() {
        let caps = caps(3, 1, vec![ip("10.0.0.1")]);
        let _a = caps.admit(ip("10.0.0.1")).unwrap();
        let _b = caps.admit(ip("10.0.0.1")).unwrap();
        let _c = caps.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(caps.admit(ip("10.0.0.1")).err(), Some(Refused::Total));
    }
}
