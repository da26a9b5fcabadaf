//! Real Chromium (Debian's, driven by playwright-core) against a real server: the newcomer's
//! first session in the console and on the public show page. The scripts live in
//! `tests/browser/` at the repository root; `scripts/test` installs Chromium and playwright-core.

use std::path::PathBuf;

use serde_json::json;

use crate::harness::{Db, TestApp, ffprobe, product_json};

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// A server with the demo seeded; its show.
async fn demo_app(adjust: impl FnOnce(&mut vetrina::Config)) -> (TestApp, vetrina_domain::show::Show) {
    let app = TestApp::spawn_with(Db::Sqlite, adjust).await;
    let blobs = app.running.as_ref().unwrap().state.blobs.clone();
    let demo = vetrina::demo::seed(app.store(), blobs).await.expect("demo seed");
    let show = app.store().show_by_slug(&demo.show_slug).await.unwrap();
    (app, show)
}

/// The environment the studio and room scripts need.
fn show_env(app: &TestApp, show: &vetrina_domain::show::Show) -> Vec<(&'static str, String)> {
    vec![
        ("BASE_URL", app.base.clone()),
        ("EMAIL", vetrina::demo::OWNER_EMAIL.to_string()),
        ("PASSWORD", vetrina::demo::PASSWORD.to_string()),
        ("ORG_ID", show.org_id.0.clone()),
        ("SHOW_ID", show.id.0.clone()),
        ("SLUG", show.slug.clone()),
    ]
}

async fn node(script: &str, envs: &[(&str, String)]) -> String {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/test (or `npm ci` in tests/browser)"
    );
    let mut command = tokio::process::Command::new("node");
    command.arg(dir.join(script)).current_dir(&dir).kill_on_drop(true);
    for (k, v) in envs {
        command.env(k, v);
    }
    let run =
        tokio::time::timeout(std::time::Duration::from_secs(120), command.output()).await.expect("browser test finishes in 2 minutes");
    let out = run.expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_signs_in_imports_and_schedules_a_show() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let blobs = app.running.as_ref().unwrap().state.blobs.clone();
    vetrina::demo::seed(app.store(), blobs).await.expect("demo seed");
    let owner = app.sign_in_with(vetrina::demo::OWNER_EMAIL, vetrina::demo::PASSWORD).await;
    let me = owner.get("/api/v1/session").await;
    let org_id = me.body["memberships"][0]["org"]["id"].as_str().unwrap().to_string();
    let xss = "<img src=x onerror=alert(1)> Sciarpa";
    let mut probe = product_json(xss, 1000);
    probe["handle"] = json!("xss-probe");
    let r = owner.post(&format!("/api/v1/orgs/{org_id}/products"), probe).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/shopify/sample_products.csv");
    node(
        "newcomer.mjs",
        &[
            ("BASE_URL", app.base.clone()),
            ("EMAIL", vetrina::demo::OWNER_EMAIL.to_string()),
            ("PASSWORD", vetrina::demo::PASSWORD.to_string()),
            ("CSV", csv.display().to_string()),
            ("XSS_TITLE", xss.to_string()),
        ],
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_goes_live_from_the_studio_and_a_viewer_watches() {
    // Long enough for the host to drop and come back within the grace period.
    let (app, show) = demo_app(|c| c.media.grace_seconds = 60).await;
    let out = node("live.mjs", &show_env(&app, &show)).await;
    let session: f64 =
        out.lines().find_map(|l| l.strip_prefix("session seconds: ")).expect("the script reports the session").trim().parse().unwrap();

    // The recording: both tracks, as long as the session, served with ranges.
    let anon = app.anonymous();
    let path = format!("/api/v1/shows/{}/recording", show.slug);
    let file = crate::harness::temp_dir("recording").join("show.mp4");
    let mut probed = (0.0, String::new());
    for _ in 0..50 {
        let r = anon.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.status);
        assert_eq!(r.header("content-type"), "video/mp4");
        let bytes = anon.http.get(format!("{}{path}", app.base)).send().await.unwrap().bytes().await.unwrap();
        std::fs::write(&file, &bytes).unwrap();
        probed = ffprobe(&file);
        if (probed.0 - session).abs() <= 1.0 && probed.1.contains("h264") && probed.1.contains("opus") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(probed.1.contains("h264") && probed.1.contains("opus"), "both tracks: {}", probed.1);
    assert!((probed.0 - session).abs() <= 1.0, "recording of {} s for a session of {session} s", probed.0);
    let ranged = anon.http.get(format!("{}{path}", app.base)).header("range", "bytes=0-99").send().await.unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert!(ranged.headers()["content-range"].to_str().unwrap().starts_with("bytes 0-99/"));
    assert_eq!(ranged.bytes().await.unwrap().len(), 100);
    let past = anon.http.get(format!("{}{path}", app.base)).header("range", "bytes=999999999-").send().await.unwrap();
    assert_eq!(past.status().as_u16(), 416);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_chats_and_sees_the_host_pin_a_product() {
    let (app, show) = demo_app(|_| {}).await;
    let product = app.store().product(&show.org_id, &show.lineup[2]).await.unwrap();
    let mut env = show_env(&app, &show);
    env.push(("PRODUCT", product.title.clone()));
    node("room.mjs", &env).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_buys_the_pinned_product() {
    let (app, show) = demo_app(|_| {}).await;
    let product = app.store().product(&show.org_id, &show.lineup[1]).await.unwrap();
    let mut env = show_env(&app, &show);
    env.push(("PRODUCT", product.title.clone()));
    let code = vetrina_domain::shop::DiscountInput {
        code: "DIRETTA10".into(),
        percent_off: Some(10),
        amount_off_minor: None,
        min_subtotal_minor: None,
        max_uses: None,
        expires_at: None,
        active: true,
    };
    app.store().create_discount_code(&show.org_id, &code.validate().unwrap(), 0).await.unwrap();
    node("shop.mjs", &env).await;
    let (orders, _) = app.store().orders(&show.org_id, "giulia", None, 10, 0).await.unwrap();
    assert_eq!(orders.len(), 1, "one order, however the page was tapped");
    assert_eq!((orders[0].lines[0].quantity, orders[0].discount_code.as_deref()), (2, Some("DIRETTA10")));
    assert_eq!(orders[0].totals.discount_minor, (orders[0].totals.subtotal_minor + 5) / 10);
    assert_eq!((orders[0].show_id.as_ref(), orders[0].lines[0].product_id.clone()), (Some(&show.id), product.id));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_plays_in_sync_and_the_player_embeds_elsewhere() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let org = app.org("replay-browser").await;
    let (show_id, _, _) = crate::replays::ended_show(&app, &org, "replay-page").await;
    let clip = org
        .owner
        .post(&org.path(&format!("/shows/{show_id}/clips")), json!({"title": "La borsa", "start_ms": 4_000, "end_ms": 6_000}))
        .await;
    assert_eq!(clip.status, 201, "{}", clip.text);
    let out = node(
        "replay.mjs",
        &[
            ("BASE_URL", app.base.clone()),
            ("SLUG", "replay-page".to_string()),
            ("PRODUCT_A", "Giacca replay-page".to_string()),
            ("PRODUCT_B", "Borsa replay-page".to_string()),
            ("CLIP_ID", clip.body["id"].as_str().unwrap().to_string()),
            ("SHOPIFY_VARIANT", "4470000000101".to_string()),
            ("EMAIL", "owner@replay-browser.example".to_string()),
            ("PASSWORD", crate::harness::PASSWORD.to_string()),
            ("ORG_ID", org.id.clone()),
            ("SHOW_ID", show_id.clone()),
        ],
    )
    .await;
    assert!(out.contains("replay flow: ok"), "{out}");
    app.stop().await;
}
