//! `/variables` and `/connections`.

use airlock_protocol::api::ConnectionResponse;

use crate::common::*;

both_backends!(variables_round_trip, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    start(&api, ti, 1).await;
    let r = api
        .req(Method::GET, "/variables/missing", Some(ti))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    for (key, val) in [
        ("team/db/host", "db.internal"),
        ("team/db/port", "5432"),
        ("other", "x"),
        ("Team/upper", "y"),
    ] {
        let r = api
            .req(Method::PUT, &format!("/variables/{key}"), Some(ti))
            .json(&json!({"val": val, "description": "d"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = api
        .req(Method::GET, "/variables/team/db/host", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"key": "team/db/host", "value": "db.internal"})
    );
    // A null value is a value.
    api.req(Method::PUT, "/variables/nullable", Some(ti))
        .json(&json!({"val": null}))
        .send()
        .await
        .unwrap();
    let r = api
        .req(Method::GET, "/variables/nullable", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"key": "nullable", "value": null})
    );
    // Keys: prefix (case-sensitive on both backends), paging.
    let r = api
        .req(Method::GET, "/variables/keys?prefix=team/", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"keys": ["team/db/host", "team/db/port"], "total_entries": 2})
    );
    let r = api
        .req(Method::GET, "/variables/keys?limit=2&offset=1", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"keys": ["nullable", "other"], "total_entries": 5})
    );
    for bad in ["limit=0", "limit=10001", "offset=-1", "limit=x"] {
        let r = api
            .req(Method::GET, &format!("/variables/keys?{bad}"), Some(ti))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    }
    // `value` instead of `val`, unknown fields, missing `val`: 422.
    for bad in [
        json!({"value": "x"}),
        json!({"val": "x", "extra": 1}),
        json!({}),
        json!({"val": 3}),
    ] {
        let r = api
            .req(Method::PUT, "/variables/k", Some(ti))
            .json(&bad)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    }
    let r = api
        .req(Method::DELETE, "/variables/other", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = api
        .req(Method::DELETE, "/variables/other", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api.req(Method::GET, "/variables/other", Some(ti))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
});

both_backends!(connections_are_read_with_all_keys, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    airlock_api_server::admin::set_connection(
        &api.state.db,
        &api.state.cipher,
        &ConnectionResponse {
            conn_id: "warehouse".into(),
            conn_type: "postgres".into(),
            host: Some("db".into()),
            schema: Some("analytics".into()),
            login: Some("etl".into()),
            password: Some("s3cret".into()),
            port: Some(5432),
            extra: Some(r#"{"sslmode": "require"}"#.into()),
        },
    )
    .await
    .unwrap();
    let r = api
        .req(Method::GET, "/connections/warehouse", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"conn_id": "warehouse", "conn_type": "postgres",
        "host": "db", "schema": "analytics", "login": "etl", "password": "s3cret", "port": 5432,
        "extra": "{\"sslmode\": \"require\"}"})
    );
    // At rest, the password and the extra are ciphertext, in the table and in the files.
    let (password, extra): (String, String) =
        sqlx::query_as("SELECT password, extra FROM connection WHERE conn_id = 'warehouse'")
            .fetch_one(api.state.db.pool())
            .await
            .unwrap();
    assert!(password.starts_with("airlock-aes256gcm:") && !password.contains("s3cret"));
    assert!(extra.starts_with("airlock-aes256gcm:") && !extra.contains("sslmode"));
    if let Some(file) = api.state.db.sqlite_file() {
        let dir = file.parent().unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(6).any(|w| w == b"s3cret"),
                    "plaintext password in {}",
                    path.display()
                );
            }
        }
    }
    let r = api
        .req(Method::GET, "/connections/nope", Some(ti))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
});
