//! Listeners for `axum::serve`: plain TCP or TLS (rustls), both counting open connections.
//! TLS handshakes run in their own tasks, so one slow client never holds up the accept loop.

use axum::serve::Listener;
use prometheus::IntGauge;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A connection's stream with something that must live exactly as long as it (`G`'s `Drop`
/// runs when the stream closes, a WebSocket's included): the open-connections gauge here, a
/// place among the capped connections in `serve.rs`.
pub struct Guarded<T, G> {
    inner: T,
    _guard: G,
}

impl<T, G> Guarded<T, G> {
    pub fn new(inner: T, guard: G) -> Self {
        Guarded {
            inner,
            _guard: guard,
        }
    }
}

/// Counts a connection in the open-connections gauge while it lives.
pub struct OpenGauge(IntGauge);

impl OpenGauge {
    fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        OpenGauge(gauge.clone())
    }
}

impl Drop for OpenGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A connection that decrements the open-connections gauge when it closes.
pub type Counted<T> = Guarded<T, OpenGauge>;

fn counted<T>(inner: T, gauge: &IntGauge) -> Counted<T> {
    Guarded::new(inner, OpenGauge::new(gauge))
}

impl<T: AsyncRead + Unpin, G: Unpin> AsyncRead for Guarded<T, G> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin, G: Unpin> AsyncWrite for Guarded<T, G> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Small frames (a chat message, a signaling answer) go out at once: without this, Nagle's
/// algorithm holds a frame written while an earlier one is unacknowledged until the peer's
/// delayed ACK, tens of milliseconds on Linux.
fn no_delay(stream: &TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
}

/// Plain TCP.
pub struct PlainListener {
    inner: TcpListener,
    gauge: IntGauge,
}

impl PlainListener {
    pub fn new(inner: TcpListener, gauge: IntGauge) -> Self {
        PlainListener { inner, gauge }
    }
}

impl Listener for PlainListener {
    type Io = Counted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        no_delay(&stream);
        (counted(stream, &self.gauge), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// TLS over TCP. Dropping it (when shutdown begins) stops the accept task and closes the port.
pub struct TlsListener {
    ready: mpsc::Receiver<(Counted<TlsStream<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
    acceptor_task: JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes under way at once; past it a new connection is closed unanswered, so a flood
/// of clients that open connections and never finish the handshake holds a bounded amount.
const MAX_HANDSHAKES: usize = 1024;

impl TlsListener {
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        gauge: IntGauge,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(64);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                no_delay(&stream);
                let Ok(handshaking) = handshakes.clone().try_acquire_owned() else {
                    tracing::warn!(%addr, "TLS handshake refused: {MAX_HANDSHAKES} under way");
                    continue;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                let gauge = gauge.clone();
                tokio::spawn(async move {
                    // Counted as open once the handshake succeeds.
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((counted(tls, &gauge), addr)).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%addr, %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                    drop(handshaking);
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            acceptor_task,
        })
    }
}

impl Listener for TlsListener {
    type Io = Counted<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept task ended only if it panicked; never hand out a connection again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}")]
    Cert {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot read TLS key {path}")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("TLS certificate and key do not work together")]
    Config(#[source] rustls::Error),
    #[error("cannot make a development certificate")]
    Generate(#[source] rcgen::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A rustls server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.to_path_buf(),
            source,
        })?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate for localhost, made once in `dir` and reused, so a browser's
/// exception for it lasts across restarts. Returns the certificate and key paths.
pub fn dev_certificate(dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("dev-cert.pem");
    let key_path = dir.join("dev-key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;
    let write = |path: &Path, text: String| {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(path, text))
            .map_err(|source| TlsError::Write {
                path: path.to_path_buf(),
                source,
            })
    };
    write(&key_path, generated.key_pair.serialize_pem())?;
    write(&cert_path, generated.cert.pem())?;
    Ok((cert_path, key_path))
}
