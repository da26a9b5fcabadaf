//! Two `vetrina serve` processes on one PostgreSQL and the NATS at 127.0.0.1:4222: a show's room
//! is one room, whichever node a viewer reaches.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::{Db, TestApp, product_json, temp_dir};
use crate::live::{connect_to, frames_until, next, send};

const BIN: &str = env!("CARGO_BIN_EXE_vetrina");

/// A `vetrina serve` process, killed when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    /// SIGTERM, and the process exits 0 within 15 s.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "graceful stop exits 0: {status}");
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(database_url: &str) -> Node {
    start_node_with(database_url, "nats://127.0.0.1:4222")
}

/// A node on `database_url` (a SQLite path, or PostgreSQL), with NATS at `nats_url` (or none).
fn start_node_with(database_url: &str, nats_url: &str) -> Node {
    start_node_env(database_url, nats_url, &[])
}

/// [`start_node_with`], with more environment (`VETRINA_...`) on top.
fn start_node_env(database_url: &str, nats_url: &str, env: &[(&str, &str)]) -> Node {
    let dir = temp_dir("node");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("VETRINA_DATABASE_URL", database_url)
        .env("VETRINA_NATS_URL", nats_url)
        .env("VETRINA_MEDIA_ENABLED", "false")
        .env("VETRINA_ROOM_STATE_SECONDS", "1")
        .env("VETRINA_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // From here on a failure still kills the process (Drop).
    let mut node = Node { child, base: String::new() };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "vetrina serve exited before listening (is NATS running at 127.0.0.1:4222?)");
        if let Some(url) = line.trim().strip_prefix("listening: ") {
            node.base = url.to_string();
            return node;
        }
    }
}

async fn guest_cookie(base: &str, name: &str) -> String {
    let r = reqwest::Client::new().post(format!("{base}/api/v1/guests")).json(&json!({"display_name": name})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

/// kill -9 of the server in the middle of a flash sale's checkouts, then a restart on the same
/// database: every order the buyers were told about is there, nothing was sold twice or beyond
/// the stock, and a buyer who never heard back retries with the same Idempotency-Key and gets
/// one order, never two.
async fn killed_mid_sale(db: Db) {
    let app = TestApp::spawn(db).await;
    let org = app.org("crash-sale").await;
    let (product_id, variant) = crate::shop::sale(&org, "crash-sale", 100).await;
    let database_url = match db {
        Db::Postgres => app.database_url.clone(),
        Db::Sqlite => format!("sqlite://{}", app.data_dir().join("vetrina.db").display()),
    };
    let mut node = start_node_with(&database_url, "");
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(10)).build().unwrap();
    // 300 buyers at once for 100 units; the hundred who hold one check out together.
    let mut adds = Vec::new();
    for _ in 0..300 {
        let (client, url) = (client.clone(), format!("{}/api/v1/shows/crash-sale/cart/lines", node.base));
        let variant = variant.clone();
        adds.push(tokio::spawn(async move {
            let r = client.post(url).json(&json!({"variant_id": variant})).send().await.unwrap();
            let status = r.status().as_u16();
            let cookie = r.headers().get("set-cookie").map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
            (status, cookie)
        }));
    }
    let mut holders = Vec::new();
    for a in adds {
        let (status, cookie) = a.await.unwrap();
        assert!(status == 201 || status == 409, "{status}");
        if status == 201 {
            holders.push(cookie.unwrap());
        }
    }
    assert_eq!(holders.len(), 100);
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut checkouts = Vec::new();
    for (i, cookie) in holders.iter().enumerate() {
        let (client, url, cookie, told) =
            (client.clone(), format!("{}/api/v1/shows/crash-sale/checkout", node.base), cookie.clone(), told.clone());
        checkouts.push(tokio::spawn(async move {
            // Spread over about a second, so the kill lands in the middle.
            tokio::time::sleep(Duration::from_millis(i as u64 * 10)).await;
            let r = client
                .post(url)
                .header("cookie", &cookie)
                .header("idempotency-key", format!("crash-{i}"))
                .json(&crate::shop::contact())
                .send()
                .await;
            if let Ok(r) = r
                && r.status().as_u16() == 201
                && let Ok(order) = r.json::<Value>().await
            {
                told.lock().unwrap().push((i, order["id"].as_str().unwrap().to_string(), order["number"].as_i64().unwrap()));
            }
        }));
    }
    // Kill the node (SIGKILL) once some buyers have their confirmation.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while told.lock().unwrap().len() < 20 {
        assert!(std::time::Instant::now() < deadline, "no confirmations");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    for c in checkouts {
        c.await.unwrap();
    }
    let told = told.lock().unwrap().clone();
    assert!(told.len() < 100, "the kill came before every checkout ended ({} confirmed)", told.len());

    let node = start_node_with(&database_url, "");
    // Every confirmed order is there, for its buyer.
    for (i, id, number) in &told {
        let r = client.get(format!("{}/api/v1/orders/{id}", node.base)).header("cookie", &holders[*i]).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "order #{number} confirmed before the kill");
        assert_eq!(r.json::<Value>().await.unwrap()["number"], *number);
    }
    // Buyers who never heard back try again with the same key: one order each, never two.
    for (i, cookie) in holders.iter().enumerate() {
        if told.iter().any(|(j, _, _)| *j == i) {
            continue;
        }
        let r = client
            .post(format!("{}/api/v1/shows/crash-sale/checkout", node.base))
            .header("cookie", cookie)
            .header("idempotency-key", format!("crash-{i}"))
            .json(&crate::shop::contact())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "buyer {i} retries after the restart: {}", r.text().await.unwrap());
    }
    let orders = org.owner.get(&org.path("/orders?limit=500")).await;
    assert_eq!(orders.body["total"], 100, "one order per holder: {}", orders.text);
    let mut numbers: Vec<i64> = orders.body["items"].as_array().unwrap().iter().map(|o| o["number"].as_i64().unwrap()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 100, "no number twice");
    let levels =
        app.store().stock_levels(&vetrina_domain::ids::OrgId(org.id.clone()), &[vetrina_domain::ids::ProductId(product_id)]).await.unwrap();
    assert_eq!(levels[0].available, Some(0), "sold out, never below");
    drop(node);
    app.stop().await;
}

#[tokio::test]
async fn a_killed_server_loses_no_order_sqlite() {
    killed_mid_sale(Db::Sqlite).await;
}

#[tokio::test]
async fn a_killed_server_loses_no_order_postgres() {
    killed_mid_sale(Db::Postgres).await;
}

/// Messages until one of `kind` satisfies `matches` (at most 5 s of silence).
async fn until(socket: &mut crate::live::Socket, mut matches: impl FnMut(&Value) -> bool) -> Value {
    loop {
        let m = next(socket).await;
        if matches(&m) {
            return m;
        }
    }
}

#[tokio::test]
async fn a_room_spans_two_nodes_through_nats() {
    // The first app prepares the data; the two nodes share its PostgreSQL schema.
    let app = TestApp::spawn(Db::Postgres).await;
    let org = app.org("nodes").await;
    let product = org.owner.post(&org.path("/products"), product_json("Foulard", 4900)).await.body["id"].as_str().unwrap().to_string();
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": "Due nodi", "slug": "due-nodi", "starts_at": "2099-01-01T10:00", "status": "scheduled", "lineup": [product]}),
        )
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    let (a, b) = (start_node(&app.database_url), start_node(&app.database_url));
    let room = "/api/v1/shows/due-nodi/live";

    // The host on node A (a session made on the first app is good on every node), viewers on both.
    let mut host = connect_to(&a.base, room, org.owner.cookie.as_deref()).await;
    let on_b = guest_cookie(&b.base, "Bea").await;
    let mut bea = connect_to(&b.base, room, Some(&on_b)).await;
    let on_a = guest_cookie(&a.base, "Aldo").await;
    let mut aldo = connect_to(&a.base, room, Some(&on_a)).await;
    let mut watcher_b = connect_to(&b.base, room, None).await;
    for socket in [&mut host, &mut bea, &mut aldo, &mut watcher_b] {
        assert_eq!(next(socket).await["type"], "snapshot");
    }

    // Viewer counts add up: four connections, two on each node.
    frames_until(&mut watcher_b, |f| f.last().is_some_and(|m| m["viewers"] == 4)).await;
    frames_until(&mut host, |f| f.last().is_some_and(|m| m["viewers"] == 4)).await;

    // A chat line from B reaches the host on A; a pin from A reaches the viewers on B.
    send(&mut bea, json!({"type": "chat", "text": "Ciao da B"})).await;
    let sent = until(&mut bea, |m| m["type"] == "sent" || m["type"] == "error").await;
    assert_eq!(sent["line"]["text"], "Ciao da B", "{sent}");
    let line_id = sent["line"]["id"].clone();
    let frames =
        frames_until(&mut host, |f| f.iter().any(|m| m["chat"].as_array().is_some_and(|c| c.iter().any(|l| l["text"] == "Ciao da B"))))
            .await;
    let line = frames.iter().flat_map(|m| m["chat"].as_array().into_iter().flatten()).find(|l| l["text"] == "Ciao da B").unwrap();
    assert_eq!(line["id"], line_id, "one id for the line on every node");
    send(&mut host, json!({"type": "pin", "product_id": product})).await;
    frames_until(&mut watcher_b, |f| f.iter().any(|m| m["pinned"]["product_id"] == product.as_str())).await;

    // A poll opened on A, votes from B and A: the same live results everywhere.
    send(&mut host, json!({"type": "poll", "question": "Rosso o blu?", "options": ["Rosso", "Blu"]})).await;
    let opened = frames_until(&mut bea, |f| f.iter().any(|m| m["poll"]["open"] == true)).await;
    let poll_id = opened.iter().find_map(|m| m["poll"]["id"].as_u64()).unwrap();
    send(&mut bea, json!({"type": "vote", "poll_id": poll_id, "option": 1})).await;
    send(&mut aldo, json!({"type": "vote", "poll_id": poll_id, "option": 0})).await;
    send(&mut bea, json!({"type": "vote", "poll_id": poll_id, "option": 0})).await;
    let twice = until(&mut bea, |m| m["type"] == "error").await;
    assert_eq!(twice["code"], "already_voted");
    frames_until(&mut host, |f| f.iter().any(|m| m["poll"]["votes"] == json!([1, 1]))).await;
    frames_until(&mut watcher_b, |f| f.iter().any(|m| m["poll"]["votes"] == json!([1, 1]))).await;

    // Moderation on A reaches B: the line is gone there too, and its author is muted on B.
    send(&mut host, json!({"type": "delete", "message_id": line_id})).await;
    send(&mut host, json!({"type": "mute", "message_id": line_id, "seconds": 60})).await;
    frames_until(&mut watcher_b, |f| f.iter().any(|m| m["deleted"].as_array().is_some_and(|d| d.contains(&line_id)))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut bea, json!({"type": "chat", "text": "ci sono ancora?"})).await;
    let refused = until(&mut bea, |m| m["type"] == "error" || m["type"] == "sent").await;
    assert_eq!(refused["code"], "muted", "{refused}");

    // Each event is stored once, by the node that took it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let show_id = show.body["id"].as_str().unwrap().to_string();
    let timeline = app.store().timeline(&vetrina_domain::ids::ShowId(show_id), -2, None, 10_000).await.unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "chat").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "pin").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "poll").count(), 1, "{kinds:?}");
    drop((a, b));
    app.stop().await;
}

#[tokio::test]
async fn two_nodes_never_sell_more_than_the_stock() {
    let app = TestApp::spawn(Db::Postgres).await;
    let org = app.org("rush-nodes").await;
    let (product_id, variant) = crate::shop::sale(&org, "rush-nodes", 100).await;
    let (a, b) = (start_node(&app.database_url), start_node(&app.database_url));
    // 1,000 buyers at once, half on each node; then the hundred who got one check out.
    let (on_a, on_b) =
        tokio::join!(crate::shop::rush(&a.base, "rush-nodes", &variant, 500), crate::shop::rush(&b.base, "rush-nodes", &variant, 500));
    let placed: Vec<u16> = on_a.1.into_iter().chain(on_b.1).collect();
    let all: Vec<u16> = on_a.0.into_iter().chain(on_b.0).collect();
    assert_eq!(all.iter().filter(|s| **s == 201).count(), 100, "exactly the stock over both nodes");
    assert!(all.iter().all(|s| *s == 201 || *s == 409), "{all:?}");
    assert_eq!(placed, vec![201; 100], "and exactly that many orders");
    assert_eq!(org.owner.get(&org.path("/orders")).await.body["total"], 100);
    let levels =
        app.store().stock_levels(&vetrina_domain::ids::OrgId(org.id.clone()), &[vetrina_domain::ids::ProductId(product_id)]).await.unwrap();
    assert_eq!(levels[0].available, Some(0));
    drop((a, b));
    app.stop().await;
}

/// A show (with `slug`) and a product for the room tests below: (org, show id, product id).
async fn room_show(app: &TestApp, slug: &str) -> (crate::harness::Org, String, String) {
    let org = app.org(slug).await;
    let product = org.owner.post(&org.path("/products"), product_json("Borsa", 9900)).await.body["id"].as_str().unwrap().to_string();
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": "Stanza", "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled", "lineup": [product]}),
        )
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    (org, show.body["id"].as_str().unwrap().to_string(), product)
}

/// Chat lines' (id, text) in a snapshot.
fn chat_of(snapshot: &Value) -> Vec<(u64, String)> {
    snapshot["chat"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| (l["id"].as_u64().unwrap(), l["text"].as_str().unwrap().to_string()))
        .collect()
}

async fn said(socket: &mut crate::live::Socket, text: &str) -> u64 {
    send(socket, json!({"type": "chat", "text": text})).await;
    let sent = until(socket, |m| m["type"] == "sent" || m["type"] == "error").await;
    assert_eq!(sent["type"], "sent", "{sent}");
    sent["line"]["id"].as_u64().unwrap()
}

/// The server is killed (-9) mid-show and started again on the same database: the room comes
/// back as its viewers left it (saved every second here): the pinned product, the poll and who
/// voted, the chat, and chat ids go on.
#[tokio::test]
async fn a_restarted_node_takes_up_its_rooms() {
    let app = TestApp::spawn(Db::Postgres).await;
    let (org, _, product) = room_show(&app, "riparte").await;
    let room = "/api/v1/shows/riparte/live";
    let node = start_node_with(&app.database_url, "");
    let mut host = connect_to(&node.base, room, org.owner.cookie.as_deref()).await;
    let anna = guest_cookie(&node.base, "Anna").await;
    let mut viewer = connect_to(&node.base, room, Some(&anna)).await;
    for socket in [&mut host, &mut viewer] {
        assert_eq!(next(socket).await["type"], "snapshot");
    }
    let first = said(&mut viewer, "prima").await;
    said(&mut host, "benvenuti").await;
    send(&mut host, json!({"type": "pin", "product_id": product})).await;
    send(&mut host, json!({"type": "poll", "question": "Nera o rossa?", "options": ["Nera", "Rossa"]})).await;
    let opened = frames_until(&mut viewer, |f| f.iter().any(|m| m["poll"]["open"] == true)).await;
    let poll_id = opened.iter().find_map(|m| m["poll"]["id"].as_u64()).unwrap();
    send(&mut viewer, json!({"type": "vote", "poll_id": poll_id, "option": 1})).await;
    frames_until(&mut host, |f| f.iter().any(|m| m["poll"]["votes"] == json!([0, 1]))).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    drop((host, viewer, node));

    // Saving only when the room closes from here on.
    let node = start_node_env(&app.database_url, "", &[("VETRINA_ROOM_STATE_SECONDS", "3600")]);
    let mut viewer = connect_to(&node.base, room, Some(&anna)).await;
    let snapshot = next(&mut viewer).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(chat_of(&snapshot), [(first, "prima".to_string()), (first + 1, "benvenuti".to_string())], "{snapshot}");
    assert_eq!(snapshot["pinned"]["product_id"], product.as_str(), "{snapshot}");
    assert_eq!(snapshot["poll"]["votes"], json!([0, 1]), "{snapshot}");
    send(&mut viewer, json!({"type": "vote", "poll_id": poll_id, "option": 0})).await;
    assert_eq!(until(&mut viewer, |m| m["type"] == "error").await["code"], "already_voted");
    assert_eq!(said(&mut viewer, "eccomi").await, first + 2, "chat ids go on");

    // A graceful stop (an upgrade) saves the rooms as they are, whenever the last save was, and
    // tells the room's connections it is going away (RFC 6455 1001), so they come back.
    node.terminate();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), viewer.next()).await.expect("the close within 5 s") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => continue,
            other => break other,
        }
    };
    match closed {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001, "{frame:?}"),
        other => panic!("a close frame saying \"going away\", not {other:?}"),
    }
    let node = start_node_with(&app.database_url, "");
    let mut viewer = connect_to(&node.base, room, Some(&anna)).await;
    let snapshot = next(&mut viewer).await;
    assert_eq!(chat_of(&snapshot).last(), Some(&(first + 2, "eccomi".to_string())), "{snapshot}");
    drop(node);
    app.stop().await;
}

/// A node that joins a show after a while takes up the state another node saved and only the
/// bus's events after it: nothing is applied twice (chat ids, votes) and nothing is missed.
#[tokio::test]
async fn a_late_node_takes_up_the_saved_room_and_what_came_after() {
    let app = TestApp::spawn(Db::Postgres).await;
    let (org, show_id, product) = room_show(&app, "tardi").await;
    let room = "/api/v1/shows/tardi/live";
    let a = start_node(&app.database_url);
    let mut host = connect_to(&a.base, room, org.owner.cookie.as_deref()).await;
    let anna = guest_cookie(&a.base, "Anna").await;
    let mut viewer = connect_to(&a.base, room, Some(&anna)).await;
    for socket in [&mut host, &mut viewer] {
        assert_eq!(next(socket).await["type"], "snapshot");
    }
    let mut lines = Vec::new();
    for text in ["uno", "due", "tre"] {
        lines.push((said(&mut viewer, text).await, text.to_string()));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    send(&mut host, json!({"type": "poll", "question": "S o M?", "options": ["S", "M"]})).await;
    let opened = frames_until(&mut viewer, |f| f.iter().any(|m| m["poll"]["open"] == true)).await;
    let poll_id = opened.iter().find_map(|m| m["poll"]["id"].as_u64()).unwrap();
    send(&mut viewer, json!({"type": "vote", "poll_id": poll_id, "option": 0})).await;
    frames_until(&mut host, |f| f.iter().any(|m| m["poll"]["votes"] == json!([1, 0]))).await;
    // A state is saved (with where the bus stood)...
    let show = vetrina_domain::ids::ShowId(show_id);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let saved = app.store().room_state(&show).await.unwrap();
        if saved.as_ref().is_some_and(|s| s.bus_position.is_some() && s.state.contains("S o M?")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no state saved: {saved:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...then more happens before the second node starts.
    lines.push((said(&mut host, "ultima").await, "ultima".to_string()));
    send(&mut host, json!({"type": "pin", "product_id": product})).await;
    let bruno = guest_cookie(&a.base, "Bruno").await;
    let mut bruno_a = connect_to(&a.base, room, Some(&bruno)).await;
    next(&mut bruno_a).await;
    send(&mut bruno_a, json!({"type": "vote", "poll_id": poll_id, "option": 1})).await;
    frames_until(&mut host, |f| f.iter().any(|m| m["poll"]["votes"] == json!([1, 1]))).await;

    let b = start_node(&app.database_url);
    let mut late = connect_to(&b.base, room, Some(&bruno)).await;
    let snapshot = next(&mut late).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(chat_of(&snapshot), lines, "every line once, with the ids node A gave them");
    assert_eq!(snapshot["poll"]["votes"], json!([1, 1]), "{snapshot}");
    assert_eq!(snapshot["pinned"]["product_id"], product.as_str(), "{snapshot}");
    send(&mut late, json!({"type": "vote", "poll_id": poll_id, "option": 0})).await;
    assert_eq!(until(&mut late, |m| m["type"] == "error").await["code"], "already_voted");
    // Both nodes give the next line the same id.
    let next_id = said(&mut late, "da B").await;
    assert_eq!(next_id, lines.last().unwrap().0 + 1);
    let frames =
        frames_until(&mut host, |f| f.iter().any(|m| m["chat"].as_array().is_some_and(|c| c.iter().any(|l| l["text"] == "da B")))).await;
    let line = frames.iter().flat_map(|m| m["chat"].as_array().into_iter().flatten()).find(|l| l["text"] == "da B").unwrap();
    assert_eq!(line["id"], next_id);
    drop((a, b));
    app.stop().await;
}
