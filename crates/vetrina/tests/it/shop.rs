//! Carts and holds: what a buyer adds is theirs until it expires, never more than the stock, and
//! a flash deal's units go to the first buyers, each within the limit.

use std::time::Duration;

use serde_json::{Value, json};
use vetrina_domain::ids::{OrgId, VariantId};
use vetrina_store::shop::NewHold;

use crate::harness::{Agent, Org, TestApp, product_json, story};
use crate::live::{connect, frames_until, next, send};

/// A product (S: 5, M: 3, L: 0 in stock) in the line-up of a scheduled show; its variant ids.
pub async fn show_with_product(org: &Org, slug: &str, deal: Option<Value>) -> (String, Vec<String>) {
    let product = org.owner.post(&org.path("/products"), product_json(&format!("Giacca {slug}"), 18_900)).await;
    assert_eq!(product.status, 201, "{}", product.text);
    let id = product.body["id"].as_str().unwrap().to_string();
    let variants = product.body["variants"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    let mut segment = json!({"title": "La giacca", "duration_minutes": 10, "product_ids": [id]});
    if let Some(mut deal) = deal {
        deal["product_id"] = json!(id);
        segment["deal"] = deal;
    }
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": slug, "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled",
                   "lineup": [id], "run_of_show": {"segments": [segment]}}),
        )
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    (id, variants)
}

/// What a buyer types at checkout.
pub fn contact() -> Value {
    json!({"email": "anna@example.com", "name": "Anna Rossi", "address":
        {"line1": "Via Roma 1", "city": "Firenze", "postal_code": "50100", "country": "IT"}})
}

/// A buyer's browser: no session, its own buyer cookie once it has one.
fn buyer(app: &TestApp) -> Agent {
    app.anonymous()
}

async fn add(agent: &mut Agent, slug: &str, variant: &str, quantity: i64) -> crate::harness::Resp {
    let r = agent.post(&format!("/api/v1/shows/{slug}/cart/lines"), json!({"variant_id": variant, "quantity": quantity})).await;
    if agent.cookie.is_none()
        && let Some(c) = r.headers.get("set-cookie").and_then(|v| v.to_str().ok())
    {
        agent.cookie = Some(c.split(';').next().unwrap().to_string());
    }
    r
}

story!(a_cart_holds_stock_and_gives_it_back, |app| {
    let org = app.org("cart").await;
    let (_, v) = show_with_product(&org, "cart-show", None).await;
    let (mut anna, mut bea) = (buyer(app), buyer(app));

    let r = add(&mut anna, "cart-show", &v[0], 3).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.header("set-cookie").contains("vetrina_buyer=") && r.header("set-cookie").contains("HttpOnly"));
    assert_eq!((r.body["quantity_added"].as_i64(), r.body["in_cart"].as_i64()), (Some(3), Some(3)));
    assert_eq!(r.body["unit_price_minor"], 18_900);
    assert_eq!(r.body["available"], 2, "\"only 2 left\" is true");
    let cart = anna.get("/api/v1/shows/cart-show/cart").await;
    assert_eq!((cart.body["lines"][0]["quantity"].as_i64(), cart.body["subtotal_minor"].as_i64()), (Some(3), Some(3 * 18_900)));
    assert_eq!(cart.body["id"], r.body["cart_id"]);
    let r = add(&mut bea, "cart-show", &v[0], 3).await;
    r.problem(409, "only 2 left");
    assert_eq!((r.body["code"].as_str(), r.body["available"].as_i64()), (Some("sold_out"), Some(2)));
    assert_eq!(add(&mut bea, "cart-show", &v[0], 2).await.status, 201);
    assert_eq!(add(&mut bea, "cart-show", &v[2], 1).await.body["code"], "sold_out", "L has none");

    // The cart is there after a reload; giving units back lets others have them.
    let cart = anna.get("/api/v1/shows/cart-show/cart").await;
    assert_eq!(cart.body["lines"][0]["quantity"], 3);
    let line = format!("/api/v1/shows/cart-show/cart/lines/{}", v[0]);
    let r = anna.patch(&line, json!({"quantity": 1})).await;
    assert_eq!((r.status, r.body["lines"][0]["quantity"].as_i64()), (200, Some(1)), "{}", r.text);
    assert_eq!(add(&mut bea, "cart-show", &v[0], 2).await.status, 201, "the two anna gave back");
    assert_eq!(anna.patch(&line, json!({"quantity": 2})).await.body["code"], "sold_out");
    assert_eq!(anna.delete(&line).await.status, 204);
    assert_eq!(anna.delete(&line).await.status, 404);
    assert!(anna.get("/api/v1/shows/cart-show/cart").await.body["lines"].as_array().unwrap().is_empty());

    // Bad input: a clear 4xx, nothing held.
    for q in [0, -1, 100] {
        add(&mut anna, "cart-show", &v[1], q).await.problem(422, "quantity");
    }
    let priced = anna.post("/api/v1/shows/cart-show/cart/lines", json!({"variant_id": v[1], "quantity": 1, "unit_price_minor": 1})).await;
    assert_eq!(priced.status, 422, "prices come from the server: {}", priced.text);
    let other = app.org("other-cart").await;
    let (_, foreign) = show_with_product(&other, "other-cart-show", None).await;
    add(&mut anna, "cart-show", &foreign[0], 1).await.problem(404, "variant");
    add(&mut anna, "cart-show", "var_doesnotexist", 1).await.problem(404, "variant");
    add(&mut anna, "no-such-show", &v[1], 1).await.problem(404, "show");
    let levels = app
        .store()
        .stock_levels(
            &OrgId(org.id.clone()),
            &[vetrina_domain::ids::ProductId(cart.body["lines"][0]["product_id"].as_str().unwrap().into())],
        )
        .await
        .unwrap();
    assert_eq!(
        levels.iter().map(|l| l.available).collect::<Vec<_>>(),
        [Some(1), Some(3), Some(0)],
        "S: bea holds 4, anna gave hers back; M untouched"
    );

    // The merchant cannot set the stock below what carts hold.
    let product_path = org.path(&format!("/products/{}", cart.body["lines"][0]["product_id"].as_str().unwrap()));
    let mut product = product_json("Giacca cart-show", 18_900);
    for (i, id) in v.iter().enumerate() {
        product["variants"][i]["id"] = json!(id);
    }
    product["variants"][0]["stock"] = json!(3);
    let r = org.owner.put(&product_path, product.clone()).await;
    r.problem(409, "fewer than the units buyers hold");
    product["variants"][0]["stock"] = json!(4);
    assert_eq!(org.owner.put(&product_path, product.clone()).await.status, 200, "exactly what is held is fine");

    // Sold out is remembered for a moment (the rush after a sell-out is answered at once), but a
    // restock is on sale at once.
    assert_eq!(add(&mut bea, "cart-show", &v[2], 1).await.body["code"], "sold_out", "L has none");
    assert_eq!(add(&mut anna, "cart-show", &v[2], 1).await.body["code"], "sold_out", "L has none");
    product["variants"][2]["stock"] = json!(2);
    assert_eq!(org.owner.put(&product_path, product).await.status, 200);
    assert_eq!(add(&mut bea, "cart-show", &v[2], 1).await.status, 201, "the restocked L at once");
    let r = add(&mut anna, "cart-show", &v[2], 1).await;
    assert_eq!((r.status, r.body["available"].as_i64()), (201, Some(0)), "{}", r.text);
    assert_eq!(add(&mut anna, "cart-show", &v[2], 1).await.body["code"], "sold_out");
    assert_eq!(anna.delete(&format!("/api/v1/shows/cart-show/cart/lines/{}", v[2])).await.status, 204);
    assert_eq!(add(&mut bea, "cart-show", &v[2], 1).await.status, 201, "a unit given back is on sale at once");
});

story!(holds_expire_and_return_their_units, |app| {
    let org = app.org("expiry").await;
    let (_, v) = show_with_product(&org, "expiry-show", None).await;
    let store = app.store();
    let org_id = OrgId(org.id.clone());
    let cart = store.cart_for(&org_id, "buyer:test", 1_000).await.unwrap();
    let hold = |quantity| NewHold { buyer: "buyer:test".into(), quantity, use_deal: false, show: None, source: "shelf", media_ms: None };
    // Virtual time: held at t=1,000 for a minute.
    let (held, item, level) = store.hold_batch(&org_id, &VariantId(v[1].clone()), &[hold(2), hold(2)], 1_000, 60_000).await.unwrap();
    assert_eq!(held.iter().filter(|h| h.hold.is_some()).count(), 1, "3 in stock: 2, then not 2 more");
    assert_eq!(level.available, Some(1));
    assert_eq!((item.title.as_str(), item.regular_price_minor), ("Giacca expiry-show", 18_900));
    assert_eq!((held[0].cart.clone(), held[0].in_cart, held[0].expires_at), (cart.clone(), 2, 61_000), "the buyer's own cart");
    assert!(store.expire_holds(60_999, 100).await.unwrap().is_empty(), "not yet");
    assert_eq!(store.cart_lines(&cart, 60_999).await.unwrap()[0].expires_at, 61_000);
    let back = store.expire_holds(61_000, 100).await.unwrap();
    assert_eq!((back.len(), back[0].available), (1, Some(3)), "all three on sale again");
    assert!(store.cart_lines(&cart, 61_000).await.unwrap().is_empty());
    assert!(store.expire_holds(61_000, 100).await.unwrap().is_empty(), "returned once");

    // On SQLite the server's ledger decides on a connection of its own thread: the same batch
    // there gives the same answers (the cart exists now, so its count comes from the store).
    if let Some(mut own) = store.sqlite_ledger().unwrap() {
        let variant = VariantId(v[1].clone());
        let (held, own_item, level) = own.hold_batch(&org_id, &variant, &[hold(2), hold(2), hold(1)], 100_000, 60_000).unwrap();
        let outcomes: Vec<bool> = held.iter().map(|h| h.hold.is_some()).collect();
        assert_eq!(outcomes, [true, false, true], "3 in stock: 2, not 2 more, then 1");
        assert_eq!((level.available, own_item), (Some(0), item));
        assert_eq!((held[2].cart.clone(), held[2].in_cart, held[2].expires_at), (cart.clone(), 3, 160_000));
        let lines = store.cart_lines(&cart, 100_000).await.unwrap();
        assert_eq!((lines.len(), lines[0].quantity), (1, 3), "the holds are in the cart");
        let someone = NewHold { buyer: "buyer:other".into(), ..hold(1) };
        let (held, _, level) = own.hold_batch(&org_id, &variant, &[someone], 100_001, 60_000).unwrap();
        assert_eq!((held[0].outcome.clone(), level.available), (vetrina_domain::shop::Outcome::SoldOut { available: 0 }, Some(0)));
        let other = OrgId(app.org("expiry-other").await.id.clone());
        let missing = own.hold_batch(&other, &variant, &[hold(1)], 100_002, 60_000);
        assert!(matches!(missing, Err(vetrina_store::StoreError::NotFound)), "another organisation's variant: {missing:?}");
        assert!(store.cart_of(&other, "buyer:test").await.unwrap().is_none(), "and nothing kept of that batch");
        assert_eq!(store.expire_holds(160_000, 100).await.unwrap()[0].available, Some(3), "and they expire the same");
    }
});

/// A show `slug` whose line-up is one product with `units` in stock; (product id, variant id).
pub async fn sale(org: &Org, slug: &str, units: i64) -> (String, String) {
    let product =
        org.owner.post(&org.path("/products"), json!({"title": "Borsa", "variants": [{"price_minor": 9_900, "stock": units}]})).await;
    let product_id = product.body["id"].as_str().unwrap().to_string();
    let variant = product.body["variants"][0]["id"].as_str().unwrap().to_string();
    let show = org
        .owner
        .post(
            &org.path("/shows"),
            json!({"title": "Rush", "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled", "lineup": [product_id]}),
        )
        .await;
    assert_eq!(show.status, 201);
    (product_id, variant)
}

story!(a_thousand_buyers_for_a_hundred_units, |app| {
    let org = app.org("rush").await;
    let (product_id, variant) = sale(&org, "rush-show", 100).await;
    let (statuses, placed) = rush(&app.base, "rush-show", &variant, 1_000).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 100, "exactly the stock: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "the rest told it is sold out: {statuses:?}");
    assert_eq!(placed, vec![201; 100], "every holder's order is placed");
    let orders = org.owner.get(&org.path("/orders?limit=500")).await;
    assert_eq!(orders.body["total"], 100);
    let mut numbers: Vec<i64> = orders.body["items"].as_array().unwrap().iter().map(|o| o["number"].as_i64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (1001..1101).collect::<Vec<_>>(), "one number each, none twice");
    let levels = app.store().stock_levels(&OrgId(org.id.clone()), &[vetrina_domain::ids::ProductId(product_id)]).await.unwrap();
    assert_eq!(levels[0].available, Some(0));
});

/// `n` buyers at once (each its own browser), one unit each, then every buyer who got one checks
/// out at once; the add-to-cart statuses and the checkout statuses.
pub async fn rush(base: &str, slug: &str, variant: &str, n: usize) -> (Vec<u16>, Vec<u16>) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (client, url, variant) = (client.clone(), format!("{base}/api/v1/shows/{slug}/cart/lines"), variant.to_string());
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&json!({"variant_id": variant})).send().await.unwrap();
            let cookie =
                r.headers().get("set-cookie").and_then(|c| c.to_str().ok()).map(|c| c.split(';').next().unwrap_or_default().to_string());
            (r.status().as_u16(), cookie)
        }));
    }
    let mut added = Vec::with_capacity(n);
    for t in tasks {
        added.push(t.await.unwrap());
    }
    let mut checkouts = Vec::new();
    for (i, cookie) in added.iter().filter(|(s, _)| *s == 201).filter_map(|(_, c)| c.clone()).enumerate() {
        let (client, url) = (client.clone(), format!("{base}/api/v1/shows/{slug}/checkout"));
        checkouts.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("cookie", cookie)
                .header("idempotency-key", format!("rush-{i}"))
                .json(&contact())
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut placed = Vec::new();
    for t in checkouts {
        placed.push(t.await.unwrap());
    }
    (added.into_iter().map(|(s, _)| s).collect(), placed)
}

story!(a_flash_deal_from_the_run_of_show, |app| {
    let org = app.org("deal").await;
    let deal = json!({"percent_off": 20, "quantity": 4, "per_buyer_limit": 2, "duration_seconds": 300});
    let (product, v) = show_with_product(&org, "deal-show", Some(deal)).await;
    let (mut anna, mut bea) = (buyer(app), buyer(app));
    // Before the host starts the segment: the regular price.
    assert_eq!(add(&mut anna, "deal-show", &v[0], 1).await.body["unit_price_minor"], 18_900);
    let mut host = connect(app, "/api/v1/shows/deal-show/live", org.owner.cookie.as_deref()).await;
    next(&mut host).await;
    send(&mut host, json!({"type": "advance"})).await;
    let frames = frames_until(&mut host, |f| f.iter().any(|m| m["segment"]["deal_ends_at"].is_i64())).await;
    assert!(frames.iter().any(|m| m["segment"]["deal"]["percent_off"] == 20));
    let running = |app: &TestApp| {
        let store = app.store().clone();
        async move {
            let show = store.show_by_slug("deal-show").await.unwrap();
            for _ in 0..50 {
                if !store.running_deals(&show.id, vetrina_store::now_ms()).await.unwrap().is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the deal never started");
        }
    };
    running(app).await;
    let r = add(&mut bea, "deal-show", &v[1], 2).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["unit_price_minor"], 15_120, "20% off");
    assert_eq!(r.body["regular_price_minor"], 18_900);
    assert!(r.body["deal_id"].as_str().is_some_and(|d| d.starts_with("dl_")));
    add(&mut bea, "deal-show", &v[0], 1).await.problem(409, "at most 2 per person");
    assert_eq!(add(&mut anna, "deal-show", &v[0], 2).await.status, 201);
    let gone = add(&mut anna, "deal-show", &v[0], 1).await;
    assert_eq!(gone.body["code"], "deal_sold_out", "four at the deal price: {}", gone.text);
    let regular = anna.post("/api/v1/shows/deal-show/cart/lines", json!({"variant_id": v[0], "quantity": 1, "deal": false})).await;
    assert_eq!(regular.status, 201, "{}", regular.text);
    assert_eq!(regular.body["unit_price_minor"], 18_900);
    let cart = anna.get("/api/v1/shows/deal-show/cart").await;
    let prices: Vec<i64> = cart.body["lines"].as_array().unwrap().iter().map(|l| l["unit_price_minor"].as_i64().unwrap()).collect();
    assert!(prices.contains(&15_120) && prices.contains(&18_900), "deal and regular lines: {prices:?}");
    // The room tells everyone what is left (5 - 1 - 2 - 1), change by change.
    let is_s = |l: &&Value| l["variant_id"] == v[0].as_str();
    let f = frames_until(&mut host, |f| {
        f.iter().any(|m| m["stock"].as_array().is_some_and(|s| s.iter().filter(is_s).any(|l| l["available"] == 1)))
    })
    .await;
    let line = f.iter().flat_map(|m| m["stock"].as_array().into_iter().flatten()).find(is_s).unwrap();
    assert_eq!(line["product_id"].as_str(), Some(product.as_str()));
});

story!(checkout_places_one_order_per_tap, |app| {
    let org = app.org("checkout").await;
    let (_, v) = show_with_product(&org, "checkout-show", None).await;
    let shop =
        json!({"shop": {"shipping_flat_minor": 690, "free_shipping_over_minor": 50_000, "tax_rate_bp": 2_200, "prices_include_tax": true}});
    assert_eq!(org.owner.patch(&org.path(""), shop).await.status, 200);
    let mut anna = buyer(app);
    assert_eq!(add(&mut anna, "checkout-show", &v[0], 2).await.status, 201);

    // Prices are the server's: 2 x 189.00 + 6.90 shipping, 22% VAT included.
    let tap = |agent: &Agent, body: Value, key: Option<&'static str>| {
        let (agent, url) = (agent.clone(), format!("{}/api/v1/shows/checkout-show/checkout", agent.base));
        async move {
            let mut r = agent.http.post(url).json(&body).header("cookie", agent.cookie.clone().unwrap_or_default());
            if let Some(key) = key {
                r = r.header("idempotency-key", key);
            }
            let r = r.send().await.unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
            (r.status().as_u16(), replayed, r.json::<Value>().await.unwrap(), location)
        }
    };
    let (status, replayed, order, location) = tap(&anna, contact(), Some("tap-1")).await;
    assert_eq!((status, replayed), (201, false), "{order}");
    // The 201 names the order where its buyer reads it (the confirmation page).
    let location = location.expect("a Location");
    assert_eq!(anna.get(&location).await.body["id"], order["id"], "{location}");
    assert_eq!(order["number"], 1001);
    assert_eq!(order["status"], "pending_payment");
    assert_eq!((order["subtotal_minor"].as_i64(), order["shipping_minor"].as_i64()), (Some(37_800), Some(690)));
    assert_eq!((order["tax_minor"].as_i64(), order["total_minor"].as_i64()), (Some(6_941), Some(38_490)));
    assert_eq!((order["lines"][0]["quantity"].as_i64(), order["lines"][0]["unit_price_minor"].as_i64()), (Some(2), Some(18_900)));
    assert_eq!(order["lines"][0]["source"], "shelf", "the show has not started");
    // A double tap: the same order, not a second one.
    let (status, replayed, again, _) = tap(&anna, contact(), Some("tap-1")).await;
    assert_eq!((status, replayed, &again["id"]), (201, true, &order["id"]));
    let mut other = contact();
    other["name"] = json!("Someone Else");
    assert_eq!(tap(&anna, other, Some("tap-1")).await.0, 422, "a key reused for another body");
    let (status, _, empty, _) = tap(&anna, contact(), None).await;
    assert_eq!(status, 409, "the cart was checked out: {empty}");
    // Sold: out of stock for good, nothing held.
    let public = anna.get("/api/v1/shows/checkout-show").await;
    assert_eq!(public.body["lineup"][0]["variants"][0]["stock"], 3);
    // The buyer's confirmation page; nobody else's.
    let id = order["id"].as_str().unwrap();
    assert_eq!(anna.get(&format!("/api/v1/orders/{id}")).await.body["number"], 1001);
    assert_eq!(buyer(app).get(&format!("/api/v1/orders/{id}")).await.status, 404);

    // Bad input: a clear 4xx, nothing placed.
    let mut bea = buyer(app);
    assert_eq!(add(&mut bea, "checkout-show", &v[1], 1).await.status, 201);
    let mut no_email = contact();
    no_email["email"] = json!("not-an-email");
    let (status, _, problem, _) = tap(&bea, no_email, None).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("email")));
    let mut priced = contact();
    priced["total_minor"] = json!(1);
    assert_eq!(tap(&bea, priced, None).await.0, 422, "totals are never the client's");
    let mut shopify = contact();
    shopify["payment"] = json!("shopify");
    let (status, _, problem, _) = tap(&bea, shopify, None).await;
    assert_eq!(status, 409, "no Shopify shop set: {problem}");

    // The console: find it, mark it paid, cancel another (its units return), export.
    let mut weird = contact();
    weird["name"] = json!("=HYPERLINK(\"http://evil.example\")");
    let (status, _, second, _) = tap(&bea, weird, Some("bea-1")).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["number"], 1002);
    let found = org.owner.get(&org.path("/orders?q=anna")).await;
    assert_eq!((found.body["total"].as_i64(), found.body["items"][0]["number"].as_i64()), (Some(2), Some(1002)), "{}", found.text);
    assert_eq!(org.owner.get(&org.path("/orders?q=1001")).await.body["total"], 1);
    let paid = org.owner.patch(&org.path(&format!("/orders/{id}")), json!({"status": "paid"})).await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.text);
    org.owner.patch(&org.path(&format!("/orders/{id}")), json!({"status": "pending_payment"})).await.problem(409, "cannot become");
    assert_eq!(org.owner.get(&org.path("/orders?status=paid")).await.body["total"], 1);
    let second_id = second["id"].as_str().unwrap();
    let cancelled =
        org.owner.patch(&org.path(&format!("/orders/{second_id}")), json!({"status": "cancelled", "refund_note": "Never paid"})).await;
    assert_eq!((cancelled.body["status"].as_str(), cancelled.body["refund_note"].as_str()), (Some("cancelled"), Some("Never paid")));
    let public = anna.get("/api/v1/shows/checkout-show").await;
    assert_eq!(public.body["lineup"][0]["variants"][1]["stock"], 3, "M: the cancelled unit is on sale again");
    let csv = org.owner.get(&org.path("/orders.csv")).await;
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.text.contains("1001,") && csv.text.contains("Giacca checkout-show") && csv.text.contains("378.00"), "{}", csv.text);
    assert!(csv.text.contains("'=HYPERLINK"), "no formulas in a spreadsheet: {}", csv.text);
    assert!(
        csv.text.starts_with("Number,Created at,Status,") && csv.text.contains(",Refund note\r\n100") && csv.text.ends_with(",\r\n"),
        "RFC 4180: CRLF: {:?}",
        csv.text
    );
    assert_eq!(
        app.member(&org, vetrina_domain::account::Role::Host).await.get(&org.path("/orders")).await.status,
        403,
        "hosts see no addresses"
    );
});

/// A real SMTP server (Python's aiosmtpd, printing what it receives), killed when dropped.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    received: std::sync::Arc<std::sync::Mutex<String>>,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        use std::io::{BufRead, BufReader};
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = std::process::Command::new("python3")
            .args(["-u", "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Debugging", "-l", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it: pip install aiosmtpd)");
        let received = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (out, sink) = (child.stdout.take().unwrap(), received.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        // Ready when it takes connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child, port, received }
    }

    /// What arrived, once `needle` has (within 10 s).
    async fn wait_for(&self, needle: &str) -> String {
        for _ in 0..200 {
            let text = self.received.lock().unwrap().clone();
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no mail with {needle:?}: {}", self.received.lock().unwrap());
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_buyer_gets_a_confirmation_email() {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(crate::harness::Db::Sqlite, |c| {
        c.smtp.url = format!("smtp://127.0.0.1:{}", smtp.port);
        c.smtp.from = "Bottega <ordini@bottega.example>".into();
    })
    .await;
    let org = app.org("mail").await;
    let (_, v) = show_with_product(&org, "mail-show", None).await;
    let mut anna = buyer(&app);
    assert_eq!(add(&mut anna, "mail-show", &v[0], 2).await.status, 201);
    let r = anna
        .http
        .post(format!("{}/api/v1/shows/mail-show/checkout", app.base))
        .header("cookie", anna.cookie.clone().unwrap())
        .header("accept-language", "it-IT,it;q=0.9")
        .json(&contact())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mail = smtp.wait_for("Ordine n. 1001").await;
    assert!(mail.contains("To: \"Anna Rossi\" <anna@example.com>"), "{mail}");
    assert!(mail.contains("From: Bottega <ordini@bottega.example>"), "{mail}");
    assert!(mail.contains("2 x Giacca mail-show (S)") && mail.contains("378.00 EUR"), "the lines and the total: {mail}");
    app.stop().await;
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_logged() {
    use std::io::{BufRead, BufReader};
    // The receiver runs on this machine: private addresses allowed (they are not by default).
    let app = TestApp::spawn_with(crate::harness::Db::Sqlite, |c| c.webhooks_private_networks = true).await;
    let org = app.org("hooks").await;
    let (_, v) = show_with_product(&org, "hooks-show", None).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bad = org.owner.post(&org.path("/webhooks"), json!({"url": "ftp://x", "events": ["order.created"]})).await;
    bad.problem(422, "url");
    let bad = org.owner.post(&org.path("/webhooks"), json!({"url": "https://x.example", "events": ["order.shipped"]})).await;
    bad.problem(422, "events");
    let hook = org
        .owner
        .post(&org.path("/webhooks"), json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["order.created", "order.paid"]}))
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let secret = hook.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/webhook_receiver.py");
    let mut receiver = std::process::Command::new("python3")
        .args([script, &port.to_string(), &secret])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with standardwebhooks (scripts/test installs it)");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let (out, sink) = (receiver.stdout.take().unwrap(), lines.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(serde_json::from_str(&line).unwrap());
        }
    });
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // An order is placed and paid: two events; the first delivery fails once and is retried.
    let mut anna = buyer(&app);
    assert_eq!(add(&mut anna, "hooks-show", &v[0], 1).await.status, 201);
    let order = anna.post("/api/v1/shows/hooks-show/checkout", contact()).await;
    assert_eq!(order.status, 201);
    let id = order.body["id"].as_str().unwrap();
    assert_eq!(org.owner.patch(&org.path(&format!("/orders/{id}")), json!({"status": "paid"})).await.status, 200);
    let received = |n: usize| {
        let lines = lines.clone();
        async move {
            let mut got = Vec::new();
            for _ in 0..300 {
                got = lines.lock().unwrap().clone();
                if got.iter().filter(|l| l["ok"] == true).count() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            got
        }
    };
    received(3).await;
    // The merchant sends the paid event again from the delivery log: it arrives once more.
    let hook_id = hook.body["id"].as_str().unwrap();
    let log = org.owner.get(&org.path(&format!("/webhooks/{hook_id}/deliveries"))).await;
    let paid = log.body.as_array().unwrap().iter().find(|d| d["event"] == "order.paid").unwrap()["id"].as_str().unwrap().to_string();
    let again = org.owner.post(&org.path(&format!("/webhooks/{hook_id}/deliveries/{paid}/retry")), json!({})).await;
    assert_eq!(again.status, 202, "{}", again.text);
    org.owner.post(&org.path(&format!("/webhooks/{hook_id}/deliveries/dlv_nothing/retry")), json!({})).await.problem(404, "delivery");
    let got = received(4).await;
    assert_eq!(got.iter().filter(|l| l["type"] == "order.paid").count(), 2, "sent again by hand: {got:?}");
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(got.iter().all(|l| l["ok"] == true), "every signature verifies with the reference library: {got:?}");
    let types: Vec<&str> = got.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types.iter().filter(|t| **t == "order.created").count(), 2, "sent, failed, sent again: {types:?}");
    assert!(types.contains(&"order.paid"), "{types:?}");
    let created: Vec<&Value> = got.iter().filter(|l| l["type"] == "order.created").collect();
    assert_eq!(created[0]["id"], created[1]["id"], "a retry keeps its webhook-id");
    assert_eq!(created[1]["data"]["number"], 1001);
    let log = org.owner.get(&org.path(&format!("/webhooks/{}/deliveries", hook.body["id"].as_str().unwrap()))).await;
    let first = log.body.as_array().unwrap().iter().find(|d| d["event"] == "order.created").unwrap().clone();
    assert_eq!(
        (first["status"].as_str(), first["attempts"].as_i64(), first["last_status"].as_i64()),
        (Some("delivered"), Some(2), Some(204)),
        "{first}"
    );
    app.stop().await;
}

story!(discount_codes_at_checkout, |app| {
    let org = app.org("codes").await;
    let (_, v) = show_with_product(&org, "codes-show", None).await;
    let codes = org.path("/discount-codes");
    let made = org.owner.post(&codes, json!({"code": "live10", "percent_off": 10, "min_subtotal_minor": 20_000, "max_uses": 2})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(
        (made.body["code"].as_str(), made.body["uses"].as_i64(), made.body["active"].as_bool()),
        (Some("LIVE10"), Some(0), Some(true))
    );
    // The 201 names the code, and there it is.
    assert_eq!(made.header("location"), format!("{codes}/LIVE10"));
    assert_eq!(org.owner.get(made.header("location")).await.body, made.body);
    org.owner.get(&format!("{codes}/NOPE")).await.problem(404, "discount code");
    org.owner.post(&codes, json!({"code": "LIVE10", "percent_off": 5})).await.problem(409, "LIVE10");
    org.owner.post(&codes, json!({"code": "a b", "percent_off": 5})).await.problem(422, "code");
    org.owner.post(&codes, json!({"code": "ZERO", "percent_off": 0})).await.problem(422, "percent_off");
    org.owner.post(&codes, json!({"code": "BOTH", "percent_off": 5, "amount_off_minor": 500})).await.problem(422, "either");
    let flat = org.owner.post(&codes, json!({"code": "MENO5", "amount_off_minor": 500})).await;
    assert_eq!(flat.status, 201, "{}", flat.text);

    // The cart quotes with a code before the order is placed: discount, shipping, taxes.
    let mut anna = buyer(app);
    assert_eq!(add(&mut anna, "codes-show", &v[0], 2).await.status, 201);
    let quote = anna.get("/api/v1/shows/codes-show/cart?discount_code=live10").await;
    assert_eq!(quote.status, 200, "{}", quote.text);
    assert_eq!(
        (quote.body["totals"]["subtotal_minor"].as_i64(), quote.body["totals"]["discount_minor"].as_i64()),
        (Some(37_800), Some(3_780))
    );
    assert_eq!(quote.body["discount_code"], "LIVE10");
    assert_eq!(quote.body["totals"]["total_minor"], 37_800 - 3_780 + quote.body["totals"]["shipping_minor"].as_i64().unwrap());
    anna.get("/api/v1/shows/codes-show/cart?discount_code=NOPE").await.problem(422, "not a code of this shop");

    // Checkout takes it off and counts the use.
    let mut body = contact();
    body["discount_code"] = json!("Live10");
    let order = anna.post("/api/v1/shows/codes-show/checkout", body.clone()).await;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!((order.body["discount_code"].as_str(), order.body["discount_minor"].as_i64()), (Some("LIVE10"), Some(3_780)));
    // A second buyer uses it too; the third finds it used up, and nothing is placed.
    let mut bea = buyer(app);
    assert_eq!(add(&mut bea, "codes-show", &v[0], 1).await.status, 201);
    bea.get("/api/v1/shows/codes-show/cart?discount_code=LIVE10").await.problem(422, "at least");
    assert_eq!(add(&mut bea, "codes-show", &v[1], 1).await.status, 201);
    assert_eq!(bea.post("/api/v1/shows/codes-show/checkout", body.clone()).await.status, 201);
    let mut carla = buyer(app);
    assert_eq!(add(&mut carla, "codes-show", &v[0], 2).await.status, 201);
    carla.post("/api/v1/shows/codes-show/checkout", body.clone()).await.problem(422, "used up");
    assert_eq!(carla.get("/api/v1/shows/codes-show/cart").await.body["lines"].as_array().unwrap().len(), 1, "the cart is still there");
    // Switched off: refused; another code works.
    let off = org.owner.put(&format!("{codes}/live10"), json!({"code": "LIVE10", "percent_off": 10, "active": false})).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["uses"], 2, "its uses stay");
    org.owner.put(&format!("{codes}/LIVE10"), json!({"code": "OTHER", "percent_off": 10})).await.problem(422, "address");
    org.owner.put(&format!("{codes}/NOPE"), json!({"code": "NOPE", "percent_off": 10})).await.problem(404, "discount code");
    body["discount_code"] = json!("meno5");
    let placed = carla.post("/api/v1/shows/codes-show/checkout", body).await;
    assert_eq!((placed.status, placed.body["discount_minor"].as_i64()), (201, Some(500)), "{}", placed.text);
    let listed = org.owner.get(&codes).await;
    let uses: Vec<(String, i64)> =
        listed.body.as_array().unwrap().iter().map(|c| (c["code"].as_str().unwrap().to_string(), c["uses"].as_i64().unwrap())).collect();
    assert_eq!(uses, vec![("LIVE10".to_string(), 2), ("MENO5".to_string(), 1)]);
    let csv = org.owner.get(&org.path("/orders.csv")).await;
    assert!(csv.text.contains("Discount code") && csv.text.contains("LIVE10"), "{}", csv.text);
    assert_eq!(org.owner.delete(&format!("{codes}/meno5")).await.status, 204);
    org.owner.delete(&format!("{codes}/meno5")).await.problem(404, "discount code");
    // Another shop's owner sees none of them.
    let stranger = app.org("codes-stranger").await;
    assert_eq!(stranger.owner.get(&stranger.path("/discount-codes")).await.body, json!([]));
});

story!(a_stale_product_form_does_not_undo_sales, |app| {
    let org = app.org("stale").await;
    let (product_id, v) = show_with_product(&org, "stale-show", None).await;
    // The merchant opens the product (S: 5 in stock) ...
    let form = org.owner.get(&org.path(&format!("/products/{product_id}"))).await;
    assert_eq!(form.body["variants"][0]["stock"], 5);
    // ... meanwhile a buyer takes 2 ...
    let mut anna = buyer(app);
    assert_eq!(add(&mut anna, "stale-show", &v[0], 2).await.status, 201);
    assert_eq!(anna.post("/api/v1/shows/stale-show/checkout", contact()).await.status, 201);
    // ... and the merchant saves the form with 10 for S (5 more than they saw): 3 + 5 = 8.
    let mut body = product_json("Giacca stale-show", 18_900);
    body["variants"] = json!([
        {"id": v[0], "option_values": ["S"], "price_minor": 18_900, "stock": 10, "stock_was": 5},
        {"id": v[1], "option_values": ["M"], "price_minor": 18_900, "stock": 3, "stock_was": 3},
        {"id": v[2], "option_values": ["L"], "price_minor": 18_900, "stock": 0, "stock_was": 0}
    ]);
    let saved = org.owner.put(&org.path(&format!("/products/{product_id}")), body.clone()).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.body["variants"][0]["stock"], 8, "the 2 sold stay sold");
    assert_eq!(saved.body["variants"][1]["stock"], 3, "unchanged");
    // Without stock_was the number is set as sent (an import, an API client that knows).
    body["variants"][0] = json!({"id": v[0], "option_values": ["S"], "price_minor": 18_900, "stock": 4});
    let set = org.owner.put(&org.path(&format!("/products/{product_id}")), body.clone()).await;
    assert_eq!(set.body["variants"][0]["stock"], 4);
    // Taking away more than there is left says so, and changes nothing.
    body["variants"][0] = json!({"id": v[0], "option_values": ["S"], "price_minor": 18_900, "stock": 0, "stock_was": 10});
    org.owner.put(&org.path(&format!("/products/{product_id}")), body).await.problem(409, "variants/0/stock");
    assert_eq!(org.owner.get(&org.path(&format!("/products/{product_id}"))).await.body["variants"][0]["stock"], 4);
});
