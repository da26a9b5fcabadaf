//! `vetrina-load whep`: one publisher (WHIP, synthetic H.264 at a given bitrate) fanned out to N
//! viewers (WHEP), each a str0m peer with its own UDP socket, all in this process.
//!
//! Every viewer is a whole WebRTC session for the server (ICE, DTLS, SRTP, its own encryption
//! and sends), but only one in `measure_every` decrypts and depacketises what it gets, to
//! measure the delivery delay: the others count video frames from the RTP headers, which are in
//! the clear (the marker bit ends a frame). A full str0m receiver costs about as much CPU as the
//! server spends sending to it, so on one machine full viewers alone measure the load
//! generator as much as the server.
//!
//! Reports, as one JSON line: viewers connected, time to first frame (median, p99), the server's
//! forwarding delay (from its `/api/v1/media/stats`: a frame's arrival to its hand-over to each
//! viewer's session), over the whole run and over its second half alone (`*_settled_ms`: every
//! viewer joined, no handshakes in the way; the difference of two readings of the server's
//! histogram), the cores the server and this process used over that half, the delivery delay
//! from the publisher's send to a viewer's receipt (both ends are on this machine, so it
//! includes both peers' pacing), starved viewers (no video in the
//! last two seconds, or under half the frames expected), and the server's memory per viewer (its
//! RSS before and with the viewers, when its pid is given).

use std::time::{Duration, Instant};

use crate::{cpu_ms, percentile, rss_bytes};
use anyhow::{Context, bail};
use serde_json::json;
use str0m::Event;

use crate::peer::{FrameSize, Peer, sent_at};

#[derive(Clone, Debug)]
pub struct WhepLoad {
    pub url: String,
    pub viewers: usize,
    pub seconds: u64,
    pub stream_key: Option<String>,
    pub kbps: usize,
    pub server_pid: Option<u32>,
    pub joins_per_second: usize,
    /// One viewer in this many measures delivery (decrypts every frame); at least 1.
    pub measure_every: usize,
}

#[derive(Default)]
struct ViewerReport {
    connected: bool,
    /// From the offer's POST to ICE and DTLS done.
    connect: Option<Duration>,
    ttff: Option<Duration>,
    delays_us: Vec<u64>,
    frames: u64,
    last_frame: Option<Instant>,
    error: Option<String>,
}

fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

async fn post_sdp(http: &reqwest::Client, url: &str, key: Option<&str>, offer: String) -> anyhow::Result<String> {
    let mut request = http.post(url).header("content-type", "application/sdp").body(offer);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    if status.as_u16() != 201 {
        bail!("{url} answered {status}: {text}");
    }
    Ok(text)
}

pub async fn run(load: WhepLoad) -> anyhow::Result<serde_json::Value> {
    if let Some(limit) = open_files_limit()
        && limit < load.viewers as u64 + 256
    {
        bail!("the open files limit is {limit}; {} viewers need more: raise it with `ulimit -n` first", load.viewers);
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let rss_before = load.server_pid.and_then(rss_bytes);
    let started = Instant::now();
    let join_time = Duration::from_secs_f64(load.viewers as f64 / load.joins_per_second.max(1) as f64);
    let end = started + Duration::from_secs(2) + join_time + Duration::from_secs(load.seconds);

    let publisher = match &load.stream_key {
        Some(key) => {
            let whip = load.url.replace("/whep", "/whip");
            let (mut peer, offer) = Peer::new(true, &["h264", "opus"]).await;
            let answer = post_sdp(&http, &format!("{whip}?takeover=true"), Some(key), offer).await.context("publishing")?;
            peer.accept(&answer);
            let size = FrameSize::for_kbps(load.kbps);
            Some(tokio::spawn(async move {
                peer.pump_with(end + Duration::from_secs(1), Some(size), |_| false).await;
            }))
        }
        None => None,
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut viewers = Vec::with_capacity(load.viewers);
    for i in 0..load.viewers {
        let join_at = started + Duration::from_secs(2) + join_time.mul_f64(i as f64 / load.viewers.max(1) as f64);
        tokio::time::sleep_until(join_at.into()).await;
        let http = http.clone();
        let url = load.url.clone();
        let measures = i % load.measure_every.max(1) == 0;
        viewers.push(tokio::spawn(async move {
            let mut report = ViewerReport::default();
            let joined = Instant::now();
            let (mut peer, offer) = Peer::new(false, &["h264", "vp8", "opus"]).await;
            let answer = match post_sdp(&http, &url, None, offer).await {
                Ok(a) => a,
                Err(e) => {
                    report.error = Some(e.to_string());
                    return report;
                }
            };
            peer.accept(&answer);
            if !measures {
                peer.watch_headers(end, |now| {
                    report.ttff.get_or_insert(now.duration_since(joined));
                    report.frames += 1;
                    report.last_frame = Some(now);
                })
                .await;
                report.connected = peer.connected;
                report.connect = peer.connected_at.map(|t| t.duration_since(joined));
                return report;
            }
            let video = peer.video;
            peer.pump(end, false, |e| {
                if let Event::MediaData(d) = e
                    && d.mid == video
                {
                    let now = Instant::now();
                    report.ttff.get_or_insert(now.duration_since(joined));
                    report.frames += 1;
                    report.last_frame = Some(now);
                    if let Some(sent) = sent_at(&d.data) {
                        let received =
                            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
                        if report.delays_us.len() < 10_000 {
                            report.delays_us.push(received.saturating_sub(sent));
                        }
                    }
                }
                false
            })
            .await;
            report.connected = peer.connected;
            report.connect = peer.connected_at.map(|t| t.duration_since(joined));
            report
        }));
    }
    // All viewers joined: let them settle, then weigh the server with them connected.
    tokio::time::sleep_until((end - Duration::from_secs(load.seconds) / 2).into()).await;
    let rss_during = load.server_pid.and_then(rss_bytes);
    let stats_url = match load.url.find("/api/v1/") {
        Some(i) => format!("{}/api/v1/media/stats", &load.url[..i]),
        None => String::new(),
    };
    let settled = server_stats(&http, &stats_url).await;
    let server_cpu = || load.server_pid.and_then(|pid| cpu_ms(&pid.to_string()));
    let cpu_settled = (Instant::now(), server_cpu(), cpu_ms("self"));

    let mut reports = Vec::with_capacity(viewers.len());
    for v in viewers {
        reports.push(v.await?);
    }
    if let Some(p) = publisher {
        p.abort();
    }
    let finished = Instant::now();
    // CPU over the settled half: cores each process used (they share the machine's).
    let cores = |before: Option<u64>, after: Option<u64>| {
        Some(after?.saturating_sub(before?) as f64 / 1000.0 / finished.duration_since(cpu_settled.0).as_secs_f64().max(0.001))
    };
    let (server_cores, load_cores) = (cores(cpu_settled.1, server_cpu()), cores(cpu_settled.2, cpu_ms("self")));
    // The server's own view of its forwarding delay: over the whole run, and over its second
    // half alone (every viewer joined; no handshakes in the way).
    let server = server_stats(&http, &stats_url).await;
    let steady = histogram(&server).zip(histogram(&settled)).map(|(end, start)| subtract(end, start));
    let steady_ms = |p: f64| steady.as_ref().and_then(|h| histogram_percentile(h, p)).map(|us| us as f64 / 1000.0);
    let mut connects: Vec<u64> = reports.iter().filter_map(|r| r.connect).map(|d| d.as_millis() as u64).collect();
    connects.sort_unstable();
    let mut ttffs: Vec<u64> = reports.iter().filter_map(|r| r.ttff).map(|d| d.as_millis() as u64).collect();
    ttffs.sort_unstable();
    let mut delays: Vec<u64> = reports.iter().flat_map(|r| r.delays_us.iter().copied()).collect();
    delays.sort_unstable();
    let expected_frames = 30 * load.seconds;
    let starved = reports
        .iter()
        .filter(|r| r.last_frame.is_none_or(|t| finished.duration_since(t) > Duration::from_secs(2)) || r.frames < expected_frames / 2)
        .count();
    let errors: Vec<&String> = reports.iter().filter_map(|r| r.error.as_ref()).take(3).collect();
    let rss_per_viewer = match (rss_before, rss_during) {
        (Some(a), Some(b)) if load.viewers > 0 => Some(b.saturating_sub(a) / load.viewers as u64),
        _ => None,
    };
    Ok(json!({
        "viewers": load.viewers,
        "connected": reports.iter().filter(|r| r.connected).count(),
        "measuring_viewers": load.viewers.div_ceil(load.measure_every.max(1)),
        "seconds": load.seconds,
        "publisher_kbps": load.kbps,
        "connect_median_ms": percentile(&connects, 0.5),
        "ttff_median_ms": percentile(&ttffs, 0.5),
        "ttff_p99_ms": percentile(&ttffs, 0.99),
        "p50_forward_ms": server["forward_p50_ms"],
        "p99_forward_ms": server["forward_p99_ms"],
        "max_forward_ms": server["forward_max_ms"],
        "p50_forward_settled_ms": steady_ms(0.5),
        "p99_forward_settled_ms": steady_ms(0.99),
        "server_cores_settled": server_cores,
        "load_cores_settled": load_cores,
        "p50_delivery_ms": percentile(&delays, 0.5).map(|us| us as f64 / 1000.0),
        "p99_delivery_ms": percentile(&delays, 0.99).map(|us| us as f64 / 1000.0),
        "starved": starved,
        "server_rss_before_bytes": rss_before,
        "server_rss_with_viewers_bytes": rss_during,
        "rss_per_viewer_bytes": rss_per_viewer,
        "errors": errors,
    }))
}

async fn server_stats(http: &reqwest::Client, url: &str) -> serde_json::Value {
    match http.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

/// The server's forwarding-delay histogram: (smallest delay of a bucket in µs, count).
fn histogram(stats: &serde_json::Value) -> Option<Vec<(u64, u64)>> {
    stats["forward_histogram_us"].as_array()?.iter().map(|pair| Some((pair[0].as_u64()?, pair[1].as_u64()?))).collect()
}

/// The hand-overs in `end` that were not yet in `start` (an earlier reading).
fn subtract(mut end: Vec<(u64, u64)>, start: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    for (floor, n) in start {
        if let Some(bucket) = end.iter_mut().find(|(f, _)| *f == floor) {
            bucket.1 = bucket.1.saturating_sub(n);
        }
    }
    end
}

/// The bucket under which a share `p` of the hand-overs fell.
fn histogram_percentile(buckets: &[(u64, u64)], p: f64) -> Option<u64> {
    let total: u64 = buckets.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64 * p).ceil() as u64).max(1);
    let mut seen = 0;
    buckets
        .iter()
        .find(|(_, n)| {
            seen += n;
            seen >= rank
        })
        .map(|(floor, _)| *floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_delays_are_the_difference_of_two_readings() {
        let start = vec![(10, 90), (5000, 10)];
        let end = vec![(10, 190), (20, 99), (5000, 11)];
        let between = subtract(end, start);
        assert_eq!(between, vec![(10, 100), (20, 99), (5000, 1)]);
        assert_eq!(histogram_percentile(&between, 0.5), Some(10));
        assert_eq!(histogram_percentile(&between, 0.99), Some(20));
        assert_eq!(histogram_percentile(&between, 1.0), Some(5000));
        assert_eq!(histogram_percentile(&[], 0.99), None);
        let stats = serde_json::json!({"forward_histogram_us": [[10, 2], [40, 1]]});
        assert_eq!(histogram(&stats), Some(vec![(10, 2), (40, 1)]));
        assert_eq!(histogram(&serde_json::Value::Null), None);
    }
}
