//! `vetrina-load timeline`: reads a show's whole timeline in pages by media time, as the replay
//! does after each seek, and reports how long each page took.

use std::time::Instant;

use anyhow::Context;

pub struct TimelineLoad {
    /// http://host/shows/SLUG
    pub url: String,
    /// Events per page (1 to 1000).
    pub limit: usize,
    /// Times to read the whole timeline.
    pub rounds: usize,
}

pub async fn run(load: TimelineLoad) -> anyhow::Result<String> {
    let (base, slug) = load.url.split_once("/shows/").context("--url is http://host/shows/SLUG")?;
    let client = reqwest::Client::builder().build()?;
    // The baseline in the same run: the cheapest answer the server gives (its health check).
    let mut health_us = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        client.get(format!("{base}/healthz")).send().await?.bytes().await?;
        health_us.push(started.elapsed().as_micros() as u64);
    }
    health_us.sort_unstable();
    let mut page_us: Vec<u64> = Vec::new();
    let mut events = 0usize;
    let mut pages = 0usize;
    let mut last_ms = None;
    for _ in 0..load.rounds.max(1) {
        let mut after: Option<i64> = None;
        let mut after_at: Option<i64> = None;
        events = 0;
        pages = 0;
        loop {
            let mut url = format!("{base}/api/v1/shows/{slug}/timeline?limit={}", load.limit);
            if let Some(a) = after {
                url.push_str(&format!("&after_ms={a}"));
            }
            if let Some(a) = after_at {
                url.push_str(&format!("&after_at={a}"));
            }
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
            let page: serde_json::Value = response.json().await?;
            page_us.push(started.elapsed().as_micros() as u64);
            let n = page["events"].as_array().map_or(0, |e| e.len());
            events += n;
            pages += 1;
            last_ms = page["events"].as_array().and_then(|e| e.last()).and_then(|e| e["media_ms"].as_i64()).or(last_ms);
            after_at = page["next_after_at"].as_i64();
            match page["next_after_ms"].as_i64() {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    page_us.sort_unstable();
    let ms = |us: Option<u64>| us.map_or(0.0, |u| u as f64 / 1000.0);
    Ok(serde_json::json!({
        "events": events,
        "pages": pages,
        "rounds": load.rounds.max(1),
        "last_media_ms": last_ms,
        "page_p50_ms": ms(crate::percentile(&page_us, 0.5)),
        "page_p99_ms": ms(crate::percentile(&page_us, 0.99)),
        "page_max_ms": ms(page_us.last().copied()),
        "healthz_p50_ms": ms(crate::percentile(&health_us, 0.5)),
        "page_p50_vs_healthz": ms(crate::percentile(&page_us, 0.5)) / ms(crate::percentile(&health_us, 0.5)).max(0.001),
    })
    .to_string())
}
