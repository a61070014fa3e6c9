//! Which media worker holds which room, and how loaded each worker is. The signaling side reads
//! it to send a room's commands to its worker and to put a new room on the least-loaded one;
//! workers claim a room here when they open it and release it when they close it. Only room
//! opening, closing and routing take its lock, never the forwarding path.

use prometheus::IntGauge;
use std::collections::HashMap;
use std::sync::Mutex;

pub(crate) struct Placement {
    rooms: Mutex<HashMap<String, usize>>,
    /// Participants on each worker (hidden ones included), `rtc_worker_participants`.
    participants: Vec<IntGauge>,
    /// Rooms open on each worker, `rtc_worker_rooms`.
    open_rooms: Vec<IntGauge>,
}

impl Placement {
    pub(crate) fn new(participants: Vec<IntGauge>, open_rooms: Vec<IntGauge>) -> Placement {
        Placement {
            rooms: Mutex::new(HashMap::new()),
            participants,
            open_rooms,
        }
    }

    pub(crate) fn workers(&self) -> usize {
        self.participants.len()
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // The map stays whole whatever panicked while holding it: each step is one insert or
        // remove.
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The worker holding room `name`, if it is open.
    pub(crate) fn worker_of(&self, name: &str) -> Option<usize> {
        self.rooms().get(name).copied()
    }

    /// Where room `name` is, or where it would open: the worker with the fewest participants,
    /// then the fewest rooms.
    pub(crate) fn place(&self, name: &str) -> usize {
        if let Some(worker) = self.worker_of(name) {
            return worker;
        }
        (0..self.workers())
            .min_by_key(|&w| (self.participants[w].get(), self.open_rooms[w].get(), w))
            .unwrap_or(0)
    }

    /// Worker `worker` opens room `name`: granted unless another worker holds it (which then
    /// says which one, and the request goes there).
    pub(crate) fn claim(&self, name: &str, worker: usize) -> Result<(), usize> {
        let mut rooms = self.rooms();
        match rooms.get(name) {
            Some(&other) if other != worker => Err(other),
            Some(_) => Ok(()),
            None => {
                rooms.insert(name.to_owned(), worker);
                self.open_rooms[worker].inc();
                Ok(())
            }
        }
    }

    /// Worker `worker` closed room `name`.
    pub(crate) fn release(&self, name: &str, worker: usize) {
        let mut rooms = self.rooms();
        if rooms.get(name) == Some(&worker) {
            rooms.remove(name);
            self.open_rooms[worker].dec();
        }
    }

    pub(crate) fn joined(&self, worker: usize) {
        self.participants[worker].inc();
    }

    pub(crate) fn left(&self, worker: usize) {
        self.participants[worker].dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(workers: usize) -> Placement {
        let gauges = |what: &str| {
            (0..workers)
                .map(|w| IntGauge::new(format!("{what}_{w}"), "test").expect("gauge"))
                .collect()
        };
        Placement::new(gauges("participants"), gauges("rooms"))
    }

    #[test]
    fn new_rooms_go_to_the_least_loaded_worker_and_stay_there() {
        let p = placement(3);
        p.joined(0);
        p.joined(0);
        p.joined(1);
        assert_eq!(p.place("a"), 2);
        assert_eq!(p.claim("a", 2), Ok(()));
        // Equal participants: the one with fewer rooms.
        p.joined(2);
        assert_eq!(p.place("b"), 1);
        // An open room is where it is, however loaded that worker is.
        for _ in 0..10 {
            p.joined(2);
        }
        assert_eq!(p.place("a"), 2);
    }

    #[test]
    fn a_room_is_held_by_one_worker_until_it_releases_it() {
        let p = placement(2);
        assert_eq!(p.claim("a", 0), Ok(()));
        assert_eq!(p.claim("a", 1), Err(0));
        assert_eq!(p.claim("a", 0), Ok(()));
        // Only the holder releases it.
        p.release("a", 1);
        assert_eq!(p.worker_of("a"), Some(0));
        p.release("a", 0);
        assert_eq!(p.worker_of("a"), None);
        assert_eq!(p.claim("a", 1), Ok(()));
        assert_eq!(p.open_rooms[0].get(), 0);
        assert_eq!(p.open_rooms[1].get(), 1);
    }
}
