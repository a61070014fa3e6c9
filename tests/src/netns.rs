//! A network namespace a test creates for itself: a veth pair whose host end carries the
//! server's address and whose other end is the only way out of the namespace. A peer started
//! inside it (`ip netns exec`) reaches the server only through the pair, so `tc` on the pair
//! limits or cuts that peer's network and nobody else's. Deleted on drop.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Netns {
    /// The namespace's name, for `ip netns exec`.
    pub name: String,
    /// The host end of the pair; the server binds `host_ip`.
    pub host_dev: String,
    pub host_ip: Ipv4Addr,
    /// The namespace end.
    pub ns_dev: String,
    pub ns_ip: Ipv4Addr,
}

fn ip(args: &[&str]) {
    run("ip", args);
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} {args:?}: {e} (scripts/install-test-deps installs iproute2)")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed (network namespace tests need root): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Netns {
    /// A fresh namespace with a /30 in 10.128.0.0/9 chosen from the process id, so tests in
    /// other processes get their own.
    pub fn create() -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let slot = (std::process::id() * 8 + NEXT.fetch_add(1, Ordering::Relaxed)) % (1 << 21);
        let base = u32::from(Ipv4Addr::new(10, 128, 0, 0)) + slot * 4;
        let ns = Netns {
            name: format!("parley-{slot:x}"),
            host_dev: format!("pl{slot:x}h"),
            host_ip: Ipv4Addr::from(base + 1),
            ns_dev: format!("pl{slot:x}n"),
            ns_ip: Ipv4Addr::from(base + 2),
        };
        // Left over from a killed run with the same slot.
        let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &ns.host_dev])
            .output();
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_dev,
            "type",
            "veth",
            "peer",
            "name",
            &ns.ns_dev,
        ]);
        ip(&["link", "set", &ns.ns_dev, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.host_dev,
        ]);
        ip(&["link", "set", &ns.host_dev, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{}/30", ns.ns_ip),
            "dev",
            &ns.ns_dev,
        ]);
        ip(&["-n", &ns.name, "link", "set", &ns.ns_dev, "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Cut the namespace off: its end of the pair goes down, so nothing crosses either way
    /// (what the host sees of it is a cable pulled out). The host end keeps its address.
    pub fn cut(&self) {
        ip(&["-n", &self.name, "link", "set", &self.ns_dev, "down"]);
    }

    /// Undo `cut`.
    pub fn restore(&self) {
        ip(&["-n", &self.name, "link", "set", &self.ns_dev, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it the host end.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_dev])
            .output();
    }
}
