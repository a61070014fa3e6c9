use parley_proto::{ChannelId, UserId};
use std::collections::{HashMap, HashSet};

/// A connection's id, unique within the process.
pub type ConnId = u64;

/// Who is connected here and which channels each connection listens to.
#[derive(Debug, Default)]
pub struct Routes {
    conns: HashMap<ConnId, UserId>,
    users: HashMap<UserId, HashSet<ConnId>>,
    /// The channels each user belongs to, while the user has a connection here.
    memberships: HashMap<UserId, HashSet<ChannelId>>,
    channels: HashMap<ChannelId, HashSet<UserId>>,
}

impl Routes {
    /// A device of `user` connected; it listens to `channels` (the user's channels).
    pub fn connect(
        &mut self,
        conn: ConnId,
        user: UserId,
        channels: impl IntoIterator<Item = ChannelId>,
    ) {
        self.conns.insert(conn, user);
        self.users.entry(user).or_default().insert(conn);
        for channel in channels {
            self.join(user, channel);
        }
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        let Some(user) = self.conns.remove(&conn) else {
            return;
        };
        let devices = self.users.entry(user).or_default();
        devices.remove(&conn);
        if devices.is_empty() {
            self.users.remove(&user);
            for channel in self.memberships.remove(&user).unwrap_or_default() {
                if let Some(members) = self.channels.get_mut(&channel) {
                    members.remove(&user);
                    if members.is_empty() {
                        self.channels.remove(&channel);
                    }
                }
            }
        }
    }

    /// `user` became a member of `channel`; its connected devices start receiving it. Users
    /// with no connection here are not tracked.
    pub fn join(&mut self, user: UserId, channel: ChannelId) {
        if !self.users.contains_key(&user) {
            return;
        }
        self.memberships.entry(user).or_default().insert(channel);
        self.channels.entry(channel).or_default().insert(user);
    }

    /// `user` left `channel`: its devices stop receiving it.
    pub fn leave(&mut self, user: UserId, channel: ChannelId) {
        if let Some(channels) = self.memberships.get_mut(&user) {
            channels.remove(&channel);
        }
        if let Some(members) = self.channels.get_mut(&channel) {
            members.remove(&user);
            if members.is_empty() {
                self.channels.remove(&channel);
            }
        }
    }

    /// Every connection that listens to `channel`.
    pub fn recipients(&self, channel: ChannelId) -> impl Iterator<Item = ConnId> + '_ {
        self.channels
            .get(&channel)
            .into_iter()
            .flatten()
            .flat_map(|user| self.devices(*user))
    }

    /// Every connection listening to `channel`, except those of `user`.
    pub fn recipients_except(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> impl Iterator<Item = ConnId> + '_ {
        self.channels
            .get(&channel)
            .into_iter()
            .flatten()
            .filter(move |member| **member != user)
            .flat_map(|member| self.devices(*member))
    }

    /// Every connection of `user`.
    pub fn devices(&self, user: UserId) -> impl Iterator<Item = ConnId> + '_ {
        self.users.get(&user).into_iter().flatten().copied()
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(it: impl Iterator<Item = ConnId>) -> Vec<ConnId> {
        let mut v: Vec<_> = it.collect();
        v.sort();
        v
    }

    #[test]
    fn every_device_of_every_member_and_nobody_else() {
        let (ann, bob, cat) = (UserId(1), UserId(2), UserId(3));
        let (general, private) = (ChannelId(10), ChannelId(11));
        let mut routes = Routes::default();
        routes.connect(1, ann, [general, private]);
        routes.connect(2, ann, [general, private]);
        routes.connect(3, bob, [general]);
        routes.connect(4, cat, []);
        assert_eq!(sorted(routes.recipients(general)), vec![1, 2, 3]);
        assert_eq!(sorted(routes.recipients(private)), vec![1, 2]);
        assert_eq!(sorted(routes.recipients_except(general, ann)), vec![3]);

        routes.join(cat, private);
        assert_eq!(sorted(routes.recipients(private)), vec![1, 2, 4]);
        routes.leave(cat, private);
        assert_eq!(sorted(routes.recipients(private)), vec![1, 2]);
        routes.join(cat, private);

        // One of Ann's devices leaves: the other still receives.
        routes.disconnect(1);
        assert_eq!(sorted(routes.recipients(private)), vec![2, 4]);
        routes.disconnect(2);
        assert_eq!(sorted(routes.recipients(private)), vec![4]);
        assert_eq!(sorted(routes.devices(ann)), Vec::<ConnId>::new());
        // Joining while offline is not tracked; the next connect brings the memberships.
        routes.join(ann, general);
        assert_eq!(sorted(routes.recipients(general)), vec![3]);
        assert_eq!(routes.connections(), 2);
    }
}
