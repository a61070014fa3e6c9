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
    /// Back up the database (as of one instant) and the objects its rows point at into a backup
    /// folder or S3 bucket, while the server keeps serving. Objects that an earlier backup there
    /// holds are not copied again. Prints the new backup's path.
    Backup {
        /// Where backups go: a folder (created if missing) or `s3://BUCKET` (with the --s3-*
        /// options). Each backup is a subfolder named by its UTC start time, beside the shared
        /// `blobs` folder.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        s3: S3Args,
        /// Encrypt the backup with the key in this file (made by `parley admin backup-key`).
        /// Keep the key apart from the backups: without it they cannot be restored.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Print a new random key for encrypted backups (64 hexadecimal digits): save it to a
    /// file only the operators can read, and keep a copy somewhere else than the backups.
    BackupKey,
    /// List the backups in a backup folder or bucket, and whether each one finished.
    ListBackups {
        /// A folder or `s3://BUCKET`.
        location: String,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Check a backup against its manifest without restoring it: every file is read and hashed.
    VerifyBackup {
        /// A backup, `<folder or s3://BUCKET>/<id>`, as `parley admin backup` printed it.
        backup: String,
        #[command(flatten)]
        s3: S3Args,
        /// For an encrypted backup: its key, to check the content too (without it, the
        /// encrypted files are checked as stored).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Restore a backup into the configured database and object store, which must be empty.
    /// The backup is verified whole first; nothing is written if it does not match.
    Restore {
        /// A backup, `<folder or s3://BUCKET>/<id>`, as `parley admin backup` printed it.
        backup: String,
        /// Delete everything in the configured database and object store first.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        s3: S3Args,
        /// For an encrypted backup: the key file it was made with.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Copy this deployment (the configured database and object store) into a new, empty
    /// PostgreSQL database, and optionally a new object store, keeping every id and sequence;
    /// then compare both sides table by table and object by object. The source is only read.
    /// Stop the server first: what it writes during the copy is not copied.
    Migrate {
        /// The target database, `postgres://user@host:5432/parley` (or `sqlite://…`).
        #[arg(long)]
        to_database: String,
        /// The target object store: a folder, or `s3://BUCKET` with the --s3-* options.
        /// Without it the objects stay where they are.
        #[arg(long)]
        to_object_store: Option<String>,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Rebuild this node's search index (`[search] dir`) from the database: empty it, then
    /// index every message again. Stop the server on this node first (it holds the index); a
    /// running server rebuilds through `POST /v1/admin/search/reindex` instead.
    Reindex,
}

/// How to reach an `s3://BUCKET` named on the command line.
#[derive(Args, Clone)]
struct S3Args {
    /// The S3 service's URL, for an `s3://` location (empty for AWS itself).
    #[arg(long, default_value = "")]
    s3_endpoint: String,
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "")]
    s3_access_key_id: String,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    s3_secret_access_key: String,
    /// Allow an http:// endpoint (a service on the local network).
    #[arg(long)]
    s3_allow_http: bool,
}

impl S3Args {
    /// A folder, or `s3://BUCKET`, as an object store to open.
    fn store(&self, location: &str) -> parley_storage::ObjectStoreConfig {
        // The same place `[backup] folder` and its `s3_*` keys name.
        parley_signaling::config::BackupSection {
            folder: location.to_string(),
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_access_key_id: self.s3_access_key_id.clone(),
            s3_secret_access_key: self.s3_secret_access_key.clone(),
            s3_allow_http: self.s3_allow_http,
            ..Default::default()
        }
        .location()
    }
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
    if let AdminCommand::ListBackups { location, s3 } = &command {
        return list_backups(location, s3).await;
    }
    if let AdminCommand::BackupKey = &command {
        say(&parley_storage::BackupKey::generate()?.to_hex());
        return Ok(());
    }
    if let AdminCommand::VerifyBackup {
        backup,
        s3,
        key_file,
    } = &command
    {
        let key = read_key(key_file.as_deref())?;
        let (repo, id) = backup_at(backup, s3).await?;
        let manifest = parley_storage::verify_backup(&repo, &id, key.as_ref())
            .await
            .with_context(|| format!("backup {backup} failed verification"))?;
        say(&format!(
            "backup {backup} is whole: {} tables ({} rows) and {} objects ({}) match its manifest",
            manifest.tables.len(),
            manifest.rows(),
            manifest.objects.len(),
            bytes(manifest.object_bytes())
        ));
        if let (Some(encryption), None) = (&manifest.encryption, &key) {
            say(&format!(
                "it is encrypted (key {}): its files were checked as stored; give --key-file to check their content too",
                encryption.key_id
            ));
        }
        return Ok(());
    }
    // A backup or a migration reads the database as the Parley that serves it left it, and a
    // restore chooses the schema itself: none of them upgrades it on opening.
    let (db, objects) = match &command {
        AdminCommand::Backup { .. } | AdminCommand::Migrate { .. } => {
            let (db, objects) = server::open_storage_as_is(&config).await?;
            require_current_schema(&db).await?;
            (db, objects)
        }
        AdminCommand::Restore { .. } => server::open_storage_as_is(&config).await?,
        _ => server::open_storage(&config).await?,
    };
    match command {
        AdminCommand::ListBackups { .. }
        | AdminCommand::VerifyBackup { .. }
        | AdminCommand::BackupKey => {}
        AdminCommand::Backup { to, s3, key_file } => {
            let key = read_key(key_file.as_deref())?;
            let store = s3.store(&to);
            let _lock = match &store {
                parley_storage::ObjectStoreConfig::Local { path } => {
                    std::fs::create_dir_all(path)
                        .with_context(|| format!("cannot create the backup folder {to}"))?;
                    Some(parley_storage::lock_folder(path)?)
                }
                parley_storage::ObjectStoreConfig::S3(_) => None,
            };
            let repo = parley_storage::ObjectStorage::open(&store)
                .with_context(|| format!("cannot open {to}"))?;
            let report = parley_storage::take_backup(&db, &objects, &repo, env!("CARGO_PKG_VERSION"), key.as_ref())
                .await
                .context("the backup failed; the backup folder keeps an incomplete backup, which is never restored")?;
            let m = &report.manifest;
            say(&format!(
                "backup {}/{} written: {} rows in {} tables, {} objects ({} copied now, {}; {} already in an earlier backup) in {:.1} s",
                to.trim_end_matches('/'),
                m.id,
                m.rows(),
                m.tables.len(),
                m.objects.len(),
                report.copied,
                bytes(report.copied_bytes),
                report.reused,
                (m.finished_at - m.started_at) as f64 / 1000.0
            ));
            if let Some(encryption) = &m.encryption {
                say(&format!(
                    "encrypted with key {}: restoring it needs that key file",
                    encryption.key_id
                ));
            }
        }
        AdminCommand::Restore {
            backup,
            replace,
            s3,
            key_file,
        } => {
            let key = read_key(key_file.as_deref())?;
            let (repo, id) = backup_at(&backup, &s3).await?;
            let started = std::time::Instant::now();
            let report =
                parley_storage::restore_backup(&repo, &id, &db, &objects, replace, key.as_ref())
                    .await
                    .with_context(|| format!("backup {backup} was not restored"))?;
            say(&format!(
                "restored {backup}: {} rows and {} objects ({}) in {:.1} s; start the server with `parley serve`",
                report.rows,
                report.objects,
                bytes(report.object_bytes),
                started.elapsed().as_secs_f64()
            ));
            if let Some(schema) = report.upgraded_from {
                say(&format!(
                    "the backup had database schema {schema}; the restored database is upgraded to this Parley's, {}",
                    db.latest_schema_version()
                ));
            }
            say("clients that saw messages newer than this backup keep their place but will not see those messages again; tell users what was lost between the backup and now");
        }
        AdminCommand::Migrate {
            to_database,
            to_object_store,
            s3,
        } => {
            let target_objects = to_object_store.as_deref().map(|spec| s3.store(spec));
            migrate(&db, &objects, &to_database, target_objects).await?;
        }
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
        AdminCommand::Reindex => {
            if !config.search.enabled {
                anyhow::bail!(
                    "search is turned off ([search] enabled = false): there is no index to rebuild"
                );
            }
            let dir = config.search_dir();
            let search = parley_signaling::search::Search::open(&dir, db.clone())
                .with_context(|| format!("cannot open the search index in {}", dir.display()))?;
            let report = search.rebuild().await?;
            say(&format!(
                "search index {} rebuilt: {} items indexed, {} found gone, in {:.1} s",
                dir.display(),
                report.indexed,
                report.skipped,
                report.millis as f64 / 1000.0
            ));
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

/// The backup key in `path`, if one is given.
fn read_key(path: Option<&std::path::Path>) -> anyhow::Result<Option<parley_storage::BackupKey>> {
    Ok(path.map(parley_storage::BackupKey::read).transpose()?)
}

/// Refuse a database whose schema is not this build's: another version of Parley serves it.
async fn require_current_schema(db: &Database) -> anyhow::Result<()> {
    let (here, ours) = (db.schema_version().await?, db.latest_schema_version());
    if here < ours {
        bail!(
            "the database has schema {here} and this Parley ({}) schema {ours}: use the Parley \
             version that serves it, or start this version's server on it first (which upgrades it)",
            env!("CARGO_PKG_VERSION")
        );
    }
    if here > ours {
        bail!(
            "the database has schema {here}, newer than this Parley's ({}, schema {ours}): use the \
             Parley version that serves it",
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(())
}

/// A backup, `<folder or s3://BUCKET>/<id>`, as the place that holds it and its id.
async fn backup_at(
    backup: &str,
    s3: &S3Args,
) -> anyhow::Result<(parley_storage::ObjectStorage, String)> {
    let trimmed = backup.trim_end_matches('/');
    let (location, id) = match trimmed.rsplit_once('/') {
        Some((location, id)) if !location.is_empty() && location != "s3:/" => (location, id),
        _ => (".", trimmed),
    };
    if id.is_empty() || id == "." || id == ".." {
        bail!("{backup} does not name a backup: give <folder or s3://BUCKET>/<id>");
    }
    let repo = open_backups(location, s3)?;
    if repo.list_meta(Some(id)).await?.is_empty() {
        bail!("there is no backup at {backup}");
    }
    Ok((repo, id.to_string()))
}

/// An existing backup folder or bucket, to read backups from.
fn open_backups(location: &str, s3: &S3Args) -> anyhow::Result<parley_storage::ObjectStorage> {
    let store = s3.store(location);
    if let parley_storage::ObjectStoreConfig::Local { path } = &store {
        if !path.is_dir() {
            bail!("there is no backup folder at {location}");
        }
    }
    parley_storage::ObjectStorage::open(&store).with_context(|| format!("cannot open {location}"))
}

async fn list_backups(location: &str, s3: &S3Args) -> anyhow::Result<()> {
    let repo = open_backups(location, s3)?;
    let backups = parley_storage::list_backups(&repo).await?;
    if backups.is_empty() {
        say(&format!("no backups in {location}"));
    }
    for backup in backups {
        match backup.manifest {
            Some(m) => say(&format!(
                "{}  complete  {} rows, {} objects ({}), schema {}, Parley {}",
                backup.id,
                m.rows(),
                m.objects.len(),
                bytes(m.object_bytes()),
                m.schema_version,
                m.parley_version
            )),
            None => match backup.unreadable {
                Some(why) => say(&format!("{}  DAMAGED ({why}): never restored", backup.id)),
                None => say(&format!(
                    "{}  INCOMPLETE (interrupted, or still being written): never restored",
                    backup.id
                )),
            },
        }
    }
    Ok(())
}

/// A byte count for people: `12.3 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Rows copied, and object bytes read, per second by a migration, on the low side of what a
/// two-core machine measured (docs/BENCHMARKS.md: 2,000,035 rows and 10 GiB in 190 s), for the
/// downtime stated before it starts. Each object is read twice (copied, then checked).
const MIGRATE_ROWS_PER_SEC: f64 = 30_000.0;
const MIGRATE_BYTES_PER_SEC: f64 = 120.0 * 1024.0 * 1024.0;

async fn migrate(
    db: &Database,
    objects: &parley_storage::ObjectStorage,
    to_database: &str,
    to_objects: Option<parley_storage::ObjectStoreConfig>,
) -> anyhow::Result<()> {
    let (counts, object_count, object_bytes) = parley_storage::measure(db, objects).await?;
    let rows: u64 = counts.iter().map(|(_, n)| n).sum();
    let copy_bytes = if to_objects.is_some() {
        object_bytes
    } else {
        0
    };
    let estimate =
        rows as f64 / MIGRATE_ROWS_PER_SEC + 2.0 * copy_bytes as f64 / MIGRATE_BYTES_PER_SEC;
    say(&format!(
        "copying {rows} rows{} from {}; this takes about {:.0} s. Keep Parley stopped until it finishes: what it writes meanwhile is not copied",
        if to_objects.is_some() {
            format!(" and {object_count} objects ({})", bytes(object_bytes))
        } else {
            String::new()
        },
        match db.backend() {
            parley_storage::Backend::Sqlite => "the SQLite database",
            parley_storage::Backend::Postgres => "the PostgreSQL database",
        },
        estimate.max(1.0)
    ));
    let target = Database::connect(&parley_storage::DatabaseConfig {
        url: to_database.to_string(),
        max_connections: 4,
        acquire_timeout: Duration::from_secs(30),
    })
    .await
    .with_context(|| {
        format!(
            "cannot open the target database {}",
            parley_storage::redact(to_database)
        )
    })?;
    let target_objects = to_objects
        .as_ref()
        .map(parley_storage::ObjectStorage::open)
        .transpose()
        .context("cannot open the target object store")?;
    let started = std::time::Instant::now();
    let report = parley_storage::migrate(db, objects, &target, target_objects.as_ref())
        .await
        .context("the migration stopped; the source is untouched, and the target should be dropped and made again")?;
    target.close().await;
    for (table, rows, same) in &report.tables {
        say(&format!(
            "  {table}: {rows} rows, {}",
            if *same {
                "checksum matches"
            } else {
                "CHECKSUM DIFFERS"
            }
        ));
    }
    if !report.all_match() {
        bail!("the copy differs from the source (above); do not switch to it");
    }
    say(&format!(
        "copied {rows} rows{} in {:.1} s; every table and object matches the source",
        if target_objects.is_some() {
            format!(
                " and {} objects ({})",
                report.objects,
                bytes(report.object_bytes)
            )
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    ));
    say("Now point the configuration at the copy and start Parley:");
    say(&format!(
        r#"  [database]
  url = "{}""#,
        parley_storage::redact(to_database)
    ));
    match &to_objects {
        Some(parley_storage::ObjectStoreConfig::S3(s3)) => say(&format!(
            r#"  [object_store]
  kind = "s3"
  bucket = "{}"
  region = "{}"
  endpoint = "{}"
  access_key_id = "(the key)"
  secret_access_key = "(the secret)"
  allow_http = {}"#,
            s3.bucket, s3.region, s3.endpoint, s3.allow_http
        )),
        Some(parley_storage::ObjectStoreConfig::Local { path }) => say(&format!(
            r#"  [object_store]
  kind = "local"
  path = "{}""#,
            path.display()
        )),
        None => {}
    }
    say("(or the PARLEY_DATABASE_URL and PARLEY_OBJECT_STORE_* variables). Keep the old data until the new deployment has run for a while.");
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
