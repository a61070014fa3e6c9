//! What a run costs the server: CPU seconds and memory of its process, read from `/proc/<pid>`
//! before and after, so the figures compare across machines that are busy with other things
//! (deliveries per server CPU-second rather than per wall-clock second).

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// Linux reports process times in clock ticks of `USER_HZ`, 100 on every mainstream
/// architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// One reading of the server process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// User plus system CPU time since the process started.
    pub cpu_secs: f64,
    /// Resident memory now.
    pub rss_bytes: u64,
    /// The most resident memory it ever had.
    pub peak_rss_bytes: u64,
}

/// Read the process `pid`'s CPU time and memory.
pub fn sample(pid: u32) -> Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is the server's pid right?)"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start with field 3, so utime and stime (fields 14 and 15) are the 12th and 13th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unreadable /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<u64>()? as f64)
    };
    let cpu_secs = (ticks(11)? + ticks(12)?) / TICKS_PER_SEC;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok(Sample {
        cpu_secs,
        rss_bytes: kib("VmRSS:"),
        peak_rss_bytes: kib("VmHWM:"),
    })
}

/// CPU seconds (user plus system) each of the process's threads whose name starts with
/// `prefix` has used so far, by thread name (threads of one name summed), from
/// `/proc/<pid>/task`. Threads that end meanwhile are missed; the server's media threads live
/// as long as it does.
pub fn thread_cpu(pid: u32, prefix: &str) -> BTreeMap<String, f64> {
    let mut cpu = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return cpu;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some((_, rest))) = (stat.find('('), stat.rsplit_once(')')) else {
            continue;
        };
        let name = &stat[open + 1..stat.len() - rest.len() - 1];
        if !name.starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        *cpu.entry(name.to_string()).or_default() += ticks as f64 / TICKS_PER_SEC;
    }
    cpu
}

/// What each thread used between two readings of `thread_cpu`.
pub fn thread_cpu_between(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, secs)| {
            let used = secs - before.get(name).copied().unwrap_or(0.0);
            (name.clone(), (used * 100.0).round() / 100.0)
        })
        .collect()
}

/// The server's cost over a run: from a sample before connecting, one after connecting (for
/// memory per connection) and one at the end.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCost {
    pub pid: u32,
    pub cpu_secs: f64,
    pub peak_rss_bytes: u64,
    /// Resident memory before the first connection and once all were connected.
    pub rss_before_bytes: u64,
    pub rss_connected_bytes: u64,
    /// Resident memory the connected clients added, per connection. Only meaningful when the
    /// server did nothing else in between, and did not have freed heap to reuse (a server
    /// restarted after provisioning: `scripts/bench-idle`).
    pub bytes_per_connection: Option<f64>,
}

impl ServerCost {
    pub fn between(
        pid: u32,
        before: Sample,
        connected: Sample,
        after: Sample,
        connections: usize,
    ) -> ServerCost {
        let added = connected.rss_bytes.saturating_sub(before.rss_bytes) as f64;
        ServerCost {
            pid,
            cpu_secs: after.cpu_secs - before.cpu_secs,
            peak_rss_bytes: after.peak_rss_bytes,
            rss_before_bytes: before.rss_bytes,
            rss_connected_bytes: connected.rss_bytes,
            bytes_per_connection: (connections > 0).then(|| added / connections as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes, "{s:?}");
        assert!(s.cpu_secs >= 0.0);
    }

    #[test]
    fn threads_are_read_by_name() {
        let (started, running) = std::sync::mpsc::channel();
        let spinner = std::thread::Builder::new()
            .name("cost-test-spin".into())
            .spawn(move || {
                // The thread has its name once it runs.
                started.send(()).expect("test waits");
                let start = std::time::Instant::now();
                let mut x = 0u64;
                while start.elapsed() < std::time::Duration::from_millis(300) {
                    x = x.wrapping_add(std::hint::black_box(1));
                }
                x
            })
            .expect("spawn");
        running.recv().expect("the thread started");
        let during = thread_cpu(std::process::id(), "cost-test");
        spinner.join().expect("spinner");
        assert_eq!(during.keys().collect::<Vec<_>>(), vec!["cost-test-spin"]);
        assert!(thread_cpu(std::process::id(), "no-such-thread").is_empty());
    }

    #[test]
    fn a_missing_process_is_an_error_that_names_it() {
        let err = sample(u32::MAX).expect_err("no such pid");
        assert!(err.to_string().contains(&u32::MAX.to_string()), "{err}");
    }
}
