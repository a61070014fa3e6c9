//! A UDP relay that loses packets on purpose: it stands in front of the media port on another
//! loopback address (the server advertises that address), gives each client its own upstream
//! socket so the server still tells clients apart, and drops every Nth RTP packet on its way to
//! the clients (and all of them during a blackout). STUN, DTLS and RTCP pass untouched.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

pub struct LossyRelay {
    /// RTP packets dropped so far.
    pub dropped: Arc<AtomicU64>,
    /// Until when every RTP packet to the clients is dropped.
    blackout: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

/// An RTP (not RTCP) packet: version 2, and a second byte outside RTCP's 192..=223.
fn is_rtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1])
}

impl LossyRelay {
    /// Listen on `front`, relay to `server`, drop every `drop_every`th RTP packet downstream.
    pub async fn start(front: SocketAddr, server: SocketAddr, drop_every: u64) -> LossyRelay {
        let socket = Arc::new(UdpSocket::bind(front).await.expect("bind the relay"));
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let blackout: Arc<Mutex<Option<Instant>>> = Arc::default();
        let dark = blackout.clone();
        let task = tokio::spawn(async move {
            let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            // Dropped (and so aborted) with this task.
            let mut downstreams = tokio::task::JoinSet::new();
            let downstream_seen = Arc::new(AtomicU64::new(0));
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, client)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let upstream = match upstreams.get(&client) {
                    Some(u) => u.clone(),
                    None => {
                        let u = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("upstream"));
                        upstreams.insert(client, u.clone());
                        let (front, u2, seen, counter, dark) = (
                            socket.clone(),
                            u.clone(),
                            downstream_seen.clone(),
                            counter.clone(),
                            dark.clone(),
                        );
                        downstreams.spawn(async move {
                            let mut buf = vec![0u8; 2048];
                            while let Ok((n, _)) = u2.recv_from(&mut buf).await {
                                let in_blackout = dark
                                    .lock()
                                    .expect("blackout lock")
                                    .is_some_and(|until| Instant::now() < until);
                                if is_rtp(&buf[..n])
                                    && (in_blackout
                                        || seen.fetch_add(1, Ordering::Relaxed) % drop_every
                                            == drop_every - 1)
                                {
                                    counter.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                                let _ = front.send_to(&buf[..n], client).await;
                            }
                        });
                        u
                    }
                };
                let _ = upstream.send_to(&buf[..n], server).await;
            }
        });
        LossyRelay {
            dropped,
            blackout,
            task,
        }
    }

    /// Drop every RTP packet to the clients for `how_long`, from now.
    pub fn blackout(&self, how_long: Duration) {
        *self.blackout.lock().expect("blackout lock") = Some(Instant::now() + how_long);
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
