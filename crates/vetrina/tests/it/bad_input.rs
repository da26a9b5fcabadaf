//! Bad input gets a 4xx problem document that says what is wrong; nothing is half-written.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TEST_MAX_BODY, product_json, story};

story!(malformed_and_mistyped_json, |app| {
    let org = app.org("bad").await;
    let path = org.path("/products");
    let r = org.owner.raw(Method::POST, &path, Some("application/json"), b"{\"title\": \"x\",".to_vec()).await;
    r.problem(400, "not valid JSON");
    let r = org.owner.raw(Method::POST, &path, Some("application/json"), b"not json at all".to_vec()).await;
    r.problem(400, "not valid JSON");
    org.owner.post(&path, json!({"title": 42, "variants": []})).await.problem(422, "invalid type");
    org.owner.post(&path, json!({"title": "x", "variants": [], "colour": "red"})).await.problem(422, "unknown field `colour`");
    org.owner.post(&path, json!({"title": "x"})).await.problem(422, "missing field `variants`");
    org.owner.raw(Method::POST, &path, Some("text/plain"), b"{}".to_vec()).await.problem(415, "application/json");
    org.owner.raw(Method::POST, &path, None, b"{}".to_vec()).await.problem(415, "application/json");
    org.owner.post(&org.path("/shows"), json!({"title": "x", "starts_at": "next tuesday"})).await.problem(422, "not a time");
    org.owner.post(&org.path("/shows"), json!({"title": "x", "status": "paused"})).await.problem(422, "unknown variant");
    org.owner.get(&org.path("/products?limit=abc")).await.problem(400, "query");
    org.owner.get(&org.path("/products?limit=100000")).await.problem(422, "between 1 and 200");
    assert_eq!(org.owner.get(&path).await.body["total"], 0);
});

story!(oversized_bodies, |app| {
    let org = app.org("big").await;
    let mut body = product_json("Huge", 100);
    body["description_html"] = json!("x".repeat(TEST_MAX_BODY + 10));
    org.owner.post(&org.path("/products"), body).await.problem(413, "larger than this server accepts");
    let csv = vec![b'a'; TEST_MAX_BODY + 1];
    org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), csv).await.problem(413, "larger");
    let mut body = product_json("Long", 100);
    body["description_html"] = json!("x".repeat(70_000));
    org.owner.post(&org.path("/products"), body).await.problem(422, "description_html");
});

story!(unknown_and_foreign_ids, |app| {
    let org = app.org("ids").await;
    let other = app.org("other").await;
    let theirs = other.owner.post(&other.path("/products"), product_json("Theirs", 100)).await;
    let their_id = theirs.body["id"].as_str().unwrap();
    org.owner.get(&org.path("/products/prd_doesnotexist")).await.problem(404, "product");
    org.owner.get(&org.path(&format!("/products/{their_id}"))).await.problem(404, "product");
    org.owner.put(&org.path(&format!("/products/{their_id}")), product_json("Mine", 1)).await.problem(404, "not found");
    org.owner.delete(&org.path(&format!("/products/{their_id}"))).await.problem(404, "product");
    org.owner
        .post(&org.path("/shows"), json!({"title": "x", "lineup": [their_id]}))
        .await
        .problem(422, "not a product of this organisation");
    org.owner
        .post(&org.path("/shows"), json!({"title": "x", "run_of_show": {"segments": [{"title": "s", "product_ids": [their_id]}]}}))
        .await
        .problem(422, "not a product of this organisation");
    org.owner.get("/api/v1/orgs/org_nope/products").await.problem(404, "organisation");
    app.anonymous().get("/api/v1/no/such/route").await.problem(404, "no API route");
    let wrong_method = app.anonymous().raw(Method::PUT, "/api/v1/session", None, Vec::new()).await;
    wrong_method.problem(405, "does not take that method");
    assert!(wrong_method.header("allow").contains("POST"), "{:?}", wrong_method.headers);
    let theirs_now = other.owner.get(&other.path(&format!("/products/{their_id}"))).await;
    assert_eq!(theirs_now.body["title"], "Theirs", "untouched");
});

story!(health_and_openapi, |app| {
    let anon = app.anonymous();
    assert_eq!(anon.get("/healthz").await.status, 200);
    assert_eq!(anon.get("/readyz").await.status, 200);
    let doc = anon.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc.body["paths"]["/api/v1/orgs/{org_id}/products/import"]["post"].is_object());
    assert!(doc.body["components"]["schemas"]["Problem"].is_object());
});

story!(webhooks_never_call_into_private_networks, |app| {
    let org = app.org("ssrf").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "http://[::1]:9000/x",
        "http://192.168.1.10/x",
    ] {
        let r = org.owner.post(&org.path("/webhooks"), serde_json::json!({"url": url, "events": ["order.created"]})).await;
        r.problem(422, "public addresses");
    }
    let ok = org
        .owner
        .post(&org.path("/webhooks"), serde_json::json!({"url": "https://hooks.example.com/x", "events": ["order.created"]}))
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let read = org.owner.get(ok.header("location")).await;
    assert_eq!((read.status, &read.body), (200, &ok.body), "the 201's Location is the endpoint");
});

/// A connection on which nothing moves is closed after `idle_timeout_seconds` (a keep-alive
/// connection no second request comes on); a WebSocket that only listens to a quiet room is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_but_listening_websockets_are_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::harness::TestApp::spawn_with(crate::harness::Db::Sqlite, |c| c.idle_timeout_seconds = 1).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut keep_alive = tokio::net::TcpStream::connect(&addr).await.unwrap();
    keep_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: vetrina\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = keep_alive.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let answered = std::time::Instant::now();
    loop {
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), keep_alive.read(&mut buf)).await;
        if read.expect("the idle connection is closed within 5 s").unwrap_or(0) == 0 {
            break;
        }
    }
    let after = answered.elapsed();
    assert!(after >= std::time::Duration::from_millis(900) && after < std::time::Duration::from_secs(3), "closed after {after:?}");

    // A viewer listening to a quiet room for three times the limit still hears what is said.
    let org = app.org("quiet").await;
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            serde_json::json!({"title": "Quiet", "slug": "quiet-show", "starts_at": "2099-01-01T10:00", "status": "scheduled"}),
        )
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    let mut listener = crate::live::connect(&app, "/api/v1/shows/quiet-show/live", None).await;
    assert_eq!(crate::live::next(&mut listener).await["type"], "snapshot");
    // A ping in a quiet room gets its pong, with the same data (RFC 6455 5.5.3).
    {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        listener.send(Message::Ping(b"ciao".to_vec().into())).await.unwrap();
        // Frames of the room (the viewer count) may come first.
        let pong = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            loop {
                match listener.next().await {
                    Some(Ok(Message::Text(_))) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("a pong within 2 s");
        assert!(matches!(pong, Some(Ok(Message::Pong(ref data))) if data.as_ref() == b"ciao"), "{pong:?}");
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut host = crate::live::connect(&app, "/api/v1/shows/quiet-show/live", org.owner.cookie.as_deref()).await;
    assert_eq!(crate::live::next(&mut host).await["type"], "snapshot");
    crate::live::send(&mut host, serde_json::json!({"type": "chat", "text": "Silenzio rotto"})).await;
    crate::live::frames_until(&mut listener, |frames| frames.iter().any(|f| f.to_string().contains("Silenzio rotto"))).await;
    app.stop().await;
}

/// Clients that connect and send nothing, or dribble a request's headers ("slowloris"), are cut
/// off after `header_timeout_seconds`; once a request's headers are in, a slow body still gets
/// its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_before_their_headers_not_after() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let app = crate::harness::TestApp::spawn_with(crate::harness::Db::Sqlite, |c| c.header_timeout_seconds = 1).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let closed_within = |mut socket: TcpStream| async move {
        let started = std::time::Instant::now();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut buf)).await;
        (started.elapsed(), n.map(|r| r.unwrap_or(0)))
    };
    let silent = TcpStream::connect(&addr).await.unwrap();
    let mut dribbling = TcpStream::connect(&addr).await.unwrap();
    dribbling.write_all(b"GET /healthz HTTP/1.1\r\nHost: vetrina\r\n").await.unwrap();
    for socket in [silent, dribbling] {
        let (after, read) = closed_within(socket).await;
        assert_eq!(read.ok(), Some(0), "closed without an answer");
        assert!(after < std::time::Duration::from_secs(3), "closed after {after:?}");
    }
    // Headers at once, the body over 2 s (more than the limit): answered.
    let mut slow_body = TcpStream::connect(&addr).await.unwrap();
    let body = br#"{"display_name": "Lenta"}"#;
    let head = format!(
        "POST /api/v1/guests HTTP/1.1\r\nHost: vetrina\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    slow_body.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    slow_body.write_all(&body[10..]).await.unwrap();
    let mut answer = String::new();
    slow_body.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    app.stop().await;
}

/// Pages and their scripts are checked with the server at each use and sent again only when they
/// changed (RFC 9110 section 13.1.2: `ETag`, `If-None-Match`, `304`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_scripts_are_sent_again_only_when_they_change() {
    let app = crate::harness::TestApp::spawn(crate::harness::Db::Sqlite).await;
    let http = reqwest::Client::new();
    for path in ["/assets/room.js", "/embed.js", "/console"] {
        let first = http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "a strong validator: {etag}");
        let body = first.bytes().await.unwrap();
        let again = http.get(format!("{}{path}", app.base)).header("if-none-match", format!("\"x\", W/{etag}")).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty(), "a 304 has no body");
        let changed = http.get(format!("{}{path}", app.base)).header("if-none-match", "\"other\"").send().await.unwrap();
        assert_eq!((changed.status().as_u16(), changed.bytes().await.unwrap()), (200, body), "{path}");
    }
    // An unknown address asked for by a client that takes no HTML: a problem document.
    let missing = http.get(format!("{}/no-such-page", app.base)).header("accept", "application/json").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let page = http.get(format!("{}/no-such-page", app.base)).header("accept", "text/html,*/*").send().await.unwrap();
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    app.stop().await;
}
