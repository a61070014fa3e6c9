//! ICE over TCP (RFC 6544, passive candidates): for clients whose network blocks UDP. Each
//! accepted connection carries RFC 4571 frames (a two-byte length, then one STUN, DTLS or
//! SRTP message); a task per connection reads frames into the I/O task's `frames` channel
//! and writes what a worker queues for it. The I/O task routes a frame like a datagram that
//! came over TCP from the connection's remote address, with the connection's [`Link`]; the
//! worker answers over that connection (str0m's `Transmit` with `Protocol::Tcp`).

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A connection must name one of our peers in its first frame within this long.
const FIRST_FRAME: Duration = Duration::from_secs(10);
/// Frames queued for one connection's writer; a client too slow to take them loses the rest,
/// as it would over UDP.
const WRITE_QUEUE: usize = 1024;
/// Connections open at once; more are closed at accept.
const MAX_CONNECTIONS: usize = 10_000;

/// What a connection's task tells the I/O task.
pub(crate) enum TcpEvent {
    Frame { source: SocketAddr, data: Vec<u8> },
    Closed { source: SocketAddr },
}

/// How a worker answers on one connection: its writer's queue and our address on it. The
/// connection's task ends once the I/O task and the worker both dropped theirs.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) writer: mpsc::Sender<Vec<u8>>,
    pub(crate) local: SocketAddr,
}

/// The I/O task's TCP side: the listener and each open connection by its remote address.
pub(crate) struct TcpMedia {
    pub(crate) listener: TcpListener,
    /// Taken by the I/O task, which reads it beside the listener.
    pub(crate) frames: Option<mpsc::Receiver<TcpEvent>>,
    frames_tx: mpsc::Sender<TcpEvent>,
    connections: HashMap<SocketAddr, Link>,
}

impl TcpMedia {
    pub(crate) fn new(listener: TcpListener) -> TcpMedia {
        let (frames_tx, frames) = mpsc::channel(4096);
        TcpMedia {
            listener,
            frames: Some(frames),
            frames_tx,
            connections: HashMap::new(),
        }
    }

    /// Start serving an accepted connection.
    pub(crate) fn accepted(&mut self, stream: TcpStream, source: SocketAddr) {
        if self.connections.len() >= MAX_CONNECTIONS {
            return;
        }
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        self.connections.insert(source, Link { writer, local });
        tokio::spawn(serve(stream, source, queue, self.frames_tx.clone()));
    }

    /// The open connection from `source`.
    pub(crate) fn link(&self, source: SocketAddr) -> Option<Link> {
        self.connections.get(&source).cloned()
    }

    /// Close the connection from `source` (its task ends when its queue's senders are gone).
    pub(crate) fn close(&mut self, source: SocketAddr) {
        self.connections.remove(&source);
    }
}

/// One connection: frames read go to the I/O task, frames queued are written, until either
/// side ends it (the client closes, or the queue's senders are all dropped).
async fn serve(
    stream: TcpStream,
    source: SocketAddr,
    mut queue: mpsc::Receiver<Vec<u8>>,
    frames: mpsc::Sender<TcpEvent>,
) {
    let (mut read, mut write) = stream.into_split();
    let reader = async {
        let mut first = true;
        loop {
            let mut length = [0u8; 2];
            let got = if first {
                match tokio::time::timeout(FIRST_FRAME, read.read_exact(&mut length)).await {
                    Ok(got) => got,
                    Err(_) => return,
                }
            } else {
                read.read_exact(&mut length).await
            };
            if got.is_err() {
                return;
            }
            first = false;
            let mut data = vec![0u8; usize::from(u16::from_be_bytes(length))];
            if read.read_exact(&mut data).await.is_err() {
                return;
            }
            if frames.send(TcpEvent::Frame { source, data }).await.is_err() {
                return;
            }
        }
    };
    let writer = async {
        while let Some(data) = queue.recv().await {
            let Ok(length) = u16::try_from(data.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(2 + data.len());
            framed.extend_from_slice(&length.to_be_bytes());
            framed.extend_from_slice(&data);
            if write.write_all(&framed).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
    let _ = frames.send(TcpEvent::Closed { source }).await;
}
