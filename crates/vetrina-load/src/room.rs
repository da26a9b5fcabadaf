//! `vetrina-load room`: many WebSocket connections in one show's live room, and a crowd of senders
//! chatting and liking at given rates.
//!
//! Senders are guests (a name each) who send at most one chat message a second (the room's pace
//! for viewers), so `chat_rate` needs that many senders. Each chat line carries its send time;
//! a sample of listening connections (1 in 50) parses frames to measure delivery delay, the rest
//! only count what arrives from the frame headers (`light_ws`: so the load generator's own
//! parsing does not take the cores the server is measured on). Prints one JSON line: viewers,
//! connected, joined (got the room's snapshot before the end), disconnects, p50/p99 delivery of
//! chat lines, frames received, the server's memory per connection (RSS with the room idle, over
//! its RSS before), and the CPU both processes used while the chat ran (the server's also per
//! message delivered).
//!
//! Several nodes: the room's URL on each (`--url` again), viewers and senders spread over them in
//! turn, the servers' pids summed. A process may hold only so many sockets (its open-file limit):
//! past that the listeners run in child processes (`room-listeners`), each holding its share, on
//! one plan of wall-clock times so they join, measure and leave together.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rss_bytes;
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Clone, Debug)]
pub struct RoomLoad {
    /// The room's WebSocket URL on each node (`ws://host/api/v1/shows/SLUG/live`).
    pub urls: Vec<String>,
    pub viewers: usize,
    /// How long the chat runs.
    pub seconds: u64,
    pub chat_rate: usize,
    pub like_rate: usize,
    /// Every node's process id: memory and CPU are their sums.
    pub server_pids: Vec<u32>,
    pub joins_per_second: usize,
    /// Every listener a full WebSocket client (tungstenite); otherwise only the one in 50 that
    /// measures delivery.
    pub full_listeners: bool,
}

/// When things happen, in milliseconds since the Unix epoch, so that child processes keep the
/// same times as the parent.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The first viewer joins.
    pub start: u64,
    /// The viewers join over this long, evenly.
    pub join_ms: u64,
    /// Frames received are counted from the first to the second (while the chat runs).
    pub window: (u64, u64),
    /// The listeners leave.
    pub end: u64,
}

/// Some of the listeners: which of `viewers` (every `shards`th from `shard`), and how.
#[derive(Clone, Debug)]
pub struct Listeners {
    pub urls: Vec<String>,
    pub viewers: usize,
    pub shard: usize,
    pub shards: usize,
    pub full: bool,
    pub plan: Plan,
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The `Instant` of a wall-clock time in Unix milliseconds.
fn at(unix_ms: u64) -> tokio::time::Instant {
    let now = unix_micros();
    let wait = (unix_ms * 1000).saturating_sub(now);
    (Instant::now() + Duration::from_micros(wait)).into()
}

/// Counts per 0.1 ms: delays from every measuring listener, mergeable across processes.
#[derive(Default, Debug)]
struct Histogram(HashMap<u64, u64>);

impl Histogram {
    fn add(&mut self, micros: u64) {
        *self.0.entry(micros / 100).or_default() += 1;
    }
    fn merge(&mut self, other: &serde_json::Value) {
        for pair in other.as_array().into_iter().flatten() {
            if let (Some(bucket), Some(count)) = (pair[0].as_u64(), pair[1].as_u64()) {
                *self.0.entry(bucket).or_default() += count;
            }
        }
    }
    fn to_json(&self) -> serde_json::Value {
        self.0.iter().map(|(b, c)| json!([b, c])).collect()
    }
    fn count(&self) -> u64 {
        self.0.values().sum()
    }
    /// The value at fraction `p` (0 to 1), in milliseconds (the middle of its 0.1 ms bucket).
    fn percentile_ms(&self, p: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total - 1) as f64 * p).round() as u64;
        let mut buckets: Vec<_> = self.0.iter().collect();
        buckets.sort_unstable();
        let mut seen = 0;
        for (bucket, count) in buckets {
            seen += count;
            if seen > rank {
                return Some((*bucket as f64 + 0.5) / 10.0);
            }
        }
        None
    }
}

async fn guest_cookie(http: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<String> {
    let r = http.post(format!("{base}/api/v1/guests")).json(&json!({"display_name": format!("load-{i}")})).send().await?;
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).context("no guest cookie")?;
    Ok(cookie.split(';').next().unwrap_or("").to_string())
}

/// What the listeners saw.
#[derive(Default)]
struct Seen {
    connected: AtomicU64,
    /// Still connecting when the run ended (the server admits joins slower than they come).
    unconnected: AtomicU64,
    disconnects: AtomicU64,
    frames: AtomicU64,
    /// Snapshots after the first: the room resynchronised a measuring listener that fell behind.
    resyncs: AtomicU64,
    /// The most viewers a frame said the room had (over all nodes).
    viewers_max: AtomicU64,
    delays: Mutex<Histogram>,
    /// From asking to connect to the room's snapshot, per viewer.
    joins: Mutex<Histogram>,
}

/// The connection `connect` makes before `end`, counted: connected, failed (a disconnect), or
/// still connecting at the end.
async fn connected_by<T, E>(end: tokio::time::Instant, seen: &Seen, connect: impl Future<Output = Result<T, E>>) -> Option<T> {
    let counter = match tokio::time::timeout_at(end, connect).await {
        Ok(Ok(connection)) => {
            seen.connected.fetch_add(1, Ordering::Relaxed);
            return Some(connection);
        }
        Ok(Err(_)) => &seen.disconnects,
        Err(_) => &seen.unconnected,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    None
}

/// What a light listener has seen so far (its socket goes beside it, to the reader).
struct Quiet {
    counter: crate::light_ws::Counter,
    asked: Instant,
    joined: bool,
}

/// What a listener made of bytes that arrived.
struct Took {
    /// The server closed.
    closed: bool,
    /// The room's snapshot (the first message) came now: the microseconds it took since asking.
    joined_after: Option<u64>,
}

impl Quiet {
    fn took(&mut self, data: &[u8], seen: &Seen) -> Took {
        let n = self.counter.feed(data);
        let mut joined_after = None;
        if n > 0 {
            if !self.joined {
                self.joined = true;
                joined_after = Some(self.asked.elapsed().as_micros() as u64);
            }
            seen.frames.fetch_add(n, Ordering::Relaxed);
        }
        Took { closed: self.counter.closed, joined_after }
    }
}

/// The light listeners of a process, read by one thread (`mio`): a frame costs this process one
/// `recv` on a socket that is ready, and no task woken, so the load generator's own work takes as
/// little as it can of the cores the server is measured on. Until `end`, then each sends a close.
struct QuietReader {
    handover: std::sync::mpsc::Sender<(std::net::TcpStream, Quiet)>,
    waker: Arc<mio::Waker>,
    thread: std::thread::JoinHandle<()>,
}

const HANDOVER: mio::Token = mio::Token(usize::MAX);

impl QuietReader {
    fn start(end: Instant, seen: Arc<Seen>) -> std::io::Result<QuietReader> {
        let mut poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), HANDOVER)?);
        let (handover, arrivals) = std::sync::mpsc::channel::<(std::net::TcpStream, Quiet)>();
        let thread = std::thread::Builder::new().name("quiet-listeners".into()).spawn(move || {
            let mut listeners: Vec<Option<(mio::net::TcpStream, Quiet)>> = Vec::new();
            let mut free: Vec<usize> = Vec::new();
            let mut events = mio::Events::with_capacity(1024);
            let mut buf = vec![0u8; 16 * 1024];
            // Reads what is there; false when the listener is done (closed, or the server closed).
            let mut read = |stream: &mut mio::net::TcpStream, quiet: &mut Quiet| -> bool {
                loop {
                    match std::io::Read::read(stream, &mut buf) {
                        Ok(0) => return false,
                        Ok(n) => {
                            let took = quiet.took(&buf[..n], &seen);
                            if let Some(micros) = took.joined_after {
                                seen.joins.blocking_lock().add(micros);
                            }
                            if took.closed {
                                return false;
                            }
                            // Less than asked for: the socket is drained (the next byte is a new edge).
                            if n < buf.len() {
                                return true;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => return false,
                    }
                }
            };
            while Instant::now() < end {
                let _ = poll.poll(&mut events, Some(end.saturating_duration_since(Instant::now())));
                let mut done = Vec::new();
                for event in &events {
                    if event.token() == HANDOVER {
                        continue;
                    }
                    let i = event.token().0;
                    if let Some(Some((stream, quiet))) = listeners.get_mut(i)
                        && !read(stream, quiet)
                    {
                        done.push(i);
                    }
                }
                // Listeners that connected since: register, then read what already came.
                while let Ok((stream, quiet)) = arrivals.try_recv() {
                    let mut stream = mio::net::TcpStream::from_std(stream);
                    let i = free.pop().unwrap_or_else(|| {
                        listeners.push(None);
                        listeners.len() - 1
                    });
                    if poll.registry().register(&mut stream, mio::Token(i), mio::Interest::READABLE).is_err() {
                        seen.disconnects.fetch_add(1, Ordering::Relaxed);
                        free.push(i);
                        continue;
                    }
                    let mut entry = (stream, quiet);
                    if !read(&mut entry.0, &mut entry.1) {
                        done.push(i);
                    }
                    listeners[i] = Some(entry);
                }
                for i in done {
                    if let Some((mut stream, _)) = listeners[i].take() {
                        let _ = poll.registry().deregister(&mut stream);
                        seen.disconnects.fetch_add(1, Ordering::Relaxed);
                        free.push(i);
                    }
                }
            }
            // The end: each says goodbye (a masked close, which a socket at rest takes at once).
            for (stream, _) in listeners.iter_mut().flatten() {
                let _ = std::io::Write::write(stream, &crate::light_ws::CLOSE);
            }
        })?;
        Ok(QuietReader { handover, waker, thread })
    }

    /// Hands a connected listener over; `first` is what came with the handshake's response.
    async fn take(&self, stream: tokio::net::TcpStream, first: &[u8], asked: Instant, seen: &Seen) {
        let mut quiet = Quiet { counter: crate::light_ws::Counter::default(), asked, joined: false };
        let took = quiet.took(first, seen);
        if let Some(micros) = took.joined_after {
            seen.joins.lock().await.add(micros);
        }
        let stream = match stream.into_std() {
            Ok(stream) if !took.closed => stream,
            _ => {
                seen.disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        // After the end the thread is gone: the listener connected too late to count.
        if self.handover.send((stream, quiet)).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// A listener that counts what arrives from the frame headers (`light_ws`): connects, then hands
/// its socket to the process's reader.
async fn listen_lightly(url: String, nonce: u64, end: tokio::time::Instant, seen: Arc<Seen>, reader: Arc<QuietReader>) {
    let asked = Instant::now();
    let Some((stream, first)) = connected_by(end, &seen, crate::light_ws::connect(&url, nonce)).await else { return };
    reader.take(stream, &first, asked, &seen).await;
}

/// A full WebSocket client's connection (tungstenite), reading into 4 KiB: its default buffer,
/// 128 KiB, is zeroed at every read, and that was most of what the load generator's measuring
/// listeners and senders cost it.
async fn connect_fully(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> tokio_tungstenite::tungstenite::Result<(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
)> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    tokio_tungstenite::connect_async_with_config(request, Some(config), true).await
}

/// A full WebSocket client; the one that `measure`s parses every frame and times its chat lines.
async fn listen_fully(url: String, measure: bool, end: tokio::time::Instant, seen: Arc<Seen>) {
    let asked = Instant::now();
    let Ok(request) = url.into_client_request() else { return };
    let Some((mut socket, _)) = connected_by(end, &seen, connect_fully(request)).await else { return };
    let mut local = Vec::new();
    let mut joined = false;
    let mut frames_seen = 0u64;
    loop {
        match tokio::time::timeout_at(end, socket.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(t)))) => {
                // The first message is the room's snapshot.
                if !joined {
                    joined = true;
                    seen.joins.lock().await.add(asked.elapsed().as_micros() as u64);
                }
                seen.frames.fetch_add(1, Ordering::Relaxed);
                if measure && let Ok(m) = serde_json::from_str::<serde_json::Value>(t.as_str()) {
                    if let Some(n) = m["viewers"].as_u64() {
                        seen.viewers_max.fetch_max(n, Ordering::Relaxed);
                    }
                    // Delivery is timed on frames only: a snapshot's chat lines are history (at
                    // join, or when the listener fell behind), not deliveries.
                    if m["type"] == "snapshot" {
                        if frames_seen > 0 {
                            seen.resyncs.fetch_add(1, Ordering::Relaxed);
                        }
                        frames_seen += 1;
                        continue;
                    }
                    frames_seen += 1;
                    let now = unix_micros();
                    for line in m["chat"].as_array().into_iter().flatten() {
                        if let Some(sent) = line["text"].as_str().and_then(|t| t.strip_prefix("t:")).and_then(|t| t.parse::<u64>().ok()) {
                            local.push(now.saturating_sub(sent));
                        }
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => {
                seen.disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    let _ = socket.close(None).await;
    let mut delays = seen.delays.lock().await;
    for us in local {
        delays.add(us);
    }
}

/// Runs this process's share of the listeners to the plan's end; what they saw as JSON (the
/// histograms as `[bucket, count]` pairs).
pub async fn listen(l: Listeners) -> anyhow::Result<serde_json::Value> {
    let seen = Arc::new(Seen::default());
    let plan = l.plan;
    let end = at(plan.end);
    // Frames received while the chat runs, for the server's CPU per frame.
    let window = {
        let seen = seen.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at(plan.window.0)).await;
            let before = seen.frames.load(Ordering::Relaxed);
            tokio::time::sleep_until(at(plan.window.1)).await;
            seen.frames.load(Ordering::Relaxed).saturating_sub(before)
        })
    };
    let reader_end = Instant::now() + at(plan.end).saturating_duration_since(tokio::time::Instant::now());
    let reader = Arc::new(QuietReader::start(reader_end, seen.clone()).context("starting the listeners' reader")?);
    let mut tasks = Vec::with_capacity(l.viewers / l.shards.max(1) + 1);
    for i in (l.shard..l.viewers).step_by(l.shards.max(1)) {
        tokio::time::sleep_until(at(plan.start + plan.join_ms * i as u64 / l.viewers.max(1) as u64)).await;
        let url = l.urls[i % l.urls.len()].clone();
        let measure = i % 50 == 0;
        tasks.push(if !measure && !l.full {
            tokio::spawn(listen_lightly(url, i as u64, end, seen.clone(), reader.clone()))
        } else {
            tokio::spawn(listen_fully(url, measure, end, seen.clone()))
        });
    }
    for t in tasks {
        let _ = t.await;
    }
    // Every light listener is with the reader, which stops at the end.
    if let Ok(reader) = Arc::try_unwrap(reader) {
        drop(reader.handover);
        let _ = tokio::task::spawn_blocking(move || reader.thread.join()).await;
    }
    let frames_in_window = window.await.unwrap_or(0);
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
    Ok(json!({
        "connected": load(&seen.connected),
        "joined": seen.joins.lock().await.count(),
        "unconnected": load(&seen.unconnected),
        "disconnects": load(&seen.disconnects),
        "frames": load(&seen.frames),
        "frames_in_window": frames_in_window,
        "resyncs": load(&seen.resyncs),
        "viewers_max": load(&seen.viewers_max),
        "delays": seen.delays.lock().await.to_json(),
        "joins": seen.joins.lock().await.to_json(),
    }))
}

/// The soft limit on this process's open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?.parse().ok()
}

/// Listeners one process holds: its open-file limit, less some for everything else.
fn listeners_per_process() -> usize {
    open_files_limit().unwrap_or(1024).saturating_sub(500).max(100)
}

pub async fn run(load: RoomLoad) -> anyhow::Result<serde_json::Value> {
    let Some(first_url) = load.urls.first() else { bail!("no room URL") };
    let base_of = |url: &str| -> anyhow::Result<String> {
        let http_base = url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
        match http_base.find("/api/v1/") {
            Some(i) => Ok(http_base[..i].to_string()),
            None => bail!("{url} is not a room URL (…/api/v1/shows/SLUG/live)"),
        }
    };
    base_of(first_url)?;
    let http = reqwest::Client::new();
    // Guest sessions for the senders first, each on the node it will chat on.
    let n_senders = load.chat_rate;
    let mut cookies = Vec::with_capacity(n_senders);
    for i in 0..n_senders {
        let url = &load.urls[i % load.urls.len()];
        cookies.push((url.clone(), guest_cookie(&http, &base_of(url)?, i).await?));
    }
    let servers_rss = || -> Option<u64> {
        let all: Option<Vec<u64>> = load.server_pids.iter().map(|&p| rss_bytes(p)).collect();
        all.filter(|a| !a.is_empty()).map(|a| a.iter().sum())
    };
    let rss_before = servers_rss();

    let shards = load.viewers.div_ceil(listeners_per_process()).max(1);
    // Children need a moment to start.
    let start = unix_micros() / 1000 + if shards > 1 { 1000 } else { 200 };
    let join_ms = load.viewers as u64 * 1000 / load.joins_per_second.max(1) as u64;
    let origin = start + join_ms + 3000;
    let send_until = origin + load.seconds * 1000;
    let plan = Plan { start, join_ms, window: (origin + 1000, send_until.max(origin + 1000)), end: send_until + 2500 };
    let listeners = Listeners { urls: load.urls.clone(), viewers: load.viewers, shard: 0, shards, full: load.full_listeners, plan };

    enum Running {
        Here(tokio::task::JoinHandle<anyhow::Result<serde_json::Value>>),
        Children(Vec<tokio::process::Child>),
    }
    let running = if shards == 1 {
        Running::Here(tokio::spawn(listen(listeners)))
    } else {
        let exe = std::env::current_exe()?;
        let mut children = Vec::with_capacity(shards);
        for shard in 0..shards {
            let mut command = tokio::process::Command::new(&exe);
            command.arg("room-listeners");
            for url in &load.urls {
                command.args(["--url", url]);
            }
            command
                .args(["--viewers", &load.viewers.to_string(), "--shard", &shard.to_string(), "--shards", &shards.to_string()])
                .args(["--start", &plan.start.to_string(), "--join-ms", &plan.join_ms.to_string()])
                .args(["--window-from", &plan.window.0.to_string(), "--window-until", &plan.window.1.to_string()])
                .args(["--end", &plan.end.to_string()])
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true);
            if load.full_listeners {
                command.arg("--full-listeners");
            }
            children.push(command.spawn().context("starting a listeners' process")?);
        }
        Running::Children(children)
    };
    let load_pids: Vec<String> = match &running {
        Running::Here(_) => vec!["self".to_string()],
        Running::Children(children) => {
            std::iter::once("self".to_string()).chain(children.iter().filter_map(|c| c.id()).map(|p| p.to_string())).collect()
        }
    };

    // The room idle with everyone in it: weigh the servers.
    tokio::time::sleep_until(at(start + join_ms + 1500)).await;
    let rss_idle = servers_rss();

    // Senders: guests chatting once a second each, and liking, each at its turn within the second
    // from one origin for all, so chat arrives evenly, not in a burst a second.
    let like_per_sender = (load.like_rate as f64 / n_senders.max(1) as f64).ceil() as u32;
    let mut senders = Vec::new();
    for (i, (url, cookie)) in cookies.into_iter().enumerate() {
        senders.push(tokio::spawn(async move {
            let Ok(mut request) = url.into_client_request() else { return };
            let Ok(value) = cookie.parse() else { return };
            request.headers_mut().insert("cookie", value);
            let Ok((socket, _)) = connect_fully(request).await else { return };
            let (mut sink, mut stream) = socket.split();
            // Drain what the room sends the sender, so its queue never fills.
            tokio::spawn(async move { while stream.next().await.is_some() {} });
            let first = origin * 1000 + i as u64 * 1_000_000 / n_senders.max(1) as u64;
            let mut tick = tokio::time::interval_at(at(first / 1000), Duration::from_millis(1001));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if unix_micros() / 1000 >= send_until {
                    return;
                }
                let chat = json!({"type": "chat", "text": format!("t:{}", unix_micros())}).to_string();
                if sink.send(Message::Text(chat.into())).await.is_err() {
                    return;
                }
                if like_per_sender > 0 {
                    let like = json!({"type": "like", "count": like_per_sender.min(50)}).to_string();
                    let _ = sink.send(Message::Text(like.into())).await;
                }
            }
        }));
    }
    // CPU while the chat runs: both sides' (in cores of the machine they share).
    let cpu_of = |pids: &[String]| -> Option<u64> { pids.iter().map(|p| crate::cpu_ms(p)).sum() };
    let server_pids: Vec<String> = load.server_pids.iter().map(|p| p.to_string()).collect();
    tokio::time::sleep_until(at(plan.window.0)).await;
    let before = (cpu_of(&server_pids), cpu_of(&load_pids), Instant::now());
    tokio::time::sleep_until(at(plan.window.1)).await;
    let after = (cpu_of(&server_pids), cpu_of(&load_pids), Instant::now());
    let cpu_seconds = after.2.duration_since(before.2).as_secs_f64().max(0.001);
    let server_ms = after.0.zip(before.0).map(|(a, b)| a.saturating_sub(b)).filter(|_| !server_pids.is_empty());
    let load_ms = after.1.zip(before.1).map(|(a, b)| a.saturating_sub(b));
    // The room quiet again after the chat, everyone still in: weigh the servers again (what
    // connections keep of the traffic they carried).
    tokio::time::sleep_until(at(plan.end - 800)).await;
    let rss_after_chat = servers_rss();

    let reports = match running {
        Running::Here(task) => vec![task.await??],
        Running::Children(children) => {
            let mut reports = Vec::with_capacity(children.len());
            for child in children {
                let out = child.wait_with_output().await?;
                if !out.status.success() {
                    bail!("a listeners' process failed: {}", out.status);
                }
                reports.push(serde_json::from_slice(&out.stdout).context("a listeners' process's report")?);
            }
            reports
        }
    };
    for s in senders {
        s.abort();
    }
    let sum = |key: &str| reports.iter().filter_map(|r| r[key].as_u64()).sum::<u64>();
    let (mut delays, mut joins) = (Histogram::default(), Histogram::default());
    for r in &reports {
        delays.merge(&r["delays"]);
        joins.merge(&r["joins"]);
    }
    let frames_in_window = sum("frames_in_window").max(1);
    let n = load.viewers.max(1) as u64;
    let per_conn = |after: Option<u64>| rss_before.zip(after).map(|(a, b)| b.saturating_sub(a) / n);
    Ok(json!({
        "viewers": load.viewers,
        "nodes": load.urls.len(),
        "load_processes": shards,
        "connected": sum("connected"),
        // Connected listeners that got the room's snapshot.
        "joined": sum("joined"),
        "unconnected": sum("unconnected"),
        "disconnects": sum("disconnects"),
        "seconds": load.seconds,
        "chat_rate": load.chat_rate,
        "like_rate": load.like_rate,
        "frames_received": sum("frames"),
        "measuring_listeners": load.viewers.div_ceil(50),
        "viewers_seen_max": reports.iter().filter_map(|r| r["viewers_max"].as_u64()).max(),
        "resyncs": sum("resyncs"),
        "delivery_samples": delays.count(),
        "p50_ms": delays.percentile_ms(0.5),
        "p99_ms": delays.percentile_ms(0.99),
        "join_median_ms": joins.percentile_ms(0.5),
        "join_p99_ms": joins.percentile_ms(0.99),
        "server_rss_before_bytes": rss_before,
        "server_rss_idle_room_bytes": rss_idle,
        "rss_per_conn_bytes": per_conn(rss_idle),
        "server_rss_after_chat_bytes": rss_after_chat,
        "rss_per_conn_after_chat_bytes": per_conn(rss_after_chat),
        "server_cores": server_ms.map(|ms| ms as f64 / 1000.0 / cpu_seconds),
        "load_cores": load_ms.map(|ms| ms as f64 / 1000.0 / cpu_seconds),
        "server_cpu_us_per_frame": server_ms.map(|ms| ms as f64 * 1000.0 / frames_in_window as f64),
    }))
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn histograms_merge_and_give_percentiles() {
        let mut a = Histogram::default();
        for us in [1_000, 2_000, 3_000] {
            a.add(us);
        }
        let mut b = Histogram::default();
        b.merge(&a.to_json());
        b.add(150_000);
        assert_eq!(b.count(), 4);
        assert_eq!(b.percentile_ms(0.0), Some(1.05));
        assert_eq!(b.percentile_ms(0.5), Some(3.05));
        assert_eq!(b.percentile_ms(1.0), Some(150.05));
        assert_eq!(Histogram::default().percentile_ms(0.5), None);
    }
}
