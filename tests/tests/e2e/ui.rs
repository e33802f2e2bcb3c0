//! The web UI in a real headless Chromium against a real `airlock standalone`: signing in,
//! triggering and watching a run, reading a log, clearing a task, pausing, and a viewer who can
//! see but not act. A failing test leaves a screenshot in `target/tmp/ui-screenshots`.

use std::sync::Arc;

use airlock_e2e::browser::Browser;
use airlock_e2e::{Backend, Standalone};
use serde_json::{Value, json};

const VIEWER: (&str, &str) = ("vera", "viewer-password-1");

/// Runs `airlock users set <name> --role <role> --password-stdin` (the CLI path users take).
fn set_user(a: &Standalone, name: &str, role: &str, password: &str) {
    let out = a.cli_with_stdin(
        &["users", "set", name, "--role", role, "--password-stdin"],
        &format!("{password}\n"),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stdout.contains(password));
}

async fn sign_in(b: &Browser, user: &str, password: &str) {
    b.wait("#login-form").await;
    b.type_into("#username", user).await;
    b.type_into("#password", password).await;
    b.click_on("#login-submit").await;
}

/// Calls the API from the page, as its own script would (session cookie and CSRF token), and
/// returns the status.
async fn fetch_status(b: &Browser, method: &str, path: &str, body: Value) -> i64 {
    let js = r#"
        const [method, path, body, done] = arguments;
        fetch('/execution/airlock/ui/session').then(r => r.json()).then(s =>
          fetch('/execution' + path, { method, body: JSON.stringify(body),
            headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token } }))
          .then(r => done(r.status), e => done(String(e)));"#;
    let v = b.script(js, json!([method, path, body])).await;
    v.as_i64()
        .unwrap_or_else(|| panic!("fetch failed in the page: {v}"))
}

async fn attribute_is(b: &Browser, css: &str, name: &str, want: &str) -> bool {
    let js = r#"const [css, name, done] = arguments;
        const e = document.querySelector(css); done(e ? e.getAttribute(name) : null);"#;
    b.script(js, json!([css, name])).await.as_str() == Some(want)
}

async fn journey(b: Arc<Browser>, a: Arc<Standalone>, ui: String, admin_password: String) {
    // Not signed in: the login page, then the page asked for.
    b.goto(&format!("{ui}dags/etl")).await;
    b.wait("#login-form").await;
    assert!(
        b.url().await.contains("/ui/login?next="),
        "{}",
        b.url().await
    );
    sign_in(&b, "admin", "not-the-password").await;
    b.wait_until("the wrong password to be refused", || async {
        b.text_of("#login-error")
            .await
            .contains("Wrong user name or password")
    })
    .await;
    sign_in(&b, "admin", &admin_password).await;
    b.wait("#trigger").await;
    assert!(b.url().await.ends_with("/ui/dags/etl"), "{}", b.url().await);

    // A conf that is not a JSON object: the form says why and nothing is triggered.
    b.click_on("#trigger").await;
    b.type_into("#conf", "[1, 2]").await;
    b.click_on("#trigger-submit").await;
    b.wait_until("the conf error", || async {
        b.text_of("#conf-error").await.contains("JSON object")
    })
    .await;
    b.type_into("#conf", r#"{"note": "from the browser"}"#)
        .await;
    b.click_on("#trigger-submit").await;

    // The run reaches success in the grid.
    b.wait(r#".cell[data-task="load"][data-state="success"]"#)
        .await;
    b.wait_until("the run panel to say success", || async {
        b.text_of("#run-state").await == "success"
    })
    .await;
    b.screenshot("dag-page").await;

    // A task's log.
    b.click_on(r#".cell[data-task="extract"]"#).await;
    b.wait_until("extract's log", || async {
        b.text_of("#log").await.contains("extracted 5 orders")
    })
    .await;
    assert_eq!(b.text_of("#ti-state").await, "success");
    b.screenshot("task-page").await;

    // Clear it: a second try runs, and the first stays readable.
    b.click_on("#clear-task").await;
    b.wait(r#".try-link[data-try="2"]"#).await;
    b.wait_until("try 2 to succeed", || async {
        b.text_of("#ti-state").await == "success" && b.text_of("#ti-try").await.starts_with('2')
    })
    .await;
    b.click_on(r#".try-link[data-try="1"]"#).await;
    b.wait_until("try 1's log", || async {
        b.text_of("#log").await.contains("extracted 5 orders")
    })
    .await;

    // Pause and unpause from the DAG list.
    b.click_on(r#"a[href="/ui/"]"#).await;
    let toggle = r#".pause-toggle[data-dag="etl"]"#;
    b.click_on(&format!(r#"{toggle}[data-paused="false"]"#))
        .await;
    b.wait(&format!(r#"{toggle}[data-paused="true"]"#)).await;
    let paused = || {
        let a = a.clone();
        async move {
            let (p,): (i64,) =
                sqlx::query_as("SELECT CAST(is_paused AS INTEGER) FROM dag WHERE dag_id = 'etl'")
                    .fetch_one(a.db.pool())
                    .await
                    .expect("dag");
            p != 0
        }
    };
    assert!(paused().await);
    b.click_on(&format!(r#"{toggle}[data-paused="true"]"#))
        .await;
    b.wait(&format!(r#"{toggle}[data-paused="false"]"#)).await;
    assert!(!paused().await);

    // The filter box.
    b.type_into("#filter", "fan").await;
    b.wait_until("only fan_out to show", || async {
        attribute_is(&b, r#"tr[data-dag="etl"]"#, "hidden", "").await
            && !attribute_is(&b, r#"tr[data-dag="fan_out"]"#, "hidden", "").await
    })
    .await;

    // An unknown DAG: a helpful not-found page.
    b.goto(&format!("{ui}dags/no_such_dag")).await;
    b.wait_until("the not-found page", || async {
        b.text_of("#notfound-message").await.contains("no_such_dag")
    })
    .await;

    // A session that ends: back to login, then to the page wanted.
    sqlx::query("DELETE FROM ui_session")
        .execute(a.db.pool())
        .await
        .expect("end sessions");
    b.goto(&format!("{ui}dags/fan_out")).await;
    sign_in(&b, "admin", &admin_password).await;
    b.wait("#grid").await;
    assert!(
        b.url().await.ends_with("/ui/dags/fan_out"),
        "{}",
        b.url().await
    );

    // A mapped task is one row, which expands to its 24 map indexes.
    b.wait(r#".cell[data-task="process"][data-state="success"]"#)
        .await;
    assert_eq!(b.find_all(r#"tr[data-row="process"]"#).await.len(), 1);
    b.click_on(r#".expand[data-task="process"]"#).await;
    b.wait_until("24 map-index rows", || async {
        b.find_all(r#"tr[data-parent="process"] .cell[data-state="success"]"#)
            .await
            .len()
            == 24
    })
    .await;
    b.screenshot("mapped-rows").await;

    // The cluster: the standalone's worker and triggerer, and the pools.
    b.click_on(r#"a[href="/ui/cluster"]"#).await;
    b.wait(r#"tr[data-pool="default_pool"]"#).await;
    let cluster = b.text_of("main").await;
    assert!(
        cluster.contains("standalone-triggerer") && cluster.contains("local@"),
        "{cluster}"
    );

    // A viewer sees everything and can do nothing.
    b.click_on("#logout").await;
    sign_in(&b, VIEWER.0, VIEWER.1).await;
    b.wait("#whoami").await;
    b.goto(&format!("{ui}dags/etl")).await;
    b.wait(r#".cell[data-task="load"]"#).await;
    for action in ["#trigger", ".pause-toggle", "#clear-run", "#cancel-run"] {
        assert!(
            b.find_all(action).await.is_empty(),
            "a viewer sees {action}"
        );
    }
    b.click_on(r#".cell[data-task="extract"]"#).await;
    b.wait("#ti-state").await;
    assert!(b.find_all("#clear-task").await.is_empty());
    assert!(
        b.find_all(r#"a[href="/ui/admin/variables"]"#)
            .await
            .is_empty()
    );
    // Calling the API directly is refused.
    let trigger = fetch_status(&b, "POST", "/airlock/control/dags/etl/runs", json!({})).await;
    assert_eq!(trigger, 403);
    let pause = fetch_status(
        &b,
        "PATCH",
        "/airlock/control/dags/etl",
        json!({"is_paused": true}),
    )
    .await;
    assert_eq!(pause, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_signs_in_triggers_shows_logs_clears_pauses_and_keeps_viewers_read_only() {
    let a = Arc::new(Standalone::start(Backend::Sqlite).await.expect("sqlite"));
    let admin_password = std::fs::read_to_string(a.home.join("ui-admin-password"))
        .expect("standalone writes the first admin's password");
    let api = a.api_url();
    let ui = format!("{}/ui/", api.trim_end_matches("/execution"));
    set_user(&a, VIEWER.0, "viewer", VIEWER.1);
    let (out, _) = a.run_dag("fan_out", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let b = Arc::new(Browser::start(shots).await);
    let run = tokio::spawn(journey(b.clone(), a.clone(), ui, admin_password)).await;
    if let Err(e) = run {
        let shot = b.screenshot("ui-journey-failure").await;
        eprintln!("screenshot of the failure: {}", shot.display());
        std::panic::resume_unwind(e.into_panic());
    }
}
