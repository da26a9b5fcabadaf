//! `vetrina-load room`: many WebSocket connections in one show's live room, and a crowd of senders
//! chatting and liking at given rates.
//!
//! Senders are guests (a name each) who send at most one chat message a second (the room's pace
//! for viewers), so `chat_rate` needs that many senders. Each chat line carries its send time;
//! a sample of listening connections (1 in 50) parses frames to measure delivery delay, the rest
//! only count what arrives from the frame headers (`light_ws`: so the load generator's own
//! parsing does not take the cores the server is measured on). Prints one
//! JSON line: viewers, connected, disconnects, p50/p99 delivery of chat lines, frames received,
//! the server's memory per connection (RSS with the room idle, over its RSS before), and the CPU
//! both processes used while the chat ran (the server's also per message delivered).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{percentile, rss_bytes};
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Clone, Debug)]
pub struct RoomLoad {
    /// The room's WebSocket URL (`ws://host/api/v1/shows/SLUG/live`).
    pub url: String,
    pub viewers: usize,
    pub seconds: u64,
    pub chat_rate: usize,
    pub like_rate: usize,
    pub server_pid: Option<u32>,
    pub joins_per_second: usize,
    /// Every listener a full WebSocket client (tungstenite); otherwise only the one in 50 that
    /// measures delivery.
    pub full_listeners: bool,
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

async fn guest_cookie(http: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<String> {
    let r = http.post(format!("{base}/api/v1/guests")).json(&json!({"display_name": format!("load-{i}")})).send().await?;
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).context("no guest cookie")?;
    Ok(cookie.split(';').next().unwrap_or("").to_string())
}

/// A listener that counts what arrives from the frame headers (`light_ws`), until `end`.
async fn listen_lightly(
    url: String,
    nonce: u64,
    end: Instant,
    connected: Arc<AtomicU64>,
    disconnects: Arc<AtomicU64>,
    frames: Arc<AtomicU64>,
    joins: Arc<Mutex<Vec<u64>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let asked = Instant::now();
    let Ok((mut stream, first)) = crate::light_ws::connect(&url, nonce).await else {
        disconnects.fetch_add(1, Ordering::Relaxed);
        return;
    };
    connected.fetch_add(1, Ordering::Relaxed);
    let mut counter = crate::light_ws::Counter::default();
    let mut n = counter.feed(&first);
    let mut joined = false;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::sleep_until(end.into());
    tokio::pin!(deadline);
    loop {
        if n > 0 {
            // The first message is the room's snapshot.
            if !joined {
                joined = true;
                joins.lock().await.push(asked.elapsed().as_micros() as u64);
            }
            frames.fetch_add(n, Ordering::Relaxed);
        }
        if counter.closed {
            disconnects.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::select! {
            () = &mut deadline => break,
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    disconnects.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(len) => n = counter.feed(&buf[..len]),
            },
        }
    }
    let _ = stream.write_all(&crate::light_ws::CLOSE).await;
}

pub async fn run(load: RoomLoad) -> anyhow::Result<serde_json::Value> {
    let http_base = load.url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
    let base = match http_base.find("/api/v1/") {
        Some(i) => http_base[..i].to_string(),
        None => bail!("{} is not a room URL (…/api/v1/shows/SLUG/live)", load.url),
    };
    let http = reqwest::Client::new();
    let rss_before = load.server_pid.and_then(rss_bytes);
    let connected = Arc::new(AtomicU64::new(0));
    let disconnects = Arc::new(AtomicU64::new(0));
    let frames = Arc::new(AtomicU64::new(0));
    // Snapshots after the first: the room resynchronised a measuring listener that fell behind.
    let resyncs = Arc::new(AtomicU64::new(0));
    let delays = Arc::new(Mutex::new(Vec::<u64>::new()));
    // From asking to connect to the room's snapshot, per viewer (microseconds).
    let joins = Arc::new(Mutex::new(Vec::<u64>::new()));
    let started = Instant::now();
    let join_time = Duration::from_secs_f64(load.viewers as f64 / load.joins_per_second.max(1) as f64);
    let end = started + join_time + Duration::from_secs(2 + load.seconds);

    let mut tasks = Vec::with_capacity(load.viewers);
    for i in 0..load.viewers {
        tokio::time::sleep_until((started + join_time.mul_f64(i as f64 / load.viewers.max(1) as f64)).into()).await;
        let (url, connected, disconnects, frames, delays, joins, resyncs) =
            (load.url.clone(), connected.clone(), disconnects.clone(), frames.clone(), delays.clone(), joins.clone(), resyncs.clone());
        let measure = i % 50 == 0;
        if !measure && !load.full_listeners {
            tasks.push(tokio::spawn(listen_lightly(url, i as u64, end, connected, disconnects, frames, joins)));
            continue;
        }
        tasks.push(tokio::spawn(async move {
            let asked = Instant::now();
            let Ok(request) = url.into_client_request() else { return };
            let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
                disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            };
            connected.fetch_add(1, Ordering::Relaxed);
            let mut local = Vec::new();
            let mut joined = false;
            let mut frames_seen = 0u64;
            loop {
                let next = tokio::time::timeout_at(end.into(), socket.next()).await;
                match next {
                    Err(_) => break,
                    Ok(Some(Ok(Message::Text(t)))) => {
                        // The first message is the room's snapshot.
                        if !joined {
                            joined = true;
                            joins.lock().await.push(asked.elapsed().as_micros() as u64);
                        }
                        frames.fetch_add(1, Ordering::Relaxed);
                        if measure && let Ok(m) = serde_json::from_str::<serde_json::Value>(t.as_str()) {
                            // Delivery is timed on frames only: a snapshot's chat lines are
                            // history (at join, or when the listener fell behind), not deliveries.
                            if m["type"] == "snapshot" {
                                if frames_seen > 0 {
                                    resyncs.fetch_add(1, Ordering::Relaxed);
                                }
                                frames_seen += 1;
                                continue;
                            }
                            frames_seen += 1;
                            let now = unix_micros();
                            for line in m["chat"].as_array().into_iter().flatten() {
                                if let Some(sent) =
                                    line["text"].as_str().and_then(|t| t.strip_prefix("t:")).and_then(|t| t.parse::<u64>().ok())
                                {
                                    local.push(now.saturating_sub(sent));
                                }
                            }
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => {
                        disconnects.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            let _ = socket.close(None).await;
            delays.lock().await.extend(local);
        }));
    }
    // The room idle with everyone in it: weigh the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = load.server_pid.and_then(rss_bytes);

    // Senders: guests chatting once a second each, and liking.
    let n_senders = load.chat_rate;
    let like_per_sender = (load.like_rate as f64 / n_senders.max(1) as f64).ceil() as u32;
    let mut senders = Vec::new();
    // Each sender's turn within the second, from one origin for all (they start one after another,
    // as their guest sessions are made): chat arrives evenly, not in a burst a second.
    let origin = Instant::now() + Duration::from_millis(200 + 5 * n_senders as u64);
    for i in 0..n_senders {
        let cookie = guest_cookie(&http, &base, i).await?;
        let url = load.url.clone();
        let send_until = end - Duration::from_millis(2500);
        senders.push(tokio::spawn(async move {
            let Ok(mut request) = url.into_client_request() else { return };
            let Ok(value) = cookie.parse() else { return };
            request.headers_mut().insert("cookie", value);
            let Ok((socket, _)) = tokio_tungstenite::connect_async(request).await else { return };
            let (mut sink, mut stream) = socket.split();
            // Drain what the room sends the sender, so its queue never fills.
            tokio::spawn(async move { while stream.next().await.is_some() {} });
            let first = origin + Duration::from_millis(i as u64 * 1000 / n_senders.max(1) as u64);
            let mut tick = tokio::time::interval_at(first.into(), Duration::from_millis(1001));
            while Instant::now() < send_until {
                tick.tick().await;
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
    // CPU while the chat runs, from the first sender's turn to the last message: both processes'
    // (in cores of the machine they share) and the server's per frame delivered.
    let cpu = {
        let (server_pid, frames) = (load.server_pid.map(|p| p.to_string()), frames.clone());
        let until = end - Duration::from_millis(2500);
        tokio::spawn(async move {
            tokio::time::sleep_until((origin + Duration::from_secs(1)).into()).await;
            let server = || server_pid.as_deref().and_then(crate::cpu_ms);
            let before = (server(), crate::cpu_ms("self"), frames.load(Ordering::Relaxed), Instant::now());
            tokio::time::sleep_until(until.into()).await;
            let after = (server(), crate::cpu_ms("self"), frames.load(Ordering::Relaxed), Instant::now());
            let seconds = after.3.duration_since(before.3).as_secs_f64().max(0.001);
            let server_ms = after.0.zip(before.0).map(|(a, b)| a.saturating_sub(b));
            let load_ms = after.1.zip(before.1).map(|(a, b)| a.saturating_sub(b));
            let frames = after.2.saturating_sub(before.2).max(1);
            json!({
                "server_cores": server_ms.map(|ms| ms as f64 / 1000.0 / seconds),
                "load_cores": load_ms.map(|ms| ms as f64 / 1000.0 / seconds),
                "server_cpu_us_per_frame": server_ms.map(|ms| ms as f64 * 1000.0 / frames as f64),
            })
        })
    };
    // The room quiet again after the chat, everyone still in: weigh the server again (what
    // connections keep of the traffic they carried).
    let server_pid = load.server_pid;
    let rss_after_chat = tokio::spawn(async move {
        tokio::time::sleep_until((end - Duration::from_millis(800)).into()).await;
        server_pid.and_then(rss_bytes)
    });
    for t in tasks {
        let _ = t.await;
    }
    let rss_after_chat = rss_after_chat.await.ok().flatten();
    let cpu = cpu.await.unwrap_or_default();
    for s in senders {
        s.abort();
    }
    let mut delays = std::mem::take(&mut *delays.lock().await);
    delays.sort_unstable();
    let mut joins = std::mem::take(&mut *joins.lock().await);
    joins.sort_unstable();
    let n = load.viewers.max(1) as u64;
    Ok(json!({
        "viewers": load.viewers,
        "connected": connected.load(Ordering::Relaxed),
        "disconnects": disconnects.load(Ordering::Relaxed),
        "seconds": load.seconds,
        "chat_rate": load.chat_rate,
        "like_rate": load.like_rate,
        "frames_received": frames.load(Ordering::Relaxed),
        "measuring_listeners": load.viewers.div_ceil(50),
        "resyncs": resyncs.load(Ordering::Relaxed),
        "delivery_samples": delays.len(),
        "p50_ms": percentile(&delays, 0.5).map(|us| us as f64 / 1000.0),
        "p99_ms": percentile(&delays, 0.99).map(|us| us as f64 / 1000.0),
        "join_median_ms": percentile(&joins, 0.5).map(|us| us as f64 / 1000.0),
        "join_p99_ms": percentile(&joins, 0.99).map(|us| us as f64 / 1000.0),
        "server_rss_before_bytes": rss_before,
        "server_rss_idle_room_bytes": rss_idle,
        "rss_per_conn_bytes": match (rss_before, rss_idle) { (Some(a), Some(b)) => Some(b.saturating_sub(a) / n), _ => None },
        "server_rss_after_chat_bytes": rss_after_chat,
        "rss_per_conn_after_chat_bytes": match (rss_before, rss_after_chat) { (Some(a), Some(b)) => Some(b.saturating_sub(a) / n), _ => None },
        "server_cores": cpu["server_cores"],
        "load_cores": cpu["load_cores"],
        "server_cpu_us_per_frame": cpu["server_cpu_us_per_frame"],
    }))
}
