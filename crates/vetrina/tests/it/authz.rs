//! Every API route, with every role, an API token, nobody, and another organisation's owner and
//! ids. The routes come from the OpenAPI document, so a new route without an entry here fails.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use vetrina_domain::account::{Action, Role};

use crate::harness::{Agent, Org, TestApp, product_json, story};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR not a real picture";
const CSV: &[u8] = include_bytes!("../../../../testdata/shopify/sample_products.csv");

/// Who may call a route.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in person (not an API token).
    Person,
    /// A member (or token) whose role allows the action.
    Can(Action),
}

/// A request body: content type and bytes.
type Sent = Option<(&'static str, Vec<u8>)>;

/// What a route needs and what to send it.
fn route_table() -> BTreeMap<(&'static str, &'static str), (Rule, Sent)> {
    use Action::*;
    let json = |v: Value| Some(("application/json", serde_json::to_vec(&v).unwrap()));
    BTreeMap::from([
        (("POST", "/api/v1/orgs"), (Rule::Person, json(json!({"name": "Another boutique"})))),
        (("GET", "/api/v1/orgs/{org_id}"), (Rule::Can(Read), None)),
        (("PATCH", "/api/v1/orgs/{org_id}"), (Rule::Can(ManageOrg), json(json!({"time_zone": "Europe/Rome"})))),
        (("GET", "/api/v1/orgs/{org_id}/members"), (Rule::Can(Read), None)),
        (("PATCH", "/api/v1/orgs/{org_id}/members/{user_id}"), (Rule::Can(ManageTeam), json(json!({"role": "moderator"})))),
        (("DELETE", "/api/v1/orgs/{org_id}/members/{user_id}"), (Rule::Can(ManageTeam), None)),
        (("GET", "/api/v1/orgs/{org_id}/invitations"), (Rule::Can(ManageTeam), None)),
        (
            ("POST", "/api/v1/orgs/{org_id}/invitations"),
            (Rule::Can(ManageTeam), json(json!({"email": "new@team.example", "role": "host"}))),
        ),
        (("DELETE", "/api/v1/orgs/{org_id}/invitations/{invitation_id}"), (Rule::Can(ManageTeam), None)),
        (("GET", "/api/v1/orgs/{org_id}/tokens"), (Rule::Can(ManageTokens), None)),
        (("POST", "/api/v1/orgs/{org_id}/tokens"), (Rule::Can(ManageTokens), json(json!({"name": "sync", "role": "host"})))),
        (("DELETE", "/api/v1/orgs/{org_id}/tokens/{token_id}"), (Rule::Can(ManageTokens), None)),
        (("GET", "/api/v1/orgs/{org_id}/bans"), (Rule::Can(Moderate), None)),
        (("GET", "/api/v1/orgs/{org_id}/webhooks"), (Rule::Can(ManageOrg), None)),
        (
            ("POST", "/api/v1/orgs/{org_id}/webhooks"),
            (Rule::Can(ManageOrg), json(json!({"url": "https://hooks.example/vetrina", "events": ["order.created"]}))),
        ),
        (("GET", "/api/v1/orgs/{org_id}/webhooks/{webhook_id}"), (Rule::Can(ManageOrg), None)),
        (("DELETE", "/api/v1/orgs/{org_id}/webhooks/{webhook_id}"), (Rule::Can(ManageOrg), None)),
        (("GET", "/api/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries"), (Rule::Can(ManageOrg), None)),
        (("POST", "/api/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"), (Rule::Can(ManageOrg), None)),
        (("DELETE", "/api/v1/orgs/{org_id}/bans/{identity}"), (Rule::Can(Moderate), None)),
        (("GET", "/api/v1/orgs/{org_id}/orders"), (Rule::Can(ManageOrders), None)),
        (("GET", "/api/v1/orgs/{org_id}/discount-codes"), (Rule::Can(ManageOrders), None)),
        (("POST", "/api/v1/orgs/{org_id}/discount-codes"), (Rule::Can(ManageOrders), json(json!({"code": "NEW10", "percent_off": 10})))),
        (
            ("PUT", "/api/v1/orgs/{org_id}/discount-codes/{code}"),
            (Rule::Can(ManageOrders), json(json!({"code": "LIVE10", "percent_off": 15}))),
        ),
        (("GET", "/api/v1/orgs/{org_id}/discount-codes/{code}"), (Rule::Can(ManageOrders), None)),
        (("DELETE", "/api/v1/orgs/{org_id}/discount-codes/{code}"), (Rule::Can(ManageOrders), None)),
        (("GET", "/api/v1/orgs/{org_id}/shows/{show_id}/commissions"), (Rule::Can(ManageOrders), None)),
        (("PUT", "/api/v1/orgs/{org_id}/commission-rates/{user_id}"), (Rule::Can(ManageOrders), json(json!({"rate_bp": 1000})))),
        (("GET", "/api/v1/orgs/{org_id}/orders.csv"), (Rule::Can(ManageOrders), None)),
        (("GET", "/api/v1/orgs/{org_id}/orders/{order_id}"), (Rule::Can(ManageOrders), None)),
        (
            ("PATCH", "/api/v1/orgs/{org_id}/orders/{order_id}"),
            (Rule::Can(ManageOrders), json(json!({"refund_note": "Refunded by bank transfer"}))),
        ),
        (("GET", "/api/v1/orgs/{org_id}/products"), (Rule::Can(Read), None)),
        (("POST", "/api/v1/orgs/{org_id}/products"), (Rule::Can(EditCatalogue), json(product_json("Matrix scarf", 1000)))),
        (("GET", "/api/v1/orgs/{org_id}/products/{product_id}"), (Rule::Can(Read), None)),
        (("PUT", "/api/v1/orgs/{org_id}/products/{product_id}"), (Rule::Can(EditCatalogue), json(product_json("Matrix bag", 2000)))),
        (("DELETE", "/api/v1/orgs/{org_id}/products/{product_id}"), (Rule::Can(EditCatalogue), None)),
        (("POST", "/api/v1/orgs/{org_id}/products/import"), (Rule::Can(EditCatalogue), Some(("text/csv", CSV.to_vec())))),
        (("GET", "/api/v1/orgs/{org_id}/products/export.csv"), (Rule::Can(Read), None)),
        (("POST", "/api/v1/orgs/{org_id}/products/{product_id}/images"), (Rule::Can(EditCatalogue), Some(("image/png", PNG.to_vec())))),
        (("DELETE", "/api/v1/orgs/{org_id}/products/{product_id}/images/{image_id}"), (Rule::Can(EditCatalogue), None)),
        (("GET", "/api/v1/orgs/{org_id}/shows"), (Rule::Can(Read), None)),
        (("POST", "/api/v1/orgs/{org_id}/shows"), (Rule::Can(EditShows), json(json!({"title": "Matrix show"})))),
        (("GET", "/api/v1/orgs/{org_id}/shows/{show_id}"), (Rule::Can(Read), None)),
        (("PATCH", "/api/v1/orgs/{org_id}/shows/{show_id}"), (Rule::Can(EditShows), json(json!({"description": "Changed"})))),
        (("DELETE", "/api/v1/orgs/{org_id}/shows/{show_id}"), (Rule::Can(EditShows), None)),
        (("PUT", "/api/v1/orgs/{org_id}/shows/{show_id}/cover"), (Rule::Can(EditShows), Some(("image/png", PNG.to_vec())))),
        (
            ("POST", "/api/v1/orgs/{org_id}/shows/{show_id}/creators"),
            (Rule::Can(EditShows), json(json!({"email": "creator@else.example"}))),
        ),
        (("GET", "/api/v1/orgs/{org_id}/shows/{show_id}/ingest"), (Rule::Can(PresentShows), None)),
        (("POST", "/api/v1/orgs/{org_id}/shows/{show_id}/ingest"), (Rule::Can(PresentShows), None)),
        (("GET", "/api/v1/shows/{slug}"), (Rule::Public, None)),
        (("GET", "/api/v1/shows/{slug}/media"), (Rule::Public, None)),
        (("GET", "/api/v1/shows/{slug}/recording"), (Rule::Public, None)),
        (("GET", "/api/v1/media/stats"), (Rule::Public, None)),
        (("GET", "/api/v1/shows/{slug}/live"), (Rule::Public, None)),
        (("GET", "/api/v1/shows/{slug}/timeline"), (Rule::Public, None)),
        (("GET", "/api/v1/shows/{slug}/calendar.ics"), (Rule::Public, None)),
        // A buyer's cart is theirs by cookie (or account): see shop.rs.
        (("GET", "/api/v1/shows/{slug}/cart"), (Rule::Public, None)),
        (("POST", "/api/v1/shows/{slug}/cart/lines"), (Rule::Public, json(json!({"variant_id": "var_none"})))),
        (("PATCH", "/api/v1/shows/{slug}/cart/lines/{variant_id}"), (Rule::Public, json(json!({"quantity": 1})))),
        (("DELETE", "/api/v1/shows/{slug}/cart/lines/{variant_id}"), (Rule::Public, None)),
        // The buyer's own order, by cookie: see shop.rs.
        (("POST", "/api/v1/shows/{slug}/checkout"), (Rule::Public, json(json!({})))),
        (("GET", "/api/v1/orders/{order_id}"), (Rule::Public, None)),
        // Replays: chapters and clips are public; cutting them is the show's hosts' and the shop's.
        (("GET", "/api/v1/shows/{slug}/chapters"), (Rule::Public, None)),
        (("GET", "/api/v1/clips/{clip_id}"), (Rule::Public, None)),
        (("GET", "/api/v1/clips/{clip_id}/video"), (Rule::Public, None)),
        (("GET", "/api/v1/orgs/{org_id}/shows/{show_id}/clips"), (Rule::Can(PresentShows), None)),
        (
            ("POST", "/api/v1/orgs/{org_id}/shows/{show_id}/clips"),
            (Rule::Can(PresentShows), json(json!({"title": "Clip", "start_ms": 0, "end_ms": 2000}))),
        ),
        (("DELETE", "/api/v1/orgs/{org_id}/shows/{show_id}/clips/{clip_id}"), (Rule::Can(PresentShows), None)),
    ])
}

/// Routes whose rules are their own story (signing in, guests, invitations): see accounts.rs.
const COVERED_ELSEWHERE: &[(&str, &str)] = &[
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("POST", "/api/v1/guests"),
    ("POST", "/api/v1/invitations/accept"),
    // Media: the stream key (WHIP), the public show (WHEP), the session's own URL: see media.rs.
    ("POST", "/api/v1/shows/{slug}/whip"),
    ("POST", "/api/v1/shows/{slug}/whep"),
    ("DELETE", "/api/v1/media/sessions/{session_id}"),
    ("OPTIONS", "/api/v1/shows/{slug}/whip"),
    ("OPTIONS", "/api/v1/shows/{slug}/whep"),
    ("OPTIONS", "/api/v1/media/sessions/{session_id}"),
];

/// The ids one organisation's resources have.
struct Ids {
    org_id: String,
    product_id: String,
    show_id: String,
    slug: String,
    image_id: String,
    invitation_id: String,
    token_id: String,
    user_id: String,
    identity: String,
    order_id: String,
    webhook_id: String,
    clip_id: String,
    delivery_id: String,
}

impl Ids {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{org_id}", &self.org_id)
            .replace("{product_id}", &self.product_id)
            .replace("{show_id}", &self.show_id)
            .replace("{slug}", &self.slug)
            .replace("{image_id}", &self.image_id)
            .replace("{invitation_id}", &self.invitation_id)
            .replace("{token_id}", &self.token_id)
            .replace("{user_id}", &self.user_id)
            .replace("{identity}", &self.identity)
            .replace("{order_id}", &self.order_id)
            .replace("{webhook_id}", &self.webhook_id)
            .replace("{clip_id}", &self.clip_id)
            .replace("{delivery_id}", &self.delivery_id)
            .replace("{code}", "LIVE10")
    }

    /// The org's own id in `{org_id}` but `other`'s ids for everything inside it.
    fn with_foreign_parts(&self, other: &Ids) -> Ids {
        Ids { org_id: self.org_id.clone(), slug: self.slug.clone(), ..other.clone_ids() }
    }

    fn clone_ids(&self) -> Ids {
        Ids {
            org_id: self.org_id.clone(),
            product_id: self.product_id.clone(),
            show_id: self.show_id.clone(),
            slug: self.slug.clone(),
            image_id: self.image_id.clone(),
            invitation_id: self.invitation_id.clone(),
            token_id: self.token_id.clone(),
            user_id: self.user_id.clone(),
            identity: self.identity.clone(),
            order_id: self.order_id.clone(),
            webhook_id: self.webhook_id.clone(),
            clip_id: self.clip_id.clone(),
            delivery_id: self.delivery_id.clone(),
        }
    }
}

/// An organisation with one of everything; `user_id` is a moderator's.
async fn furnish(app: &TestApp, org: &Org, slug: &str) -> (Ids, Vec<(Role, Agent)>) {
    let mut agents = vec![(Role::Owner, org.owner.clone())];
    for role in [Role::Admin, Role::Host, Role::Moderator] {
        agents.push((role, app.member(org, role).await));
    }
    let moderator = agents[3].1.get("/api/v1/session").await;
    let product = org.owner.post(&org.path("/products"), product_json(&format!("{slug} product"), 1500)).await;
    let product_id = product.body["id"].as_str().unwrap().to_string();
    let image = org.owner.raw(Method::POST, &org.path(&format!("/products/{product_id}/images")), Some("image/png"), PNG.to_vec()).await;
    let show = org
        .owner
        .post(&org.path("/shows"), json!({"title": "Matrix", "slug": slug, "starts_at": "2099-01-01T10:00", "status": "scheduled"}))
        .await;
    assert_eq!(show.status, 201, "{}", show.text);
    let invitation = org.owner.post(&org.path("/invitations"), json!({"email": "pending@team.example", "role": "moderator"})).await;
    let token = org.owner.post(&org.path("/tokens"), json!({"name": "existing", "role": "admin"})).await;
    agents.push((Role::Admin, org.owner.with_token(token.body["secret"].as_str().unwrap())));
    let identity = format!("gst_banned_{slug}");
    let ban = vetrina_domain::account::RoomBan {
        identity: identity.clone(),
        name: "Troll".into(),
        by: "Mod".into(),
        show_id: None,
        created_at: 1,
    };
    app.store().ban(&vetrina_domain::ids::OrgId(org.id.clone()), &ban).await.unwrap();
    // A webhook endpoint, and an order it hears about: a buyer adds the product and checks out.
    let hook =
        org.owner.post(&org.path("/webhooks"), json!({"url": "https://hooks.example/x", "events": ["order.created", "order.paid"]})).await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let mut buyer = app.anonymous();
    let variant = product.body["variants"][0]["id"].as_str().unwrap().to_string();
    let added = buyer.post(&format!("/api/v1/shows/{slug}/cart/lines"), json!({"variant_id": variant})).await;
    assert_eq!(added.status, 201, "{}", added.text);
    buyer.cookie = Some(added.header("set-cookie").split(';').next().unwrap().to_string());
    let order = buyer.post(&format!("/api/v1/shows/{slug}/checkout"), crate::shop::contact()).await;
    assert_eq!(order.status, 201, "{}", order.text);
    // A discount code.
    let code = org.owner.post(&org.path("/discount-codes"), json!({"code": "LIVE10", "percent_off": 10})).await;
    assert_eq!(code.status, 201, "{}", code.text);
    // A clip of the show's recording.
    let show_id = show.body["id"].as_str().unwrap().to_string();
    crate::harness::attach_recording(app, &show_id, 4, vetrina_store::now_ms()).await;
    let clip = org.owner.post(&org.path(&format!("/shows/{show_id}/clips")), json!({"title": "Clip", "start_ms": 0, "end_ms": 2000})).await;
    assert_eq!(clip.status, 201, "{}", clip.text);
    let deliveries = org.owner.get(&org.path(&format!("/webhooks/{}/deliveries", hook.body["id"].as_str().unwrap()))).await;
    let delivery_id = deliveries.body[0]["id"].as_str().expect("the order's delivery").to_string();
    let ids = Ids {
        delivery_id,
        clip_id: clip.body["id"].as_str().unwrap().to_string(),
        webhook_id: hook.body["id"].as_str().unwrap().to_string(),
        order_id: order.body["id"].as_str().unwrap().to_string(),
        identity,
        org_id: org.id.clone(),
        product_id,
        show_id: show.body["id"].as_str().unwrap().to_string(),
        slug: slug.to_string(),
        image_id: image.body["id"].as_str().unwrap().to_string(),
        invitation_id: invitation.body["invitation"]["id"].as_str().unwrap().to_string(),
        token_id: token.body["token"]["id"].as_str().unwrap().to_string(),
        user_id: moderator.body["user"]["id"].as_str().unwrap().to_string(),
    };
    (ids, agents)
}

async fn call(agent: &Agent, method: &str, path: &str, body: &Sent) -> crate::harness::Resp {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    match body {
        Some((ct, bytes)) => agent.raw(method, path, Some(ct), bytes.clone()).await,
        None => agent.raw(method, path, None, Vec::new()).await,
    }
}

fn is_auth_failure(status: u16) -> bool {
    matches!(status, 401 | 403 | 404)
}

story!(every_route_every_role, |app| {
    let a = app.org("alpha").await;
    let b = app.org("beta").await;
    let (ids_a, agents_a) = furnish(app, &a, "alpha-show").await;
    let (ids_b, _) = furnish(app, &b, "beta-show").await;

    let openapi = app.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(openapi.status, 200);
    let table = route_table();
    let mut routes = Vec::new();
    for (path, item) in openapi.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let key = (method.as_str(), path.as_str());
            if COVERED_ELSEWHERE.contains(&key) {
                continue;
            }
            let Some((_, (rule, body))) = table.iter().find(|((m, p), _)| (*m, *p) == key) else {
                panic!("{method} {path} has no entry in the authorisation table: say who may call it");
            };
            routes.push((method.clone(), path.clone(), *rule, body.clone()));
        }
    }
    assert_eq!(routes.len(), table.len(), "every table entry is a real route");

    let mut deletes = Vec::new();
    for (method, template, rule, body) in &routes {
        let path = ids_a.fill(template);
        let label = format!("{method} {template}");
        // Nobody signed in.
        let r = call(&app.anonymous(), method, &path, body).await;
        match rule {
            // A public route may find nothing to show (no recording yet), but never asks who you are.
            Rule::Public => assert!(!matches!(r.status, 401 | 403), "{label}: public, got {} {}", r.status, r.text),
            _ => assert_eq!(r.status, 401, "{label}: anonymous: {}", r.text),
        }
        if !template.contains("{org_id}") {
            continue;
        }
        // Another organisation's owner, with this organisation's ids.
        let r = call(&b.owner, method, &path, body).await;
        assert_eq!(r.status, 404, "{label}: foreign owner: {}", r.text);
        // This organisation's owner, with the other organisation's ids inside.
        let foreign_path = ids_a.with_foreign_parts(&ids_b).fill(template);
        if foreign_path != path {
            let r = call(&a.owner, method, &foreign_path, body).await;
            assert_eq!(r.status, 404, "{label}: foreign ids: {}", r.text);
        }
        for (i, (role, agent)) in agents_a.iter().enumerate() {
            let is_token = i == agents_a.len() - 1;
            let allowed = match rule {
                Rule::Public => true,
                Rule::Person => !is_token,
                Rule::Can(action) => role.allows(*action),
            };
            if method == "DELETE" && allowed {
                continue; // done once, by the owner, below
            }
            let r = call(agent, method, &path, body).await;
            let who = if is_token { "admin token".to_string() } else { role.as_str().to_string() };
            if allowed {
                assert!(!is_auth_failure(r.status) && r.status < 500, "{label}: {who} may: got {} {}", r.status, r.text);
            } else {
                assert_eq!(r.status, 403, "{label}: {who} may not: {}", r.text);
            }
        }
        if method == "DELETE" {
            deletes.push((template.clone(), path));
        }
    }
    // Deleting runs last, children before parents; the product in no show can go.
    let order = ["images", "clips", "discount-codes", "invitations", "tokens", "bans", "webhooks", "members", "shows", "products"];
    deletes.sort_by_key(|(t, _)| order.iter().position(|o| t.contains(o)).unwrap_or(9));
    for (template, path) in deletes {
        let r = a.owner.delete(&path).await;
        assert_eq!(r.status, 204, "DELETE {template}: owner: {}", r.text);
    }
});
