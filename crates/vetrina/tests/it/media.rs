//! Live video with a real WebRTC client (str0m) on loopback: WHIP publish, WHEP watch, the show
//! going live and ending with its publisher, and every way an offer or key can be wrong.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use str0m::Event;
use str0m::media::MediaKind;

use crate::harness::{Agent, TestApp, story};
use vetrina_load::peer::Peer;

async fn sdp_post(agent: &Agent, path: &str, key: Option<&str>, offer: &str) -> crate::harness::Resp {
    let agent = match key {
        Some(k) => agent.with_token(k),
        None => agent.clone(),
    };
    agent.raw(Method::POST, path, Some("application/sdp"), offer.as_bytes().to_vec()).await
}

async fn status_becomes(app: &TestApp, slug: &str, status: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let anon = app.anonymous();
    while Instant::now() < deadline {
        let show: Value = anon.get(&format!("/api/v1/shows/{slug}")).await.body;
        if show["status"] == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A scheduled show and its stream key.
async fn show_with_key(app: &TestApp, slug: &str) -> (crate::harness::Org, String, String) {
    let org = app.org(slug).await;
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            serde_json::json!({"title": "Live", "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled"}),
        )
        .await;
    let id = show.body["id"].as_str().unwrap().to_string();
    let ingest = org.owner.get(&org.path(&format!("/shows/{id}/ingest"))).await;
    assert_eq!(ingest.status, 200, "{}", ingest.text);
    assert!(ingest.body["whip_url"].as_str().unwrap().ends_with(&format!("/api/v1/shows/{slug}/whip")));
    (org, id, ingest.body["stream_key"].as_str().unwrap().to_string())
}

story!(publish_and_watch, |app| {
    let (org, show_id, key) = show_with_key(app, "live-one").await;
    let whip = "/api/v1/shows/live-one/whip";
    let whep = "/api/v1/shows/live-one/whep";
    let anon = app.anonymous();

    let (mut publisher, offer) = Peer::new(true, &["h264", "opus"]).await;
    let r = sdp_post(&anon, whip, Some(&key), &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("content-type"), "application/sdp");
    let publisher_url = r.header("location").to_string();
    assert!(publisher_url.starts_with("/api/v1/media/sessions/pub_"), "{publisher_url}");
    assert!(r.text.contains("a=ice-lite"), "the server is ICE-lite");
    assert!(r.text.to_uppercase().contains("H264"), "H.264 is chosen when offered");
    assert!(r.text.contains("transport-wide-cc"), "a publisher gets congestion feedback: {}", r.text);
    publisher.accept(&r.text);
    let publishing = tokio::spawn(async move {
        publisher.pump(Instant::now() + Duration::from_secs(6), true, |_| false).await;
        publisher
    });
    assert!(status_becomes(app, "live-one", "live", Duration::from_secs(5)).await, "the first publish makes the show live");

    // A second publisher is refused unless it takes over.
    let (_, second_offer) = Peer::new(true, &["h264", "opus"]).await;
    sdp_post(&anon, whip, Some(&key), &second_offer).await.problem(409, "takeover");

    // A viewer gets the host's video (from a keyframe) and audio.
    let (mut viewer, offer) = Peer::new(false, &["h264", "vp8", "opus"]).await;
    let started = Instant::now();
    let r = sdp_post(&anon, whep, None, &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let viewer_url = r.header("location").to_string();
    // Nothing adapts a viewer's rate: no transport-wide feedback to send us.
    assert!(!r.text.contains("transport-wide-cc"), "{}", r.text);
    viewer.accept(&r.text);
    let (mut n_video, mut n_audio, mut first_video_keyframe, mut first_frame) = (0, 0, None, None);
    let video_mid = viewer.video;
    let audio_mid = viewer.audio;
    viewer
        .pump(Instant::now() + Duration::from_secs(4), false, |e| {
            if let Event::MediaData(d) = e {
                if d.mid == video_mid {
                    if first_video_keyframe.is_none() {
                        first_video_keyframe = Some(d.is_keyframe());
                        first_frame = Some(started.elapsed());
                    }
                    n_video += 1;
                } else if d.mid == audio_mid {
                    n_audio += 1;
                }
            }
            n_video >= 30 && n_audio >= 20
        })
        .await;
    assert_eq!(first_video_keyframe, Some(true), "video starts at a keyframe");
    assert!(n_video >= 30 && n_audio >= 20, "video frames {n_video}, audio frames {n_audio}");
    assert!(first_frame.unwrap() < Duration::from_secs(1), "first frame after {:?}", first_frame);

    assert_eq!(anon.delete(&viewer_url).await.status, 200);
    anon.delete(&viewer_url).await.problem(404, "media session");

    // Rotating the key locks out the old one for new publishers.
    let rotated = org.owner.post(&org.path(&format!("/shows/{show_id}/ingest")), serde_json::json!({})).await;
    let new_key = rotated.body["stream_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    let (_, offer) = Peer::new(true, &["h264", "opus"]).await;
    let r = sdp_post(&anon, whip, Some(&key), &offer).await;
    r.problem(401, "stream key is wrong");
    // Taking over with the new key works.
    let r = sdp_post(&anon, &format!("{whip}?takeover=true"), Some(&new_key), &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let taken_over_url = r.header("location").to_string();

    let publisher = publishing.await.unwrap();
    drop(publisher);
    // The taking-over publisher never connects: after the grace period the show ends, and its
    // end closes every session of the show.
    assert!(status_becomes(app, "live-one", "ended", Duration::from_secs(8)).await, "no publisher for the grace period ends the show");
    let deadline = Instant::now() + Duration::from_secs(3);
    while anon.get("/api/v1/media/stats").await.body["publishers"] != 0 {
        assert!(Instant::now() < deadline, "the show's end closes its sessions");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anon.delete(&taken_over_url).await.problem(404, "media session");
    let (_, offer) = Peer::new(false, &["h264", "opus"]).await;
    sdp_post(&anon, whep, None, &offer).await.problem(409, "ended");
    let _ = MediaKind::Video;
});

story!(bad_offers_and_keys, |app| {
    let (_org, _, key) = show_with_key(app, "bad-media").await;
    let anon = app.anonymous();
    let whip = "/api/v1/shows/bad-media/whip";
    let (_, offer) = Peer::new(true, &["h264", "opus"]).await;
    let r = anon.raw(Method::POST, whip, Some("application/sdp"), offer.clone().into_bytes()).await;
    r.problem(401, "stream key");
    assert_eq!(r.header("www-authenticate"), "Bearer realm=\"vetrina\"");
    let wrong = sdp_post(&anon, whip, Some("sk_wrong"), &offer).await;
    wrong.problem(401, "wrong");
    assert!(wrong.header("www-authenticate").contains("error=\"invalid_token\""), "RFC 6750 section 3.1");
    assert_eq!(wrong.header("access-control-allow-origin"), "*", "errors are readable by other origins too");
    sdp_post(&anon, "/api/v1/shows/no-such-show/whip", Some(&key), &offer).await.problem(404, "show");
    sdp_post(&anon, "/api/v1/shows/no-such-show/whep", None, &offer).await.problem(404, "show");
    sdp_post(&anon, whip, Some(&key), "this is not sdp").await.problem(400, "not SDP");
    sdp_post(&anon, whip, Some(&key), "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n").await.problem(400, "no media");
    let av1 = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 45\r\na=mid:0\r\na=sendonly\r\na=rtpmap:45 AV1/90000\r\n";
    sdp_post(&anon, whip, Some(&key), av1).await.problem(422, "H.264 or VP8");
    // One-way sessions (RFC 9725 section 4.4.1): a publisher that would only receive is refused.
    assert!(offer.contains("a=sendonly\r\n"), "{offer}");
    sdp_post(&anon, whip, Some(&key), &offer.replace("a=sendonly", "a=recvonly")).await.problem(422, "a WHIP offer sends media");
    sdp_post(&anon, whip, Some(&key), &offer.replace("a=sendonly", "a=inactive")).await.problem(422, "is inactive");
    // One track of each kind, and every track taken or the offer refused (RFC 9725 section 4.4).
    let video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n";
    let two = format!("{}{video}", av1.replace("AV1/90000", "H264/90000").replace("45", "96"));
    sdp_post(&anon, whip, Some(&key), &two).await.problem(422, "2 video sections");
    let audio_at = offer.find("m=audio").unwrap();
    let audio_end = offer[audio_at + 1..].find("m=").map_or(offer.len(), |i| audio_at + 1 + i);
    let session = &offer[..offer.find("m=").unwrap()];
    let opus_and_av1 = format!("{session}{}{}", &offer[audio_at..audio_end], &av1[av1.find("m=video").unwrap()..]);
    sdp_post(&anon, whip, Some(&key), &opus_and_av1).await.problem(422, "leave the video out");
    let whep = "/api/v1/shows/bad-media/whep";
    let (_, watching) = Peer::new(false, &["h264", "opus"]).await;
    sdp_post(&anon, whep, None, &watching.replace("a=recvonly", "a=sendonly")).await.problem(422, "a WHEP offer receives media");
    // Valid-looking lines that are not a usable offer (no ICE credentials, no fingerprint).
    let broken = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n";
    sdp_post(&anon, whip, Some(&key), broken).await.problem(400, "not valid");
    let r = anon.with_token(&key).raw(Method::POST, whip, Some("application/json"), offer.clone().into_bytes()).await;
    r.problem(415, "application/sdp");
    let huge = format!("{offer}{}", "a=x\r\n".repeat(20_000));
    sdp_post(&anon, whip, Some(&key), &huge).await.problem(413, "");
    anon.raw(Method::PATCH, "/api/v1/media/sessions/pub_x", Some("application/trickle-ice-sdpfrag"), b"a=x".to_vec())
        .await
        .problem(405, "");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_servers_are_offered_to_clients() {
    let turn = vetrina_web::IceServer {
        urls: vec!["turn:turn.example.com:443?transport=tcp".into()],
        username: Some("viewer".into()),
        credential: Some("s3cret".into()),
        secret: None,
        ttl_seconds: None,
    };
    // A second TURN server with a shared secret: clients get credentials that expire.
    let rest = vetrina_web::IceServer {
        urls: vec!["turns:relay.example.com:443".into()],
        username: None,
        credential: None,
        secret: Some("north".into()),
        ttl_seconds: Some(600),
    };
    let app = TestApp::spawn_with(crate::harness::Db::Sqlite, |c| c.media.ice_servers = vec![turn, rest]).await;
    let (_org, _, _key) = show_with_key(&app, "turn-show").await;
    let anon = app.anonymous();
    let live = anon.get("/api/v1/shows/turn-show/media").await;
    assert_eq!(live.body["ice_servers"][0]["urls"][0], "turn:turn.example.com:443?transport=tcp", "{}", live.text);
    let issued = live.body["ice_servers"][1]["username"].as_str().unwrap();
    let expires: i64 = issued.strip_suffix(":vetrina").unwrap().parse().unwrap();
    assert!((expires - vetrina_store::now_ms() / 1000 - 600).abs() <= 5, "expires in ten minutes: {issued}");
    assert!(live.body["ice_servers"][1]["credential"].as_str().unwrap().len() == 28, "base64 of a SHA-1 HMAC");
    assert!(!live.text.contains("north") && live.body["ice_servers"][1].get("secret").is_none(), "the secret stays home");
    let (_, offer) = Peer::new(false, &["h264", "opus"]).await;
    // A browser's transceivers are sendrecv unless told otherwise: the answer is one-way.
    let r = sdp_post(&anon, "/api/v1/shows/turn-show/whep", None, &offer.replace("a=recvonly", "a=sendrecv")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.text.matches("a=sendonly\r\n").count() == 2 && !r.text.contains("sendrecv"), "WHEP answers sendonly: {}", r.text);
    let lines: Vec<&str> = r.text.lines().collect();
    let end = lines.iter().position(|l| *l == "a=end-of-candidates").expect("the answer's candidates are complete (RFC 8840)");
    assert!(lines[end - 1].starts_with("a=candidate:") && !r.text.contains("ice-options:trickle"), "{}", r.text);
    let ufrag = r.text.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).unwrap().trim();
    assert_eq!(r.header("etag"), format!("\"{ufrag}\""));
    let streams: std::collections::HashSet<&str> =
        r.text.lines().filter_map(|l| l.strip_prefix("a=msid:")).map(|v| v.split(' ').next().unwrap()).collect();
    assert_eq!(streams.len(), 1, "one MediaStream for the viewer: {}", r.text);
    let link = r.headers.get_all("link").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>().join(", ");
    assert!(link.contains("<turns:relay.example.com:443>; rel=\"ice-server\"; username=\"") && !link.contains("north"), "{link}");
    assert!(link.starts_with("<turn:turn.example.com:443?transport=tcp>; rel=\"ice-server\""), "{link}");
    assert!(link.contains("username=\"viewer\"") && link.contains("credential-type=\"password\""), "{link}");
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(r.header("access-control-expose-headers").contains("Location"));
    // OPTIONS on the endpoint: ICE servers before the offer, and a CORS preflight.
    let options = anon.raw(Method::OPTIONS, "/api/v1/shows/turn-show/whip", None, Vec::new()).await;
    assert_eq!(options.status, 200, "{}", options.text);
    assert_eq!(options.header("accept-post"), "application/sdp");
    assert!(options.header("link").contains("rel=\"ice-server\""));
    assert!(options.header("access-control-allow-headers").contains("Authorization"));
    // A browser's preflight gets no TURN credentials (RFC 9725 section 4.6).
    let preflight = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}/api/v1/shows/turn-show/whip", app.base))
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert!(preflight.headers().get("link").is_none() && preflight.headers().get("access-control-allow-methods").is_some());
    app.stop().await;
}

/// With several engine threads, viewers are spread over them while the publisher lives on one:
/// every viewer, whichever thread holds it, gets the host from a keyframe, the counts add up,
/// and ending a session works from any thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_every_engine_thread_get_the_show() {
    let app = TestApp::spawn_with(crate::harness::Db::Sqlite, |c| c.media.threads = 3).await;
    let (_org, _show_id, key) = show_with_key(&app, "shards").await;
    let anon = app.anonymous();
    let (mut publisher, offer) = Peer::new(true, &["h264", "opus"]).await;
    let r = sdp_post(&anon, "/api/v1/shows/shards/whip", Some(&key), &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    publisher.accept(&r.text);
    let publishing = tokio::spawn(async move {
        publisher.pump(Instant::now() + Duration::from_secs(8), true, |_| false).await;
    });
    // Six viewers: two on each of the three threads (they take turns).
    let mut watching = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..6 {
        let (mut viewer, offer) = Peer::new(false, &["h264", "vp8", "opus"]).await;
        let r = sdp_post(&anon, "/api/v1/shows/shards/whep", None, &offer).await;
        assert_eq!(r.status, 201, "{}", r.text);
        urls.push(r.header("location").to_string());
        viewer.accept(&r.text);
        watching.push(tokio::spawn(async move {
            let (video, audio) = (viewer.video, viewer.audio);
            let (mut n_video, mut n_audio, mut first_keyframe) = (0, 0, None);
            viewer
                .pump(Instant::now() + Duration::from_secs(6), false, |e| {
                    if let Event::MediaData(d) = e {
                        if d.mid == video {
                            first_keyframe.get_or_insert(d.is_keyframe());
                            n_video += 1;
                        } else if d.mid == audio {
                            n_audio += 1;
                        }
                    }
                    n_video >= 30 && n_audio >= 20
                })
                .await;
            (n_video, n_audio, first_keyframe, viewer)
        }));
    }
    let mut viewers = Vec::new();
    for (i, w) in watching.into_iter().enumerate() {
        let (n_video, n_audio, first_keyframe, viewer) = w.await.unwrap();
        assert_eq!(first_keyframe, Some(true), "viewer {i} starts at a keyframe");
        assert!(n_video >= 30 && n_audio >= 20, "viewer {i}: video frames {n_video}, audio frames {n_audio}");
        viewers.push(viewer);
    }
    let media: Value = anon.get("/api/v1/shows/shards/media").await.body;
    assert_eq!(media["publishing"], true);
    assert_eq!(media["viewers"], 6, "{media}");
    let stats: Value = anon.get("/api/v1/media/stats").await.body;
    assert_eq!(stats["viewers"], 6, "{stats}");
    // Ending sessions held by different threads.
    for url in &urls[..3] {
        assert_eq!(anon.delete(url).await.status, 200);
    }
    anon.delete(&urls[0]).await.problem(404, "media session");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let media: Value = anon.get("/api/v1/shows/shards/media").await.body;
        if media["viewers"] == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "three viewers left: {media}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(viewers);
    publishing.abort();
    app.stop().await;
}

/// `vetrina demo` on `dir` (SQLite, media on loopback, a grace period of `grace_s`): the process
/// and its WHIP URL and stream key.
fn start_demo(dir: &std::path::Path, grace_s: u64) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vetrina"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("VETRINA_LOG", "warn")
        .env("VETRINA_MEDIA_UDP_LISTEN", "127.0.0.1:0")
        .env("VETRINA_MEDIA_GRACE_SECONDS", grace_s.to_string())
        .env_remove("VETRINA_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let (mut whip, mut key) = (String::new(), String::new());
    while key.is_empty() {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "demo exited early");
        if let Some(url) = line.trim().strip_prefix("whip: ") {
            whip = url.to_string();
        }
        if let Some(k) = line.trim().strip_prefix("stream key: ") {
            key = k.to_string();
        }
    }
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (child, whip, key)
}

/// Publishes `frames` (30 a second) over WHIP for `ms`: the session's path (its Location).
async fn publish(whip: &str, key: &str, frames: Vec<Vec<u8>>, ms: u64) -> String {
    let (mut publisher, offer) = Peer::new(true, &["h264", "opus"]).await;
    let answer = reqwest::Client::new()
        .post(whip)
        .header("content-type", "application/sdp")
        .header("authorization", format!("Bearer {key}"))
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    publisher.accept(&answer.text().await.unwrap());
    publisher.play(frames);
    publisher.pump(Instant::now() + Duration::from_millis(ms), true, |_| false).await;
    location
}

/// kill -9 of the server mid-show: the recording plays up to its last fragment; the server comes
/// back, the host goes on (a second part), and once the show has ended its recording is served
/// whole, both parts in the show's media time, the gap where the server was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_show_loses_nothing_of_the_recording() {
    vetrina_web::webhooks::install_tls();
    let dir = crate::harness::temp_dir("crash");
    let frames = encoded(320, 180, 90);
    let (mut child, whip, key) = start_demo(&dir, 10);
    let first = Instant::now();
    publish(&whip, &key, frames.clone(), 3500).await;
    child.kill().unwrap(); // SIGKILL: no chance to finish the file
    child.wait().unwrap();

    let recordings: Vec<_> = std::fs::read_dir(dir.join("recordings")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let (duration, text) = crate::harness::ffprobe(&recordings[0]);
    assert!(text.contains("codec_name=h264") && text.contains("codec_name=opus"), "{text}");
    assert!(duration >= 2.0, "plays up to the last fragment before the kill: {duration} s\n{text}");
    let part1_frames = decoded_sizes(&recordings[0]).len();
    // Our own recording, cut off by the kill, still gives clips: cut on its keyframes, from 0.
    let mut source = std::fs::File::open(&recordings[0]).unwrap();
    let index = vetrina_media::clip::Index::read(&mut source).unwrap();
    assert!(index.fragments.len() >= 2 && index.fragments[0].keyframe, "{:?}", index.fragments);
    let clip_path = dir.join("clip.mp4");
    let cut = index.cut(&mut source, 1_000, index.end_ms, &mut std::fs::File::create(&clip_path).unwrap()).unwrap();
    let (clip_duration, clip_text) = crate::harness::ffprobe(&clip_path);
    assert!(clip_text.contains("codec_name=h264") && clip_text.contains("codec_name=opus"), "{clip_text}");
    let asked = (cut.end_ms - cut.start_ms) as f64 / 1000.0;
    assert!((clip_duration - asked).abs() <= 0.5, "a clip of {clip_duration} s for {asked} s of the recording");

    // The server comes back; the host reconnects within the grace period and goes on.
    let (mut child, whip, key) = start_demo(&dir, 10);
    let second = Instant::now();
    let session = publish(&whip, &key, frames, 3500).await;
    let show_ms = first.elapsed().as_secs_f64();
    let http = reqwest::Client::new();
    let base = whip.split("/api/").next().unwrap().to_string();
    let gone = http.delete(format!("{base}{session}")).header("authorization", format!("Bearer {key}")).send().await.unwrap();
    assert!(gone.status().is_success(), "{}", gone.status());
    let slug = whip.trim_end_matches("/whip").rsplit('/').next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let show: Value = http.get(format!("{base}/api/v1/shows/{slug}")).send().await.unwrap().json().await.unwrap();
        if show["status"] == "ended" {
            break;
        }
        assert!(Instant::now() < deadline, "the show never ended: {show}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let file = dir.join("whole.mp4");
    let whole = http.get(format!("{base}/api/v1/shows/{slug}/recording")).send().await.unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    std::fs::write(&file, whole.bytes().await.unwrap()).unwrap();
    let (duration, text) = crate::harness::ffprobe(&file);
    assert!(text.contains("codec_name=h264") && text.contains("codec_name=opus"), "{text}");
    // The show counts from before the first connection (up to a second under load).
    assert!((duration - show_ms).abs() <= 1.5, "a recording of {duration} s for a show of {show_ms:.2} s (both parts and the gap)\n{text}");
    let sizes = decoded_sizes(&file);
    assert!(sizes.len() >= part1_frames + 88, "the frames of both parts decode: {} ({part1_frames} in the first)", sizes.len());
    let decode = std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&file).args(["-f", "null", "-"]).output().unwrap();
    assert!(decode.status.success() && decode.stderr.is_empty(), "{}", String::from_utf8_lossy(&decode.stderr));
    // The second part starts where the media clock says: as long after the first as it came.
    let video_starts = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .unwrap();
    let times: Vec<f64> =
        String::from_utf8_lossy(&video_starts.stdout).lines().filter_map(|l| l.trim_end_matches(',').parse().ok()).collect();
    // The first frame after the largest gap (the kill also lost part 1's last, unwritten fragment).
    let seam = (1..times.len()).max_by(|a, b| (times[*a] - times[a - 1]).total_cmp(&(times[*b] - times[b - 1]))).unwrap();
    let part2_at = times[seam] - times[0];
    let came = second.duration_since(first).as_secs_f64();
    // Both measured from before a connection: their set-up times (under a second each) differ.
    assert!(
        (part2_at - came).abs() <= 1.0,
        "the second part starts at {part2_at:.2} s of video; the host came back {came:.2} s after the start"
    );
    // Each part alone too, and ranges across the seam.
    let part2 = http.get(format!("{base}/api/v1/shows/{slug}/recording?part=2")).send().await.unwrap();
    assert_eq!(part2.status().as_u16(), 200);
    let len: u64 = std::fs::metadata(&file).unwrap().len();
    let mut stitched = Vec::new();
    for (from, to) in [(0, len / 3), (len / 3 + 1, len - 1)] {
        let r =
            http.get(format!("{base}/api/v1/shows/{slug}/recording")).header("range", format!("bytes={from}-{to}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 206);
        assert_eq!(r.headers()["content-range"], format!("bytes {from}-{to}/{len}").as_str());
        stitched.extend(r.bytes().await.unwrap());
    }
    assert!(stitched == std::fs::read(&file).unwrap(), "ranges give the same bytes as the whole");

    // Clips are cut from the whole show too: one across the seam has frames of both parts.
    let owner = crate::harness::sign_in_at(&base, vetrina::demo::OWNER_EMAIL, vetrina::demo::PASSWORD).await;
    let me = owner.get("/api/v1/session").await;
    let org = me.body["memberships"][0]["org"]["id"].as_str().unwrap().to_string();
    let shows = owner.get(&format!("/api/v1/orgs/{org}/shows")).await;
    let show_id = shows.body.as_array().unwrap().iter().find(|s| s["slug"] == slug.as_str()).unwrap()["id"].as_str().unwrap().to_string();
    let clips = format!("/api/v1/orgs/{org}/shows/{show_id}/clips");
    let listed = owner.get(&clips).await;
    let recording_ms = listed.body["recording_ms"].as_f64().unwrap();
    assert!((recording_ms / 1000.0 - duration).abs() <= 0.1, "the console sees the whole show: {recording_ms} ms of {duration} s");
    let cut = owner.post(&clips, serde_json::json!({"title": "Across", "start_ms": 1000, "end_ms": recording_ms as i64})).await;
    assert_eq!(cut.status, 201, "{}", cut.text);
    let video = http.get(format!("{base}/api/v1/clips/{}/video", cut.body["id"].as_str().unwrap())).send().await.unwrap();
    let clip_file = dir.join("across.mp4");
    std::fs::write(&clip_file, video.bytes().await.unwrap()).unwrap();
    let clip_frames = decoded_sizes(&clip_file).len();
    assert!(clip_frames >= part1_frames - 30 + 88, "the clip's frames: {clip_frames} ({part1_frames} in the first part)");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// ffmpeg's test picture at `width`x`height`, 30 frames a second, `frames` of them, encoded with
/// `encode` (codec and output format options): the encoded stream.
fn test_picture(width: u32, height: u32, frames: u32, encode: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=size={width}x{height}:rate=30"), "-frames:v", &frames.to_string()])
        .args(encode)
        .arg("-")
        .output()
        .expect("ffmpeg runs (scripts/test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `frames` frames of ffmpeg's test picture at `width`x`height`, H.264 baseline from x264 (what
/// OBS sends), one access unit (Annex B, from its access unit delimiter) each.
fn encoded(width: u32, height: u32, frames: u32) -> Vec<Vec<u8>> {
    let stream = test_picture(
        width,
        height,
        frames,
        &["-c:v", "libx264", "-profile:v", "baseline", "-g", "30", "-x264-params", "aud=1", "-f", "h264"],
    );
    let starts: Vec<usize> = stream.windows(5).enumerate().filter(|(_, w)| *w == [0, 0, 0, 1, 9]).map(|(i, _)| i).collect();
    let units: Vec<Vec<u8>> =
        starts.iter().enumerate().map(|(n, &s)| stream[s..starts.get(n + 1).copied().unwrap_or(stream.len())].to_vec()).collect();
    assert_eq!(units.len(), frames as usize);
    units
}

/// A host's encoder changes resolution mid-show (browsers scale down when the network or the CPU
/// is short, and back up): the recording decodes through the change, at both sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_change_mid_show_is_recorded() {
    let app = TestApp::spawn(crate::harness::Db::Sqlite).await;
    let (org, show_id, key) = show_with_key(&app, "resize").await;
    let mut frames = encoded(640, 360, 60);
    frames.extend(encoded(320, 180, 60));
    let (mut publisher, offer) = Peer::new(true, &["h264", "opus"]).await;
    let r = sdp_post(&app.anonymous(), "/api/v1/shows/resize/whip", Some(&key), &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    publisher.accept(&r.text);
    publisher.play(frames);
    publisher.pump(Instant::now() + Duration::from_millis(4500), true, |_| false).await;
    let ended = org.owner.patch(&org.path(&format!("/shows/{show_id}")), serde_json::json!({"status": "ended"})).await;
    assert_eq!(ended.status, 200, "{}", ended.text);

    let anon = app.anonymous();
    let file = crate::harness::temp_dir("resize").join("show.mp4");
    let mut sizes = Vec::new();
    for _ in 0..50 {
        let r = anon.http.get(format!("{}/api/v1/shows/resize/recording", app.base)).send().await.unwrap();
        if r.status() == 200 {
            std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
            sizes = decoded_sizes(&file);
            if sizes.len() >= 118 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let count = |size: &str| sizes.iter().filter(|s| s.as_str() == size).count();
    assert!(count("640,360") >= 58 && count("320,180") >= 58, "decoded frames at each size: {sizes:?}");
    assert_eq!(sizes.first().map(String::as_str), Some("640,360"), "{sizes:?}");
    assert_eq!(sizes.last().map(String::as_str), Some("320,180"));
    // Decodes without an error on the way.
    let decode = std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&file).args(["-f", "null", "-"]).output().unwrap();
    assert!(decode.status.success() && decode.stderr.is_empty(), "{}", String::from_utf8_lossy(&decode.stderr));
    app.stop().await;
}

/// `frames` frames of ffmpeg's test picture at `width`x`height` in VP8 from libvpx (what a
/// browser that cannot send H.264 sends), one frame each (read from IVF).
fn vp8_encoded(width: u32, height: u32, frames: u32) -> Vec<Vec<u8>> {
    let stream = test_picture(width, height, frames, &["-c:v", "libvpx", "-g", "30", "-deadline", "realtime", "-b:v", "600k", "-f", "ivf"]);
    // IVF: a 32-byte file header, then each frame's length (4 bytes LE) and time (8) before it.
    let mut units = Vec::new();
    let mut at = 32;
    while at + 12 <= stream.len() {
        let len = u32::from_le_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
        units.push(stream[at + 12..at + 12 + len].to_vec());
        at += 12 + len;
    }
    assert_eq!(units.len(), frames as usize);
    units
}

/// The frames of a recording's video as ffmpeg decodes them: "width,height" each.
fn decoded_sizes(file: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "frame=width,height", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim_end_matches(',').to_string()).collect()
}

/// A host whose browser sends VP8 (no H.264 encoder) is recorded too, as WebM (browsers play VP8
/// only in WebM): the replay is served with its duration and cues, plays in ffmpeg with both
/// tracks, and clips say why they cannot be cut from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vp8_host_is_recorded_as_webm() {
    let app = TestApp::spawn(crate::harness::Db::Sqlite).await;
    let (org, show_id, key) = show_with_key(&app, "otto").await;
    let (mut publisher, offer) = Peer::new(true, &["vp8", "opus"]).await;
    let r = sdp_post(&app.anonymous(), "/api/v1/shows/otto/whip", Some(&key), &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.text.to_uppercase().contains("VP8"), "{}", r.text);
    publisher.accept(&r.text);
    // Five seconds at 30 frames a second, a keyframe every 30.
    let frames = vp8_encoded(320, 240, 150);
    publisher.play(frames.clone());
    let session = Instant::now();
    let publishing = tokio::spawn(async move {
        publisher.pump(Instant::now() + Duration::from_millis(5000), true, |_| false).await;
        publisher
    });
    // A viewer joining mid-show gets the host's pictures as they were sent, from a keyframe on,
    // none missing: each is cut into packets once for all viewers and sent under the viewer's
    // own sequence numbers.
    assert!(status_becomes(&app, "otto", "live", Duration::from_secs(3)).await);
    let (mut viewer, offer) = Peer::new(false, &["h264", "vp8", "opus"]).await;
    let r = sdp_post(&app.anonymous(), "/api/v1/shows/otto/whep", None, &offer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    viewer.accept(&r.text);
    let (video, mut seen) = (viewer.video, Vec::new());
    viewer
        .pump(session + Duration::from_millis(5200), false, |e| {
            if let Event::MediaData(d) = e
                && d.mid == video
            {
                seen.push((d.is_keyframe(), d.data.to_vec()));
            }
            false
        })
        .await;
    let publisher = publishing.await.unwrap();
    let session = session.elapsed().as_secs_f64();
    assert!(seen.len() >= 15 && seen[0].0, "{} pictures, the first a keyframe: {:?}", seen.len(), seen.first().map(|s| s.0));
    let at = frames.iter().position(|f| *f == seen[0].1).expect("the first picture is one the host sent");
    for (i, (_, data)) in seen.iter().enumerate() {
        assert!(frames.get(at + i) == Some(data), "picture {i} after the first is the host's picture {}", at + i);
    }
    drop((publisher, viewer));
    let ended = org.owner.patch(&org.path(&format!("/shows/{show_id}")), serde_json::json!({"status": "ended"})).await;
    assert_eq!(ended.status, 200, "{}", ended.text);

    let anon = app.anonymous();
    let file = crate::harness::temp_dir("otto").join("show.webm");
    let (mut probed, mut sizes) = ((0.0, String::new()), Vec::new());
    for _ in 0..50 {
        let r = anon.http.get(format!("{}/api/v1/shows/otto/recording", app.base)).send().await.unwrap();
        if r.status() == 200 {
            assert_eq!(r.headers()["content-type"], "video/webm");
            std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
            probed = crate::harness::ffprobe(&file);
            sizes = decoded_sizes(&file);
            if sizes.len() >= frames.len() - 1 && probed.1.contains("opus") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(probed.1.contains("codec_name=vp8") && probed.1.contains("codec_name=opus"), "{}", probed.1);
    assert!(sizes.len() >= frames.len() - 1 && sizes.iter().all(|s| s == "320,240"), "decoded frames: {sizes:?}");
    assert!((probed.0 - session).abs() <= 1.0, "a recording of {} s for a session of {session} s", probed.0);
    let decode = std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&file).args(["-f", "null", "-"]).output().unwrap();
    assert!(decode.status.success() && decode.stderr.is_empty(), "{}", String::from_utf8_lossy(&decode.stderr));
    // The recording on disk is the live stream (no size, no duration); served, it has both.
    let stored: Vec<_> = std::fs::read_dir(app.data_dir().join("recordings")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(stored.iter().any(|p| p.extension().is_some_and(|e| e == "webm")), "{stored:?}");
    let recording = format!("{}/api/v1/shows/otto/recording", app.base);
    let ranged = anon.http.get(&recording).header("range", "bytes=0-3").send().await.unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    let etag = ranged.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), [0x1A, 0x45, 0xDF, 0xA3], "an EBML header");
    // A player resuming a download: the rest if its copy is this one (If-Range), else all of it
    // (RFC 9110 section 13.1.5); nothing again if it has it all (If-None-Match).
    let resumed = anon.http.get(&recording).header("range", "bytes=4-").header("if-range", &etag).send().await.unwrap();
    assert_eq!(resumed.status().as_u16(), 206);
    let stale = anon.http.get(&recording).header("range", "bytes=4-").header("if-range", "\"old\"").send().await.unwrap();
    assert_eq!(stale.status().as_u16(), 200, "a changed file comes whole");
    let by_date =
        anon.http.get(&recording).header("range", "bytes=4-").header("if-range", "Fri, 04 Dec 2026 10:00:00 GMT").send().await.unwrap();
    assert_eq!(by_date.status().as_u16(), 200, "a date is no strong validator");
    let kept = anon.http.get(&recording).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(kept.status().as_u16(), 304);

    // Clips are cut from MP4 only: a clear refusal, and no suggestions.
    let clips = org.path(&format!("/shows/{show_id}/clips"));
    org.owner.post(&clips, serde_json::json!({"title": "Un momento", "start_ms": 0, "end_ms": 1000})).await.problem(409, "VP8");
    let listed = org.owner.get(&clips).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["suggested"], serde_json::json!([]));
    app.stop().await;
}
