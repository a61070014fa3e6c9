/// When an urgent ping's next reminder is due, after one goes out at `now`: every `every_ms`
/// until `expires_at`. A server that was down does not catch up with a burst: the schedule
/// restarts from now.
pub fn next_reminder(now: i64, every_ms: i64, expires_at: i64) -> Option<i64> {
    let next = now.saturating_add(every_ms.max(1));
    (next < expires_at).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::next_reminder;

    #[test]
    fn every_two_minutes_for_thirty() {
        let (every, expires) = (120_000, 1_800_000);
        let mut at = every;
        let mut sent = 0;
        while let Some(next) = next_reminder(at, every, expires) {
            sent += 1;
            at = next;
        }
        // Reminders at 2, 4, ..., 28 minutes, then the last at 28 ends the schedule.
        assert_eq!((sent, at), (13, 1_680_000));
        assert_eq!(next_reminder(1_790_000, every, expires), None);
        // After downtime the next one is a full interval away, not immediate.
        assert_eq!(next_reminder(900_000, every, expires), Some(1_020_000));
    }
}
