//! Shows: planning, scheduling, run of show, the public page and its calendar event.

use serde_json::{Value, json};

use crate::harness::{Org, TestApp, product_json, story};

async fn two_products(org: &Org) -> (String, String) {
    let a = org.owner.post(&org.path("/products"), product_json("Giacca", 18900)).await;
    let b = org.owner.post(&org.path("/products"), product_json("Foulard", 5900)).await;
    (a.body["id"].as_str().unwrap().into(), b.body["id"].as_str().unwrap().into())
}

fn run_of_show(a: &str, b: &str) -> Value {
    json!({"segments": [
        {"title": "Apertura", "duration_minutes": 5, "product_ids": [a],
         "prepared_answers": [{"question": "Spedite in Svizzera?", "answer": "Sì, in 5 giorni."}]},
        {"title": "Il foulard", "duration_minutes": 10, "product_ids": [b],
         "deal": {"product_id": b, "percent_off": 20, "quantity": 50, "per_buyer_limit": 2, "duration_seconds": 300},
         "poll": {"question": "Quale colore?", "options": ["Rosso", "Blu"]}}
    ]})
}

async fn scheduled_show(app: &TestApp, org: &Org, slug: &str) -> Value {
    let _ = app;
    let (a, b) = two_products(org).await;
    let r = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": "Saldi d'inverno", "slug": slug, "description": "Cappotti, sciarpe; e altro",
                   "starts_at": "2099-12-01T18:00", "time_zone": "Europe/Rome", "status": "scheduled",
                   "lineup": [b], "run_of_show": run_of_show(&a, &b)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

story!(plan_and_schedule_a_show, |app| {
    let org = app.org("shows").await;
    let draft = org.owner.post(&org.path("/shows"), json!({"title": "Saldi d'inverno"})).await;
    assert_eq!(draft.status, 201, "{}", draft.text);
    assert_eq!(draft.body["status"], "draft");
    assert_eq!(draft.body["slug"], "saldi-d-inverno");
    assert_eq!(draft.body["time_zone"], "Europe/Rome", "the organisation's zone");
    let id = draft.body["id"].as_str().unwrap();
    let path = org.path(&format!("/shows/{id}"));

    org.owner.patch(&path, json!({"status": "scheduled"})).await.problem(422, "needs a start time");
    org.owner.patch(&path, json!({"starts_at": "2001-01-01T10:00", "status": "scheduled"})).await.problem(422, "in the past");
    org.owner.patch(&path, json!({"time_zone": "Mars/Olympus"})).await.problem(422, "not an IANA time zone");
    org.owner.patch(&path, json!({"status": "ended"})).await.problem(422, "a draft show cannot become ended");

    let (a, b) = two_products(&org).await;
    let r = org
        .owner
        .patch(&path, json!({"starts_at": "2099-12-01T18:00", "time_zone": "America/New_York", "status": "scheduled", "run_of_show": run_of_show(&a, &b)}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "scheduled");
    assert_eq!(r.body["starts_at"], 4_099_849_200_000_i64, "18:00 in New York is 23:00 UTC");
    assert_eq!(r.body["lineup"], json!([a, b]), "run-of-show products join the line-up");
    assert_eq!(r.body["run_of_show"]["segments"][1]["deal"]["percent_off"], 20);

    let live = org.owner.patch(&path, json!({"status": "live"})).await;
    assert!(live.body["live_at"].is_i64(), "{}", live.text);
    org.owner.patch(&path, json!({"starts_at": "2099-12-02T18:00"})).await;
    let ended = org.owner.patch(&path, json!({"status": "ended"})).await;
    assert!(ended.body["ended_at"].is_i64());
    org.owner.patch(&path, json!({"slug": "new-address"})).await.problem(422, "has ended");
    org.owner.patch(&path, json!({"status": "live"})).await.problem(422, "cannot become live");
});

story!(slugs_are_unique, |app| {
    let org = app.org("slugs").await;
    let other = app.org("slugs2").await;
    scheduled_show(app, &org, "winter-sale").await;
    other
        .owner
        .post(&other.path("/shows"), json!({"title": "Mine", "slug": "winter-sale"}))
        .await
        .problem(409, "/shows/winter-sale is taken");
    other.owner.post(&other.path("/shows"), json!({"title": "Mine", "slug": "Winter Sale!"})).await.problem(422, "not a valid slug");
});

story!(the_public_show_page, |app| {
    let org = app.org("public").await;
    let show = scheduled_show(app, &org, "saldi-live").await;
    let viewer = app.anonymous();
    let r = viewer.get("/api/v1/shows/saldi-live").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "Saldi d'inverno");
    assert_eq!(r.body["merchant"], "Boutique public");
    assert_eq!(r.body["starts_at"], "2099-12-01T17:00:00Z");
    assert_eq!(r.body["starts_at_local"], "2099-12-01T18:00:00+01:00");
    let lineup = r.body["lineup"].as_array().unwrap();
    assert_eq!(lineup.len(), 2);
    assert_eq!(lineup[0]["title"], "Foulard");
    assert_eq!(lineup[0]["description"], "Made in Italy", "HTML becomes text");
    assert_eq!(lineup[0]["variants"][2]["available"], false, "L has no stock");
    assert_eq!(lineup[0]["variants"][1]["stock"], 3, "\"only 3 left\" is true");
    assert!(!r.text.contains("prepared_answers") && !r.text.contains("Spedite"), "host notes stay private");

    let page = viewer.get("/shows/saldi-live").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-security-policy").contains("default-src 'self'"));
    assert_eq!(viewer.get("/shows/no-such-show").await.status, 404);

    let ics = viewer.get("/api/v1/shows/saldi-live/calendar.ics").await;
    assert_eq!(ics.status, 200);
    assert!(ics.header("content-type").starts_with("text/calendar"));
    assert!(ics.text.contains("DTSTART:20991201T170000Z\r\n"), "{}", ics.text);
    assert!(ics.text.contains("DTEND:20991201T171500Z\r\n"), "15 minutes of segments");
    assert!(ics.text.contains("SUMMARY:Saldi d'inverno\r\n"));
    assert!(ics.text.contains(&format!("UID:{}@vetrina", show["id"].as_str().unwrap())));

    let draft = org.owner.post(&org.path("/shows"), json!({"title": "Secret", "slug": "secret-draft"})).await;
    assert_eq!(draft.status, 201);
    viewer.get("/api/v1/shows/secret-draft").await.problem(404, "show");
    viewer.get("/api/v1/shows/secret-draft/calendar.ics").await.problem(404, "show");
});

story!(products_in_a_show_are_kept, |app| {
    let org = app.org("keep").await;
    let show = scheduled_show(app, &org, "keep-show").await;
    let product = show["lineup"][0].as_str().unwrap();
    org.owner.delete(&org.path(&format!("/products/{product}"))).await.problem(409, "line-up of the show");
    let id = show["id"].as_str().unwrap();
    assert_eq!(org.owner.delete(&org.path(&format!("/shows/{id}"))).await.status, 204);
    assert_eq!(org.owner.delete(&org.path(&format!("/products/{product}"))).await.status, 204);
});

story!(hosts_present_but_do_not_plan, |app| {
    let org = app.org("hosting").await;
    let host = app.member(&org, vetrina_domain::account::Role::Host).await;
    let show = scheduled_show(app, &org, "host-show").await;
    let path = org.path(&format!("/shows/{}", show["id"].as_str().unwrap()));
    let r = host.patch(&path, json!({"run_of_show": {"segments": [{"title": "Host's own plan"}]}})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    host.patch(&path, json!({"title": "Renamed by host"})).await.problem(403, "host may not");
    let live = host.patch(&path, json!({"status": "live"})).await;
    assert_eq!(live.body["status"], "live", "{}", live.text);
    host.post(&org.path("/shows"), json!({"title": "New"})).await.problem(403, "host may not");
});
