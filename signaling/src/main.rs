//! `parley`: the server and its administration commands.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use parley_proto::{Grants, Role, TrackSource};
use parley_signaling::config::Config;
use parley_signaling::server::{self, FirstAdmin, Server};
use parley_storage::{Database, NewUser, UserChanges};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Parley: messaging, meetings and recordings for teams and their guests"
)]
struct Cli {
    /// TOML configuration file (see parley.sample.toml). PARLEY_<SECTION>_<KEY> variables override it.
    #[arg(long, global = true, env = "PARLEY_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr; the level comes from RUST_LOG (default info).
    #[arg(long, global = true, env = "PARLEY_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. With no configuration: SQLite and files under ./parley-data, HTTP on 127.0.0.1:7880.
    Serve {
        /// Serve HTTPS with a self-signed certificate for localhost (made once in <data_dir>/dev-tls).
        #[arg(long)]
        dev_tls: bool,
    },
    /// Manage users, API keys and the organisation directly in the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Sign an app token with an API key, as an app would (for testing and scripts).
    Token(TokenArgs),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user. The password is read from standard input (one line).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, dept_admin, member or guest.
        #[arg(long, default_value = "member")]
        role: Role,
        /// Department path, such as "HQ/R&D/Platform"; created if missing.
        #[arg(long)]
        department: Option<String>,
        /// Create the account without a password (it cannot sign in until one is set).
        #[arg(long)]
        no_password: bool,
    },
    /// Set a user's password, read from standard input (one line). Ends the user's sessions.
    SetPassword {
        #[arg(long)]
        email: String,
    },
    /// Create an API key and secret for an app. The secret is printed once.
    CreateApiKey {
        #[arg(long)]
        name: String,
    },
    /// Import departments and users from a CSV file with columns name,email,department,role.
    ImportOrg { file: PathBuf },
}

#[derive(Args)]
struct TokenArgs {
    #[arg(long)]
    api_key: String,
    /// The key's secret; looked up in the database when omitted.
    #[arg(long)]
    api_secret: Option<String>,
    /// The participant's identity.
    #[arg(long)]
    identity: String,
    #[arg(long, default_value = "")]
    name: String,
    /// Limit the token to this room (required with --join).
    #[arg(long, default_value = "")]
    room: String,
    #[arg(long)]
    join: bool,
    #[arg(long)]
    create: bool,
    #[arg(long)]
    list: bool,
    #[arg(long)]
    room_admin: bool,
    #[arg(long)]
    publish: bool,
    #[arg(long)]
    subscribe: bool,
    /// Sources the participant may publish (default: all when --publish).
    #[arg(long, value_delimiter = ',', value_parser = parse_source)]
    sources: Vec<TrackSource>,
    /// Never listed, never counted: for recorders only (needs --recorder, which implies it).
    #[arg(long)]
    hidden: bool,
    #[arg(long)]
    recorder: bool,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    valid_for: u64,
}

fn parse_source(s: &str) -> Result<TrackSource, String> {
    match s {
        "microphone" => Ok(TrackSource::Microphone),
        "camera" => Ok(TrackSource::Camera),
        "screen_share" => Ok(TrackSource::ScreenShare),
        "screen_share_audio" => Ok(TrackSource::ScreenShareAudio),
        _ => Err(format!(
            "unknown source `{s}` (microphone, camera, screen_share, screen_share_audio)"
        )),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("parley: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("parley: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// What the user asked for goes to stdout; logs go to stderr.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Serve { dev_tls } => serve(config, dev_tls).await,
        Command::Admin { command } => admin(config, command).await,
        Command::Token(args) => token(config, args).await,
    }
}

async fn serve(config: Config, dev_tls: bool) -> anyhow::Result<()> {
    let (db, objects) = server::open_storage(&config).await?;
    tracing::info!(database = ?db.backend(), objects = objects.describe(), "storage ready");
    match server::first_admin(&config, &db).await? {
        FirstAdmin::Exists => {}
        FirstAdmin::Created(email) => say(&format!("created the first admin, {email}")),
        FirstAdmin::Missing => say(
            "The database has no users yet. Create the first admin with\n  \
             parley admin create-user --role admin --email you@example.com --name \"Your Name\"\n\
             (it reads the password from standard input), or start with PARLEY_ADMIN_EMAIL and PARLEY_ADMIN_PASSWORD set.",
        ),
    }
    let state = server::state(&config, db, objects).await?;
    let server = Server::bind(&config, state, dev_tls).await?;
    say(&format!("parley listening on {}", server.url()));
    server.run().await
}

async fn open_db(config: &Config) -> anyhow::Result<Database> {
    Ok(server::open_storage(config).await?.0)
}

/// One line from standard input, with a prompt when a person is typing.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!(
            "Password (at least {} characters; it will be visible): ",
            parley_signaling::auth::MIN_PASSWORD_CHARS
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    parley_signaling::auth::check_password_rules(&password)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(password)
}

fn app_err(err: parley_signaling::error::AppError) -> anyhow::Error {
    let mut text = err.message;
    for item in err.details {
        text.push_str(&format!("\n  line {}: {}", item.line, item.reason));
    }
    anyhow::anyhow!(text)
}

async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    use parley_signaling::auth::hash_password;
    let db = open_db(&config).await?;
    match command {
        AdminCommand::CreateUser {
            email,
            name,
            role,
            department,
            no_password,
        } => {
            parley_signaling::routes::users::validate_new_user(&email, &name).map_err(app_err)?;
            let password_hash = if no_password {
                None
            } else {
                Some(hash_password(read_password()?).await.map_err(app_err)?)
            };
            let user = db
                .create_user(NewUser {
                    email,
                    name,
                    role,
                    department,
                    password_hash,
                })
                .await?;
            say(&format!(
                "created user {} <{}> as {}",
                user.id, user.email, user.role
            ));
        }
        AdminCommand::SetPassword { email } => {
            let record = db
                .user_by_email(&email)
                .await?
                .with_context(|| format!("no user with email {email}"))?;
            let hash = hash_password(read_password()?).await.map_err(app_err)?;
            db.update_user(
                record.user.id,
                UserChanges {
                    password_hash: Some(hash),
                    ..UserChanges::default()
                },
            )
            .await?;
            say(&format!("password set for {}", record.user.email));
        }
        AdminCommand::CreateApiKey { name } => {
            let key = parley_signaling::routes::admin::new_api_key(&db, &name, None)
                .await
                .map_err(app_err)?;
            say(&format!(
                "api_key = {}\napi_secret = {}",
                key.key,
                key.secret.unwrap_or_default()
            ));
        }
        AdminCommand::ImportOrg { file } => {
            let data =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let outcome = parley_signaling::routes::admin::import_csv(&db, &data)
                .await
                .map_err(|e| app_err(e).context(format!("{} was not imported", file.display())))?;
            let report = outcome.report;
            say(&format!(
                "departments created: {}\nusers created: {}\nusers updated: {}\nusers unchanged: {}",
                report.departments_created, report.users_created, report.users_updated, report.users_unchanged
            ));
            if !outcome.changed.is_empty() {
                say(&format!(
                    "{} user(s) changed role or department: a running server's open connections keep \
                     the old ones until they reconnect (POST /v1/admin/import closes them at once)",
                    outcome.changed.len()
                ));
            }
        }
    }
    db.close().await;
    Ok(())
}

async fn token(config: Config, args: TokenArgs) -> anyhow::Result<()> {
    let secret = match args.api_secret {
        Some(secret) => secret,
        None => {
            let db = open_db(&config).await?;
            let secret = db.api_key_secret(&args.api_key).await?;
            db.close().await;
            secret
                .with_context(|| format!("no active API key `{}` in the database", args.api_key))?
        }
    };
    if args.identity.trim().is_empty() {
        bail!("--identity must not be empty");
    }
    // The server refuses both at join (`insufficient_grant`); say so before signing.
    if args.join && args.room.is_empty() {
        bail!("--join needs --room: a token that joins names its room");
    }
    if args.hidden && !args.recorder {
        bail!("--hidden needs --recorder: only recorders join hidden");
    }
    let grants = Grants {
        room: args.room,
        room_join: args.join,
        room_create: args.create,
        room_list: args.list,
        room_admin: args.room_admin,
        can_publish: args.publish,
        can_subscribe: args.subscribe,
        can_publish_sources: args.sources,
        hidden: args.hidden || args.recorder,
        recorder: args.recorder,
    };
    let token = parley_signaling::auth::sign_app_token(
        &args.api_key,
        &secret,
        &args.identity,
        &args.name,
        grants,
        Duration::from_secs(args.valid_for),
    )?;
    say(&token);
    Ok(())
}
