//! Real processes: the workspace's binaries, started with their own data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a workspace binary in the target directory these tests were built into.
///
/// The test command builds every binary first (`cargo build --workspace --bins`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// Polls `condition` every few milliseconds until it yields a value or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = condition() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An `api-server serve` process on an ephemeral port.
pub struct ApiServerProcess {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:<port>/execution`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// The data directory.
    pub home: PathBuf,
    /// Where its log goes.
    pub log: PathBuf,
    /// Extra environment (database URL and such) for admin commands.
    pub env: Vec<(String, String)>,
}

impl ApiServerProcess {
    /// Starts `api-server serve` with its data in `home` (and `database_url`, if given).
    pub fn start(home: &Path, database_url: Option<&str>) -> Self {
        Self::start_with_env(home, database_url, &[])
    }

    /// Starts `api-server serve` with extra environment.
    pub fn start_with_env(home: &Path, database_url: Option<&str>, extra: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(home).expect("home");
        let log = home.join("api-server.log");
        let mut env = vec![("AIRLOCK_HOME".to_owned(), home.display().to_string())];
        if let Some(url) = database_url {
            env.push(("AIRLOCK_DATABASE_URL".into(), url.into()));
        }
        let mut cmd = Command::new(bin_path("api-server"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AIRLOCK_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let child = cmd.spawn().expect("spawn api-server");
        let port = wait_for(Duration::from_secs(30), "the api-server to listen", || {
            let text = std::fs::read_to_string(&log).ok()?;
            airlock_api_server::server::logged_loopback_port(&text)
        });
        Self {
            child,
            base: format!("http://127.0.0.1:{port}/execution"),
            port,
            home: home.to_owned(),
            log,
            env,
        }
    }

    /// Runs `api-server admin <args>` against the same data and returns its stdout.
    pub fn admin(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut child = Command::new(bin_path("api-server"))
            .arg("admin")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn admin");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("admin output");
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("kill");
    }

    /// Waits for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let child = &mut self.child;
        wait_for(timeout, "the api-server to exit", || {
            child.try_wait().expect("try_wait")
        })
    }
}

impl Drop for ApiServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
