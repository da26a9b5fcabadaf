//! Signing in, sessions, CSRF, invitations, creators, API tokens, guests.

use serde_json::json;
use vetrina_domain::account::Role;

use crate::harness::{Agent, PASSWORD, story};

story!(sign_in_and_out, |app| {
    app.user("anna@boutique.example", "Anna").await;
    let anon = app.anonymous();
    anon.post("/api/v1/session", json!({"email": "anna@boutique.example", "password": "wrong password"}))
        .await
        .problem(401, "email or the password is wrong");
    anon.post("/api/v1/session", json!({"email": "nobody@boutique.example", "password": PASSWORD}))
        .await
        .problem(401, "email or the password is wrong");
    anon.get("/api/v1/session").await.problem(401, "sign in");

    let r = anon.post("/api/v1/session", json!({"email": " Anna@Boutique.example ", "password": PASSWORD})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = r.header("set-cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http on loopback");
    let behind_tls = anon
        .http
        .post(format!("{}/api/v1/session", app.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "anna@boutique.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = behind_tls.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "a TLS proxy in front makes the cookie Secure: {cookie}");

    let anna = app.sign_in("anna@boutique.example").await;
    let me = anna.get("/api/v1/session").await;
    assert_eq!(me.body["user"]["name"], "Anna");
    assert!(me.body["csrf_token"].as_str().is_some_and(|t| t.len() > 20));

    assert_eq!(anna.delete("/api/v1/session").await.status, 204);
    anna.get("/api/v1/session").await.problem(401, "sign in");
});

story!(writes_with_a_cookie_need_the_csrf_token, |app| {
    let org = app.org("csrf").await;
    let forged = org.owner.without_csrf();
    forged.patch(&org.path(""), json!({"name": "Hijacked"})).await.problem(403, "X-CSRF-Token");
    let wrong = crate::harness::Agent { csrf: Some("guess".into()), ..org.owner.clone() };
    wrong.patch(&org.path(""), json!({"name": "Hijacked"})).await.problem(403, "X-CSRF-Token");
    assert_eq!(forged.get(&org.path("")).await.body["name"], "Boutique csrf", "reads need no token; nothing changed");
    let ok = org.owner.patch(&org.path(""), json!({"name": "Renamed"})).await;
    assert_eq!(ok.body["name"], "Renamed", "{}", ok.text);
});

story!(invitations_make_members, |app| {
    let org = app.org("team").await;
    let r = org.owner.post(&org.path("/invitations"), json!({"email": "Giulia@Team.example", "role": "host"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(r.body["accept_url"].as_str().unwrap().ends_with(&format!("/console#/join/{token}")));
    let listed = org.owner.get(&org.path("/invitations")).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(&token), "the secret is never listed");

    let anon = app.anonymous();
    anon.post("/api/v1/invitations/accept", json!({"token": "not-a-token"})).await.problem(404, "invitation");
    anon.post("/api/v1/invitations/accept", json!({"token": token, "name": "Giulia", "password": "short"}))
        .await
        .problem(422, "at least 8");
    let joined = anon.post("/api/v1/invitations/accept", json!({"token": token, "name": "Giulia", "password": PASSWORD})).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    assert_eq!(joined.body["memberships"][0]["role"], "host");
    assert_eq!(joined.body["user"]["email"], "giulia@team.example");
    anon.post("/api/v1/invitations/accept", json!({"token": token, "name": "Again", "password": PASSWORD})).await.problem(409, "already");

    let giulia = app.sign_in("giulia@team.example").await;
    giulia.get(&org.path("/products")).await;
    let members = org.owner.get(&org.path("/members")).await;
    assert_eq!(members.body.as_array().unwrap().len(), 2);
    let giulia_id = joined.body["user"]["id"].as_str().unwrap();

    giulia.patch(&org.path(&format!("/members/{giulia_id}")), json!({"role": "admin"})).await.problem(403, "host");
    let admin = org.owner.patch(&org.path(&format!("/members/{giulia_id}")), json!({"role": "admin"})).await;
    assert_eq!(admin.status, 200, "{}", admin.text);
    // An admin cannot touch the owner nor make owners.
    giulia.patch(&org.path(&format!("/members/{}", org.owner_id)), json!({"role": "host"})).await.problem(403, "owner");
    giulia.post(&org.path("/invitations"), json!({"email": "x@y.example", "role": "owner"})).await.problem(403, "owner");
    // The last owner stays.
    org.owner.patch(&org.path(&format!("/members/{}", org.owner_id)), json!({"role": "admin"})).await.problem(409, "at least one owner");
    assert_eq!(org.owner.delete(&org.path(&format!("/members/{giulia_id}"))).await.status, 204);
    giulia.get(&org.path("")).await.problem(404, "organisation");
});

story!(api_tokens_are_hashed_and_scoped, |app| {
    let org = app.org("tokens").await;
    let other = app.org("elsewhere").await;
    let r = org.owner.post(&org.path("/tokens"), json!({"name": "Shopify sync", "role": "admin"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("vt_"));
    org.owner.post(&org.path("/tokens"), json!({"name": "x", "role": "owner"})).await.problem(422, "cannot act as an owner");

    let integration = app.anonymous().with_token(&secret);
    let created = integration.post(&org.path("/products"), crate::harness::product_json("Token scarf", 1000)).await;
    assert_eq!(created.status, 201, "a token writes without a CSRF token: {}", created.text);
    integration.get(&other.path("/products")).await.problem(404, "organisation");
    integration.get("/api/v1/session").await.problem(401, "sign in");
    app.anonymous().with_token("vt_forged").get(&org.path("")).await.problem(401, "unknown or was revoked");

    let listed = org.owner.get(&org.path("/tokens")).await;
    assert!(!listed.text.contains(&secret), "secrets are never listed");
    let id = listed.body[0]["id"].as_str().unwrap();
    assert!(listed.body[0]["last_used_at"].is_i64(), "use is recorded");
    assert_eq!(org.owner.delete(&org.path(&format!("/tokens/{id}"))).await.status, 204);
    integration.get(&org.path("")).await.problem(401, "revoked");
});

story!(creators_host_one_show, |app| {
    let org = app.org("creators").await;
    let show = org.owner.post(&org.path("/shows"), json!({"title": "Creator night"})).await;
    let show_id = show.body["id"].as_str().unwrap().to_string();
    let other_show = org.owner.post(&org.path("/shows"), json!({"title": "Staff only"})).await;
    let other_id = other_show.body["id"].as_str().unwrap().to_string();

    let r = org.owner.post(&org.path(&format!("/shows/{show_id}/creators")), json!({"email": "luca@creator.example"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap();
    let joined = app.anonymous().post("/api/v1/invitations/accept", json!({"token": token, "name": "Luca", "password": PASSWORD})).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    assert_eq!(joined.body["memberships"].as_array().unwrap().len(), 0, "a creator is not a member");
    assert_eq!(joined.body["creator_shows"][0]["show_id"], show_id.as_str());
    let luca_id = joined.body["user"]["id"].as_str().unwrap().to_string();

    let luca = app.sign_in("luca@creator.example").await;
    assert_eq!(luca.get(&org.path(&format!("/shows/{show_id}"))).await.status, 200);
    let ros =
        luca.patch(&org.path(&format!("/shows/{show_id}")), json!({"run_of_show": {"segments": [{"title": "Hello from Luca"}]}})).await;
    assert_eq!(ros.status, 200, "{}", ros.text);
    luca.patch(&org.path(&format!("/shows/{show_id}")), json!({"title": "Mine now"})).await.problem(404, "organisation");
    luca.get(&org.path(&format!("/shows/{other_id}"))).await.problem(404, "organisation");
    luca.get(&org.path("/products")).await.problem(404, "organisation");

    let hosted = org.owner.patch(&org.path(&format!("/shows/{show_id}")), json!({"host_ids": [luca_id]})).await;
    assert_eq!(hosted.status, 200, "the creator may host this show: {}", hosted.text);
    org.owner.patch(&org.path(&format!("/shows/{other_id}")), json!({"host_ids": [luca_id]})).await.problem(422, "not a host");
});

story!(guests_choose_a_name, |app| {
    let anon = app.anonymous();
    let r = anon.post("/api/v1/guests", json!({"display_name": "  Viewer <b>42</b> "})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["display_name"], "Viewer <b>42</b>", "kept as text; pages render it as text");
    assert!(r.header("set-cookie").starts_with("vetrina_guest="));
    anon.post("/api/v1/guests", json!({"display_name": ""})).await.problem(422, "display_name");
    anon.post("/api/v1/guests", json!({"display_name": "x".repeat(41)})).await.problem(422, "limit is 40");
});

story!(members_see_their_role, |app| {
    let org = app.org("roles").await;
    let host = app.member(&org, Role::Host).await;
    let me = host.get("/api/v1/session").await;
    assert_eq!(me.body["memberships"][0]["role"], "host");
    assert_eq!(me.body["memberships"][0]["org"]["id"], org.id.as_str());
});

story!(one_address_cannot_flood_sign_ins_or_guest_names, |app| {
    app.user("crowd@example.com", "Crowd").await;
    // Behind this machine's reverse proxy, as production runs: the address is the proxy's last.
    let from = |ip: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", format!("10.0.0.1, {ip}").parse().unwrap());
        Agent { http: reqwest::Client::builder().default_headers(headers).build().unwrap(), ..app.anonymous() }
    };
    let office = from("198.51.100.20");
    for i in 0..60 {
        let guest = office.post("/api/v1/guests", json!({"display_name": format!("Ospite {i}")})).await;
        assert_eq!(guest.status, 201, "a crowd behind one address picks names at once: {}", guest.text);
    }
    let refused = office.post("/api/v1/guests", json!({"display_name": "Uno di troppo"})).await;
    refused.problem(429, "guest names");
    assert!(refused.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1), "{:?}", refused.headers);
    assert_eq!(from("198.51.100.21").post("/api/v1/guests", json!({"display_name": "Vicino"})).await.status, 201, "another address");

    let guess = json!({"email": "crowd@example.com", "password": "not the password"});
    for _ in 0..30 {
        office.post("/api/v1/session", guess.clone()).await.problem(401, "wrong");
    }
    let refused = office.post("/api/v1/session", guess.clone()).await;
    refused.problem(429, "sign-ins");
    assert!(refused.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1));
    from("198.51.100.21").post("/api/v1/session", guess).await.problem(401, "wrong");
});
