//! The live room with a real WebSocket client: snapshots, coalesced frames, roles, refusals,
//! resuming after a reconnect.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{TestApp, product_json, story};

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(app: &TestApp, path: &str, cookie: Option<&str>) -> Socket {
    connect_to(&app.base, path, cookie).await
}

/// A WebSocket to the server at `base` (`http://...`).
pub async fn connect_to(base: &str, path: &str, cookie: Option<&str>) -> Socket {
    let url = format!("{}{path}", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.expect("the room accepts the WebSocket").0
}

/// The next JSON message, within 5 s.
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a message within 5 s").unwrap().unwrap();
        if let Message::Text(t) = message {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Frames until `done` says the picture is complete (at most 5 s); returns them all.
pub async fn frames_until(socket: &mut Socket, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let m = next(socket).await;
        if m["type"] == "frame" {
            seen.push(m);
            if done(&seen) {
                return seen;
            }
        }
    }
    panic!("frames never showed it: {seen:?}");
}

pub async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::Text(value.to_string().into())).await.unwrap();
}

story!(chat_likes_pins_and_resume, |app| {
    let org = app.org("room").await;
    let product = org.owner.post(&org.path("/products"), product_json("Giacca", 18900)).await.body["id"].as_str().unwrap().to_string();
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": "Room", "slug": "room-show", "starts_at": "2099-01-01T10:00", "status": "scheduled", "lineup": [product]}),
        )
        .await;
    assert_eq!(show.status, 201);
    let words = org.owner.patch(&org.path(""), json!({"blocked_words": ["  Truffa ", "truffa", "scam"]})).await;
    assert_eq!(words.body["blocked_words"], json!(["truffa", "scam"]), "trimmed, lower case, once: {}", words.text);
    let guest = app.anonymous().post("/api/v1/guests", json!({"display_name": "Lucia <img src=x onerror=alert(1)>"})).await;
    let guest_cookie = guest.header("set-cookie").split(';').next().unwrap().to_string();

    let mut host = connect(app, "/api/v1/shows/room-show/live", org.owner.cookie.as_deref()).await;
    let mut viewer = connect(app, "/api/v1/shows/room-show/live", Some(&guest_cookie)).await;
    let mut anon = connect(app, "/api/v1/shows/room-show/live", None).await;
    let host_snapshot = next(&mut host).await;
    assert_eq!(host_snapshot["type"], "snapshot");
    assert_eq!(host_snapshot["v"], 1);
    assert_eq!(host_snapshot["you"]["role"], "host");
    let viewer_snapshot = next(&mut viewer).await;
    assert_eq!(viewer_snapshot["you"]["role"], "viewer");
    assert_eq!(viewer_snapshot["you"]["name"], "Lucia <img src=x onerror=alert(1)>", "names are data, pages render them as text");
    assert_eq!(next(&mut anon).await["you"]["can_chat"], false);

    send(&mut viewer, json!({"type": "chat", "text": "Che bella giacca!"})).await;
    let sent = loop {
        let m = next(&mut viewer).await;
        if m["type"] != "frame" {
            break m;
        }
    };
    assert_eq!((sent["type"].as_str(), sent["line"]["text"].as_str()), (Some("sent"), Some("Che bella giacca!")), "{sent}");
    for _ in 0..20 {
        send(&mut viewer, json!({"type": "like"})).await;
    }
    send(&mut host, json!({"type": "pin", "product_id": product})).await;
    let frames = frames_until(&mut anon, |f| {
        let likes: u64 = f.iter().map(|m| m["likes"].as_u64().unwrap_or(0)).sum();
        likes == 20 && f.iter().any(|m| m["chat"].is_array()) && f.iter().any(|m| m["pinned"].is_object())
    })
    .await;
    assert!(frames.len() < 20, "likes are counted in frames, not relayed one by one: {} frames", frames.len());
    let chat = frames.iter().find_map(|m| m["chat"].as_array()).unwrap();
    assert_eq!(chat[0]["text"], "Che bella giacca!");
    assert_eq!(chat[0]["role"], "viewer");
    assert_eq!(frames.last().unwrap()["viewers"], 3);
    assert_eq!(frames.last().unwrap()["likes_total"], 20);

    // Refusals go to the sender only (after the viewer's one-message-a-second pace).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&mut viewer, json!({"type": "chat", "text": "È una TRUFFA!"})).await;
    let blocked = loop {
        let m = next(&mut viewer).await;
        if m["type"] == "error" {
            break m;
        }
    };
    assert_eq!(blocked["code"], "blocked_word");
    send(&mut anon, json!({"type": "chat", "text": "hi"})).await;
    assert_eq!(next(&mut anon).await["code"], "name_required");
    send(&mut viewer, json!({"type": "pin", "product_id": product})).await;
    let refusal = loop {
        let m = next(&mut viewer).await;
        if m["type"] == "error" {
            break m;
        }
    };
    assert_eq!(refusal["code"], "forbidden");
    anon.send(Message::Text("not json".into())).await.unwrap();
    let bad = loop {
        let m = next(&mut anon).await;
        if m["type"] == "error" {
            break m;
        }
    };
    assert_eq!(bad["code"], "bad_message");

    // The viewer drops, the host speaks, the viewer comes back with the last seq it saw.
    let last_seq = frames.last().unwrap()["seq"].as_u64().unwrap();
    drop(viewer);
    send(&mut host, json!({"type": "chat", "text": "Bentornati"})).await;
    frames_until(&mut anon, |f| f.iter().any(|m| m["chat"][0]["text"] == "Bentornati")).await;
    let room_name = viewer_snapshot["room"].as_str().unwrap().to_string();
    assert!(room_name.starts_with("rm_"), "{viewer_snapshot}");
    let mut elsewhere =
        connect(app, &format!("/api/v1/shows/room-show/live?since={last_seq}&room=rm_0000000000000000"), Some(&guest_cookie)).await;
    assert_eq!(next(&mut elsewhere).await["type"], "snapshot", "seq numbers of another room instance mean nothing here");
    drop(elsewhere);
    let mut back = connect(app, &format!("/api/v1/shows/room-show/live?since={last_seq}&room={room_name}"), Some(&guest_cookie)).await;
    let mut missed = Vec::new();
    while !missed.iter().any(|m: &Value| m["chat"][0]["text"] == "Bentornati") {
        let m = next(&mut back).await;
        assert_eq!(m["type"], "frame", "a recent seq resumes with frames, not a snapshot: {m}");
        assert!(m["seq"].as_u64().unwrap() > last_seq);
        missed.push(m);
    }
    let mut old = connect(app, "/api/v1/shows/room-show/live?since=999999", Some(&guest_cookie)).await;
    assert_eq!(next(&mut old).await["type"], "snapshot", "an unknown seq gets a snapshot");

    // Everything is on the timeline, in batches that never slowed the room.
    let deadline = Instant::now() + Duration::from_secs(5);
    let timeline = loop {
        let t = app.anonymous().get("/api/v1/shows/room-show/timeline").await;
        assert_eq!(t.status, 200, "{}", t.text);
        let kinds: Vec<String> = t.body["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
        if kinds.iter().filter(|k| *k == "chat").count() == 2 && kinds.contains(&"pin".to_string()) || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let events = timeline.body["events"].as_array().unwrap();
    let chats: Vec<&Value> = events.iter().filter(|e| e["kind"] == "chat").collect();
    assert_eq!(chats.len(), 2, "{}", timeline.text);
    assert_eq!(chats[0]["data"]["text"], "Che bella giacca!");
    assert!(chats[0]["at"].as_i64().unwrap() > 0);
    let likes: u64 = events.iter().filter(|e| e["kind"] == "likes").map(|e| e["data"]["count"].as_u64().unwrap()).sum();
    assert_eq!(likes, 20);
    assert!(events.iter().any(|e| e["kind"] == "pin" && e["data"]["product_id"] == product.as_str()));
    app.anonymous().get("/api/v1/shows/room-show/timeline?limit=0").await.problem(422, "limit");

    app.anonymous().get("/api/v1/shows/no-such-show/live").await.problem(404, "show");

    // Questions and polls over the wire.
    let mut asker = connect(app, "/api/v1/shows/room-show/live", Some(&guest_cookie)).await;
    next(&mut asker).await;
    send(&mut asker, json!({"type": "ask", "text": "Avete la taglia M?"})).await;
    let asked = frames_until(&mut host, |f| f.iter().any(|m| m["questions"][0]["text"] == "Avete la taglia M?")).await;
    let question_id = asked.iter().find_map(|m| m["questions"][0]["id"].as_u64()).unwrap();
    send(&mut host, json!({"type": "answer", "question_id": question_id, "text": "Sì!"})).await;
    send(&mut host, json!({"type": "poll", "question": "Sabbia o blu?", "options": ["Sabbia", "Blu"]})).await;
    let seen =
        frames_until(&mut asker, |f| f.iter().any(|m| m["poll"]["open"] == true) && f.iter().any(|m| m["questions"][0]["answer"] == "Sì!"))
            .await;
    let poll_id = seen.iter().find_map(|m| m["poll"]["id"].as_u64()).unwrap();
    send(&mut asker, json!({"type": "vote", "poll_id": poll_id, "option": 1})).await;
    frames_until(&mut host, |f| f.iter().any(|m| m["poll"]["votes"] == json!([0, 1]))).await;
    // Another site's page cannot open the room with a visitor's cookies.
    let mut foreign = format!("{}/api/v1/shows/room-show/live", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    foreign.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    foreign.headers_mut().insert("cookie", org.owner.cookie.as_deref().unwrap().parse().unwrap());
    assert!(tokio_tungstenite::connect_async(foreign).await.is_err(), "a foreign Origin is refused");
    let mut ours = format!("{}/api/v1/shows/room-show/live", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    ours.headers_mut().insert("origin", app.base.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(ours).await.is_ok(), "our own pages connect");
    let plain = app.anonymous().get("/api/v1/shows/room-show/live").await;
    plain.problem(426, "WebSocket");
    assert_eq!(plain.header("upgrade"), "websocket");
});

story!(one_address_cannot_flood_a_room, |app| {
    let org = app.org("flood").await;
    let show = org
        .owner
        .post(&org.path("/shows"), json!({"title": "Flood", "slug": "flood-show", "starts_at": "2099-01-01T10:00", "status": "scheduled"}))
        .await;
    assert_eq!(show.status, 201);
    // Behind a reverse proxy on this machine: the address is the one the proxy forwards.
    let from = |ip: &'static str| async move {
        let url = format!("{}/api/v1/shows/flood-show/live", app.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("x-forwarded-for", ip.parse().unwrap());
        let mut socket = tokio_tungstenite::connect_async(request).await.unwrap().0;
        assert_eq!(next(&mut socket).await["type"], "snapshot");
        socket
    };
    let mut crowd = Vec::new();
    for _ in 0..12 {
        crowd.push(from("198.51.100.7").await);
    }
    // 12 connections x 40 likes in a burst: each is within its own budget, the address is not.
    for socket in &mut crowd {
        for _ in 0..40 {
            send(socket, json!({"type": "like"})).await;
        }
    }
    let mut limited = 0;
    for socket in &mut crowd {
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), socket.next()).await {
            if let Message::Text(t) = m
                && t.as_str().contains("too many messages from your network")
            {
                limited += 1;
            }
        }
    }
    assert!((40..=120).contains(&limited), "about 480 - 400 refused, give or take the refill: {limited}");
    let mut neighbour = from("198.51.100.8").await;
    send(&mut neighbour, json!({"type": "like"})).await;
    loop {
        let m = next(&mut neighbour).await;
        assert_ne!(m["type"], "error", "another address is not limited: {m}");
        if m["type"] == "frame" && m["likes"].as_u64() > Some(0) {
            break;
        }
    }
});

story!(a_ban_holds_in_every_show_until_lifted, |app| {
    let org = app.org("bans").await;
    let mut show_ids = Vec::new();
    for slug in ["ban-one", "ban-two", "ban-three"] {
        let show = org
            .owner
            .post(&org.path("/shows"), json!({"title": slug, "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled"}))
            .await;
        assert_eq!(show.status, 201);
        show_ids.push(show.body["id"].as_str().unwrap().to_string());
    }
    let guest = app.anonymous().post("/api/v1/guests", json!({"display_name": "Troll"})).await;
    let troll = guest.header("set-cookie").split(';').next().unwrap().to_string();
    let mut host = connect(app, "/api/v1/shows/ban-one/live", org.owner.cookie.as_deref()).await;
    let mut viewer = connect(app, "/api/v1/shows/ban-one/live", Some(&troll)).await;
    next(&mut host).await;
    next(&mut viewer).await;
    send(&mut viewer, json!({"type": "chat", "text": "spam spam"})).await;
    let sent = loop {
        let m = next(&mut viewer).await;
        if m["type"] == "sent" {
            break m;
        }
    };
    send(&mut host, json!({"type": "delete", "message_id": sent["line"]["id"]})).await;
    send(&mut host, json!({"type": "mute", "message_id": sent["line"]["id"]})).await;
    // Hosts and moderators are not silenced, by mistake or otherwise.
    send(&mut host, json!({"type": "chat", "text": "Benvenuti"})).await;
    let welcome = loop {
        let m = next(&mut host).await;
        if m["type"] == "sent" {
            break m;
        }
    };
    send(&mut host, json!({"type": "mute", "message_id": welcome["line"]["id"], "seconds": 60})).await;
    let refused = loop {
        let m = next(&mut host).await;
        if m["type"] == "error" {
            break m;
        }
    };
    assert_eq!(refused["code"], "forbidden", "{refused}");
    // The ban reaches the store (the room's writer) and the console lists it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let bans = loop {
        let bans = org.owner.get(&org.path("/bans")).await;
        if bans.body.as_array().is_some_and(|b| !b.is_empty()) || Instant::now() > deadline {
            break bans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(bans.status, 200);
    assert_eq!((bans.body[0]["name"].as_str(), bans.body[0]["by"].as_str()), (Some("Troll"), Some("Owner bans")), "{}", bans.text);
    let identity = bans.body[0]["identity"].as_str().unwrap().to_string();
    assert!(identity.starts_with("gst_"));

    // Another show of the shop: still banned.
    let chat_in = |slug: &'static str| {
        let troll = troll.clone();
        async move {
            let mut socket = connect(app, &format!("/api/v1/shows/{slug}/live"), Some(&troll)).await;
            next(&mut socket).await;
            send(&mut socket, json!({"type": "chat", "text": "sono tornato"})).await;
            loop {
                let m = next(&mut socket).await;
                if m["type"] == "sent" || m["type"] == "error" {
                    return m;
                }
            }
        }
    };
    assert_eq!(chat_in("ban-two").await["code"], "banned");
    // Lifted in the console: the next room lets them speak.
    let other = app.member(&org, vetrina_domain::account::Role::Moderator).await;
    assert_eq!(other.delete(&org.path(&format!("/bans/{identity}"))).await.status, 204, "moderators lift bans");
    assert_eq!(other.delete(&org.path(&format!("/bans/{identity}"))).await.status, 404);
    assert_eq!(chat_in("ban-three").await["type"], "sent");

    // The moderators' log is on the show's timeline for the shop (the lifted ban too); the
    // public timeline, the replay's, has neither the log nor the deleted line.
    let log = |t: &crate::harness::Resp| -> Vec<String> {
        t.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "moderation")
            .map(|e| e["data"]["action"].as_str().unwrap().to_string())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let staff = loop {
        let t = org.owner.get("/api/v1/shows/ban-one/timeline").await;
        assert_eq!(t.status, 200, "{}", t.text);
        if log(&t).len() >= 3 || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(log(&staff), ["delete", "ban", "unban"], "{}", staff.text);
    assert_eq!(chat_texts(&staff), ["spam spam", "Benvenuti"]);
    let public = app.anonymous().get("/api/v1/shows/ban-one/timeline").await;
    assert!(log(&public).is_empty(), "{}", public.text);
    assert_eq!(chat_texts(&public), ["Benvenuti"]);

    // A ban made in a show that was deleted since is still lifted.
    let mut host = connect(app, "/api/v1/shows/ban-three/live", org.owner.cookie.as_deref()).await;
    let mut viewer = connect(app, "/api/v1/shows/ban-three/live", Some(&troll)).await;
    next(&mut host).await;
    next(&mut viewer).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&mut viewer, json!({"type": "chat", "text": "ancora spam"})).await;
    let sent = loop {
        let m = next(&mut viewer).await;
        if m["type"] == "sent" || m["type"] == "error" {
            break m;
        }
    };
    send(&mut host, json!({"type": "mute", "message_id": sent["line"]["id"]})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while org.owner.get(&org.path("/bans")).await.body.as_array().is_none_or(|b| b.is_empty()) {
        assert!(Instant::now() < deadline, "the second ban never reached the store");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((host, viewer));
    assert_eq!(org.owner.delete(&org.path(&format!("/shows/{}", show_ids[2]))).await.status, 204);
    assert_eq!(org.owner.delete(&org.path(&format!("/bans/{identity}"))).await.status, 204, "lifted without its show");
});

/// The room's WebSocket at the byte level, against RFC 6455: the handshake, fragments with a
/// control frame between them, ping and pong, the closing handshake, and connections failed
/// with the right close code for frames a client must not send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_speaks_rfc_6455_on_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let app = TestApp::spawn(crate::harness::Db::Sqlite).await;
    let org = app.org("wire").await;
    let show = org
        .owner
        .post(&org.path("/shows"), json!({"title": "Wire", "slug": "wire-show", "starts_at": "2099-01-01T10:00", "status": "scheduled"}))
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    let addr = app.base.trim_start_matches("http://").to_string();
    let cookie = org.owner.cookie.clone().unwrap();
    let handshake = |headers: String| {
        let (addr, cookie) = (addr.clone(), cookie.clone());
        async move {
            let mut socket = TcpStream::connect(&addr).await.unwrap();
            let request = format!("GET /api/v1/shows/wire-show/live HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n{headers}\r\n");
            socket.write_all(request.as_bytes()).await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                assert_eq!(socket.read(&mut byte).await.unwrap(), 1, "the answer's head: {}", String::from_utf8_lossy(&head));
                head.push(byte[0]);
            }
            (socket, String::from_utf8(head).unwrap().to_ascii_lowercase())
        }
    };
    // A frame from the server: unmasked, final (opcode, payload).
    async fn frame_from(socket: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut head)).await.expect("a frame within 5 s").unwrap();
        assert_eq!(head[1] & 0x80, 0, "a server never masks");
        assert_eq!(head[0] & 0x70, 0, "no reserved bits");
        let len = match head[1] & 0x7f {
            126 => socket.read_u16().await.unwrap() as usize,
            127 => socket.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut payload = vec![0; len];
        socket.read_exact(&mut payload).await.unwrap();
        (head[0], payload)
    }
    // The next frame that is not one of the room's frames (viewer counts come any time).
    async fn answer_from(socket: &mut TcpStream) -> (u8, Vec<u8>) {
        loop {
            let (first, payload) = frame_from(socket).await;
            if first == 0x81 && serde_json::from_slice::<Value>(&payload).unwrap()["type"] == "frame" {
                continue;
            }
            return (first, payload);
        }
    }
    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        assert!(payload.len() < 126);
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }
    const UPGRADE: &str = "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n";

    // The handshake with the RFC's own example key (RFC 6455 1.3).
    let (mut socket, head) = handshake(format!("{UPGRADE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")).await;
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"), "{head}");
    assert!(head.contains("upgrade: websocket\r\n") && head.contains("connection: upgrade\r\n"), "{head}");
    let (first, snapshot) = frame_from(&mut socket).await;
    assert_eq!(first, 0x81, "a final text frame");
    assert_eq!(serde_json::from_slice::<Value>(&snapshot).unwrap()["type"], "snapshot");
    // A chat message in three fragments, a ping between the first two.
    let message = json!({"type": "chat", "text": "Frammenti riuniti"}).to_string();
    let (a, rest) = message.as_bytes().split_at(10);
    let (b, c) = rest.split_at(10);
    let mut wire = masked(0x01, a);
    wire.extend(masked(0x89, b"eco"));
    wire.extend(masked(0x00, b));
    wire.extend(masked(0x80, c));
    socket.write_all(&wire).await.unwrap();
    assert_eq!(answer_from(&mut socket).await, (0x8A, b"eco".to_vec()), "the pong carries the ping's data");
    let (first, sent) = answer_from(&mut socket).await;
    assert_eq!(first, 0x81);
    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!((sent["type"].as_str(), sent["line"]["text"].as_str()), (Some("sent"), Some("Frammenti riuniti")), "{sent}");
    // The closing handshake: the client's code comes back, then the server closes.
    socket.write_all(&masked(0x88, &[0x03, 0xe9])).await.unwrap();
    assert_eq!(answer_from(&mut socket).await, (0x88, vec![0x03, 0xe9]));
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut rest)).await.expect("closed").unwrap();
    assert!(rest.is_empty(), "nothing after the close: {rest:?}");

    // Frames a client must not send fail the connection with the code that says why (7.4.1).
    let key = "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n";
    for (wire, code) in [
        (vec![0x81, 0x02, b'h', b'i'], 1002u16), // unmasked
        (masked(0x81, &[0xc3, 0x28]), 1007),     // text that is not UTF-8
        (masked(0x83, b"?"), 1002),              // a reserved opcode
        (masked(0x09, b"ping"), 1002),           // a fragmented control frame
    ] {
        let (mut socket, head) = handshake(format!("{UPGRADE}{key}")).await;
        assert!(head.starts_with("http/1.1 101 "), "{head}");
        frame_from(&mut socket).await;
        socket.write_all(&wire).await.unwrap();
        let (first, payload) = answer_from(&mut socket).await;
        assert_eq!(first, 0x88, "a close frame for {wire:?}");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code, "{}", String::from_utf8_lossy(&payload[2..]));
    }
    // Every ping gets its pong; a flood of them ends the connection with 1008.
    let (mut socket, _) = handshake(format!("{UPGRADE}{key}")).await;
    frame_from(&mut socket).await;
    for i in 0..10u8 {
        socket.write_all(&masked(0x89, &[i])).await.unwrap();
    }
    for i in 0..10u8 {
        assert_eq!(answer_from(&mut socket).await, (0x8A, vec![i]), "ten pings in a row, ten pongs in order");
    }
    let flood: Vec<u8> = (0..200u8).flat_map(|i| masked(0x89, &[i])).collect();
    socket.write_all(&flood).await.unwrap();
    let closed = loop {
        let (first, payload) = answer_from(&mut socket).await;
        if first != 0x8A {
            break (first, u16::from_be_bytes([payload[0], payload[1]]));
        }
    };
    assert_eq!(closed, (0x88, 1008), "a ping flood is a policy violation");
    // A message over the limit (16 KiB) is 1009, from its header alone; the close frame reaches
    // the client although the server never read the rest.
    let (mut socket, _) = handshake(format!("{UPGRADE}{key}")).await;
    frame_from(&mut socket).await;
    let mut big = vec![0x81, 0xfe, 0x4e, 0x20, 1, 2, 3, 4];
    big.extend(std::iter::repeat_n(b'x', 20_000));
    socket.write_all(&big).await.unwrap();
    let (first, payload) = answer_from(&mut socket).await;
    assert_eq!((first, u16::from_be_bytes([payload[0], payload[1]])), (0x88, 1009));
    let (mut socket, _) = handshake(format!("{UPGRADE}{key}")).await;
    frame_from(&mut socket).await;
    socket.write_all(&[0x81, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]).await.unwrap();
    let (first, payload) = answer_from(&mut socket).await;
    assert_eq!((first, u16::from_be_bytes([payload[0], payload[1]])), (0x88, 1009));

    // Handshakes that cannot be answered (4.2.2): another version names ours; a bad key is 400.
    let (_, head) = handshake(format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{key}")).await;
    assert!(head.starts_with("http/1.1 426 ") && head.contains("sec-websocket-version: 13\r\n"), "{head}");
    let (_, head) = handshake(format!("{UPGRADE}Sec-WebSocket-Key: short\r\n")).await;
    assert!(head.starts_with("http/1.1 400 "), "{head}");
    let (_, head) = handshake(UPGRADE.to_string()).await;
    assert!(head.starts_with("http/1.1 400 "), "no key: {head}");
    let (_, head) = handshake(format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{key}")).await;
    assert!(head.starts_with("http/1.1 400 "), "no version: {head}");
    // The unused bits of a key's last character are not checked (other servers do not either).
    let (_, head) = handshake(format!("{UPGRADE}Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEB==\r\n")).await;
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    app.stop().await;
}

story!(the_timeline_pages_through_a_crowded_moment, |app| {
    // Before the recording starts every event counts as one moment (-1): more of them than a
    // page holds are split by wall time, and paging skips none.
    let org = app.org("crowded").await;
    let show = org
        .owner
        .post(&org.path("/shows"), json!({"title": "Pre-show", "slug": "pre-show", "starts_at": "2099-01-01T10:00", "status": "scheduled"}))
        .await;
    assert_eq!(show.status, 201);
    let mut host = connect(app, "/api/v1/shows/pre-show/live", org.owner.cookie.as_deref()).await;
    next(&mut host).await;
    for i in 0..12 {
        send(&mut host, json!({"type": "chat", "text": format!("riga {i}")})).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while chat_texts(&app.anonymous().get("/api/v1/shows/pre-show/timeline").await).len() < 12 {
        assert!(Instant::now() < deadline, "the lines never reached the timeline");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen = Vec::new();
    let mut query = String::new();
    for pages in 1.. {
        let page = app.anonymous().get(&format!("/api/v1/shows/pre-show/timeline?limit=5{query}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.body["events"].as_array().unwrap().len() <= 5);
        assert!(page.body["events"].as_array().unwrap().iter().all(|e| e["media_ms"].is_null()));
        seen.extend(chat_texts(&page));
        let Some(after) = page.body["next_after_ms"].as_i64() else { break };
        assert_eq!(after, -1, "{}", page.text);
        let at = page.body["next_after_at"].as_i64().expect("a page ending inside a moment says where");
        query = format!("&after_ms={after}&after_at={at}");
        assert!(pages < 20, "paging never ends: {seen:?}");
    }
    let expected: Vec<String> = (0..12).map(|i| format!("riga {i}")).collect();
    assert_eq!(seen, expected, "every line once, in order");
});

/// The chat lines' texts on a page of a show's timeline.
fn chat_texts(page: &crate::harness::Resp) -> Vec<String> {
    page.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "chat")
        .map(|e| e["data"]["text"].as_str().unwrap().to_string())
        .collect()
}
