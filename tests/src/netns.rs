//! Real hosts on one machine: Linux network namespaces, each with its own network stack and an
//! address on a bridge in the root namespace (which plays the database host: PostgreSQL and
//! the API servers run there). Needs root and `ip` (iproute2, installed by `scripts/test.sh`).
//! Creating the hosts panics rather than skipping: these tests must run in CI.

use std::process::{Command, Stdio};

/// A bridge and `n` hosts on it; all removed (with every process in them) when dropped.
pub struct Hosts {
    tag: String,
    subnet: String,
    count: usize,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (install iproute2): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed (network namespaces need root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hosts {
    /// Creates `count` hosts (at most 200) on a fresh bridge; panics if it cannot.
    pub fn create(count: usize) -> Self {
        assert!(count <= 200);
        let pid = std::process::id();
        // Interface names have at most 15 bytes; the pid keeps parallel runs apart.
        let tag = format!("alk{}", pid % 100_000);
        let subnet = format!("10.{}.{}", 100 + (pid / 250) % 150, pid % 250);
        let hosts = Self { tag, subnet, count };
        let bridge = hosts.bridge();
        ip(&["link", "add", "name", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", hosts.gateway()),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 0..count {
            let (ns, outer, inner) = (
                hosts.namespace(i),
                format!("{}v{i}", hosts.tag),
                format!("{}p{i}", hosts.tag),
            );
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &inner, "netns", &ns]);
            ip(&["link", "set", &outer, "master", &bridge]);
            ip(&["link", "set", &outer, "up"]);
            let addr = format!("{}/24", hosts.address(i));
            ip(&[
                "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &inner,
            ]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn namespace(&self, i: usize) -> String {
        format!("{}-host{i}", self.tag)
    }

    /// The root namespace's address on the bridge (where the API servers listen).
    pub fn gateway(&self) -> String {
        format!("{}.1", self.subnet)
    }

    /// Host `i`'s address.
    pub fn address(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, i + 2)
    }

    /// `program` to run on host `i`.
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespace(i)]).arg(program);
        cmd
    }

    /// Unplugs host `i`'s network cable: its processes live on but reach nothing.
    pub fn unplug(&self, i: usize) {
        ip(&["link", "set", &format!("{}v{i}", self.tag), "down"]);
    }

    /// Plugs host `i`'s cable back in.
    pub fn plug(&self, i: usize) {
        ip(&["link", "set", &format!("{}v{i}", self.tag), "up"]);
    }

    /// SIGKILLs every process on host `i`, as a power cut would.
    pub fn kill_host(&self, i: usize) {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.namespace(i)])
            .stderr(Stdio::null())
            .output();
        let Ok(out) = out else { return };
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.count {
            self.kill_host(i);
            let _ = Command::new("ip")
                .args(["netns", "del", &self.namespace(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .status();
    }
}
