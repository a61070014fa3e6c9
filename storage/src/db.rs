use crate::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host:port/db`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// The connection pool, for either backend, with the schema migrated.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connect and apply every pending migration.
    pub async fn connect(config: &DatabaseConfig) -> Result<Database, StoreError> {
        let db = Database::connect_as_is(config).await?;
        db.migrate_to(latest_version(db.backend)).await?;
        Ok(db)
    }

    /// Connect and leave the schema as it is: for commands that must not upgrade a database
    /// another version of Parley serves (a backup), or that choose the version themselves (a
    /// restore of an older backup).
    pub async fn connect_as_is(config: &DatabaseConfig) -> Result<Database, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if config.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if config.url.starts_with("postgres:") || config.url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "database.url must start with sqlite: or postgres:, not `{}`",
                redact(&config.url)
            )));
        };
        let options = AnyConnectOptions::from_str(&config.url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy timeout makes a
                        // second writer wait for the first instead of failing.
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Database { pool, backend })
    }

    /// Apply the migrations up to `version` that are not applied yet.
    pub async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        let all = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        if version >= latest_version(self.backend) {
            all.run(&self.pool).await?;
            return Ok(());
        }
        // sqlx runs a whole migrator; this one holds the first migrations only.
        let first = sqlx::migrate::Migrator::new(FirstMigrations(
            all.iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        ))
        .await?;
        first.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// One round trip: is the database answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn pool_stats(&self) -> PoolStats {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        PoolStats {
            size: self.pool.size(),
            idle,
        }
    }

    /// Wait for checked-out connections to come back, then close them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that will write. On SQLite it takes the write lock up front, so two writers
    /// queue behind the busy timeout instead of one failing when it upgrades from reading.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// A server-wide setting; created with `make` if absent. Safe when several nodes start at
    /// once: the first insert wins and every node reads the same value.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(make())
        .execute(&self.pool)
        .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }
}

/// Some of the build's migrations, as a source a `Migrator` is made from.
#[derive(Debug)]
struct FirstMigrations(Vec<sqlx::migrate::Migration>);

impl<'s> sqlx::migrate::MigrationSource<'s> for FirstMigrations {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<
        's,
        Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>,
    > {
        Box::pin(async move { Ok(self.0) })
    }
}

/// The newest migration this build has for `backend`.
pub(crate) fn latest_version(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A database URL with its password replaced, safe for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        for (input, expected) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "sqlite://./parley-data/parley.db",
                "sqlite://./parley-data/parley.db",
            ),
        ] {
            assert_eq!(redact(input), expected);
        }
    }
}
