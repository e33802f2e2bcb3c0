//! The web UI on a large DAG: a `tasks`-task DAG with `runs` runs, served by a real
//! `api-server`; the grid's API answer time and the DAG page's time to a drawn grid in headless
//! Chromium, and what the UI's assets weigh.

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_api_server::auth::Scope;
use airlock_e2e::browser::Browser;
use airlock_protocol::dag::BundleDefinition;
use anyhow::bail;
use serde_json::json;

use crate::procs::Server;
use crate::report::Section;
use crate::stats::median;

const USER: (&str, &str) = ("bench", "bench-password");

/// `tasks` tasks in ten chains (task `i` after task `i - 10`), so the graph is deep and wide.
async fn register(server: &Server, tasks: usize) -> anyhow::Result<()> {
    let defs: Vec<serde_json::Value> = (0..tasks)
        .map(|i| {
            let up: Vec<String> = if i >= 10 {
                vec![format!("task_{:04}", i - 10)]
            } else {
                vec![]
            };
            json!({"task_id": format!("task_{i:04}"), "upstream": up})
        })
        .collect();
    let bundle: BundleDefinition = serde_json::from_value(
        json!({"bundle": "bench-ui", "dags": [{"dag_id": "wide", "tasks": defs}]}),
    )?;
    airlock_store::control::register_bundle(&server.db, &bundle, airlock_store::now()).await?;
    Ok(())
}

/// Runs `tasks`×`runs` and measures; `browser` off when Chromium is not installed.
pub async fn run(root: &Path, tasks: usize, runs: usize) -> anyhow::Result<Section> {
    let home = root.join("ui");
    let server = Server::start(&home, None, &[]).await?;
    register(&server, tasks).await?;
    let http = airlock_e2e::http_client();
    let admin = server.tokens.issue("bench", Scope::Admin, None);
    for i in 0..runs {
        let r = http
            .post(format!("{}/airlock/control/dags/wide/runs", server.base))
            .bearer_auth(&admin)
            .json(&json!({"run_id": format!("run_{i:03}")}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("trigger answered {}", r.status());
        }
    }
    // Every run's task instances exist once the scheduler has seen the runs.
    let want = (tasks * runs) as i64;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut looks = tokio::time::interval(Duration::from_millis(100));
    loop {
        looks.tick().await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_instance")
            .fetch_one(server.db.pool())
            .await?;
        if n >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} of {want} task instances were created within 300 s");
        }
    }

    let grid_url = format!(
        "{}/airlock/control/dags/wide/grid?limit={}",
        server.base,
        runs.min(100)
    );
    let mut api_ms = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let body = http
            .get(&grid_url)
            .bearer_auth(&admin)
            .send()
            .await?
            .bytes()
            .await?;
        api_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }

    let r = http
        .put(format!("{}/airlock/control/users/{}", server.base, USER.0))
        .bearer_auth(&admin)
        .json(&json!({"role": "viewer", "password": USER.1}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("creating the UI user answered {}", r.status());
    }
    let ui = format!("{}/ui/", server.base.trim_end_matches("/execution"));
    let browser = Browser::start(home.join("screenshots")).await;
    browser.goto(&format!("{ui}login")).await;
    browser.type_into("#username", USER.0).await;
    browser.type_into("#password", USER.1).await;
    browser.click_on("#login-submit").await;
    browser.wait("#whoami").await;
    // Time from the navigation's start to a drawn grid, as the page itself measures it.
    let drawn = r#"const done = arguments[0];
        const ready = () => document.querySelector('#grid .cell');
        const finish = () => requestAnimationFrame(() => done(performance.now()));
        if (ready()) return finish();
        new MutationObserver((_, o) => { if (ready()) { o.disconnect(); finish(); } })
          .observe(document.body, { childList: true, subtree: true });"#;
    let mut render_ms = Vec::new();
    for _ in 0..3 {
        browser.goto(&format!("{ui}dags/wide")).await;
        let ms = browser.script(drawn, json!([])).await;
        render_ms.push(ms.as_f64().unwrap_or(f64::NAN));
    }
    let cells = browser.find_all("#grid .cell").await.len();
    drop(browser);
    let assets = airlock_api_server::ui::asset_bytes();
    let (api, render) = (median(&api_ms), median(&render_ms));
    Ok(Section {
        title: "7. Web UI".into(),
        summary: [
            format!("grid of a {tasks}-task DAG × {runs} runs: API answer / page drawn"),
            format!("{api:.0} ms / {render:.0} ms"),
            "no Airflow reference in this run".into(),
            "-".into(),
        ],
        header: vec!["measure".into(), "Airlock".into()],
        rows: vec![
            vec![
                format!("`GET .../grid?limit={runs}` ({tasks} tasks × {runs} runs), median of 5"),
                format!(
                    "{api:.0} ms ({:.0} KiB)",
                    bytes as f64 / 1024.0
                ),
            ],
            vec![
                "DAG page: navigation start to the grid drawn in headless Chromium, median of 3"
                    .into(),
                format!("{render:.0} ms ({cells} cells)"),
            ],
            vec![
                "UI assets (HTML + JS + CSS, uncompressed)".into(),
                format!("{:.1} KiB", assets as f64 / 1024.0),
            ],
        ],
        notes: vec![
            "The DAG page asks for the first 25 runs; the API figure is for all of them in one page."
                .into(),
            "Aim: under 1 s for both.".into(),
        ],
    })
}
