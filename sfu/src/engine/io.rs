//! The media port and the media workers. One I/O thread reads the one UDP port (and the ICE-TCP
//! listener) and hands each datagram to the worker that owns its peer connection; each worker
//! sends its own datagrams straight on the same socket (its own descriptor). Nothing on the
//! path is locked: the I/O thread keeps its own routing tables, which the workers keep right
//! with [`Notice`]s when they make, re-key or drop a connection.
//!
//! The I/O thread routes an ICE check (STUN) by the local username fragment it names, which
//! says which worker made the connection, and everything else by the address it came from,
//! learnt from that address's checks. A worker still checks every datagram against its peers
//! (`Rtc::accepts`), so a wrong route drops a datagram and never misdelivers it.

use super::tcp::{self, TcpMedia};
use super::*;
use tokio::net::UdpSocket;

/// Datagrams read per wake-up of the I/O thread before it looks at notices again.
const READ_BATCH: usize = 256;
/// Datagrams waiting for one worker; beyond it the I/O thread drops (a worker that far behind
/// would only forward them late).
const INBOUND_QUEUE: usize = 8192;

/// What the I/O thread hands a worker.
pub(crate) enum Inbound {
    /// One datagram, or one frame of an ICE-TCP connection (`link` says which).
    Data {
        proto: Protocol,
        source: SocketAddr,
        data: Vec<u8>,
        /// Over TCP: the connection's writer and our address on it.
        link: Option<tcp::Link>,
    },
    /// The ICE-TCP connection from `source` closed.
    TcpClosed { source: SocketAddr },
}

/// What a worker tells the I/O thread about its connections.
pub(crate) enum Notice {
    /// A connection of this worker's has this local ICE username fragment.
    Ufrag(String, usize),
    /// The fragment names no connection of this worker's any more.
    ForgetUfrag(String, usize),
    /// Nothing of this worker's is reached at this address any more (another worker's may be
    /// by now: only this worker's route goes).
    ForgetRoute(Protocol, SocketAddr, usize),
    /// Close the ICE-TCP connection from this address: it named none of our peers.
    CloseTcp(SocketAddr),
}

/// A worker's side of the media port: its own descriptor of the UDP socket to send on, the
/// ICE-TCP connections its peers use, and the notices queue back to the I/O thread.
pub(crate) struct Io {
    pub(crate) worker: usize,
    udp: std::net::UdpSocket,
    /// The address datagrams are taken to have arrived on (the first advertised one).
    pub(crate) destination: SocketAddr,
    pub(crate) candidates: Vec<SocketAddr>,
    pub(crate) tcp_candidates: Vec<SocketAddr>,
    tcp: HashMap<SocketAddr, tcp::Link>,
    notices: mpsc::UnboundedSender<Notice>,
}

impl Io {
    pub(crate) fn new(
        worker: usize,
        udp: std::net::UdpSocket,
        candidates: Vec<SocketAddr>,
        tcp_candidates: Vec<SocketAddr>,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> std::io::Result<Io> {
        let destination = match candidates.first() {
            Some(first) => *first,
            None => udp.local_addr()?,
        };
        Ok(Io {
            worker,
            udp,
            destination,
            candidates,
            tcp_candidates,
            tcp: HashMap::new(),
            notices,
        })
    }

    /// Send one datagram, or queue one frame on the ICE-TCP connection from `destination`;
    /// false when it could not go (a full socket buffer or writer queue, a closed connection).
    pub(crate) fn send(&self, proto: Protocol, destination: SocketAddr, data: &[u8]) -> bool {
        match proto {
            Protocol::Tcp => self
                .tcp
                .get(&destination)
                .is_some_and(|link| link.writer.try_send(data.to_vec()).is_ok()),
            _ => self.udp.send_to(data, destination).is_ok(),
        }
    }

    /// Where a datagram or frame from `source` arrived.
    pub(crate) fn local_of(&self, proto: Protocol, source: SocketAddr) -> SocketAddr {
        match proto {
            Protocol::Tcp => self
                .tcp
                .get(&source)
                .map(|link| link.local)
                .unwrap_or(self.destination),
            _ => self.destination,
        }
    }

    pub(crate) fn tcp_opened(&mut self, source: SocketAddr, link: tcp::Link) {
        self.tcp.entry(source).or_insert(link);
    }

    pub(crate) fn tcp_closed(&mut self, source: SocketAddr) {
        self.tcp.remove(&source);
    }

    /// Tell the I/O thread. It stops only after every worker did, so this is not lost.
    pub(crate) fn notify(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }
}

/// The I/O thread's state: the socket it reads, the ICE-TCP side, each worker's queue and the
/// routing tables.
pub(crate) struct Front {
    socket: UdpSocket,
    tcp: Option<TcpMedia>,
    workers: Vec<mpsc::Sender<Inbound>>,
    notices: mpsc::UnboundedReceiver<Notice>,
    by_ufrag: HashMap<String, usize>,
    by_address: HashMap<(Protocol, SocketAddr), usize>,
    metrics: SfuMetrics,
}

/// Each worker's inbound queue, to hand to `Front::new` and the workers.
pub(crate) fn inbound_queue() -> (mpsc::Sender<Inbound>, mpsc::Receiver<Inbound>) {
    mpsc::channel(INBOUND_QUEUE)
}

impl Front {
    pub(crate) fn new(
        socket: UdpSocket,
        tcp: Option<TcpMedia>,
        workers: Vec<mpsc::Sender<Inbound>>,
        notices: mpsc::UnboundedReceiver<Notice>,
        metrics: SfuMetrics,
    ) -> Front {
        Front {
            socket,
            tcp,
            workers,
            notices,
            by_ufrag: HashMap::new(),
            by_address: HashMap::new(),
            metrics,
        }
    }

    /// Read and route until every worker has stopped (the notices queue closes).
    pub(crate) async fn run(mut self) {
        let mut frames = self.tcp.as_mut().and_then(|t| t.frames.take());
        let mut buf = vec![0u8; 2000];
        loop {
            tokio::select! {
                // What the workers said about their connections goes before the datagrams
                // that may depend on it.
                biased;
                notice = self.notices.recv() => match notice {
                    Some(notice) => self.notice(notice),
                    None => break,
                },
                ready = self.socket.readable() => {
                    if ready.is_ok() {
                        self.read_datagrams(&mut buf);
                    }
                }
                accepted = tcp_accept(&self.tcp) => match accepted {
                    Ok((stream, source)) => {
                        if let Some(tcp) = self.tcp.as_mut() {
                            tcp.accepted(stream, source);
                        }
                    }
                    Err(err) => tracing::debug!(error = %err, "media TCP accept failed"),
                },
                event = tcp_frame(&mut frames) => match event {
                    tcp::TcpEvent::Frame { source, data } => {
                        let link = self.tcp.as_ref().and_then(|t| t.link(source));
                        self.route(Protocol::Tcp, source, data, link);
                    }
                    tcp::TcpEvent::Closed { source } => {
                        if let Some(tcp) = self.tcp.as_mut() {
                            tcp.close(source);
                        }
                        if let Some(worker) = self.by_address.remove(&(Protocol::Tcp, source)) {
                            self.hand(worker, Inbound::TcpClosed { source });
                        }
                    }
                },
            }
        }
        tracing::info!("media I/O thread stopped");
    }

    fn notice(&mut self, notice: Notice) {
        match notice {
            Notice::Ufrag(ufrag, worker) => {
                self.by_ufrag.insert(ufrag, worker);
            }
            Notice::ForgetUfrag(ufrag, worker) => {
                if self.by_ufrag.get(&ufrag) == Some(&worker) {
                    self.by_ufrag.remove(&ufrag);
                }
            }
            Notice::ForgetRoute(proto, source, worker) => {
                if self.by_address.get(&(proto, source)) == Some(&worker) {
                    self.by_address.remove(&(proto, source));
                }
            }
            Notice::CloseTcp(source) => {
                self.by_address.remove(&(Protocol::Tcp, source));
                if let Some(tcp) = self.tcp.as_mut() {
                    tcp.close(source);
                }
            }
        }
    }

    fn read_datagrams(&mut self, buf: &mut [u8]) {
        for _ in 0..READ_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, source)) => self.route(Protocol::Udp, source, buf[..n].to_vec(), None),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(err) => {
                    // ICMP errors from a peer that went away surface here on some systems.
                    tracing::debug!(error = %err, "media socket read failed");
                    return;
                }
            }
        }
    }

    /// The worker a datagram is for: an ICE check by the username fragment it names (and its
    /// address is then that worker's), anything else by its address. Neither known: dropped.
    fn route(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        data: Vec<u8>,
        link: Option<tcp::Link>,
    ) {
        let stun = data.first().is_some_and(|b| *b < 4);
        let by_ufrag = stun
            .then(|| stun_username(&data))
            .flatten()
            .and_then(|name| name.split(':').next())
            .and_then(|ours| self.by_ufrag.get(ours).copied());
        let worker = match by_ufrag {
            Some(worker) => {
                self.by_address.insert((proto, source), worker);
                Some(worker)
            }
            None => self.by_address.get(&(proto, source)).copied(),
        };
        let Some(worker) = worker else {
            self.metrics
                .dropped_datagrams
                .with_label_values(&["unknown_source"])
                .inc();
            if proto == Protocol::Tcp {
                // A connection that names none of our peers is closed, not kept open.
                if let Some(tcp) = self.tcp.as_mut() {
                    tcp.close(source);
                }
            }
            return;
        };
        self.hand(
            worker,
            Inbound::Data {
                proto,
                source,
                data,
                link,
            },
        );
    }

    fn hand(&self, worker: usize, inbound: Inbound) {
        let Some(queue) = self.workers.get(worker) else {
            return;
        };
        if queue.try_send(inbound).is_err() {
            self.metrics
                .dropped_datagrams
                .with_label_values(&["worker_busy"])
                .inc();
        }
    }
}

/// The next connection on the ICE-TCP listener; never, without one.
async fn tcp_accept(
    tcp: &Option<TcpMedia>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match tcp {
        Some(tcp) => tcp.listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The next frame (or close) from an ICE-TCP connection; never, without a listener.
async fn tcp_frame(frames: &mut Option<mpsc::Receiver<tcp::TcpEvent>>) -> tcp::TcpEvent {
    match frames {
        Some(frames) => match frames.recv().await {
            Some(event) => event,
            // `TcpMedia` holds a sender, so this does not end.
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
