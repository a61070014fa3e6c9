//! The harness for Parley's end-to-end tests: start the real `parley` binary on an ephemeral
//! port against a real database (SQLite file, or a PostgreSQL database made for the test), an
//! S3-compatible server (moto), and talk to it over HTTP as a client would.
//!
//! Build the binary first (`cargo build --bins`); `TEST_PARLEY_BIN` points elsewhere.
//! `TEST_PG_URL` names the PostgreSQL server (default `postgres://postgres@127.0.0.1:5432`).

pub mod bytes;
mod hook;
mod lossy;
mod netns;
mod pg;
pub mod recorder;
mod relay;
pub mod rtc;
mod s3;
mod server;
mod team;
pub mod ui;
mod ws;

pub use hook::{verified_body, webhook_receiver};
pub use lossy::LossyRelay;
pub use netns::Netns;
pub use pg::TestDatabase;
pub use relay::Relay;
pub use s3::S3Server;
pub use server::{
    expect_error, expect_json, parley_bin, parley_command, Backend, Server, ServerOptions,
    ADMIN_EMAIL, ADMIN_PASSWORD,
};
pub use team::Team;
pub use ws::WsClient;

/// Run a scenario `async fn name(backend: Backend)` once on SQLite and once on PostgreSQL, as
/// two tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A free TCP port on 127.0.0.1 (for servers that cannot bind port 0 and report it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
    socket.local_addr().expect("local addr").port()
}

/// A connection pool to a server's own database (`server.database_url`), for a test that must
/// read or change what the server stored directly.
pub async fn database_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url)
        .await
        .expect("connect to the server's database")
}

/// A random lowercase suffix for names that must not collide across parallel tests.
pub fn unique(prefix: &str) -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{prefix}_{}_{n:x}", std::process::id())
}

/// Poll `check` until it returns `Some`, at most `attempts` times, `pause` apart. For
/// conditions no event announces (a connection pool noticing its database is back).
pub async fn eventually<T, F, Fut>(
    attempts: u32,
    pause: std::time::Duration,
    mut check: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(value) = check().await {
            return Some(value);
        }
        tokio::time::sleep(pause).await;
    }
    None
}
