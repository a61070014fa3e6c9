use parley_proto::{ChannelId, UserId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Typing notices are ephemeral and never stored; this keeps a member who types fast from
/// sending the others more than one notice per `every`.
#[derive(Debug)]
pub struct TypingThrottle {
    every: Duration,
    last: HashMap<(UserId, ChannelId), Instant>,
}

impl TypingThrottle {
    pub fn new(every: Duration) -> TypingThrottle {
        TypingThrottle {
            every,
            last: HashMap::new(),
        }
    }

    /// Should this notice go out?
    pub fn allow(&mut self, user: UserId, channel: ChannelId, now: Instant) -> bool {
        match self.last.get(&(user, channel)) {
            Some(&at) if now.saturating_duration_since(at) < self.every => false,
            _ => {
                self.last.insert((user, channel), now);
                true
            }
        }
    }

    /// Forget notices older than the interval, so the table stays small.
    pub fn expire(&mut self, now: Instant) {
        let every = self.every;
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_interval_per_member_and_channel() {
        let t0 = Instant::now();
        let mut throttle = TypingThrottle::new(Duration::from_secs(3));
        let (ann, bob, c) = (UserId(1), UserId(2), ChannelId(1));
        assert!(throttle.allow(ann, c, t0));
        assert!(!throttle.allow(ann, c, t0 + Duration::from_secs(1)));
        assert!(
            throttle.allow(bob, c, t0 + Duration::from_secs(1)),
            "others are counted apart"
        );
        assert!(throttle.allow(ann, c, t0 + Duration::from_secs(3)));
        throttle.expire(t0 + Duration::from_secs(10));
        assert!(throttle.last.is_empty());
    }
}
