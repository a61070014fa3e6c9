//! The hub's state driven by the same commands as its task, but synchronously and without
//! the task around it: what `benches/fanout.rs` measures. Not part of the server's API.

use super::*;

/// One hub, as `HubHandle::spawn` makes it, single node.
pub struct Core(Hub);

impl Core {
    pub fn new(metrics: Metrics, presence: PresenceConfig) -> Core {
        Core(Hub::new(metrics, presence, None))
    }

    /// What `HubHandle::connect` has the hub do.
    pub fn connect(
        &mut self,
        conn: ConnId,
        user: UserId,
        channels: Vec<ChannelId>,
        queue: usize,
    ) -> Registration {
        let (outbox, rx) = mpsc::channel(queue.max(1));
        let (kicked, kicked_rx) = oneshot::channel();
        self.0.handle(Command::Connect {
            conn,
            user,
            session: None,
            channels,
            outbox,
            kicked,
        });
        Registration {
            conn,
            outbox: rx,
            kicked: kicked_rx,
        }
    }

    /// What `HubHandle::publish` and then the hub task do with a committed event: serialise
    /// it once, look up its recipients, queue it in each one's outbox (and drop the ones
    /// whose outbox is full).
    pub fn publish(&mut self, event: &ChannelEvent) {
        self.0.handle(Command::Publish {
            channel: event.channel(),
            seq: event.seq(),
            payload: event_payload(event),
        });
        self.0.drop_too_slow();
    }
}
