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

/// A TCP port free on the loopback interface now (for a process told which port to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
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

/// Polls `check` every 20 ms until it yields a value, for at most `limit` (the async twin of
/// [`wait_for`]).
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The example bundle's stand-in external service (`example-bundle job-server`), killed when
/// dropped.
pub struct JobService {
    child: Child,
    /// Its address (`host:port`).
    pub addr: String,
}

impl JobService {
    /// Starts one whose jobs take `work_secs`.
    pub fn start(work_secs: f64) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(bin_path("example-bundle"))
            .args(["job-server", "--work-secs", &work_secs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the job service");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the job service says where it listens");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected {line:?}"))
            .to_owned();
        Self { child, addr }
    }
}

impl Drop for JobService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process whose output is read as it comes.
pub struct Watched {
    child: Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How a [`Watched`] process ended.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Watched {
    /// Watches `child`, whose stdout and stderr are piped.
    pub fn new(mut child: Child) -> Self {
        let mut readers = Vec::new();
        let mut pipe = |stream: Option<Box<dyn std::io::Read + Send>>| {
            let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            if let Some(mut s) = stream {
                let sink = text.clone();
                readers.push(std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if let Ok(mut t) = sink.lock() {
                            t.push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    }
                }));
            }
            text
        };
        let stdout = pipe(child.stdout.take().map(|s| Box::new(s) as _));
        let stderr = pipe(child.stderr.take().map(|s| Box::new(s) as _));
        Self {
            child,
            stderr,
            stdout,
            readers,
        }
    }

    /// Waits (at most `limit`) until its stderr contains `text`.
    pub fn wait_for_stderr(&self, text: &str, limit: Duration) {
        wait_for(limit, &format!("{text:?} on stderr"), || {
            self.stderr
                .lock()
                .ok()
                .and_then(|t| t.contains(text).then_some(()))
        });
    }

    /// Waits (at most `limit`, then kills it) for it to end.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let child = &mut self.child;
        let status = wait_for(limit, "the process to end", || {
            child.try_wait().ok().flatten()
        });
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let take = |t: &std::sync::Arc<std::sync::Mutex<String>>| {
            t.lock().map(|s| s.clone()).unwrap_or_default()
        };
        Finished {
            code: status.code(),
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        Self::start_on(home, database_url, extra, 0)
    }

    /// Kills it (SIGKILL, as a crash would).
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, data and settings (after [`crash`](Self::crash)).
    pub fn restart(&mut self, extra: &[(&str, &str)]) {
        let database_url = self
            .env
            .iter()
            .find(|(k, _)| k == "AIRLOCK_DATABASE_URL")
            .map(|(_, v)| v.clone());
        let port = self.port;
        *self = Self::start_on(&self.home.clone(), database_url.as_deref(), extra, port);
    }

    /// Starts `api-server serve` on `port` (0: any).
    pub fn start_on(
        home: &Path,
        database_url: Option<&str>,
        extra: &[(&str, &str)],
        port: u16,
    ) -> Self {
        std::fs::create_dir_all(home).expect("home");
        let log = home.join("api-server.log");
        let mut env = vec![("AIRLOCK_HOME".to_owned(), home.display().to_string())];
        if let Some(url) = database_url {
            env.push(("AIRLOCK_DATABASE_URL".into(), url.into()));
        }
        let mut cmd = Command::new(bin_path("api-server"));
        cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AIRLOCK_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("log file"),
            );
        let child = cmd.spawn().expect("spawn api-server");
        let logged_before = std::fs::metadata(&log).map_or(0, |m| m.len()) as usize;
        let port = wait_for(Duration::from_secs(30), "the api-server to listen", || {
            let text = std::fs::read_to_string(&log).ok()?;
            airlock_api_server::server::logged_loopback_port(text.get(logged_before..)?)
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
