//! The web UI's API: users, sign-in, sessions by role, CSRF and same-origin rules, and the
//! routes its pages read (grid, task-instance page, cluster).

use crate::common::*;

const PASSWORD: &str = "correct horse battery";

async fn put_user(api: &TestApi, name: &str, body: Value) -> reqwest::Response {
    admin(api, Method::PUT, &format!("/airlock/control/users/{name}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Signs in; returns the cookie (`name=value`) and the CSRF token.
async fn sign_in(api: &TestApi, name: &str, password: &str) -> (String, String) {
    let r = api
        .req(Method::POST, "/airlock/ui/login", None)
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["username"], name);
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

fn as_user(
    api: &TestApi,
    method: Method,
    path: &str,
    (cookie, csrf): &(String, String),
) -> reqwest::RequestBuilder {
    api.req(method, path, None)
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
}

both_backends!(users_sign_in_and_each_role_may_do_only_its_part, |api| {
    // Users: created, changed, validated; never shown with a password.
    for (name, role) in [("vera", "viewer"), ("olga", "operator"), ("ada", "admin")] {
        let r = put_user(&api, name, json!({"role": role, "password": PASSWORD})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = put_user(&api, "olga", json!({"role": "operator"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = put_user(&api, "nobody", json!({"role": "viewer"})).await;
    expect_error(r, StatusCode::BAD_REQUEST, Some("password_required")).await;
    let r = put_user(
        &api,
        "bad name",
        json!({"role": "viewer", "password": PASSWORD}),
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_username")).await;
    let r = put_user(
        &api,
        "shorty",
        json!({"role": "viewer", "password": "short"}),
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_password")).await;
    let r = put_user(&api, "x", json!({"role": "root", "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let list = admin(&api, Method::GET, "/airlock/control/users")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !list.contains("password") && !list.contains("argon2"),
        "{list}"
    );
    let list: Value = serde_json::from_str(&list).unwrap();
    let roles: Vec<(&str, &str)> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["username"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [("ada", "admin"), ("olga", "operator"), ("vera", "viewer")]
    );

    // Wrong passwords and unknown users get the same answer.
    for (name, password) in [("vera", "wrong password"), ("ghost", PASSWORD)] {
        let r = api
            .req(Method::POST, "/airlock/ui/login", None)
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::UNAUTHORIZED, Some("bad_credentials")).await;
    }
    // Signing in from another site is refused; over HTTPS the cookie is Secure.
    let r = api
        .req(Method::POST, "/airlock/ui/login", None)
        .header("origin", "https://evil.example")
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("cross_site_request")).await;
    let r = api
        .req(Method::POST, "/airlock/ui/login", None)
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    register(
        &api,
        "b",
        json!([{"dag_id": "d", "tasks": [task("a", &[])]}]),
    )
    .await;
    let viewer = sign_in(&api, "vera", PASSWORD).await;
    let operator = sign_in(&api, "olga", PASSWORD).await;
    let admin_user = sign_in(&api, "ada", PASSWORD).await;

    // A viewer reads, and is refused every action.
    let r = as_user(&api, Method::GET, "/airlock/ui/session", &viewer)
        .send()
        .await
        .unwrap();
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("vera"), Some("viewer"))
    );
    for path in [
        "/airlock/control/dags",
        "/airlock/control/dags/d/grid",
        "/airlock/control/cluster",
    ] {
        let r = as_user(&api, Method::GET, path, &viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let actions = [
        (Method::POST, "/airlock/control/dags/d/runs", json!({})),
        (
            Method::PATCH,
            "/airlock/control/dags/d",
            json!({"is_paused": true}),
        ),
        (
            Method::POST,
            "/airlock/control/dags/d/runs/r/clear",
            json!({}),
        ),
        (
            Method::POST,
            "/airlock/control/dags/d/runs/r/cancel",
            json!({}),
        ),
        (
            Method::POST,
            "/airlock/control/dags/d/runs/r/tasks/mark",
            json!({"task_ids": ["a"], "state": "success"}),
        ),
        (
            Method::PATCH,
            "/airlock/control/dags/d/runs/r",
            json!({"state": "success"}),
        ),
        (
            Method::PUT,
            "/airlock/control/variables/k",
            json!({"value": "v"}),
        ),
    ];
    for (method, path, body) in &actions {
        let r = as_user(&api, method.clone(), path, &viewer)
            .json(body)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, Some("role_forbidden")).await;
    }
    let r = as_user(&api, Method::GET, "/airlock/control/variables", &viewer)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("role_forbidden")).await;

    // An operator acts, from the UI's origin and with the CSRF token only.
    let trigger = |who: &(String, String)| {
        as_user(&api, Method::POST, "/airlock/control/dags/d/runs", who).json(&json!({}))
    };
    let r = api
        .req(Method::POST, "/airlock/control/dags/d/runs", None)
        .header("cookie", &operator.0)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("cross_site_request")).await;
    // A forged token, and a real one with a forged one beside it.
    let forged = (operator.0.clone(), "forged".to_owned());
    let r = trigger(&forged).send().await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("cross_site_request")).await;
    let r = trigger(&operator)
        .header("x-csrf-token", "forged")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("cross_site_request")).await;
    let r = trigger(&operator)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("cross_site_request")).await;
    let r = trigger(&operator)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("cross_site_request")).await;
    let origin = api.base.trim_end_matches("/execution").to_owned();
    let r = trigger(&operator)
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = as_user(&api, Method::PATCH, "/airlock/control/dags/d", &operator)
        .json(&json!({"is_paused": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = as_user(&api, Method::PUT, "/airlock/control/variables/k", &operator)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, Some("role_forbidden")).await;
    // An admin manages Variables and users.
    let r = as_user(
        &api,
        Method::PUT,
        "/airlock/control/variables/k",
        &admin_user,
    )
    .json(&json!({"value": "v"}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A session is no bearer token: task routes refuse it.
    let r = as_user(&api, Method::GET, "/variables/k", &admin_user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Signing out ends the session; so does a new password.
    let r = as_user(&api, Method::POST, "/airlock/ui/logout", &operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = as_user(&api, Method::GET, "/airlock/control/dags", &operator)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, Some("session_ended")).await;
    let r = put_user(
        &api,
        "vera",
        json!({"role": "viewer", "password": "a new password"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = as_user(&api, Method::GET, "/airlock/ui/session", &viewer)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, Some("session_ended")).await;
    // A deleted user's sessions end with it.
    let r = admin(&api, Method::DELETE, "/airlock/control/users/ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = as_user(&api, Method::GET, "/airlock/control/dags", &admin_user)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, Some("session_ended")).await;
    let r = admin(&api, Method::DELETE, "/airlock/control/users/ada")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, None).await;
});

both_backends!(the_grid_task_page_and_cluster_show_what_runs, |api| {
    let dags = json!([{"dag_id": "g", "tasks": [
        task("first", &[]), task("second", &["first"]), task("third", &["second"])]}]);
    assert_eq!(register(&api, "b", dags).await.status(), StatusCode::OK);
    assert_eq!(trigger(&api, "g", "r1").await.status(), StatusCode::CREATED);
    // r1's first task runs and fails once, then succeeds on its second try.
    let work = tick(&api, "ex1", 1, &[]).await;
    assert_eq!(work.len(), 1);
    let first = ti_of(&work[0]);
    run_to(&api, &work[0], "failed").await;
    let r = admin(&api, Method::POST, "/airlock/control/dags/g/runs/r1/clear")
        .json(&json!({"task_ids": ["first"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let work = tick(&api, "ex1", 1, &[first]).await;
    let again = ti_of(&work[0]);
    start_work(&api, &work[0]).await;
    for run in ["r2", "r3"] {
        assert_eq!(trigger(&api, "g", run).await.status(), StatusCode::CREATED);
    }

    let grid: Value = admin(&api, Method::GET, "/airlock/control/dags/g/grid?limit=2")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tasks: Vec<&str> = grid["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["first", "second", "third"]);
    assert_eq!(grid["total_runs"], 3);
    let runs: Vec<&str> = grid["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["r3", "r2"], "newest first, one page");
    let page2: Value = admin(
        &api,
        Method::GET,
        "/airlock/control/dags/g/grid?limit=2&offset=2",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(page2["runs"][0]["run_id"], "r1");
    assert_eq!(page2["runs"][0]["states"], json!(["running", null, null]));

    // The task page: both tries, the current one running on its host.
    let page: Value = admin(
        &api,
        Method::GET,
        "/airlock/control/dags/g/runs/r1/tasks/first/details",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(page["task_instance"]["id"], again.to_string());
    assert_eq!(page["task_instance"]["state"], "running");
    let tries: Vec<(i64, &str)> = page["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["try_number"].as_i64().unwrap(),
                t["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tries, [(1, "failed"), (2, "running")]);

    // The cluster: the executor holding it.
    let cluster: Value = admin(&api, Method::GET, "/airlock/control/cluster")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ex = cluster["executors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "ex1")
        .cloned()
        .unwrap();
    assert_eq!(ex["holding"], 1);

    // Bad input.
    for (path, status) in [
        ("/airlock/control/dags/nope/grid", StatusCode::NOT_FOUND),
        (
            "/airlock/control/dags/g/grid?limit=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/airlock/control/dags/g/grid?limit=101",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/airlock/control/dags/g/runs/r1/tasks/nope/details",
            StatusCode::NOT_FOUND,
        ),
        (
            "/airlock/control/dags/g/runs/r1/tasks/first/details?map_index=-2",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = admin(&api, Method::GET, path).send().await.unwrap();
        expect_error(r, status, None).await;
    }
});
