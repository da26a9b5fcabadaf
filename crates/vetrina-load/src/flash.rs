//! `vetrina-load flash-sale`: a flash sale of one SKU. The merchant (signing in with the given
//! account) puts a fresh product with `units` in stock into the show's line-up; then `buyers`
//! buyers, each a browser of its own (its own buyer cookie), tap "add to cart" at once. Prints
//! one JSON line: holds per second, add-to-cart latency, the orders the holders then placed, and
//! whether anything was oversold (more holds or orders than units, or stock below zero after).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::percentile;

pub struct FlashSale {
    /// The show's page or API URL (`http://host/shows/SLUG`).
    pub url: String,
    pub buyers: usize,
    pub units: i64,
    pub email: String,
    pub password: String,
    /// Requests in flight at most (each on its own connection).
    pub concurrency: usize,
    /// The server's process, to weigh the CPU time it spends per hold.
    pub server_pid: Option<u32>,
    /// How many of those who got the SKU then check out (`None`: all of them).
    pub checkouts: Option<usize>,
}

/// The server and the show's slug from a show URL.
fn split(url: &str) -> anyhow::Result<(String, String)> {
    let (base, rest) =
        url.split_once("/shows/").or_else(|| url.split_once("/api/v1/shows/")).context("the URL is not a show's: .../shows/SLUG")?;
    let base = base.trim_end_matches("/api/v1").to_string();
    let slug = rest.split(['/', '?', '#']).next().unwrap_or_default().to_string();
    if slug.is_empty() {
        bail!("the URL names no show: .../shows/SLUG");
    }
    Ok((base, slug))
}

/// Signs in, makes the SKU and puts it in the show's line-up; its variant id.
async fn prepare(http: &reqwest::Client, base: &str, slug: &str, load: &FlashSale) -> anyhow::Result<String> {
    let r = http.post(format!("{base}/api/v1/session")).json(&json!({"email": load.email, "password": load.password})).send().await?;
    if !r.status().is_success() {
        bail!("cannot sign in as {}: {}", load.email, r.text().await?);
    }
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let session: Value = r.json().await?;
    let csrf = session["csrf_token"].as_str().unwrap_or_default().to_string();
    let call = |method: reqwest::Method, path: String| {
        http.request(method, format!("{base}{path}")).header("cookie", cookie.clone()).header("x-csrf-token", csrf.clone())
    };
    for membership in session["memberships"].as_array().into_iter().flatten() {
        let org = membership["org"]["id"].as_str().unwrap_or_default();
        let shows: Value = call(reqwest::Method::GET, format!("/api/v1/orgs/{org}/shows")).send().await?.json().await?;
        let Some(show) = shows.as_array().into_iter().flatten().find(|s| s["slug"] == slug) else { continue };
        let product: Value = call(reqwest::Method::POST, format!("/api/v1/orgs/{org}/products"))
            .json(&json!({"title": format!("Flash sale {}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis()), "variants": [{"price_minor": 1_000, "stock": load.units}]}))
            .send()
            .await?
            .json()
            .await?;
        let (Some(product_id), Some(variant)) = (product["id"].as_str(), product["variants"][0]["id"].as_str()) else {
            bail!("cannot create the sale's product: {product}");
        };
        let mut lineup: Vec<Value> = show["lineup"].as_array().cloned().unwrap_or_default();
        lineup.push(json!(product_id));
        let show_id = show["id"].as_str().unwrap_or_default();
        let r = call(reqwest::Method::PATCH, format!("/api/v1/orgs/{org}/shows/{show_id}")).json(&json!({"lineup": lineup})).send().await?;
        if !r.status().is_success() {
            bail!("cannot put the product in the show's line-up: {}", r.text().await?);
        }
        return Ok(variant.to_string());
    }
    bail!("{} is not a member of the organisation that runs the show {slug}", load.email)
}

pub async fn run(load: FlashSale) -> anyhow::Result<Value> {
    let (base, slug) = split(&load.url)?;
    let setup = reqwest::Client::new();
    let variant = prepare(&setup, &base, &slug, &load).await?;
    // Every buyer its own connection, as browsers are.
    let http = reqwest::Client::builder().pool_max_idle_per_host(load.concurrency).timeout(Duration::from_secs(60)).build()?;
    let slots = Arc::new(tokio::sync::Semaphore::new(load.concurrency.max(1)));
    let url = Arc::new(format!("{base}/api/v1/shows/{slug}/cart/lines"));
    let body = Arc::new(serde_json::to_vec(&json!({"variant_id": variant}))?);
    let server_cpu = || load.server_pid.and_then(|pid| crate::cpu_ms(&pid.to_string()));
    let cpu_before = (server_cpu(), crate::cpu_ms("self"));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(load.buyers);
    for _ in 0..load.buyers {
        let (http, url, body, slots) = (http.clone(), url.clone(), body.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await;
            let t0 = Instant::now();
            let (status, cookie) =
                match http.post(url.as_str()).header("content-type", "application/json").body(body.as_ref().clone()).send().await {
                    Ok(r) => {
                        let cookie = r
                            .headers()
                            .get("set-cookie")
                            .and_then(|c| c.to_str().ok())
                            .map(|c| c.split(';').next().unwrap_or_default().to_string());
                        (r.status().as_u16(), cookie)
                    }
                    Err(_) => (0, None),
                };
            (status, t0.elapsed(), started.elapsed(), cookie)
        }));
    }
    let mut latencies = Vec::with_capacity(load.buyers);
    let (mut held, mut sold_out, mut failed) = (0_i64, 0_usize, 0_usize);
    let mut last_hold = Duration::ZERO;
    let mut holders = Vec::new();
    for task in tasks {
        let (status, latency, at, cookie) = task.await?;
        if status == 201 {
            holders.extend(cookie);
        }
        latencies.push(latency.as_micros() as u64);
        match status {
            201 => {
                held += 1;
                last_hold = last_hold.max(at);
            }
            409 => sold_out += 1,
            _ => failed += 1,
        }
    }
    let elapsed = started.elapsed();
    let cpu_after = (server_cpu(), crate::cpu_ms("self"));
    let used = |before: Option<u64>, after: Option<u64>| Some(after?.saturating_sub(before?));
    let (server_cpu_ms, load_cpu_ms) = (used(cpu_before.0, cpu_after.0), used(cpu_before.1, cpu_after.1));
    // Everyone who got one checks out (each with its own Idempotency-Key), all at once.
    holders.truncate(load.checkouts.unwrap_or(usize::MAX));
    let checkout_url = Arc::new(format!("{base}/api/v1/shows/{slug}/checkout"));
    let contact = Arc::new(serde_json::to_vec(&json!({"email": "buyer@example.com", "name": "Flash Buyer",
        "address": {"line1": "Via Roma 1", "city": "Firenze", "postal_code": "50100", "country": "IT"}}))?);
    let checkout_started = Instant::now();
    let mut checkouts = Vec::with_capacity(holders.len());
    for (i, cookie) in holders.into_iter().enumerate() {
        let (http, url, body, slots) = (http.clone(), checkout_url.clone(), contact.clone(), slots.clone());
        checkouts.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await;
            http.post(url.as_str())
                .header("content-type", "application/json")
                .header("cookie", cookie)
                .header("idempotency-key", format!("flash-{i}"))
                .body(body.as_ref().clone())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut orders = 0_i64;
    for c in checkouts {
        orders += i64::from(c.await? == 201);
    }
    let checkout_seconds = checkout_started.elapsed().as_secs_f64();
    // The stock as the server tells it afterwards.
    let public: Value = setup.get(format!("{base}/api/v1/shows/{slug}")).send().await?.json().await?;
    let left = public["lineup"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["variants"].as_array().into_iter().flatten())
        .find(|v| v["id"] == variant.as_str())
        .and_then(|v| v["stock"].as_i64());
    let oversold = (held - load.units).max(0) + (orders - load.units).max(0) + left.map_or(0, |l| (-l).max(0));
    latencies.sort_unstable();
    let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
    Ok(json!({
        "buyers": load.buyers,
        "units": load.units,
        "holds": held,
        "orders": orders,
        "orders_per_s": if checkout_seconds > 0.0 { orders as f64 / checkout_seconds } else { 0.0 },
        "sold_out": sold_out,
        "failed": failed,
        "oversold": oversold,
        "stock_left": left,
        "holds_per_s": if last_hold.is_zero() { 0.0 } else { held as f64 / last_hold.as_secs_f64() },
        "requests_per_s": load.buyers as f64 / elapsed.as_secs_f64(),
        "p50_ms": ms(percentile(&latencies, 0.50)),
        "p99_ms": ms(percentile(&latencies, 0.99)),
        "seconds": elapsed.as_secs_f64(),
        // CPU time over the add-to-cart rush: the server's per request, and both processes' in
        // cores (two cores on the benchmark machine, shared by both).
        "server_cpu_us_per_request": server_cpu_ms.map(|ms| ms as f64 * 1000.0 / load.buyers.max(1) as f64),
        "server_cores": server_cpu_ms.map(|ms| ms as f64 / 1000.0 / elapsed.as_secs_f64()),
        "load_cores": load_cpu_ms.map(|ms| ms as f64 / 1000.0 / elapsed.as_secs_f64()),
        "variant_id": variant,
    }))
}
