//! `parley-loadtest`: what operators run before a roll-out. See `docs/BENCHMARKS.md`.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use parley_loadtest::floor::{self, Floor};
use parley_loadtest::im::{self, ImConfig};
use parley_loadtest::media::access::App;
use parley_loadtest::media::layout::Layout;
use parley_loadtest::media::scenario::{self, Kind, MediaConfig, Target};
use parley_loadtest::provision::{floor_cast, provision, Cast};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "parley-loadtest",
    version,
    about = "Load Parley with simulated users and measure it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Messaging: users in channels sending at a rate; checks every delivery, measures latency.
    Im(Box<ImArgs>),
    /// The floor: a bare WebSocket broadcast server (no storage, no auth) that `im --floor`
    /// drives, to compare Parley's hub with. Serves until --stop-after.
    Floor(FloorArgs),
    /// Meetings: publishers (Opus voice, VP8 video) and subscribers in rooms; measures joins,
    /// loss, jitter, NACKs, PLIs, bitrate and forwarding latency.
    Media(MediaArgs),
    /// A voice bridge: a few speakers and many listen-only participants.
    Bridge(BridgeArgs),
}

#[derive(Args)]
struct FloorArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:7990")]
    listen: String,
    /// The layout `im --floor` will use (same meaning as there).
    #[arg(long)]
    users: usize,
    #[arg(long)]
    channels: usize,
    #[arg(long)]
    members: usize,
    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 3600)]
    stop_after: u64,
}

/// What every media run takes.
#[derive(Args)]
struct MediaCommon {
    /// The node under test.
    #[arg(
        long,
        env = "PARLEY_LOADTEST_SERVER",
        default_value = "http://127.0.0.1:7880"
    )]
    server: String,
    /// An admin's email: the run makes an API key and signs its bots' tokens with it.
    #[arg(
        long,
        env = "PARLEY_LOADTEST_ADMIN_EMAIL",
        required_unless_present = "janus"
    )]
    admin_email: Option<String>,
    /// The admin's password.
    #[arg(
        long,
        env = "PARLEY_LOADTEST_ADMIN_PASSWORD",
        required_unless_present = "janus"
    )]
    admin_password: Option<String>,
    /// Load Janus's VideoRoom at this WebSocket URL (`ws://127.0.0.1:8188`) instead of
    /// Parley, with the same bots: the side-by-side comparison (`scripts/bench-janus`).
    #[arg(long)]
    janus: Option<String>,
    /// How long to hold the full load, in seconds, after the ramp-up.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds over which the subscribers (listeners) join, after the publishers are up.
    #[arg(long, default_value_t = 5)]
    ramp_up: u64,
    /// Spread bots' source addresses over this many loopback addresses (127.0.0.2 and up;
    /// only when the server is on loopback; 0: off).
    #[arg(long, default_value_t = 64)]
    source_ips: u8,
    /// The server's process id, to report its CPU seconds and memory for the run.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Draw forwarding latency, packets received and loss over time as SVG here.
    #[arg(long)]
    chart: Option<PathBuf>,
}

#[derive(Args)]
struct MediaArgs {
    #[command(flatten)]
    common: MediaCommon,
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Publishers per room (each also subscribes to the others, as its layout says).
    #[arg(long, default_value_t = 2)]
    publishers: usize,
    /// Subscribe-only participants per room.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Publishers send VP8 video besides their voice (ffmpeg makes the clips).
    #[arg(long)]
    video: bool,
    /// Video in three simulcast layers (q, h, f), as browsers send.
    #[arg(long)]
    simulcast: bool,
    /// What subscribers show: every camera, the speaker large, or audio only.
    #[arg(long, value_enum, default_value_t = Layout::Grid)]
    layout: Layout,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Where VP8 clips are kept between runs.
    #[arg(long)]
    clip_cache: Option<PathBuf>,
}

#[derive(Args)]
struct BridgeArgs {
    #[command(flatten)]
    common: MediaCommon,
    /// Participants who speak (publish their microphone).
    #[arg(long, default_value_t = 3)]
    speakers: usize,
    /// Listen-only participants.
    #[arg(long, default_value_t = 100)]
    listeners: usize,
    /// Loudest-speaker slots every participant receives.
    #[arg(long, default_value_t = 3)]
    slots: u32,
}

#[derive(Args)]
struct ImArgs {
    /// The node under test.
    #[arg(
        long,
        env = "PARLEY_LOADTEST_SERVER",
        default_value = "http://127.0.0.1:7880"
    )]
    server: String,
    /// An admin's email: the run makes its users and channels through the REST API (not
    /// needed with --floor or --cast).
    #[arg(long, env = "PARLEY_LOADTEST_ADMIN_EMAIL")]
    admin_email: Option<String>,
    /// The admin's password.
    #[arg(long, env = "PARLEY_LOADTEST_ADMIN_PASSWORD")]
    admin_password: Option<String>,
    /// Drive the floor (`parley-loadtest floor` with the same layout) instead of Parley: no
    /// provisioning; the users' tokens and ids are the floor's fixed ones.
    #[arg(long, conflicts_with_all = ["cast", "cast_out"])]
    floor: bool,
    /// Provision, write the users' tokens and channels to this file, and stop (a later run
    /// connects from it with --cast, e.g. to a restarted server).
    #[arg(long)]
    cast_out: Option<PathBuf>,
    /// Connect as the users in this file (from --cast-out) instead of provisioning.
    #[arg(long, conflicts_with = "cast_out")]
    cast: Option<PathBuf>,
    /// Simulated users, each signed in once with its own token.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// WebSocket connections per user, all with the user's token (several devices).
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Channels.
    #[arg(long, default_value_t = 10)]
    channels: usize,
    /// Members per channel (2 to --users), filled round-robin.
    #[arg(long, default_value_t = 20)]
    members: usize,
    /// Messages per second, all users together (at most 15 per user).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Message size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds over which the connections are opened.
    #[arg(long, default_value_t = 5)]
    ramp_up: u64,
    /// Seconds to wait for the last deliveries after sending stops.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Spread client source addresses over this many loopback addresses (127.0.0.2 and up),
    /// so many clients do not run out of ports (only when the server is on loopback; 0: off).
    #[arg(long, default_value_t = 64)]
    source_ips: u8,
    /// The fraction of connections (0 to 1) that drop and reconnect once while sending,
    /// resuming from the last sequence they saw in each channel.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// The server's process id, to report its CPU seconds and memory for the run.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Draw latency percentiles and throughput over time as SVG here.
    #[arg(long)]
    chart: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("parley-loadtest: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(true) when the run was clean; Ok(false) when it lost, repeated or reordered a message,
/// or a bot failed to join or did not receive media it should have.
fn run() -> Result<bool> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Im(args) => runtime.block_on(im(*args)),
        Command::Floor(args) => runtime.block_on(serve_floor(args)).map(|()| true),
        Command::Media(args) => {
            if args.simulcast && !args.video {
                anyhow::bail!("--simulcast needs --video");
            }
            let kind = Kind::Meeting {
                rooms: args.rooms,
                publishers: args.publishers,
                subscribers: args.subscribers,
                video: args.video,
                simulcast: args.simulcast,
                layout: args.layout,
            };
            let cache = args
                .clip_cache
                .unwrap_or_else(|| std::env::temp_dir().join("parley-loadtest-clips"));
            runtime.block_on(media(args.common, kind, args.fps, cache))
        }
        Command::Bridge(args) => {
            if args.speakers == 0 {
                anyhow::bail!("--speakers must be at least 1");
            }
            let kind = Kind::Bridge {
                speakers: args.speakers,
                listeners: args.listeners,
                slots: args.slots,
            };
            let cache = std::env::temp_dir().join("parley-loadtest-clips");
            runtime.block_on(media(args.common, kind, 30, cache))
        }
    }
}

async fn media(args: MediaCommon, kind: Kind, fps: u32, clip_cache: PathBuf) -> Result<bool> {
    let tag = format!("{:x}", std::process::id() as u64 * 1_000_003 + now_secs());
    let target = match (&args.janus, &args.admin_email, &args.admin_password) {
        (Some(url), _, _) => Target::Janus(url.clone()),
        (None, Some(email), Some(password)) => {
            eprintln!("making an API key on {} ...", args.server);
            Target::Parley(App::register(&args.server, email, password, &tag).await?)
        }
        _ => anyhow::bail!("--admin-email and --admin-password are needed to load Parley"),
    };
    let config = MediaConfig {
        server: args.janus.unwrap_or(args.server),
        kind,
        duration: Duration::from_secs(args.duration),
        ramp_up: Duration::from_secs(args.ramp_up),
        fps,
        source_ips: args.source_ips,
        server_pid: args.server_pid,
        clip_cache,
    };
    let report = scenario::run(config, target, &tag).await?;
    std::io::stdout().write_all(report.table().as_bytes())?;
    write_outputs(&report, args.report, args.chart, || report.chart().svg())?;
    Ok(report.clean())
}

/// The JSON report and the chart, where the command line asked for them.
fn write_outputs(
    report: &impl serde::Serialize,
    report_path: Option<PathBuf>,
    chart_path: Option<PathBuf>,
    svg: impl FnOnce() -> String,
) -> Result<()> {
    if let Some(path) = report_path {
        std::fs::write(&path, serde_json::to_vec_pretty(report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = chart_path {
        std::fs::write(&path, svg()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn serve_floor(args: FloorArgs) -> Result<()> {
    floor_cast(args.users, args.channels, args.members)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let floor = std::sync::Arc::new(Floor::new(args.users, args.channels, args.members));
    eprintln!(
        "floor: {} users in {} channels x {} members on ws://{}",
        args.users,
        args.channels,
        args.members,
        listener.local_addr()?
    );
    floor::serve(floor, listener, Duration::from_secs(args.stop_after)).await
}

/// The people and channels of the run: the floor's fixed ones, a file's, or provisioned now.
async fn cast(args: &ImArgs) -> Result<Cast> {
    if args.floor {
        return floor_cast(args.users, args.channels, args.members);
    }
    if let Some(path) = &args.cast {
        let cast = Cast::load(path)?;
        let wanted = (args.users, args.channels, args.members);
        if cast.shape() != wanted {
            anyhow::bail!(
                "{} holds {:?} (users, channels, members), not the {wanted:?} asked for",
                path.display(),
                cast.shape()
            );
        }
        return Ok(cast);
    }
    let (Some(email), Some(password)) = (&args.admin_email, &args.admin_password) else {
        anyhow::bail!("--admin-email and --admin-password are needed to provision (or --floor, or --cast FILE)");
    };
    let tag = format!("{:x}", std::process::id() as u64 * 1_000_003 + now_secs());
    eprintln!(
        "provisioning {} users and {} channels on {} ...",
        args.users, args.channels, args.server
    );
    let started = std::time::Instant::now();
    let cast = provision(
        &args.server,
        email,
        password,
        args.users,
        args.channels,
        args.members,
        &tag,
    )
    .await?;
    eprintln!("provisioned in {:.1} s", started.elapsed().as_secs_f64());
    Ok(cast)
}

async fn im(args: ImArgs) -> Result<bool> {
    let cast = cast(&args).await?;
    if let Some(path) = &args.cast_out {
        cast.save(path)?;
        eprintln!("wrote {}", path.display());
        return Ok(true);
    }
    let config = ImConfig {
        server: args.server,
        users: args.users,
        devices: args.devices.max(1),
        channels: args.channels,
        members: args.members,
        rate: args.rate,
        size: args.size,
        duration: Duration::from_secs(args.duration),
        ramp_up: Duration::from_secs(args.ramp_up),
        drain: Duration::from_secs(args.drain),
        source_ips: args.source_ips,
        churn: args.churn,
        server_pid: args.server_pid,
        floor: args.floor,
    };
    let report = im::run(config, cast).await?;
    // The table is the tool's output; progress and errors go to stderr.
    std::io::stdout().write_all(report.table().as_bytes())?;
    write_outputs(&report, args.report, args.chart, || report.chart().svg())?;
    Ok(report.clean())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
