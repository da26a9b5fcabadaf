//! `vetrina-load`: load generators for Vetrina's benchmarks; each prints one JSON line.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vetrina-load", about = "Load generators for Vetrina's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One publisher (WHIP) fanned out to many viewers (WHEP).
    Whep {
        /// The show's WHEP URL.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        viewers: usize,
        /// How long to keep every viewer watching once all have joined.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The show's stream key: publish synthetic video to it (WHIP, taking over).
        #[arg(long)]
        stream_key: Option<String>,
        #[arg(long, default_value_t = 600)]
        kbps: usize,
        /// The server's pid, to report its memory per viewer.
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long, default_value_t = 200)]
        joins_per_second: usize,
        /// One viewer in this many decrypts and depacketises every frame to measure delivery
        /// delay; the others count frames from the RTP headers (1: every viewer measures).
        #[arg(long, default_value_t = 10)]
        measure_every: usize,
    },
    /// A flash sale of one SKU: many buyers add it to their carts at once.
    FlashSale {
        /// The show's URL (http://host/shows/SLUG): a fresh SKU with `units` in stock joins its
        /// line-up for the sale.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10_000)]
        buyers: usize,
        #[arg(long, default_value_t = 100)]
        units: i64,
        /// A member of the show's organisation who may edit the catalogue and the show (the
        /// demo's owner by default).
        #[arg(long, default_value = "owner@bottega-aurora.example")]
        email: String,
        #[arg(long, default_value = "vetrina-demo")]
        password: String,
        /// Requests in flight at most (each buyer on a connection of its own). 200 by default:
        /// the bars of the flash sale (20,000 holds a second with a p99 of 50 ms) leave room for at
        /// most ~1,000 requests in flight (Little's law: in flight = rate x time in the system),
        /// fewer for the tail; more in flight measures queueing, not the server (try 2,000).
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        /// The server's process id, to report the CPU time it spends per request.
        #[arg(long)]
        server_pid: Option<u32>,
        /// How many of the buyers who got the SKU then check out (all by default; 0 measures
        /// only the rush to add it)
        #[arg(long)]
        checkouts: Option<usize>,
    },
    /// Many WebSocket connections in one live room, with senders chatting and liking.
    Room {
        /// The room's URL (ws://host/api/v1/shows/SLUG/live); again for each node of several,
        /// and viewers and senders go to each in turn.
        #[arg(long, required = true)]
        url: Vec<String>,
        #[arg(long, default_value_t = 1000)]
        viewers: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Chat messages a second (one sender per message a second).
        #[arg(long, default_value_t = 200)]
        chat_rate: usize,
        #[arg(long, default_value_t = 2000)]
        like_rate: usize,
        /// The server's process id (again for each node): memory and CPU are their sums.
        #[arg(long)]
        server_pid: Vec<u32>,
        #[arg(long, default_value_t = 1000)]
        joins_per_second: usize,
        /// Every listener decodes every message with a full WebSocket client (tungstenite), as
        /// before 2026-12-03's second session; by default one in 50 does and the others count
        /// messages from the frame headers.
        #[arg(long)]
        full_listeners: bool,
    },
    /// One process's share of `room`'s listeners, when they are more than one process may hold
    /// sockets for (started by `room` itself).
    #[command(hide = true)]
    RoomListeners {
        #[arg(long, required = true)]
        url: Vec<String>,
        #[arg(long)]
        viewers: usize,
        #[arg(long)]
        shard: usize,
        #[arg(long)]
        shards: usize,
        /// The plan's times, in milliseconds since the Unix epoch.
        #[arg(long)]
        start: u64,
        #[arg(long)]
        join_ms: u64,
        #[arg(long)]
        window_from: u64,
        #[arg(long)]
        window_until: u64,
        #[arg(long)]
        end: u64,
        #[arg(long)]
        full_listeners: bool,
    },
    /// The machine's floor for the room's fan-out: one small frame written to each of N bare
    /// loopback TCP connections per tick, read by another process (no WebSocket, no room).
    Floor {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 300)]
        bytes: usize,
        #[arg(long, default_value_t = 10)]
        frames_per_second: u32,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// The readers of `floor` (started by `floor` itself).
    #[command(hide = true)]
    FloorReaders {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long)]
        connections: usize,
    },
    /// Reads a show's whole timeline in pages by media time, as replays do.
    Timeline {
        /// The show's URL (http://host/shows/SLUG).
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        str0m::crypto::from_feature_flags().install_process_default();
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        match cli.command {
            Command::Whep { url, viewers, seconds, stream_key, kbps, server_pid, joins_per_second, measure_every } => {
                let report = vetrina_load::whep::run(vetrina_load::whep::WhepLoad {
                    url,
                    viewers,
                    seconds,
                    stream_key,
                    kbps,
                    server_pid,
                    joins_per_second,
                    measure_every,
                })
                .await?;
                println!("{report}");
            }
            Command::FlashSale { url, buyers, units, email, password, concurrency, server_pid, checkouts } => {
                let report = vetrina_load::flash::run(vetrina_load::flash::FlashSale {
                    url,
                    buyers,
                    units,
                    email,
                    password,
                    concurrency,
                    server_pid,
                    checkouts,
                })
                .await?;
                println!("{report}");
            }
            Command::Room { url, viewers, seconds, chat_rate, like_rate, server_pid, joins_per_second, full_listeners } => {
                let report = vetrina_load::room::run(vetrina_load::room::RoomLoad {
                    urls: url,
                    viewers,
                    seconds,
                    chat_rate,
                    like_rate,
                    server_pids: server_pid,
                    joins_per_second,
                    full_listeners,
                })
                .await?;
                println!("{report}");
            }
            Command::RoomListeners { url, viewers, shard, shards, start, join_ms, window_from, window_until, end, full_listeners } => {
                let plan = vetrina_load::room::Plan { start, join_ms, window: (window_from, window_until), end };
                let listeners = vetrina_load::room::Listeners { urls: url, viewers, shard, shards, full: full_listeners, plan };
                println!("{}", vetrina_load::room::listen(listeners).await?);
            }
            Command::Floor { connections, seconds, bytes, frames_per_second, threads } => {
                let floor = vetrina_load::floor::Floor { connections, seconds, bytes, frames_per_second, threads };
                println!("{}", vetrina_load::floor::run(floor)?);
            }
            Command::FloorReaders { addr, connections } => {
                println!("{}", vetrina_load::floor::read_all(addr, connections)?);
            }
            Command::Timeline { url, limit, rounds } => {
                let report = vetrina_load::timeline::run(vetrina_load::timeline::TimelineLoad { url, limit, rounds }).await?;
                println!("{report}");
            }
        }
        Ok(())
    })
}
