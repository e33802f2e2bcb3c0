//! Tokens: refusals, scopes, ti:self, refresh, key types, the version header.

use airlock_api_server::auth::Scope;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::common::*;

const SECRET: &str = "test-secret-that-is-long-enough-for-hs512-000000";

fn forge(alg: Algorithm, secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(sub: &str, exp_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "aud": "urn:airflow.apache.org:task", "iat": now, "nbf": now, "exp": now + exp_in,
           "jti": "x", "scope": "execution"})
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn heartbeat_with(api: &TestApi, ti: Uuid, token: Option<&str>) -> reqwest::Response {
    let mut r = api
        .http
        .put(format!("{}/task-instances/{ti}/heartbeat", api.base))
        .json(&json!({"hostname": "h", "pid": 1}));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

both_backends!(bad_tokens_get_clear_401_and_403, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    start(&api, ti, 1).await;
    let sub = ti.to_string();
    let r = heartbeat_with(&api, ti, None).await;
    let body = expect_error(r, StatusCode::UNAUTHORIZED, None).await;
    assert_eq!(body["detail"], "Missing auth token");
    let mut wrong_aud = claims(&sub, 600);
    wrong_aud["aud"] = json!("someone-else");
    let mut bad_scope = claims(&sub, 600);
    bad_scope["scope"] = json!("root");
    let mut no_exp = claims(&sub, 600);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut not_yet = claims(&sub, 600);
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(&sub, 600))
    );
    let cases = [
        (
            "expired",
            forge(Algorithm::HS512, SECRET, claims(&sub, -3600)),
            "expired",
        ),
        (
            "wrong audience",
            forge(Algorithm::HS512, SECRET, wrong_aud),
            "audience",
        ),
        (
            "bad signature",
            forge(
                Algorithm::HS512,
                "another-secret-that-is-long-enough-000000000",
                claims(&sub, 600),
            ),
            "signature",
        ),
        ("alg none", none, "algorithm"),
        (
            "wrong algorithm",
            forge(Algorithm::HS256, SECRET, claims(&sub, 600)),
            "algorithm",
        ),
        (
            "subject not a uuid",
            forge(Algorithm::HS512, SECRET, claims("not-a-uuid", 600)),
            "subject",
        ),
        (
            "unknown scope",
            forge(Algorithm::HS512, SECRET, bad_scope),
            "scope",
        ),
        ("no exp", forge(Algorithm::HS512, SECRET, no_exp), "exp"),
        (
            "not yet valid",
            forge(Algorithm::HS512, SECRET, not_yet),
            "not valid yet",
        ),
        ("garbage", "abc.def".to_owned(), "malformed"),
    ];
    for (what, token, needle) in cases {
        let r = heartbeat_with(&api, ti, Some(&token)).await;
        let body = expect_error(r, StatusCode::FORBIDDEN, None).await;
        let detail = body["detail"].as_str().unwrap().to_lowercase();
        assert!(
            detail.starts_with("invalid auth token") && detail.contains(needle),
            "{what}: {detail}"
        );
    }
    // A good token still works after all that.
    let good = forge(Algorithm::HS512, SECRET, claims(&sub, 600));
    assert_eq!(
        heartbeat_with(&api, ti, Some(&good)).await.status(),
        StatusCode::NO_CONTENT
    );
});

both_backends!(scopes_and_ti_self, |api| {
    let ids = seed(&api, &[("a", 0), ("b", 0)]).await;
    let (a, b) = (ids[0], ids[1]);
    // A workload token is only good for /run.
    let workload = api.workload_token(a);
    let r = heartbeat_with(&api, a, Some(&workload)).await;
    let body = expect_error(r, StatusCode::FORBIDDEN, None).await;
    assert!(body["detail"].as_str().unwrap().contains("workload"));
    let r = api
        .http
        .get(format!("{}/variables/x", api.base))
        .bearer_auth(&workload)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, None).await;
    // ...and only for its own task instance.
    let r = api
        .http
        .patch(format!("{}/task-instances/{b}/run", api.base))
        .bearer_auth(&workload)
        .json(&run_body(1))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::FORBIDDEN, None).await;
    assert_eq!(
        body["detail"],
        "Token subject does not match task instance ID"
    );
    assert_eq!(state_of(&api, b).await.as_deref(), Some("queued"));
    // /run with it answers with an execution token, which then works everywhere.
    let r = api
        .http
        .patch(format!("{}/task-instances/{a}/run", api.base))
        .bearer_auth(&workload)
        .json(&run_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = r.headers()["refreshed-api-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let id = api.tokens().validate(&fresh).unwrap();
    assert_eq!((id.scope, id.task_instance_id), (Scope::Execution, Some(a)));
    assert_eq!(
        heartbeat_with(&api, a, Some(&fresh)).await.status(),
        StatusCode::NO_CONTENT
    );
    // An execution token for `a` cannot touch `b`'s routes, but can read shared resources.
    let exec_a = api.token(a);
    let r = heartbeat_with(&api, b, Some(&exec_a)).await;
    expect_error(r, StatusCode::FORBIDDEN, None).await;
    let r = api
        .http
        .get(format!("{}/dag-runs/demo/r1", api.base))
        .bearer_auth(&exec_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
});

both_backends!(tokens_near_their_end_are_refreshed, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    start(&api, ti, 1).await;
    let fresh = api.token(ti);
    let r = heartbeat_with(&api, ti, Some(&fresh)).await;
    assert!(
        r.headers().get("refreshed-api-token").is_none(),
        "a fresh token is not renewed"
    );
    let old = api.tokens().issue(
        ti,
        Scope::Execution,
        Some(std::time::Duration::from_secs(20)),
    );
    let r = heartbeat_with(&api, ti, Some(&old)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let renewed = r.headers()["refreshed-api-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let id = api.tokens().validate(&renewed).unwrap();
    assert!(id.expires_at - id.issued_at >= 600);
    assert_eq!(id.task_instance_id, Some(ti));
    // Refreshing happens on error answers too, as long as the token was valid.
    let r = api
        .http
        .get(format!("{}/variables/missing", api.base))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get("refreshed-api-token").is_some());
    // Workload tokens are never refreshed by the middleware.
    let w = api.tokens().issue(
        ti,
        Scope::Workload,
        Some(std::time::Duration::from_secs(20)),
    );
    let r = api
        .http
        .get(format!("{}/variables/x", api.base))
        .bearer_auth(&w)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("refreshed-api-token").is_none());
});

both_backends!(api_version_header, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    for (header, ok) in [
        (None, true),
        (Some("2026-06-30"), true),
        (Some("2025-04-28"), false),
        (Some("garbage"), false),
    ] {
        let mut r = api.req(Method::GET, "/dag-runs/demo/r1", Some(ti));
        if let Some(h) = header {
            r = r.header("airflow-api-version", h);
        }
        let r = r.send().await.unwrap();
        if ok {
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["airflow-api-version"], "2026-06-30");
        } else {
            let body =
                expect_error(r, StatusCode::BAD_REQUEST, Some("unsupported_api_version")).await;
            assert!(
                body["detail"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("2026-06-30")
            );
        }
    }
});

async fn asymmetric(key_file: &str, alg: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(key_file);
    let api = TestApi::start_with(Backend::Sqlite, |a| a.auth.jwt_private_key = Some(path))
        .await
        .unwrap();
    let ti = seed(&api, &[("t", 0)]).await[0];
    let token = api.workload_token(ti);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(format!("{:?}", header.alg), alg);
    let r = api
        .http
        .patch(format!("{}/task-instances/{ti}/run", api.base))
        .bearer_auth(&token)
        .json(&run_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A validator elsewhere checks our tokens with the published JWKS alone.
    let jwks: jsonwebtoken::jwk::JwkSet = api
        .http
        .get(api.base.replace("/execution", "/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["urn:airflow.apache.org:task"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
    assert_eq!(data.claims["sub"], ti.to_string());
    // An HS512 token is refused by an asymmetric server.
    let r = heartbeat_with(
        &api,
        ti,
        Some(&forge(
            Algorithm::HS512,
            SECRET,
            claims(&ti.to_string(), 600),
        )),
    )
    .await;
    expect_error(r, StatusCode::FORBIDDEN, None).await;
}

#[tokio::test]
async fn rsa_keys_sign_rs256_and_publish_a_jwks() {
    asymmetric("rsa-test-only.pem", "RS256").await;
}

#[tokio::test]
async fn ed25519_keys_sign_eddsa_and_publish_a_jwks() {
    asymmetric("ed25519-test-only.pem", "EdDSA").await;
}

#[tokio::test]
async fn the_generated_secret_is_created_once_and_shared() {
    let api = TestApi::start_with(Backend::Sqlite, |a| a.auth.jwt_secret = None)
        .await
        .unwrap();
    let secret_file = api.args.db.home.join("jwt-secret");
    let meta = std::fs::metadata(&secret_file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let ti = seed(&api, &[("t", 0)]).await[0];
    // A second process on the same home (an admin command, another server) shares the secret.
    let other = airlock_api_server::server::load_authority(&api.args.auth, &api.args.db).unwrap();
    let token = other.issue(ti, Scope::Execution, None);
    assert_eq!(
        api.tokens().validate(&token).unwrap().task_instance_id,
        Some(ti)
    );
    let r = api
        .http
        .get(format!(
            "{}/.well-known/jwks.json",
            api.base.trim_end_matches("/execution")
        ))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, None).await;
}
