use sqlx::{Connection, Executor, PgConnection};

/// A PostgreSQL database of its own for one test, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    server: String,
}

pub fn pg_server() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let server = pg_server();
        let name = crate::unique("parley_t");
        let mut conn = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        TestDatabase { name, server }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// The URL through another host:port (a relay), same database.
    pub fn url_via(&self, host_port: &str) -> String {
        let rest = self.server.split_once("://").map_or("", |(_, r)| r);
        let user = rest.split_once('@').map_or("", |(u, _)| u);
        format!("postgres://{user}@{host_port}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside async; do the cleanup on a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&format!("{server}/postgres")).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}
