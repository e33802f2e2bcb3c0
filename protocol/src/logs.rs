//! Where task logs live: the supervisor writes them, the api-server serves them.

use std::path::{Path, PathBuf};

/// The path of a try's log under `log_dir`, as Airflow names it:
/// `dag_id=D/run_id=R/task_id=T[/map_index=M]/attempt=N.log`.
pub fn log_path(
    log_dir: &Path,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: i64,
    try_number: i64,
) -> PathBuf {
    let clean = |s: &str| s.replace(['/', '\0'], "_");
    let mut p = log_dir
        .join(format!("dag_id={}", clean(dag_id)))
        .join(format!("run_id={}", clean(run_id)))
        .join(format!("task_id={}", clean(task_id)));
    if map_index >= 0 {
        p = p.join(format!("map_index={map_index}"));
    }
    p.join(format!("attempt={try_number}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_log_dir() {
        let p = log_path(Path::new("/logs"), "../d", "r/../x", "t", 3, 2);
        assert_eq!(
            p,
            Path::new("/logs/dag_id=.._d/run_id=r_.._x/task_id=t/map_index=3/attempt=2.log")
        );
    }
}
