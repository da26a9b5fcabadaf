//! Replays: chapters from the show's pins and segments, clips cut on keyframes (checked by
//! ffprobe), replay prices, purchases attributed to the chapter watched, and what other sites
//! may read.

use serde_json::{Value, json};
use vetrina_domain::ids::ShowId;
use vetrina_store::now_ms;

use crate::harness::{Agent, Org, TestApp, attach_recording, ffprobe, product_json, story, temp_dir};

/// Two products and an ended show of 10 s whose timeline has: a pin of the first product before
/// the recording, a chat line at 2 s, segment 0 ("Il lino", the second product) at 4 s with its
/// pin, a chat line at 5 s, the first product pinned again at 7 s. Segment 0 has a deal with a
/// replay price. Returns (show id, [product ids], [first variant ids]).
pub async fn ended_show(app: &TestApp, org: &Org, slug: &str) -> (String, Vec<String>, Vec<String>) {
    let mut products = Vec::new();
    let mut variants = Vec::new();
    for (i, title) in ["Giacca", "Borsa"].iter().enumerate() {
        let mut body = product_json(&format!("{title} {slug}"), 10_000);
        body["variants"][0]["shopify_variant_id"] = json!(format!("4470000000{i}01"));
        let p = org.owner.post(&org.path("/products"), body).await;
        assert_eq!(p.status, 201, "{}", p.text);
        products.push(p.body["id"].as_str().unwrap().to_string());
        variants.push(p.body["variants"][0]["id"].as_str().unwrap().to_string());
    }
    let deal =
        json!({"product_id": products[1], "price_minor": 5_000, "quantity": 10, "duration_seconds": 60, "replay_price_minor": 8_000});
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": "Replay", "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled", "lineup": products,
                   "run_of_show": {"segments": [{"title": "Il lino", "product_ids": [products[1]], "deal": deal}]}}),
        )
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    let id = show.body["id"].as_str().unwrap().to_string();
    let path = org.path(&format!("/shows/{id}"));
    assert_eq!(org.owner.patch(&path, json!({"status": "live"})).await.status, 200);
    let started = now_ms() - 10_000;
    attach_recording(app, &id, 10, started).await;
    let pin = |p: &str, ms: i64| (started + ms, Some(ms), "pin".to_string(), json!({"product_id": p, "at": started + ms}).to_string());
    let chat = |text: &str, ms: i64| {
        (started + ms, Some(ms), "chat".to_string(), json!({"id": ms, "name": "Anna", "role": "viewer", "text": text}).to_string())
    };
    let segment = json!({"index": 0, "title": "Il lino", "product_ids": [products[1]], "deal": deal}).to_string();
    let events = vec![
        (started - 5_000, None, "pin".to_string(), json!({"product_id": products[0], "at": started - 5_000}).to_string()),
        chat("ciao a tutti", 2_000),
        // A poll at 3 s, a vote at 3.5 s and another at 6 s: the replay's results grow with the video.
        (
            started + 3_000,
            Some(3_000),
            "poll".to_string(),
            json!({"id": 1, "question": "Rosso o blu?", "options": ["Rosso", "Blu"], "votes": [0, 0], "open": true}).to_string(),
        ),
        (started + 3_500, Some(3_500), "vote".to_string(), json!({"poll_id": 1, "option": 1}).to_string()),
        (started + 6_000, Some(6_000), "vote".to_string(), json!({"poll_id": 1, "option": 1}).to_string()),
        pin(&products[1], 4_000),
        (started + 4_000, Some(4_000), "segment".to_string(), segment),
        chat("che bella borsa", 5_000),
        pin(&products[0], 7_000),
    ];
    app.store().append_timeline(&ShowId(id.clone()), &events).await.unwrap();
    // A live deal running when the show ends ends with it.
    app.store()
        .start_deal(&vetrina_store::shop::DealStart {
            org: vetrina_domain::ids::OrgId(org.id.clone()),
            show: ShowId(id.clone()),
            segment: 0,
            product: vetrina_domain::ids::ProductId(products[1].clone()),
            variant: None,
            price_minor: Some(5_000),
            percent_off: None,
            quantity: Some(10),
            per_buyer_limit: None,
            starts_at: now_ms() - 1_000,
            ends_at: now_ms() + 60_000,
        })
        .await
        .unwrap();
    assert_eq!(org.owner.patch(&path, json!({"status": "ended"})).await.status, 200);
    (id, products, variants)
}

fn cookie_from(agent: &mut Agent, r: &crate::harness::Resp) {
    if agent.cookie.is_none()
        && let Some(c) = r.headers.get("set-cookie").and_then(|v| v.to_str().ok())
    {
        agent.cookie = Some(c.split(';').next().unwrap().to_string());
    }
}

story!(chapters_and_the_replay_shop, |app| {
    let org = app.org("replay").await;
    let (_, products, variants) = ended_show(app, &org, "replay-show").await;
    let anon = app.anonymous();

    let c = anon.get("/api/v1/shows/replay-show/chapters").await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "ended");
    assert!(c.body["recording_url"].as_str().unwrap().ends_with("/api/v1/shows/replay-show/recording"));
    let chapters: Vec<(i64, &str, &str)> = c.body["chapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["media_ms"].as_i64().unwrap(), c["kind"].as_str().unwrap(), c["product_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        chapters,
        vec![(0, "pin", products[0].as_str()), (4_000, "segment", products[1].as_str()), (7_000, "pin", products[0].as_str())]
    );
    assert_eq!(c.body["chapters"][1]["title"], "Il lino");
    anon.get("/api/v1/shows/no-such-show/chapters").await.problem(404, "show");

    // The ended show's recording comes with a segment index (sidx) after its moov, so players
    // know its length and seek at once; ranges across the index and the media agree.
    let url = format!("{}/api/v1/shows/replay-show/recording", app.base);
    let whole = anon.http.get(&url).send().await.unwrap().bytes().await.unwrap();
    let boxes = top_boxes(&whole);
    assert_eq!(boxes.iter().take(5).map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["ftyp", "moov", "sidx", "sidx", "moof"]);
    assert_eq!(boxes.iter().map(|(_, n)| n).sum::<usize>(), whole.len(), "boxes tile the answer");
    let file = temp_dir("indexed").join("replay.mp4");
    std::fs::write(&file, &whole).unwrap();
    let (duration, text) = ffprobe(&file);
    assert!((duration - 10.0).abs() < 0.5 && text.contains("h264") && text.contains("opus"), "{duration} {text}");
    let seam = boxes[0].1 + boxes[1].1 + boxes[2].1 + boxes[3].1;
    for (a, b) in [(0, 99), (seam - 10, seam + 10), (seam, seam + 500), (whole.len() - 7, whole.len() - 1)] {
        let part = anon.http.get(&url).header("range", format!("bytes={a}-{b}")).send().await.unwrap();
        assert_eq!(part.status().as_u16(), 206);
        assert_eq!(part.headers()["content-range"].to_str().unwrap(), format!("bytes {a}-{b}/{}", whole.len()));
        assert_eq!(&part.bytes().await.unwrap()[..], &whole[a..=b], "bytes {a}-{b}");
    }

    // The timeline pages by media time for the replay.
    let t = anon.get("/api/v1/shows/replay-show/timeline?after_ms=3000").await;
    let kinds: Vec<&str> = t.body["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["vote", "pin", "segment", "chat", "vote", "pin"], "after 3 s, in media-time order");

    // In the replay the live deal is over, the replay price holds, and a purchase is attributed
    // to the replay and to the chapter being watched.
    let mut buyer = app.anonymous();
    let r = buyer.post("/api/v1/shows/replay-show/cart/lines", json!({"variant_id": variants[1], "quantity": 1, "media_ms": 5_500})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    cookie_from(&mut buyer, &r);
    assert_eq!(r.body["unit_price_minor"], 8_000, "the replay price, not the live deal's 5000: {}", r.text);
    let r = buyer.post("/api/v1/shows/replay-show/cart/lines", json!({"variant_id": variants[0], "quantity": 1, "media_ms": 9_000})).await;
    assert_eq!(r.body["unit_price_minor"], 10_000);
    let order = buyer.post("/api/v1/shows/replay-show/checkout", crate::shop::contact()).await;
    assert_eq!(order.status, 201, "{}", order.text);
    let lines = order.body["lines"].as_array().unwrap();
    let line = |p: &str| lines.iter().find(|l| l["product_id"] == p).unwrap().clone();
    assert_eq!((line(&products[1])["source"].as_str(), line(&products[1])["pin_ms"].as_i64()), (Some("replay"), Some(4_000)));
    assert_eq!(line(&products[0])["pin_ms"], 7_000, "the latest showing of that product before the moment");
    let listed = org.owner.get(&org.path("/orders")).await;
    assert!(listed.body["items"][0]["lines"][0]["pin_ms"].as_i64().is_some(), "the console sees the pin: {}", listed.text);

    // Other sites (the embedded player) may read the public show, never a cart.
    let show = anon.get("/api/v1/shows/replay-show").await;
    assert_eq!(show.header("access-control-allow-origin"), "*");
    assert_eq!(anon.get("/api/v1/shows/replay-show/chapters").await.header("access-control-allow-origin"), "*");
    assert_eq!(buyer.get("/api/v1/shows/replay-show/cart").await.header("access-control-allow-origin"), "");
    let embed = anon.get("/embed.js").await;
    assert_eq!(embed.status, 200);
    assert!(embed.header("content-type").starts_with("text/javascript"));
    assert_eq!(embed.header("access-control-allow-origin"), "*", "a module script from another origin needs CORS");
});

story!(clips_are_cut_on_keyframes, |app| {
    let org = app.org("clips").await;
    let (show_id, products, _) = ended_show(app, &org, "clip-show").await;
    let clips = org.path(&format!("/shows/{show_id}/clips"));

    let listed = org.owner.get(&clips).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let recording_ms = listed.body["recording_ms"].as_i64().unwrap();
    assert!((9_900..=10_100).contains(&recording_ms), "{recording_ms}");
    let suggested = &listed.body["suggested"];
    assert_eq!(suggested.as_array().unwrap().len(), 1, "one per segment: {suggested}");
    assert_eq!((suggested[0]["title"].as_str(), suggested[0]["start_ms"].as_i64()), (Some("Il lino"), Some(4_000)));
    assert_eq!(suggested[0]["end_ms"], recording_ms);

    let r = org.owner.post(&clips, json!({"title": "La borsa", "start_ms": 3_900, "end_ms": 5_600})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Keyframes every second (ffmpeg's video starts 6 ms in, after Opus's pre-skip).
    let (start, end) = (r.body["start_ms"].as_i64().unwrap(), r.body["end_ms"].as_i64().unwrap());
    assert!((start - 4_000).abs() <= 50 && (end - 6_000).abs() <= 50, "on the nearest keyframes: {start}..{end}");
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(r.body["page_url"].as_str().unwrap().ends_with(&format!("/clips/{id}")));

    // The clip plays the right range: ffprobe's duration within a keyframe interval (1 s).
    let anon = app.anonymous();
    let video = anon.http.get(format!("{}/api/v1/clips/{id}/video", app.base)).send().await.unwrap();
    assert_eq!(video.status().as_u16(), 200);
    assert_eq!(video.headers()["content-type"], "video/mp4");
    let file = temp_dir("clip").join("clip.mp4");
    std::fs::write(&file, video.bytes().await.unwrap()).unwrap();
    let (duration, text) = ffprobe(&file);
    assert!(text.contains("codec_name=h264") && text.contains("codec_name=opus"), "{text}");
    assert!((duration - 1.7).abs() <= 1.0, "asked 1.7 s, got {duration} s");
    let ranged = anon.http.get(format!("{}/api/v1/clips/{id}/video", app.base)).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(ranged.status().as_u16(), 206);

    // Its public page's data: the clip, its show's line-up, the chapters inside it.
    let page = anon.get(&format!("/api/v1/clips/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["title"], "La borsa");
    assert_eq!(page.body["show"]["slug"], "clip-show");
    let inside: Vec<&str> = page.body["chapters"].as_array().unwrap().iter().map(|c| c["product_id"].as_str().unwrap()).collect();
    assert_eq!(inside, [products[1].as_str()], "only the segment's chapter lies in 4-6 s");
    assert_eq!(page.header("access-control-allow-origin"), "*");
    let html = anon.get(&format!("/clips/{id}")).await;
    assert_eq!(html.status, 200);
    assert!(html.header("content-security-policy").contains("default-src 'self'"));
    assert_eq!(anon.get("/clips/clp_nothing").await.status, 404);

    // Bad ranges say what is wrong and leave nothing behind.
    let bad = |body: Value| {
        let owner = &org.owner;
        let clips = clips.clone();
        async move { owner.post(&clips, body).await }
    };
    bad(json!({"title": "x", "start_ms": 6_000, "end_ms": 5_000})).await.problem(422, "after start_ms");
    bad(json!({"title": "x", "start_ms": 5_000, "end_ms": 5_000})).await.problem(422, "after start_ms");
    bad(json!({"title": "x", "start_ms": -5, "end_ms": 5_000})).await.problem(422, "start_ms");
    bad(json!({"title": "x", "start_ms": 60_000, "end_ms": 65_000})).await.problem(422, "long");
    bad(json!({"title": "x", "start_ms": 0, "end_ms": 65_000})).await.problem(422, "long");
    bad(json!({"title": " ", "start_ms": 0, "end_ms": 1_000})).await.problem(422, "title");
    bad(json!({"title": "x", "start_ms": "zero", "end_ms": 1_000})).await.problem(422, "start_ms");
    let raw = org.owner.raw(reqwest::Method::POST, &clips, Some("application/json"), b"{not json".to_vec()).await;
    assert_eq!(raw.status, 400, "{}", raw.text);
    org.owner.post(&org.path("/shows/shw_nothing/clips"), json!({"title": "x", "start_ms": 0, "end_ms": 1_000})).await.problem(404, "show");
    let listed = org.owner.get(&clips).await;
    assert_eq!(listed.body["clips"].as_array().unwrap().len(), 1, "only the good clip: {}", listed.text);
    let clip_files = std::fs::read_dir(temp_clips_dir(app)).map(|d| d.count()).unwrap_or(0);
    assert_eq!(clip_files, 1, "no partial files");

    // A show without a recording has nothing to cut yet.
    let other = org
        .owner
        .post(&org.path("/shows"), json!({"title": "No video", "slug": "no-video", "starts_at": "2099-01-01T10:00", "status": "scheduled"}))
        .await;
    let other_id = other.body["id"].as_str().unwrap();
    org.owner
        .post(&org.path(&format!("/shows/{other_id}/clips")), json!({"title": "x", "start_ms": 0, "end_ms": 1_000}))
        .await
        .problem(409, "no recording");

    // Another organisation sees none of it.
    let stranger = app.org("stranger").await;
    stranger.owner.get(&stranger.path(&format!("/shows/{show_id}/clips"))).await.problem(404, "");
    stranger.owner.delete(&stranger.path(&format!("/shows/{show_id}/clips/{id}"))).await.problem(404, "");
    org.owner.delete(&org.path(&format!("/shows/{other_id}/clips/{id}"))).await.problem(404, "clip");

    let gone = org.owner.delete(&org.path(&format!("/shows/{show_id}/clips/{id}"))).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    anon.get(&format!("/api/v1/clips/{id}")).await.problem(404, "clip");
    assert_eq!(std::fs::read_dir(temp_clips_dir(app)).map(|d| d.count()).unwrap_or(0), 0, "the file is gone too");
});

/// The top-level boxes of an MP4: (type, size).
fn top_boxes(mut data: &[u8]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        out.push((String::from_utf8_lossy(&data[4..8]).to_string(), size));
        data = &data[size.clamp(8, data.len())..];
    }
    out
}

fn temp_clips_dir(app: &TestApp) -> std::path::PathBuf {
    app.running.as_ref().unwrap().state.config.clips_dir.clone()
}
