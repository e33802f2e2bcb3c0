//! Concurrent state changes: exactly one winner.

use futures::future::join_all;

use crate::common::*;

both_backends!(fifty_concurrent_starts_have_exactly_one_winner, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    let token = api.token(ti);
    let url = format!("{}/task-instances/{ti}/run", api.base);
    let attempts = (0..50).map(|pid| {
        let (http, url, token) = (api.http.clone(), url.clone(), token.clone());
        async move {
            http.patch(url)
                .bearer_auth(token)
                .json(&run_body(1000 + pid))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = join_all(attempts).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflict = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflict), (1, 49), "{statuses:?}");
    let row = airlock_store::task_instances::get_task_instance(api.state.db.pool(), ti)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state.unwrap().as_str(), "running");
    assert!((1000..1050).contains(&row.pid.unwrap()));
});

both_backends!(concurrent_finishes_have_exactly_one_winner, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    start(&api, ti, 1).await;
    let token = api.token(ti);
    let url = format!("{}/task-instances/{ti}/state", api.base);
    let attempts = (0..20).map(|i| {
        let (http, url, token) = (api.http.clone(), url.clone(), token.clone());
        let state = if i % 2 == 0 { "success" } else { "failed" };
        async move {
            let r = http
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"state": state, "end_date": "2026-11-23T10:01:00Z"}))
                .send()
                .await
                .unwrap();
            (state, r.status())
        }
    });
    let results = join_all(attempts).await;
    let won: Vec<_> = results
        .iter()
        .filter(|(_, s)| *s == StatusCode::NO_CONTENT)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let winner = won[0].0;
    for (state, status) in &results {
        if *status != StatusCode::NO_CONTENT {
            let expected = if *state == winner {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            assert_eq!(*status, expected, "{results:?}");
        }
    }
    assert_eq!(state_of(&api, ti).await.as_deref(), Some(winner));
});
