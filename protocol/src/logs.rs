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
    let mut p = run_log_dir(log_dir, dag_id, run_id).join(format!("task_id={}", clean(task_id)));
    if map_index >= 0 {
        p = p.join(format!("map_index={map_index}"));
    }
    p.join(format!("attempt={try_number}.log"))
}

/// The directory holding every log of one DAG run: `dag_id=D/run_id=R`.
pub fn run_log_dir(log_dir: &Path, dag_id: &str, run_id: &str) -> PathBuf {
    log_dir
        .join(format!("dag_id={}", clean(dag_id)))
        .join(format!("run_id={}", clean(run_id)))
}

/// An id as a path component: no separators, no NUL.
fn clean(s: &str) -> String {
    s.replace(['/', '\0'], "_")
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
