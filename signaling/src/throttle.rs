//! Sign-in throttling: a pure core (time is an input) that counts failed password checks per
//! account and address, per account from any address, and per address for any account, and
//! answers how long the next attempt must wait.
//!
//! The three counts serve three attacks. One address guessing one account's password is slowed
//! quickly and for long (`pair`). Guesses spread over many accounts from one address (credential
//! stuffing) are slowed by `address`. Guesses at one account from many addresses are slowed by
//! `account` — but only for a short time at most, since a stranger could otherwise lock the real
//! user out: the real user's own address has its own `pair` count, untouched by the stranger's.
//!
//! A successful sign-in clears the account's counts (its pair and its account-wide count), not
//! the address's: someone guessing others' passwords cannot reset their own address by signing
//! into an account of their own. A count is forgotten `forget_after` after its last failure, or
//! after the wait that failure caused, whichever ends later.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How one count slows attempts: `free` failures cost nothing; each one after blocks the key
/// for `first`, doubling per further failure, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub free: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Rule {
    fn block_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free)?.checked_sub(1)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(self.first.saturating_mul(factor).min(self.max))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// One account from one address.
    pub pair: Rule,
    /// One account from any address: short, so strangers cannot keep its owner out for long.
    pub account: Rule,
    /// Any account from one address.
    pub address: Rule,
    /// A count with no failure for this long (after the wait it caused) starts again from zero.
    pub forget_after: Duration,
    /// Past this many keys per count, forgotten ones are dropped, then those blocking
    /// nothing; a count never keeps more than twice this.
    pub max_keys: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            pair: Rule {
                free: 3,
                first: Duration::from_secs(1),
                max: Duration::from_secs(15 * 60),
            },
            account: Rule {
                free: 10,
                first: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            address: Rule {
                free: 20,
                first: Duration::from_secs(1),
                max: Duration::from_secs(15 * 60),
            },
            forget_after: Duration::from_secs(15 * 60),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    /// Attempts let through whose password check has not finished.
    in_flight: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl Strikes {
    /// Past `forget_after` since the last failure, or since the wait it caused ended, whichever
    /// is later (so waiting out the longest wait does not wipe the slate).
    fn forgotten(&self, now: Instant, forget_after: Duration) -> bool {
        let since = self
            .blocked_until
            .map_or(self.last, |until| until.max(self.last));
        now.saturating_duration_since(since) >= forget_after
    }
}

#[derive(Debug)]
struct Count<K> {
    rule: Rule,
    keys: HashMap<K, Strikes>,
}

/// What one count says of a new attempt.
enum Say {
    Go,
    Wait(Duration),
    /// Were every attempt in flight to fail, this one would have to wait.
    AfterInFlight,
}

impl<K: Hash + Eq> Count<K> {
    fn new(rule: Rule) -> Self {
        Count {
            rule,
            keys: HashMap::new(),
        }
    }

    fn say(&self, key: &K, now: Instant, forget_after: Duration) -> Say {
        let Some(s) = self.keys.get(key) else {
            return Say::Go;
        };
        if let Some(until) = s.blocked_until.filter(|until| *until > now) {
            return Say::Wait(until - now);
        }
        let failures = if s.forgotten(now, forget_after) {
            0
        } else {
            s.failures
        };
        if s.in_flight > 0 && failures + s.in_flight > self.rule.free {
            Say::AfterInFlight
        } else {
            Say::Go
        }
    }

    /// The attempt goes ahead: counted in flight. When the count is full of blocking keys, a
    /// new key is not kept (the other two counts still see the attempt).
    fn start(&mut self, key: K, now: Instant, rules: &Rules) {
        if self.keys.len() >= rules.max_keys && !self.keys.contains_key(&key) {
            self.prune(now, rules);
            if self.keys.len() >= rules.max_keys.saturating_mul(2) {
                return;
            }
        }
        let strikes = self.keys.entry(key).or_insert(Strikes {
            failures: 0,
            in_flight: 0,
            last: now,
            blocked_until: None,
        });
        strikes.in_flight += 1;
    }

    fn finish(&mut self, key: &K, outcome: Outcome, now: Instant, rules: &Rules) {
        let Some(strikes) = self.keys.get_mut(key) else {
            return;
        };
        strikes.in_flight = strikes.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failed => {
                if strikes.forgotten(now, rules.forget_after) {
                    strikes.failures = 0;
                }
                strikes.failures = strikes.failures.saturating_add(1);
                strikes.last = now;
                strikes.blocked_until = self.rule.block_for(strikes.failures).map(|d| now + d);
            }
            Outcome::Succeeded => {
                strikes.failures = 0;
                strikes.blocked_until = None;
            }
            Outcome::Abandoned => {}
        }
        if strikes.failures == 0 && strikes.in_flight == 0 {
            self.keys.remove(key);
        }
    }

    /// Drop the forgotten keys, then, if still full, those that block nothing now; never one
    /// with a check in flight.
    fn prune(&mut self, now: Instant, rules: &Rules) {
        self.keys
            .retain(|_, s| s.in_flight > 0 || !s.forgotten(now, rules.forget_after));
        if self.keys.len() >= rules.max_keys {
            self.keys
                .retain(|_, s| s.in_flight > 0 || s.blocked_until.is_some_and(|until| until > now));
        }
    }
}

/// How a password check that was let through ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed,
    Succeeded,
    /// The client went away before the check finished: counts as nothing.
    Abandoned,
}

/// The answer to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password, then report with `finished`.
    Go,
    /// Refused for this long, by this count.
    Held(Duration, Held),
    /// Ask again when a check in flight for the same account or address finishes: were they
    /// all wrong, this attempt would have to wait (guesses sent all at once are held back as
    /// if sent one after another, while a crowd with the right passwords goes through).
    Queue,
}

/// The sign-in throttle of one node.
#[derive(Debug)]
pub struct SignInThrottle {
    rules: Rules,
    pair: Count<(String, IpAddr)>,
    account: Count<String>,
    address: Count<IpAddr>,
}

/// Which count held an attempt back, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Pair,
    Account,
    Address,
}

impl Held {
    pub fn as_str(self) -> &'static str {
        match self {
            Held::Pair => "account_and_address",
            Held::Account => "account",
            Held::Address => "address",
        }
    }
}

impl SignInThrottle {
    pub fn new(rules: Rules) -> SignInThrottle {
        SignInThrottle {
            rules,
            pair: Count::new(rules.pair),
            account: Count::new(rules.account),
            address: Count::new(rules.address),
        }
    }

    /// An attempt on `account` (the normalised email) from `address`. On `Go` the attempt is
    /// in flight until `finished` is called for it, exactly once.
    pub fn attempt(&mut self, account: &str, address: IpAddr, now: Instant) -> Verdict {
        let pair = (account.to_owned(), address);
        let forget = self.rules.forget_after;
        let says = [
            (self.pair.say(&pair, now, forget), Held::Pair),
            (
                self.account.say(&account.to_owned(), now, forget),
                Held::Account,
            ),
            (self.address.say(&address, now, forget), Held::Address),
        ];
        let longest = says
            .iter()
            .filter_map(|(say, held)| match say {
                Say::Wait(d) => Some((*d, *held)),
                _ => None,
            })
            .max_by_key(|(d, _)| *d);
        if let Some((wait, held)) = longest {
            return Verdict::Held(wait, held);
        }
        if says
            .iter()
            .any(|(say, _)| matches!(say, Say::AfterInFlight))
        {
            return Verdict::Queue;
        }
        let rules = self.rules;
        self.pair.start(pair, now, &rules);
        self.account.start(account.to_owned(), now, &rules);
        self.address.start(address, now, &rules);
        Verdict::Go
    }

    /// How an attempt that was let through ended. The right password clears the account's
    /// counts (its pair and account-wide), never the address's.
    pub fn finished(&mut self, account: &str, address: IpAddr, outcome: Outcome, now: Instant) {
        let rules = self.rules;
        let for_address = match outcome {
            Outcome::Succeeded => Outcome::Abandoned,
            other => other,
        };
        self.pair
            .finish(&(account.to_owned(), address), outcome, now, &rules);
        self.account
            .finish(&account.to_owned(), outcome, now, &rules);
        self.address.finish(&address, for_address, now, &rules);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    const SEC: Duration = Duration::from_secs(1);

    /// A wrong password, let through and checked.
    fn fail(t: &mut SignInThrottle, account: &str, address: IpAddr, now: Instant) {
        assert_eq!(t.attempt(account, address, now), Verdict::Go);
        t.finished(account, address, Outcome::Failed, now);
    }

    /// What an attempt would be told now (without leaving it in flight).
    fn verdict(t: &mut SignInThrottle, account: &str, address: IpAddr, now: Instant) -> Verdict {
        let verdict = t.attempt(account, address, now);
        if verdict == Verdict::Go {
            t.finished(account, address, Outcome::Abandoned, now);
        }
        verdict
    }

    #[test]
    fn one_address_guessing_one_account_waits_longer_each_time() {
        let mut t = SignInThrottle::new(Rules::default());
        let now = Instant::now();
        for _ in 0..3 {
            fail(&mut t, "a@x", ip(2), now);
        }
        assert_eq!(
            verdict(&mut t, "a@x", ip(2), now),
            Verdict::Go,
            "three are free"
        );
        fail(&mut t, "a@x", ip(2), now);
        assert_eq!(
            verdict(&mut t, "a@x", ip(2), now),
            Verdict::Held(SEC, Held::Pair)
        );
        let later = now + SEC;
        fail(&mut t, "a@x", ip(2), later);
        assert_eq!(
            verdict(&mut t, "a@x", ip(2), later),
            Verdict::Held(2 * SEC, Held::Pair)
        );
        // The account's owner, elsewhere, is not held back by the stranger.
        assert_eq!(verdict(&mut t, "a@x", ip(3), later), Verdict::Go);
    }

    #[test]
    fn the_wait_is_capped_and_forgotten() {
        let rules = Rules::default();
        let mut t = SignInThrottle::new(rules);
        let mut now = Instant::now();
        for _ in 0..40 {
            if let Verdict::Held(wait, _) = verdict(&mut t, "a@x", ip(2), now) {
                now += wait;
            }
            fail(&mut t, "a@x", ip(2), now);
        }
        let Verdict::Held(wait, Held::Pair) = verdict(&mut t, "a@x", ip(2), now) else {
            panic!("not held");
        };
        assert_eq!(wait, rules.pair.max);
        let much_later = now + rules.pair.max + rules.forget_after;
        assert_eq!(verdict(&mut t, "a@x", ip(2), much_later), Verdict::Go);
        fail(&mut t, "a@x", ip(2), much_later);
        assert_eq!(
            verdict(&mut t, "a@x", ip(2), much_later),
            Verdict::Go,
            "counting started again"
        );
    }

    #[test]
    fn guesses_from_many_addresses_hold_the_account_only_briefly() {
        let rules = Rules::default();
        let mut t = SignInThrottle::new(rules);
        let mut now = Instant::now();
        for i in 0..60 {
            if let Verdict::Held(wait, _) = verdict(&mut t, "boss@x", ip(10 + i), now) {
                assert!(wait <= rules.account.max, "{wait:?}");
                now += wait;
            }
            fail(&mut t, "boss@x", ip(10 + i), now);
        }
        let Verdict::Held(wait, held) = verdict(&mut t, "boss@x", ip(200), now) else {
            panic!("not held");
        };
        assert_eq!((wait, held), (rules.account.max, Held::Account));
        assert_eq!(
            verdict(&mut t, "boss@x", ip(200), now + rules.account.max),
            Verdict::Go
        );
    }

    #[test]
    fn one_address_trying_many_accounts_is_held() {
        let mut t = SignInThrottle::new(Rules::default());
        let now = Instant::now();
        for i in 0..21 {
            fail(&mut t, &format!("user{i}@x"), ip(2), now);
        }
        assert_eq!(
            verdict(&mut t, "fresh@x", ip(2), now),
            Verdict::Held(SEC, Held::Address)
        );
        assert_eq!(verdict(&mut t, "fresh@x", ip(3), now), Verdict::Go);
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let mut t = SignInThrottle::new(Rules::default());
        let now = Instant::now();
        for i in 0..17 {
            fail(&mut t, &format!("user{i}@x"), ip(2), now);
        }
        for _ in 0..3 {
            fail(&mut t, "me@x", ip(2), now);
        }
        assert_eq!(t.attempt("me@x", ip(2), now), Verdict::Go);
        t.finished("me@x", ip(2), Outcome::Succeeded, now);
        assert!(!t.pair.keys.contains_key(&("me@x".to_owned(), ip(2))));
        assert!(!t.account.keys.contains_key("me@x"));
        // The 20 failures from the address stay: one more holds it.
        assert_eq!(verdict(&mut t, "other@x", ip(2), now), Verdict::Go);
        fail(&mut t, "other@x", ip(2), now);
        assert!(matches!(
            verdict(&mut t, "me@x", ip(2), now),
            Verdict::Held(_, Held::Address)
        ));
    }

    #[test]
    fn a_crowd_with_the_right_passwords_is_never_held() {
        let mut t = SignInThrottle::new(Rules::default());
        let now = Instant::now();
        // 100 people behind one address at once, a dozen of them on each account.
        let mut waiting: Vec<String> = (0..100).map(|i| format!("user{}@x", i % 8)).collect();
        while !waiting.is_empty() {
            let mut going = Vec::new();
            let mut queued = Vec::new();
            for who in waiting {
                match t.attempt(&who, ip(2), now) {
                    Verdict::Go => going.push(who),
                    Verdict::Queue => queued.push(who),
                    held => panic!("{who}: {held:?}"),
                }
            }
            assert!(!going.is_empty(), "everyone queued");
            for who in going {
                t.finished(&who, ip(2), Outcome::Succeeded, now);
            }
            waiting = queued;
        }
    }

    #[test]
    fn guesses_sent_together_wait_for_the_ones_in_flight() {
        let mut t = SignInThrottle::new(Rules::default());
        let now = Instant::now();
        let verdicts: Vec<_> = (0..12).map(|_| t.attempt("a@x", ip(2), now)).collect();
        let going = verdicts.iter().filter(|v| **v == Verdict::Go).count();
        assert_eq!(going, 4, "{verdicts:?}");
        assert!(verdicts[4..].iter().all(|v| *v == Verdict::Queue));
        for _ in 0..4 {
            t.finished("a@x", ip(2), Outcome::Failed, now);
        }
        assert_eq!(t.attempt("a@x", ip(2), now), Verdict::Held(SEC, Held::Pair));
    }

    #[test]
    fn abandoned_checks_count_as_nothing() {
        let mut t = SignInThrottle::new(Rules::default());
        let now = Instant::now();
        for _ in 0..50 {
            assert_eq!(t.attempt("a@x", ip(2), now), Verdict::Go);
            t.finished("a@x", ip(2), Outcome::Abandoned, now);
        }
        assert!(t.pair.keys.is_empty() && t.account.keys.is_empty() && t.address.keys.is_empty());
    }

    #[test]
    fn keys_stay_bounded() {
        let rules = Rules {
            max_keys: 100,
            ..Rules::default()
        };
        let mut t = SignInThrottle::new(rules);
        let mut now = Instant::now();
        for i in 0..1_000u32 {
            fail(
                &mut t,
                &format!("u{i}@x"),
                IpAddr::from(i.to_be_bytes()),
                now,
            );
            now += rules.forget_after / 50;
        }
        assert!(t.pair.keys.len() <= 200, "{}", t.pair.keys.len());
        assert!(t.address.keys.len() <= 200, "{}", t.address.keys.len());
    }
}
