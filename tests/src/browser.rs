//! A real headless Chromium driven over W3C WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test.sh` installs).
//!
//! The client is the dozen WebDriver commands the UI tests use, over the `reqwest` the suite
//! already has: a WebDriver crate (fantoccini, thirtyfour) would add a TLS stack and a second
//! HTTP client for talking to a driver on localhost.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Longest a UI test waits for a condition.
pub const UI_WAIT: Duration = Duration::from_secs(60);

/// A running chromedriver with one Chromium session; both are stopped when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    /// Where a failing test's screenshot goes.
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

/// A bounded wait: when it ends, and the pace of the looks before.
struct Patience {
    deadline: Instant,
    looks: tokio::time::Interval,
}

impl Patience {
    fn new() -> Self {
        let mut looks = tokio::time::interval(Duration::from_millis(100));
        looks.reset();
        Self {
            deadline: Instant::now() + UI_WAIT,
            looks,
        }
    }
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

fn binary(names: &[&str]) -> String {
    names
        .iter()
        .find(|n| {
            std::env::var_os("PATH").is_some_and(|p| {
                std::env::split_paths(&p).any(|d| d.join(n).is_file())
            })
        })
        .map(|n| (*n).to_owned())
        .unwrap_or_else(|| {
            panic!("none of {names:?} is installed (scripts/test.sh installs chromium and chromium-driver)")
        })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile. `shots` is the
    /// directory screenshots of failures go to.
    pub async fn start(shots: PathBuf) -> Self {
        let port = crate::process::free_port();
        let driver = Command::new(binary(&["chromedriver"]))
            .arg(format!("--port={port}"))
            // Its own process group: dropping the browser ends Chromium with the driver.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}"));
        let http = crate::http_client();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + UI_WAIT;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
        }
        let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let chromium = binary(&["chromium", "chromium-browser", "google-chrome"]);
        let chromium = which(&chromium);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let mut browser = Self {
            driver,
            base,
            http,
            shots,
            _profile: profile,
        };
        let session = browser.call("POST", "/session", caps).await;
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// A WebDriver command; `Err` says why it failed.
    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| format!("webdriver {method} {path}: {e}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!("webdriver {method} {path} answered {status}: {v}"))
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    /// The address shown.
    pub async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching the CSS selector (none yet is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .call(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until an element matches the CSS selector and returns the first.
    pub async fn wait(&self, css: &str) -> Element {
        let mut wait = Patience::new();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            self.check_deadline(&mut wait, &format!("an element matching {css:?}"))
                .await;
        }
    }

    /// Waits until `condition` holds, re-evaluating it every 100 ms, for at most [`UI_WAIT`].
    pub async fn wait_until<F, Fut>(&self, what: &str, mut condition: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut wait = Patience::new();
        while !condition().await {
            self.check_deadline(&mut wait, what).await;
        }
    }

    /// Panics (with a screenshot) once the wait is over; otherwise waits for the next look
    /// (every tenth of a second).
    async fn check_deadline(&self, wait: &mut Patience, what: &str) {
        if Instant::now() >= wait.deadline {
            let shot = self.screenshot("timeout").await;
            panic!(
                "timed out waiting for {what} at {} (screenshot: {})",
                self.url().await,
                shot.display()
            );
        }
        wait.looks.tick().await;
    }

    /// Clicks an element.
    pub async fn click(&self, e: &Element) {
        self.call("POST", &format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    /// Clicks the first element matching `css`, once there is one (again if the page redrew
    /// it between finding and clicking).
    pub async fn click_on(&self, css: &str) {
        let mut wait = Patience::new();
        loop {
            let e = self.wait(css).await;
            match self
                .try_call("POST", &format!("/element/{}/click", e.0), json!({}))
                .await
            {
                Ok(_) => return,
                Err(why) if why.contains("stale element") => {
                    self.check_deadline(&mut wait, &format!("{css:?} to stay put"))
                        .await
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// Replaces an input's text.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(css).await;
        self.call("POST", &format!("/element/{}/clear", e.0), json!({}))
            .await;
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// An element's visible text.
    pub async fn text(&self, e: &Element) -> String {
        self.call("GET", &format!("/element/{}/text", e.0), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the first element matching `css` ("" when there is none), read in
    /// one step so a redraw cannot get in between.
    pub async fn text_of(&self, css: &str) -> String {
        let js = r#"const [css, done] = arguments;
            const e = document.querySelector(css); done(e ? e.innerText : '');"#;
        self.script(js, json!([css]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs JavaScript in the page and returns what it returns.
    pub async fn script(&self, js: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/async",
            json!({ "script": js, "args": args }),
        )
        .await
    }

    /// Saves a screenshot as `<shots>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap_or_default();
        let _ = std::fs::create_dir_all(&self.shots);
        let path = self.shots.join(format!("{name}.png"));
        let _ = std::fs::write(&path, bytes);
        path
    }
}

fn which(name: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|f| f.is_file())
        })
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| name.to_owned())
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium (chromedriver's child) with its driver: the whole process group.
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
