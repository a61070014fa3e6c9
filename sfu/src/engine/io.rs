//! The media port and the media workers. One I/O task (on worker 0's thread, so what it reads
//! for worker 0 wakes no other thread) reads the one UDP port (and the ICE-TCP listener) and
//! hands each datagram to the worker that owns its peer connection; each worker
//! sends its own datagrams straight on the same socket (its own descriptor). Nothing on the
//! path is locked: the I/O task keeps its own routing tables, which the workers keep right
//! with [`Notice`]s when they make, re-key or drop a connection.
//!
//! The I/O task routes an ICE check (STUN) by the local username fragment it names, which
//! says which worker made the connection, and everything else by the address it came from,
//! once the worker took datagrams from it (until then, by where its checks went). A worker
//! still checks every datagram against its peers (`Rtc::accepts`), so a wrong route drops a
//! datagram and never misdelivers it.

use super::tcp::{self, TcpMedia};
use super::*;
use tokio::net::UdpSocket;

/// Batches read per wake-up of the I/O task (each one `recvmmsg` of up to
/// `quinn_udp::BATCH_SIZE` buffers) before it looks at notices again.
const READ_ROUNDS: usize = 8;
/// Addresses the I/O task keeps from checks before a worker confirms them (`Front::unconfirmed`).
const UNCONFIRMED: usize = 4096;
/// Each receive buffer's size: a datagram, or a run of them the kernel coalesced (GRO).
const RECEIVE_BUFFER: usize = 64 * 1024;
/// Datagrams waiting for one worker; beyond it the I/O task drops (a worker that far behind
/// would only forward them late).
const INBOUND_QUEUE: usize = 8192;
/// Datagrams a worker sends in one system call (`sendmmsg`). A wake-up's sends go out when it
/// is done, or as soon as this many are waiting.
const SEND_BATCH: usize = 64;

/// What the I/O task hands a worker.
pub(crate) enum Inbound {
    /// One datagram, or one frame of an ICE-TCP connection (`link` says which).
    Data {
        proto: Protocol,
        source: SocketAddr,
        data: Vec<u8>,
        /// Over TCP: the connection's writer and our address on it.
        link: Option<tcp::Link>,
        /// When the I/O task read it: how long it waited for the worker tells how far behind
        /// the worker is (`overload`).
        read_at: Instant,
    },
    /// The ICE-TCP connection from `source` closed.
    TcpClosed { source: SocketAddr },
}

/// What a worker tells the I/O task about its connections.
pub(crate) enum Notice {
    /// A connection of this worker's has this local ICE username fragment.
    Ufrag(String, usize),
    /// A connection of this worker's took datagrams from this address (it passed ICE).
    Route(Protocol, SocketAddr, usize),
    /// The fragment names no connection of this worker's any more.
    ForgetUfrag(String, usize),
    /// Nothing of this worker's is reached at this address any more (another worker's may be
    /// by now: only this worker's route goes).
    ForgetRoute(Protocol, SocketAddr, usize),
    /// Close the ICE-TCP connection from this address: it named none of our peers.
    CloseTcp(SocketAddr),
}

/// A worker's side of the media port: its own descriptor of the UDP socket to send on, the
/// ICE-TCP connections its peers use, and the notices queue back to the I/O task.
pub(crate) struct Io {
    pub(crate) worker: usize,
    udp: std::net::UdpSocket,
    /// The address datagrams are taken to have arrived on (the first advertised one).
    pub(crate) destination: SocketAddr,
    pub(crate) candidates: Vec<SocketAddr>,
    pub(crate) tcp_candidates: Vec<SocketAddr>,
    tcp: HashMap<SocketAddr, tcp::Link>,
    notices: mpsc::UnboundedSender<Notice>,
    /// UDP datagrams waiting for `flush`, at most `SEND_BATCH`.
    outgoing: Vec<(SocketAddr, Vec<u8>)>,
    /// `rtc_dropped_datagrams_total{reason="send_failed"}`.
    send_failed: prometheus::IntCounter,
}

impl Io {
    pub(crate) fn new(
        worker: usize,
        udp: std::net::UdpSocket,
        candidates: Vec<SocketAddr>,
        tcp_candidates: Vec<SocketAddr>,
        notices: mpsc::UnboundedSender<Notice>,
        metrics: &SfuMetrics,
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
            outgoing: Vec::with_capacity(SEND_BATCH),
            send_failed: metrics
                .dropped_datagrams
                .with_label_values(&["send_failed"]),
        })
    }

    /// Queue one datagram for `flush`, or one frame on the ICE-TCP connection from
    /// `destination` (dropped, counted, when its writer is full or gone).
    pub(crate) fn send(&mut self, proto: Protocol, destination: SocketAddr, data: Vec<u8>) {
        match proto {
            Protocol::Tcp => {
                let queued = self
                    .tcp
                    .get(&destination)
                    .is_some_and(|link| link.writer.try_send(data).is_ok());
                if !queued {
                    self.send_failed.inc();
                }
            }
            _ => {
                self.outgoing.push((destination, data));
                if self.outgoing.len() >= SEND_BATCH {
                    self.flush();
                }
            }
        }
    }

    /// Send every queued datagram, `SEND_BATCH` to a system call. The socket never blocks: what
    /// the kernel will not take now (a full buffer) is dropped and counted, as is a datagram it
    /// refuses (an unreachable destination), and the rest still go.
    pub(crate) fn flush(&mut self) {
        let mut at = 0;
        while at < self.outgoing.len() {
            match send_batch(&self.udp, &self.outgoing[at..]) {
                Ok(0) => {
                    self.send_failed.inc();
                    at += 1;
                }
                Ok(sent) => at += sent,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    self.send_failed.inc_by((self.outgoing.len() - at) as u64);
                    break;
                }
                Err(err) => {
                    // The first datagram of the batch was refused; skip it, send the rest.
                    tracing::debug!(error = %err, destination = %self.outgoing[at].0, "media send failed");
                    self.send_failed.inc();
                    at += 1;
                }
            }
        }
        self.outgoing.clear();
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

    /// The connection from `source` (a new one replaces a closed one from the same port).
    pub(crate) fn tcp_opened(&mut self, source: SocketAddr, link: tcp::Link) {
        match self.tcp.get(&source) {
            Some(known) if known.writer.same_channel(&link.writer) => {}
            _ => {
                self.tcp.insert(source, link);
            }
        }
    }

    pub(crate) fn tcp_closed(&mut self, source: SocketAddr) {
        self.tcp.remove(&source);
    }

    /// Tell the I/O task. It stops only after every worker did, so this is not lost.
    pub(crate) fn notify(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }
}

/// Send the first datagrams of `batch` (up to `SEND_BATCH`) in one `sendmmsg`; how many the
/// kernel took.
#[cfg(target_os = "linux")]
fn send_batch(
    udp: &std::net::UdpSocket,
    batch: &[(SocketAddr, Vec<u8>)],
) -> std::io::Result<usize> {
    use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;
    let batch = &batch[..batch.len().min(SEND_BATCH)];
    let slices: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
    let addresses: Vec<Option<SockaddrStorage>> = batch
        .iter()
        .map(|(a, _)| Some(SockaddrStorage::from(*a)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(batch.len(), None);
    let sent = sendmmsg(
        udp.as_raw_fd(),
        &mut headers,
        &slices,
        &addresses,
        [],
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    Ok(sent.count())
}

/// One datagram at a time where `sendmmsg` is not available.
#[cfg(not(target_os = "linux"))]
fn send_batch(
    udp: &std::net::UdpSocket,
    batch: &[(SocketAddr, Vec<u8>)],
) -> std::io::Result<usize> {
    let (destination, data) = &batch[0];
    udp.send_to(data, destination).map(|_| 1)
}

/// The I/O task's state: the socket it reads, the ICE-TCP side, each worker's queue and the
/// routing tables.
pub(crate) struct Front {
    socket: UdpSocket,
    /// quinn-udp's view of the socket (`recvmmsg`, GRO) and its receive buffers.
    receive: quinn_udp::UdpSocketState,
    buffers: Vec<Vec<u8>>,
    metas: Vec<quinn_udp::RecvMeta>,
    tcp: Option<TcpMedia>,
    workers: Vec<mpsc::Sender<Inbound>>,
    notices: mpsc::UnboundedReceiver<Notice>,
    by_ufrag: HashMap<String, usize>,
    /// Addresses a worker's connection took datagrams from (`Notice::Route`).
    by_address: HashMap<(Protocol, SocketAddr), usize>,
    /// Addresses seen in checks naming a worker's fragment, not yet taken by the worker: their
    /// DTLS may arrive before the worker's notice. At most `UNCONFIRMED` (then emptied), since
    /// anyone who knows a fragment can send checks from many addresses.
    unconfirmed: HashMap<(Protocol, SocketAddr), usize>,
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
    ) -> std::io::Result<Front> {
        let receive = quinn_udp::UdpSocketState::new((&socket).into())?;
        Ok(Front {
            socket,
            receive,
            buffers: vec![vec![0u8; RECEIVE_BUFFER]; quinn_udp::BATCH_SIZE],
            metas: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            tcp,
            workers,
            notices,
            by_ufrag: HashMap::new(),
            by_address: HashMap::new(),
            unconfirmed: HashMap::new(),
            metrics,
        })
    }

    /// Read and route until every worker has stopped (the notices queue closes).
    pub(crate) async fn run(mut self) {
        let mut frames = self.tcp.as_mut().and_then(|t| t.frames.take());
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
                        self.read_datagrams();
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
                        self.route(Protocol::Tcp, source, data, link, Instant::now());
                    }
                    tcp::TcpEvent::Closed { source } => {
                        if let Some(tcp) = self.tcp.as_mut() {
                            tcp.close(source);
                        }
                        let route = (Protocol::Tcp, source);
                        self.unconfirmed.remove(&route);
                        if let Some(worker) = self.by_address.remove(&route) {
                            self.hand(worker, Inbound::TcpClosed { source });
                        }
                    }
                },
            }
        }
        tracing::info!("media I/O task stopped");
    }

    fn notice(&mut self, notice: Notice) {
        match notice {
            Notice::Ufrag(ufrag, worker) => {
                self.by_ufrag.insert(ufrag, worker);
            }
            Notice::Route(proto, source, worker) => {
                self.unconfirmed.remove(&(proto, source));
                self.by_address.insert((proto, source), worker);
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
                self.unconfirmed.remove(&(proto, source));
            }
            Notice::CloseTcp(source) => {
                self.by_address.remove(&(Protocol::Tcp, source));
                self.unconfirmed.remove(&(Protocol::Tcp, source));
                if let Some(tcp) = self.tcp.as_mut() {
                    tcp.close(source);
                }
            }
        }
    }

    /// Read what is waiting, a batch of buffers per system call, and route each datagram.
    fn read_datagrams(&mut self) {
        for _ in 0..READ_ROUNDS {
            let Front {
                socket,
                receive,
                buffers,
                metas,
                ..
            } = self;
            let mut slices: Vec<std::io::IoSliceMut<'_>> = buffers
                .iter_mut()
                .map(|b| std::io::IoSliceMut::new(b))
                .collect();
            let socket = &*socket;
            let read = socket.try_io(tokio::io::Interest::READABLE, || {
                receive.recv(socket.into(), &mut slices, metas)
            });
            let n = match read {
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(err) => {
                    // ICMP errors from a peer that went away surface here on some systems.
                    tracing::debug!(error = %err, "media socket read failed");
                    return;
                }
            };
            drop(slices);
            let read_at = Instant::now();
            for i in 0..n {
                let meta = self.metas[i];
                let stride = meta.stride.max(1);
                let mut at = 0;
                // A buffer holds one datagram, or several of `stride` bytes each (GRO).
                while at < meta.len {
                    let end = (at + stride).min(meta.len);
                    let data = self.buffers[i][at..end].to_vec();
                    self.route(Protocol::Udp, meta.addr, data, None, read_at);
                    at = end;
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
        read_at: Instant,
    ) {
        let stun = data.first().is_some_and(|b| *b < 4);
        let by_ufrag = stun
            .then(|| stun_username(&data))
            .flatten()
            .and_then(|name| name.split(':').next())
            .and_then(|ours| self.by_ufrag.get(ours).copied());
        let route = (proto, source);
        let worker = match by_ufrag {
            Some(worker) => {
                if self.by_address.get(&route) != Some(&worker) {
                    if self.unconfirmed.len() >= UNCONFIRMED {
                        self.unconfirmed.clear();
                    }
                    self.unconfirmed.insert(route, worker);
                }
                Some(worker)
            }
            None => self
                .by_address
                .get(&route)
                .or_else(|| self.unconfirmed.get(&route))
                .copied(),
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
                read_at,
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
