//! ICE over TCP (RFC 6544, passive candidates): for clients whose network blocks UDP. Each
//! accepted connection carries RFC 4571 frames (a two-byte length, then one STUN, DTLS or
//! SRTP message); a task per connection reads frames into the media thread's `frames` channel
//! and writes what the engine queues for it. The engine treats a frame like a datagram that
//! came over TCP from the connection's remote address, and str0m answers over the same
//! connection (`Transmit` with `Protocol::Tcp`).

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

/// What a connection's task tells the media thread.
pub(crate) enum TcpEvent {
    Frame { source: SocketAddr, data: Vec<u8> },
    Closed { source: SocketAddr },
}

/// The media thread's TCP side: the listener, the advertised candidates, and a writer per
/// open connection by its remote address.
pub(crate) struct TcpMedia {
    pub(crate) listener: TcpListener,
    /// Where clients connect (the host candidates of `tcptype passive`).
    pub(crate) candidates: Vec<SocketAddr>,
    /// Taken by the engine, which reads it beside the listener.
    pub(crate) frames: Option<mpsc::Receiver<TcpEvent>>,
    frames_tx: mpsc::Sender<TcpEvent>,
    /// Each open connection by its remote address: its writer's queue and our address on it.
    connections: HashMap<SocketAddr, (mpsc::Sender<Vec<u8>>, SocketAddr)>,
}

impl TcpMedia {
    pub(crate) fn new(listener: TcpListener, candidates: Vec<SocketAddr>) -> TcpMedia {
        let (frames_tx, frames) = mpsc::channel(4096);
        TcpMedia {
            listener,
            candidates,
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
        self.connections.insert(source, (writer, local));
        tokio::spawn(serve(stream, source, queue, self.frames_tx.clone()));
    }

    /// Queue one message for the connection from `destination`; false when there is none or
    /// its queue is full.
    pub(crate) fn send(&self, destination: SocketAddr, data: &[u8]) -> bool {
        self.connections
            .get(&destination)
            .is_some_and(|(w, _)| w.try_send(data.to_vec()).is_ok())
    }

    /// Our address on the connection from `source` (one of the candidates), if it is open.
    pub(crate) fn local_of(&self, source: SocketAddr) -> Option<SocketAddr> {
        self.connections.get(&source).map(|(_, local)| *local)
    }

    /// Close the connection from `source` (its task ends when its queue's sender is gone).
    pub(crate) fn close(&mut self, source: SocketAddr) {
        self.connections.remove(&source);
    }
}

/// One connection: frames read go to the media thread, frames queued are written, until
/// either side ends it (the client closes, or the media thread drops the queue's sender).
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
