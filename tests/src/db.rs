//! Throwaway databases: a SQLite file in a temp dir, or a fresh PostgreSQL database per test.

use std::time::Duration;

use sqlx::Connection;

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (always available).
    Sqlite,
    /// PostgreSQL (from `AIRLOCK_TEST_PG_URL`).
    Postgres,
}

/// A database that exists for one test and is dropped with it.
pub struct TestDatabase {
    url: String,
    /// The temp dir holding the SQLite file (and anything else the test wants to put there).
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

fn pg_admin_url() -> Option<String> {
    std::env::var("AIRLOCK_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

fn pg_required() -> bool {
    std::env::var("AIRLOCK_TEST_REQUIRE_PG").is_ok_and(|v| v == "1" || v == "true")
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |p| p + 2) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

impl TestDatabase {
    /// Creates a database; `None` when PostgreSQL is not configured (and not required).
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("airlock.db").display());
                Some(Self { url, dir, pg: None })
            }
            Backend::Postgres => {
                let Some(admin) = pg_admin_url() else {
                    assert!(
                        !pg_required(),
                        "AIRLOCK_TEST_REQUIRE_PG is set but AIRLOCK_TEST_PG_URL is not"
                    );
                    eprintln!("SKIPPED: PostgreSQL test (set AIRLOCK_TEST_PG_URL to run it)");
                    return None;
                };
                let name = format!("airlock_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = match tokio::time::timeout(
                    Duration::from_secs(10),
                    sqlx::PgConnection::connect(&admin),
                )
                .await
                {
                    Ok(Ok(c)) => c,
                    other => {
                        let why = match other {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".into(),
                        };
                        assert!(!pg_required(), "cannot reach PostgreSQL at {admin}: {why}");
                        eprintln!("SKIPPED: PostgreSQL test ({admin} unreachable: {why})");
                        return None;
                    }
                };
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE");
                let _ = conn.close().await;
                Some(Self {
                    url: with_database(&admin, &name),
                    dir,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// For PostgreSQL: the administrator's URL and this database's name.
    pub fn postgres(&self) -> Option<(&str, &str)> {
        self.pg
            .as_ref()
            .map(|(admin, name)| (admin.as_str(), name.as_str()))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
