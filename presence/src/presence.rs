//! Presence: each device's state, aggregated per user, with changes coalesced before they are
//! announced. Soft state: it lives only while devices are connected (a device that stops
//! sending heartbeats is disconnected, and so goes offline).

use crate::ConnId;
use parley_proto::{ChannelId, PresenceState, UserId, UserPresence};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct PresenceConfig {
    /// A device with no activity for this long counts as away.
    pub idle_after: Duration,
    /// Changes wait this long before they are announced; a change undone meanwhile is never
    /// announced at all.
    pub coalesce: Duration,
}

#[derive(Debug)]
struct Device {
    user: UserId,
    last_active: Instant,
}

#[derive(Debug)]
struct Entry {
    devices: HashSet<ConnId>,
    /// Chosen by the user: `Away` or `Dnd` (on any device, for all of them); `None` follows
    /// activity.
    chosen: Option<PresenceState>,
    status_text: Option<String>,
    /// The channels whose members hear of this user's changes.
    channels: HashSet<ChannelId>,
    /// What was last announced.
    announced: Option<(PresenceState, Option<String>)>,
    /// Something may have changed at this time; announce once `coalesce` has passed.
    dirty_since: Option<Instant>,
    /// Wall-clock ms of the last disconnect.
    last_seen: Option<i64>,
}

/// A change to announce to the user's channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub presence: UserPresence,
    pub channels: Vec<ChannelId>,
}

#[derive(Debug)]
pub struct Presence {
    config: PresenceConfig,
    devices: HashMap<ConnId, Device>,
    users: HashMap<UserId, Entry>,
}

impl Presence {
    pub fn new(config: PresenceConfig) -> Presence {
        Presence {
            config,
            devices: HashMap::new(),
            users: HashMap::new(),
        }
    }

    fn entry(&mut self, user: UserId) -> &mut Entry {
        self.users.entry(user).or_insert_with(|| Entry {
            devices: HashSet::new(),
            chosen: None,
            status_text: None,
            channels: HashSet::new(),
            announced: None,
            dirty_since: None,
            last_seen: None,
        })
    }

    fn touch(&mut self, user: UserId, now: Instant) {
        let entry = self.entry(user);
        entry.dirty_since.get_or_insert(now);
    }

    pub fn connect(
        &mut self,
        conn: ConnId,
        user: UserId,
        channels: impl IntoIterator<Item = ChannelId>,
        now: Instant,
    ) {
        self.devices.insert(
            conn,
            Device {
                user,
                last_active: now,
            },
        );
        let entry = self.entry(user);
        entry.devices.insert(conn);
        entry.channels.extend(channels);
        self.touch(user, now);
    }

    pub fn join(&mut self, user: UserId, channel: ChannelId) {
        if let Some(entry) = self.users.get_mut(&user) {
            entry.channels.insert(channel);
        }
    }

    /// `user` left `channel`: its members stop hearing of the user's presence.
    pub fn leave(&mut self, user: UserId, channel: ChannelId) {
        if let Some(entry) = self.users.get_mut(&user) {
            entry.channels.remove(&channel);
        }
    }

    /// `wall_ms` is remembered as the user's last-seen time once the last device is gone.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant, wall_ms: i64) {
        let Some(device) = self.devices.remove(&conn) else {
            return;
        };
        let entry = self.entry(device.user);
        entry.devices.remove(&conn);
        if entry.devices.is_empty() {
            entry.last_seen = Some(wall_ms);
            // A choice of away or DND lasts while connected.
            entry.chosen = None;
        }
        self.touch(device.user, now);
    }

    /// The device did something a person does.
    pub fn activity(&mut self, conn: ConnId, now: Instant) {
        let Some(device) = self.devices.get_mut(&conn) else {
            return;
        };
        let was_idle = now.saturating_duration_since(device.last_active) >= self.config.idle_after;
        device.last_active = now;
        let user = device.user;
        if was_idle {
            self.touch(user, now);
        }
    }

    /// The user chose a state (`Online` clears a chosen away or DND) and/or a status text
    /// (empty clears it).
    pub fn choose(
        &mut self,
        conn: ConnId,
        state: Option<PresenceState>,
        status_text: Option<String>,
        now: Instant,
    ) {
        let Some(user) = self.devices.get(&conn).map(|d| d.user) else {
            return;
        };
        if state.is_some() {
            self.activity(conn, now);
        }
        let entry = self.entry(user);
        match state {
            Some(PresenceState::Away | PresenceState::Dnd) => entry.chosen = state,
            Some(PresenceState::Online) => entry.chosen = None,
            Some(PresenceState::Offline) | None => {}
        }
        if let Some(text) = status_text {
            entry.status_text = (!text.is_empty()).then_some(text);
        }
        self.touch(user, now);
    }

    fn current(&self, user: UserId, entry: &Entry, now: Instant) -> PresenceState {
        if entry.devices.is_empty() {
            return PresenceState::Offline;
        }
        if let Some(chosen) = entry.chosen {
            return chosen;
        }
        let active = entry
            .devices
            .iter()
            .filter_map(|c| self.devices.get(c))
            .any(|d| {
                debug_assert_eq!(d.user, user);
                now.saturating_duration_since(d.last_active) < self.config.idle_after
            });
        if active {
            PresenceState::Online
        } else {
            PresenceState::Away
        }
    }

    /// The user's presence now; `None` if this node knows nothing of the user.
    pub fn of(&self, user: UserId, now: Instant) -> Option<UserPresence> {
        let entry = self.users.get(&user)?;
        let state = self.current(user, entry, now);
        Some(UserPresence {
            user_id: user,
            state,
            status_text: entry.status_text.clone(),
            last_seen: if state == PresenceState::Offline {
                entry.last_seen
            } else {
                None
            },
        })
    }

    /// Every user with a device here, as they stand now (to refresh a shared view).
    pub fn connected(&self, now: Instant) -> Vec<Announcement> {
        self.users
            .iter()
            .filter(|(_, e)| !e.devices.is_empty())
            .filter_map(|(user, entry)| {
                let presence = self.of(*user, now)?;
                Some(Announcement {
                    presence,
                    channels: entry.channels.iter().copied().collect(),
                })
            })
            .collect()
    }

    /// Changes due for announcement at `now`. Also notices devices that went idle.
    pub fn poll(&mut self, now: Instant) -> Vec<Announcement> {
        let idle_after = self.config.idle_after;
        // Devices that crossed into idle since their user was last announced.
        let went_idle: Vec<UserId> = self
            .devices
            .values()
            .filter(|d| now.saturating_duration_since(d.last_active) >= idle_after)
            .map(|d| d.user)
            .collect();
        for user in went_idle {
            let announced_online = self
                .users
                .get(&user)
                .is_some_and(|e| matches!(e.announced, Some((PresenceState::Online, _))));
            if announced_online {
                self.touch(user, now);
            }
        }
        let due: Vec<UserId> = self
            .users
            .iter()
            .filter(|(_, e)| {
                e.dirty_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= self.config.coalesce)
            })
            .map(|(u, _)| *u)
            .collect();
        let mut out = Vec::new();
        for user in due {
            let Some(presence) = self.of(user, now) else {
                continue;
            };
            let entry = self.users.get_mut(&user).expect("due user has an entry");
            entry.dirty_since = None;
            let now_shown = (presence.state, presence.status_text.clone());
            // Nothing announced yet and offline: the user came and went within the window.
            let unchanged = entry.announced.as_ref() == Some(&now_shown)
                || (entry.announced.is_none() && presence.state == PresenceState::Offline);
            if !unchanged {
                entry.announced = Some(now_shown);
                out.push(Announcement {
                    channels: entry.channels.iter().copied().collect(),
                    presence,
                });
            }
            if entry.devices.is_empty() {
                // Offline is announced (or was never anything else); storage keeps last-seen.
                self.users.remove(&user);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: UserId = UserId(1);
    const TEAM: ChannelId = ChannelId(7);

    fn setup() -> (Presence, Instant) {
        let config = PresenceConfig {
            idle_after: Duration::from_secs(300),
            coalesce: Duration::from_secs(1),
        };
        (Presence::new(config), Instant::now())
    }

    fn states(announcements: &[Announcement]) -> Vec<PresenceState> {
        announcements.iter().map(|a| a.presence.state).collect()
    }

    #[test]
    fn devices_aggregate_and_changes_wait_for_the_window() {
        let (mut p, t0) = setup();
        p.connect(1, ANN, [TEAM], t0);
        assert!(p.poll(t0).is_empty(), "not yet: changes are coalesced");
        let online = p.poll(t0 + Duration::from_secs(1));
        assert_eq!(states(&online), [PresenceState::Online]);
        assert_eq!(online[0].channels, [TEAM]);
        // A second device changes nothing others can see.
        p.connect(2, ANN, [TEAM], t0 + Duration::from_secs(2));
        assert!(p.poll(t0 + Duration::from_secs(4)).is_empty());
        // One device leaves: still online.
        p.disconnect(1, t0 + Duration::from_secs(5), 5_000);
        assert!(p.poll(t0 + Duration::from_secs(7)).is_empty());
        // The last leaves: offline, with last-seen.
        p.disconnect(2, t0 + Duration::from_secs(8), 8_000);
        let offline = p.poll(t0 + Duration::from_secs(9));
        assert_eq!(states(&offline), [PresenceState::Offline]);
        assert_eq!(offline[0].presence.last_seen, Some(8_000));
    }

    #[test]
    fn flapping_within_the_window_is_not_announced() {
        let (mut p, t0) = setup();
        p.connect(1, ANN, [TEAM], t0);
        p.poll(t0 + Duration::from_secs(1));
        // Drop and reconnect within the window: nobody hears of it.
        p.disconnect(1, t0 + Duration::from_secs(2), 2_000);
        p.connect(3, ANN, [TEAM], t0 + Duration::from_millis(2_500));
        assert!(p.poll(t0 + Duration::from_secs(4)).is_empty());
    }

    #[test]
    fn idle_devices_turn_away_and_activity_brings_them_back() {
        let (mut p, t0) = setup();
        p.connect(1, ANN, [TEAM], t0);
        p.poll(t0 + Duration::from_secs(1));
        let idle = t0 + Duration::from_secs(300);
        p.poll(idle);
        let away = p.poll(idle + Duration::from_secs(1));
        assert_eq!(states(&away), [PresenceState::Away]);
        p.activity(1, idle + Duration::from_secs(10));
        let back = p.poll(idle + Duration::from_secs(11));
        assert_eq!(states(&back), [PresenceState::Online]);
    }

    #[test]
    fn chosen_states_and_status_text() {
        let (mut p, t0) = setup();
        p.connect(1, ANN, [TEAM], t0);
        p.connect(2, ANN, [TEAM], t0);
        p.poll(t0 + Duration::from_secs(1));
        p.choose(
            1,
            Some(PresenceState::Dnd),
            Some("值班中 on call".into()),
            t0 + Duration::from_secs(2),
        );
        let dnd = p.poll(t0 + Duration::from_secs(3));
        assert_eq!(
            states(&dnd),
            [PresenceState::Dnd],
            "DND from one device covers all"
        );
        assert_eq!(
            dnd[0].presence.status_text.as_deref(),
            Some("值班中 on call")
        );
        assert_eq!(
            p.of(ANN, t0 + Duration::from_secs(3)).map(|u| u.state),
            Some(PresenceState::Dnd)
        );
        p.choose(
            2,
            Some(PresenceState::Online),
            Some(String::new()),
            t0 + Duration::from_secs(4),
        );
        let online = p.poll(t0 + Duration::from_secs(5));
        assert_eq!(states(&online), [PresenceState::Online]);
        assert_eq!(online[0].presence.status_text, None);
        assert_eq!(
            p.of(ANN, t0 + Duration::from_secs(5)).map(|u| u.state),
            Some(PresenceState::Online)
        );
    }
}
