//! `airlock worker` with a token the server refuses stops at once with a clear error (exit 6),
//! instead of retrying forever.

use std::process::Command;

use airlock_e2e::Backend;
use airlock_e2e::process::bin_path;
use airlock_e2e::standalone::{Standalone, airlock_cli};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_refused_token_stops_at_start_and_says_why() {
    let a = Standalone::start(Backend::Sqlite)
        .await
        .unwrap_or_else(|| panic!("sqlite is always available"));
    let minted = Command::new(bin_path("api-server"))
        .args([
            "admin",
            "mint-token",
            "--scope",
            "executor",
            "--subject",
            "w-a",
        ])
        .env("AIRLOCK_HOME", &a.home)
        .env("AIRLOCK_DATABASE_URL", a.database.url())
        .output()
        .unwrap_or_else(|e| panic!("mint a token: {e}"));
    assert!(minted.status.success(), "{minted:?}");
    let token_of_w_a = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let url = a.api_url();
    let worker_home = a.database.dir.path().join("worker-home");
    std::fs::create_dir_all(&worker_home).unwrap_or_else(|e| panic!("{e}"));
    // A malformed token, and a good executor token used for another executor id.
    for (token, id, said) in [
        ("not-a-token", "w-a", "Invalid auth token"),
        (token_of_w_a.as_str(), "w-b", "403"),
    ] {
        let out = airlock_cli(
            &worker_home,
            &["worker"],
            &[
                ("AIRLOCK_API_URL", &url),
                ("AIRLOCK_ADMIN_TOKEN", token),
                ("AIRLOCK_EXECUTOR_ID", id),
            ],
        );
        assert_eq!(out.code, Some(6), "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("the API refuses the token of executor \"{id}\""))
                && out.stderr.contains(said)
                && out.stderr.contains("mint-token --scope executor"),
            "{out:?}"
        );
    }
}
