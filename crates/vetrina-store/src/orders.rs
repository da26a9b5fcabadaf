//! Orders: checkout turns a cart's holds into an order in one transaction (docs/shop.md).

use std::collections::BTreeMap;

use sqlx::Row;
use vetrina_domain::account::Org;
use vetrina_domain::ids::{CartId, DealId, OrgId, ProductId, ShowId, VariantId};
use vetrina_domain::shop::{self, Address, Contact, OrderStatus, Payment, PricedLine, Totals};

use crate::shop::StockLevel;
use crate::{Result, Store, StoreError, json_strings, new_time_id, placeholders, to_json};

/// An order's id.
pub const ORDER_PREFIX: &str = "ord_";

/// One line of an order, as it was bought.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct OrderLine {
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    #[schema(value_type = String)]
    pub product_id: ProductId,
    #[schema(value_type = Option<String>)]
    pub deal_id: Option<DealId>,
    pub title: String,
    pub options: Vec<String>,
    pub sku: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    /// Where it was added to the cart: the show, `live`, `replay` or `shelf`, the moment of video.
    #[schema(value_type = Option<String>)]
    pub show_id: Option<ShowId>,
    pub source: String,
    pub media_ms: Option<i64>,
    /// The moment of video (ms) the product was pinned or its segment began, before this line
    /// was added: the pin (chapter) that led to the purchase.
    pub pin_ms: Option<i64>,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Order {
    pub id: String,
    /// The shop's order number (from 1001).
    pub number: i64,
    pub status: OrderStatus,
    pub payment: Payment,
    pub email: String,
    pub name: String,
    pub phone: String,
    pub address: Address,
    pub currency: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub lines: Vec<OrderLine>,
    /// Where the buyer finishes paying (the merchant's own shop), for hand-off payments.
    pub handoff_urls: Vec<String>,
    /// The discount code used, if any (what it took off is `discount_minor`).
    pub discount_code: Option<String>,
    /// The show the order was placed from, live or from its replay.
    #[schema(value_type = Option<String>)]
    pub show_id: Option<ShowId>,
    pub source: String,
    pub media_ms: Option<i64>,
    pub refund_note: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What checkout did.
#[derive(Debug)]
pub enum Checkout {
    /// A new order, and the stock of the variants it sold.
    Placed(Order, Vec<StockLevel>),
    /// The order an earlier request with the same Idempotency-Key placed.
    Again(Order),
}

/// A checkout request.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    pub buyer: String,
    pub cart: CartId,
    pub contact: Contact,
    pub payment: Payment,
    /// The Idempotency-Key and a digest of the request it came with.
    pub idempotency: Option<(String, String)>,
    pub show: Option<ShowId>,
    pub source: &'static str,
    pub media_ms: Option<i64>,
    /// A discount code the buyer typed.
    pub discount_code: Option<String>,
}

fn order_from_row(r: &sqlx::any::AnyRow, lines: Vec<OrderLine>) -> Result<Order> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("orders.{what}"));
    Ok(Order {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        status: OrderStatus::parse(&r.try_get::<String, _>("status")?).ok_or_else(|| corrupt("status"))?,
        payment: Payment::parse(&r.try_get::<String, _>("payment")?).ok_or_else(|| corrupt("payment"))?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        phone: r.try_get("phone")?,
        address: serde_json::from_str(&r.try_get::<String, _>("address")?).map_err(|_| corrupt("address"))?,
        currency: r.try_get("currency")?,
        totals: Totals {
            subtotal_minor: r.try_get("subtotal_minor")?,
            discount_minor: r.try_get("discount_minor")?,
            shipping_minor: r.try_get("shipping_minor")?,
            tax_minor: r.try_get("tax_minor")?,
            total_minor: r.try_get("total_minor")?,
        },
        lines,
        handoff_urls: serde_json::from_str(&r.try_get::<String, _>("handoff_urls")?).map_err(|_| corrupt("handoff_urls"))?,
        discount_code: r.try_get("discount_code")?,
        show_id: r.try_get::<Option<String>, _>("show_id")?.map(ShowId),
        source: r.try_get("source")?,
        media_ms: r.try_get("media_ms")?,
        refund_note: r.try_get("refund_note")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn line_from_row(r: &sqlx::any::AnyRow) -> Result<OrderLine> {
    Ok(OrderLine {
        variant_id: VariantId(r.try_get("variant_id")?),
        product_id: ProductId(r.try_get("product_id")?),
        deal_id: r.try_get::<Option<String>, _>("deal_id")?.map(DealId),
        title: r.try_get("title")?,
        options: serde_json::from_str(&r.try_get::<String, _>("options")?).unwrap_or_default(),
        sku: r.try_get("sku")?,
        quantity: r.try_get("quantity")?,
        unit_price_minor: r.try_get("unit_price_minor")?,
        show_id: r.try_get::<Option<String>, _>("show_id")?.map(ShowId),
        source: r.try_get("source")?,
        media_ms: r.try_get("media_ms")?,
        pin_ms: r.try_get("pin_ms")?,
    })
}

/// The lines of these orders, by order id.
async fn lines_of<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(db: E, ids: &[String]) -> Result<BTreeMap<String, Vec<OrderLine>>> {
    let mut out: BTreeMap<String, Vec<OrderLine>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = format!("SELECT * FROM order_lines WHERE order_id IN ({}) ORDER BY order_id, position", placeholders(1, ids.len()));
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id.as_str());
    }
    for r in q.fetch_all(db).await? {
        out.entry(r.try_get("order_id")?).or_default().push(line_from_row(&r)?);
    }
    Ok(out)
}

impl Store {
    /// The order a buyer's Idempotency-Key placed at the organisation, with the digest of its
    /// request. Keys are the buyer's own: another buyer's same key is another order.
    pub async fn order_by_idempotency_key(&self, org: &OrgId, buyer: &str, key: &str) -> Result<Option<(Order, String)>> {
        let row = sqlx::query("SELECT * FROM orders WHERE org_id = $1 AND buyer = $2 AND idempotency_key = $3")
            .bind(org.as_str())
            .bind(buyer)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let lines = lines_of(&self.pool, std::slice::from_ref(&id)).await?.remove(&id).unwrap_or_default();
        Ok(Some((order_from_row(&row, lines)?, row.try_get::<Option<String>, _>("request_hash")?.unwrap_or_default())))
    }

    /// Turns the cart's live holds into an order, in one transaction: prices from the catalogue
    /// and the deals the units were held under, totals from the shop's settings, stock and deal
    /// counters moved from held to sold, the holds gone. `Conflict` when the cart has nothing
    /// held (checked out already, or the holds expired).
    pub async fn checkout(&self, org: &Org, request: &CheckoutRequest, now: i64) -> Result<Checkout> {
        let mut tx = self.begin_write().await?;
        // Write first: it takes SQLite's write lock (waiting its turn) before anything is read,
        // and on PostgreSQL it locks the cart, so two taps on one cart check out one after the
        // other (the second finds it empty).
        sqlx::query("UPDATE carts SET updated_at = $1 WHERE id = $2").bind(now).bind(request.cart.as_str()).execute(&mut *tx).await?;
        let holds = sqlx::query(
            "SELECT id, variant_id, product_id, deal_id, quantity, show_id, source, media_ms FROM holds \
             WHERE cart_id = $1 AND expires_at > $2 ORDER BY created_at, id",
        )
        .bind(request.cart.as_str())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        // Lock what the order changes, variants then deals, each in id order.
        let mut variants: Vec<String> = holds.iter().map(|h| h.try_get("variant_id")).collect::<std::result::Result<_, _>>()?;
        variants.sort();
        variants.dedup();
        for v in &variants {
            sqlx::query("UPDATE variants SET held = held WHERE id = $1").bind(v.as_str()).execute(&mut *tx).await?;
        }
        let mut deals: Vec<String> = holds.iter().filter_map(|h| h.try_get::<Option<String>, _>("deal_id").ok().flatten()).collect();
        deals.sort();
        deals.dedup();
        for d in &deals {
            sqlx::query("UPDATE deals SET held = held WHERE id = $1").bind(d.as_str()).execute(&mut *tx).await?;
        }
        // Read the holds again under the locks: a sweeper on another node may have taken some.
        let holds = sqlx::query(
            "SELECT h.id, h.variant_id, h.product_id, h.deal_id, h.quantity, h.show_id, h.source, h.media_ms, \
             v.price_minor, v.sku, v.option_values, v.shopify_variant_id, v.woocommerce_id, v.track_stock, p.title, p.currency \
             FROM holds h JOIN variants v ON v.id = h.variant_id JOIN products p ON p.id = h.product_id \
             WHERE h.cart_id = $1 AND h.expires_at > $2 ORDER BY h.created_at, h.id",
        )
        .bind(request.cart.as_str())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        if holds.is_empty() {
            return Err(StoreError::Conflict("the cart is empty: its items were checked out already, or their reservation expired".into()));
        }
        let mut deal_prices: BTreeMap<String, shop::Deal> = BTreeMap::new();
        for d in &deals {
            if let Some(r) = sqlx::query("SELECT * FROM deals WHERE id = $1").bind(d.as_str()).fetch_optional(&mut *tx).await? {
                deal_prices.insert(d.clone(), crate::shop::deal_from_row(&r)?);
            }
        }
        // One order line per variant and price.
        let mut lines: Vec<OrderLine> = Vec::new();
        // Each line's ids in the merchant's own shop (Shopify, WooCommerce), for hand-off.
        let mut handoff: Vec<(Option<String>, Option<String>)> = Vec::new();
        let mut sold_per_variant: BTreeMap<String, (i64, bool, String)> = BTreeMap::new();
        let mut sold_per_deal: BTreeMap<String, i64> = BTreeMap::new();
        let mut hold_ids = Vec::new();
        let mut currency = String::new();
        for h in &holds {
            let variant = VariantId(h.try_get("variant_id")?);
            let deal = h.try_get::<Option<String>, _>("deal_id")?;
            let regular: i64 = h.try_get("price_minor")?;
            let unit = deal.as_ref().and_then(|d| deal_prices.get(d)).map_or(regular, |d| d.unit_price(regular));
            let quantity: i64 = h.try_get("quantity")?;
            currency = h.try_get("currency")?;
            hold_ids.push(h.try_get::<String, _>("id")?);
            let entry = sold_per_variant.entry(variant.0.clone()).or_insert((
                0,
                h.try_get::<i64, _>("track_stock")? != 0,
                h.try_get("product_id")?,
            ));
            entry.0 += quantity;
            if let Some(d) = &deal {
                *sold_per_deal.entry(d.clone()).or_default() += quantity;
            }
            let deal_id = deal.map(DealId);
            if let Some(line) = lines.iter_mut().find(|l| l.variant_id == variant && l.deal_id == deal_id) {
                line.quantity += quantity;
                continue;
            }
            let options: String = h.try_get("option_values")?;
            handoff.push((h.try_get("shopify_variant_id")?, h.try_get("woocommerce_id")?));
            lines.push(OrderLine {
                variant_id: variant,
                product_id: ProductId(h.try_get("product_id")?),
                deal_id,
                title: h.try_get("title")?,
                options: serde_json::from_str(&options).unwrap_or_default(),
                sku: h.try_get("sku")?,
                quantity,
                unit_price_minor: unit,
                show_id: h.try_get::<Option<String>, _>("show_id")?.map(ShowId),
                source: h.try_get("source")?,
                media_ms: h.try_get("media_ms")?,
                pin_ms: None,
            });
        }
        attribute_pins(&mut tx, &mut lines).await?;
        // The hand-off links list every line with its whole quantity.
        let handoff: Vec<(Option<String>, Option<String>, i64)> =
            lines.iter().zip(&handoff).map(|(l, (s, w))| (s.clone(), w.clone(), l.quantity)).collect();
        let priced: Vec<PricedLine> =
            lines.iter().map(|l| PricedLine { quantity: l.quantity, unit_price_minor: l.unit_price_minor }).collect();
        let subtotal: i64 = priced.iter().map(|l| l.quantity * l.unit_price_minor).sum();
        let discount = match &request.discount_code {
            Some(code) => Some(use_discount(&mut tx, &org.id, code, subtotal, now).await?),
            None => None,
        };
        let totals = shop::totals_with(&priced, &org.shop, discount.as_ref().map_or(0, |(_, off)| *off));
        let (status, handoff_urls) = match request.payment {
            Payment::PayLater => (OrderStatus::PendingPayment, Vec::new()),
            Payment::Shopify => {
                let url = org
                    .shop
                    .shopify_domain
                    .as_deref()
                    .and_then(|d| shop::shopify_cart_url(d, &handoff.iter().map(|(s, _, q)| (s.clone(), *q)).collect::<Vec<_>>()));
                match url {
                    Some(url) => (OrderStatus::HandedOff, vec![url]),
                    None => {
                        return Err(StoreError::Conflict(
                            "this shop takes no Shopify hand-off for these items (no Shopify shop set, or items not imported from Shopify)"
                                .into(),
                        ));
                    }
                }
            }
            Payment::Woocommerce => {
                let urls = org
                    .shop
                    .woocommerce_domain
                    .as_deref()
                    .and_then(|d| shop::woocommerce_cart_urls(d, &handoff.iter().map(|(_, w, q)| (w.clone(), *q)).collect::<Vec<_>>()));
                match urls {
                    Some(urls) => (OrderStatus::HandedOff, urls),
                    None => {
                        return Err(StoreError::Conflict(
                            "this shop takes no WooCommerce hand-off for these items (no WooCommerce shop set, or items not imported from WooCommerce)"
                                .into(),
                        ));
                    }
                }
            }
        };
        let row = sqlx::query("UPDATE orgs SET next_order_number = next_order_number + 1 WHERE id = $1 RETURNING next_order_number")
            .bind(org.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let number: i64 = row.try_get::<i64, _>("next_order_number")? - 1;
        let id = new_time_id(ORDER_PREFIX, now);
        let (key, hash) = request.idempotency.clone().unzip();
        sqlx::query(
            "INSERT INTO orders (id, org_id, number, buyer, email, name, phone, address, currency, subtotal_minor, shipping_minor, tax_minor, \
             total_minor, status, payment, handoff_urls, show_id, source, media_ms, idempotency_key, request_hash, created_at, updated_at, \
             discount_code, discount_minor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22, $23, $24)",
        )
        .bind(&id)
        .bind(org.id.as_str())
        .bind(number)
        .bind(&request.buyer)
        .bind(&request.contact.email)
        .bind(&request.contact.name)
        .bind(&request.contact.phone)
        .bind(to_json(&request.contact.address))
        .bind(&currency)
        .bind(totals.subtotal_minor)
        .bind(totals.shipping_minor)
        .bind(totals.tax_minor)
        .bind(totals.total_minor)
        .bind(status.as_str())
        .bind(request.payment.as_str())
        .bind(to_json(&handoff_urls))
        .bind(request.show.as_ref().map(|s| s.as_str()))
        .bind(request.source)
        .bind(request.media_ms)
        .bind(key.as_deref())
        .bind(hash.as_deref())
        .bind(now)
        .bind(discount.as_ref().map(|(code, _)| code.as_str()))
        .bind(totals.discount_minor)
        .execute(&mut *tx)
        .await
        .map_err(|e| crate::conflict_on_unique(e, || "a request with this Idempotency-Key is being processed: try again".into()))?;
        for (position, l) in lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_lines (order_id, position, variant_id, product_id, deal_id, title, options, sku, quantity, unit_price_minor, \
                 show_id, source, media_ms, pin_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&id)
            .bind(position as i64)
            .bind(l.variant_id.as_str())
            .bind(l.product_id.as_str())
            .bind(l.deal_id.as_ref().map(|d| d.as_str()))
            .bind(&l.title)
            .bind(to_json(&l.options))
            .bind(&l.sku)
            .bind(l.quantity)
            .bind(l.unit_price_minor)
            .bind(l.show_id.as_ref().map(|s| s.as_str()))
            .bind(&l.source)
            .bind(l.media_ms)
            .bind(l.pin_ms)
            .execute(&mut *tx)
            .await?;
        }
        // Held becomes sold: out of `held`, and out of `stock` where stock is counted.
        let mut levels = Vec::new();
        for (variant, (n, tracked, product)) in &sold_per_variant {
            sqlx::query("UPDATE variants SET held = held - $1, stock = stock - $2 WHERE id = $3")
                .bind(*n)
                .bind(if *tracked { *n } else { 0 })
                .bind(variant.as_str())
                .execute(&mut *tx)
                .await?;
            levels.push(crate::shop::level_of(&mut tx, &org.id, product, variant).await?);
        }
        for (deal, n) in &sold_per_deal {
            sqlx::query("UPDATE deals SET held = held - $1, sold = sold + $1 WHERE id = $2")
                .bind(*n)
                .bind(deal.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if !hold_ids.is_empty() {
            let sql = format!("DELETE FROM holds WHERE id IN (SELECT value FROM {})", json_strings(self.backend, 1));
            sqlx::query(&sql).bind(to_json(&hold_ids)).execute(&mut *tx).await?;
        }
        let order = Order {
            id,
            number,
            status,
            payment: request.payment,
            email: request.contact.email.clone(),
            name: request.contact.name.clone(),
            phone: request.contact.phone.clone(),
            address: request.contact.address.clone(),
            currency,
            totals,
            lines,
            handoff_urls,
            discount_code: discount.as_ref().map(|(code, _)| code.clone()),
            show_id: request.show.clone(),
            source: request.source.to_string(),
            media_ms: request.media_ms,
            refund_note: String::new(),
            created_at: now,
            updated_at: now,
        };
        crate::webhooks::enqueue(&mut tx, &org.id, "order.created", &order, now).await?;
        tx.commit().await?;
        Ok(Checkout::Placed(order, levels))
    }

    /// One order of the organisation.
    pub async fn order(&self, org: &OrgId, id: &str) -> Result<Order> {
        let row = sqlx::query("SELECT * FROM orders WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        let lines = lines_of(&self.pool, &[id.to_string()]).await?.remove(id).unwrap_or_default();
        order_from_row(&row, lines)
    }

    /// A buyer's own order (for the confirmation page).
    pub async fn buyers_order(&self, buyer: &str, id: &str) -> Result<Order> {
        let row = sqlx::query("SELECT * FROM orders WHERE buyer = $1 AND id = $2").bind(buyer).bind(id).fetch_optional(&self.pool).await?;
        let row = row.ok_or(StoreError::NotFound)?;
        let lines = lines_of(&self.pool, &[id.to_string()]).await?.remove(id).unwrap_or_default();
        order_from_row(&row, lines)
    }

    /// The organisation's orders, newest first: those matching `q` (number, email or name) and
    /// `status`, at most `limit` after `offset`; and how many match in all.
    pub async fn orders(&self, org: &OrgId, q: &str, status: Option<OrderStatus>, limit: i64, offset: i64) -> Result<(Vec<Order>, i64)> {
        let pattern = format!("%{}%", q.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let filter = "org_id = $1 AND ($2 = '' OR LOWER(email) LIKE $3 ESCAPE '\\' OR LOWER(name) LIKE $3 ESCAPE '\\' OR CAST(number AS TEXT) = $2) \
                      AND ($4 = '' OR status = $4)";
        let status = status.map_or("", OrderStatus::as_str);
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM orders WHERE {filter}"))
            .bind(org.as_str())
            .bind(q.trim())
            .bind(&pattern)
            .bind(status)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(&format!("SELECT * FROM orders WHERE {filter} ORDER BY created_at DESC, number DESC LIMIT $5 OFFSET $6"))
            .bind(org.as_str())
            .bind(q.trim())
            .bind(&pattern)
            .bind(status)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let ids: Vec<String> = rows.iter().map(|r| r.try_get("id")).collect::<std::result::Result<_, _>>()?;
        let mut lines = lines_of(&self.pool, &ids).await?;
        let orders = rows
            .iter()
            .map(|r| order_from_row(r, lines.remove(&r.try_get::<String, _>("id")?).unwrap_or_default()))
            .collect::<Result<_>>()?;
        Ok((orders, total))
    }

    /// Notes a refund on an order.
    pub async fn set_refund_note(&self, org: &OrgId, id: &str, note: &str, now: i64) -> Result<Order> {
        crate::found(
            sqlx::query("UPDATE orders SET refund_note = $1, updated_at = $2 WHERE org_id = $3 AND id = $4")
                .bind(note)
                .bind(now)
                .bind(org.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?,
        )?;
        self.order(org, id).await
    }

    /// Moves an order to `next` (paid, fulfilled, cancelled), with a refund note when given.
    /// Cancelling puts its units back on sale. `Conflict` for a move the status does not allow.
    pub async fn set_order_status(
        &self,
        org: &OrgId,
        id: &str,
        next: OrderStatus,
        note: Option<&str>,
        now: i64,
    ) -> Result<(Order, Vec<StockLevel>)> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("UPDATE orders SET updated_at = updated_at WHERE org_id = $1 AND id = $2 RETURNING status")
            .bind(org.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let current =
            OrderStatus::parse(&row.try_get::<String, _>("status")?).ok_or_else(|| StoreError::Corrupt("orders.status".into()))?;
        if !current.may_become(next) {
            return Err(StoreError::Conflict(format!("an order that is {} cannot become {}", current.as_str(), next.as_str())));
        }
        let mut levels = Vec::new();
        if next == OrderStatus::Cancelled {
            let lines = lines_of(&mut *tx, &[id.to_string()]).await?.remove(id).unwrap_or_default();
            let mut per_variant: BTreeMap<String, (i64, String)> = BTreeMap::new();
            let mut per_deal: BTreeMap<String, i64> = BTreeMap::new();
            for l in &lines {
                per_variant.entry(l.variant_id.0.clone()).or_insert((0, l.product_id.0.clone())).0 += l.quantity;
                if let Some(d) = &l.deal_id {
                    *per_deal.entry(d.0.clone()).or_default() += l.quantity;
                }
            }
            for (variant, (n, product)) in &per_variant {
                // A variant deleted since has nothing to return to.
                let back = sqlx::query("UPDATE variants SET stock = stock + $1 WHERE id = $2 AND track_stock = 1")
                    .bind(*n)
                    .bind(variant.as_str())
                    .execute(&mut *tx)
                    .await?;
                if back.rows_affected() > 0 {
                    levels.push(crate::shop::level_of(&mut tx, org, product, variant).await?);
                }
            }
            for (deal, n) in &per_deal {
                sqlx::query("UPDATE deals SET sold = sold - $1 WHERE id = $2 AND sold >= $1")
                    .bind(*n)
                    .bind(deal.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("UPDATE orders SET status = $1, refund_note = COALESCE($2, refund_note), updated_at = $3 WHERE id = $4")
            .bind(next.as_str())
            .bind(note)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let event = match next {
            OrderStatus::Paid => Some("order.paid"),
            OrderStatus::Cancelled => Some("order.cancelled"),
            _ => None,
        };
        if let Some(event) = event {
            let row = sqlx::query("SELECT * FROM orders WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
            let lines = lines_of(&mut *tx, &[id.to_string()]).await?.remove(id).unwrap_or_default();
            crate::webhooks::enqueue(&mut tx, org, event, &order_from_row(&row, lines)?, now).await?;
        }
        tx.commit().await?;
        Ok((self.order(org, id).await?, levels))
    }
}

/// What a presenter of a show earns on its sales.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Commission {
    #[schema(value_type = String)]
    pub user_id: vetrina_domain::ids::UserId,
    pub name: String,
    /// A host (member) or a creator invited to the show.
    pub role: String,
    pub rate_bp: i64,
    pub commission_minor: i64,
}

/// A show's sales and its presenters' commissions.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ShowCommissions {
    #[schema(value_type = String)]
    pub show_id: ShowId,
    /// Orders placed from the show (live, replay or before), not cancelled.
    pub orders: i64,
    /// Their goods, before shipping and taxes: what commissions are computed on.
    pub sales_minor: i64,
    pub currency: String,
    pub presenters: Vec<Commission>,
}

impl Store {
    /// Sets what a person earns on the sales of the shows they present at the organisation.
    pub async fn set_commission_rate(&self, org: &OrgId, user: &vetrina_domain::ids::UserId, rate_bp: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO commission_rates (org_id, user_id, rate_bp) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET rate_bp = excluded.rate_bp",
        )
        .bind(org.as_str())
        .bind(user.as_str())
        .bind(rate_bp)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the person presents shows for the organisation (a member, or a creator invited to
    /// one of its shows).
    pub async fn presents_for(&self, org: &OrgId, user: &vetrina_domain::ids::UserId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS yes FROM members WHERE org_id = $1 AND user_id = $2 \
             UNION SELECT 1 FROM show_creators c JOIN shows s ON s.id = c.show_id WHERE s.org_id = $1 AND c.user_id = $2",
        )
        .bind(org.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The show's sales and what each of its presenters (hosts and creators) earns on them at
    /// their rate.
    pub async fn show_commissions(&self, org: &OrgId, show: &vetrina_domain::show::Show) -> Result<ShowCommissions> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(subtotal_minor), 0) AS BIGINT) AS sales FROM orders \
             WHERE org_id = $1 AND show_id = $2 AND status <> 'cancelled'",
        )
        .bind(org.as_str())
        .bind(show.id.as_str())
        .fetch_one(&self.pool)
        .await?;
        let (orders, sales_minor): (i64, i64) = (row.try_get("n")?, row.try_get("sales")?);
        let mut people: Vec<(vetrina_domain::ids::UserId, &str)> = show.host_ids.iter().map(|u| (u.clone(), "host")).collect();
        for c in self.show_creators(&show.id).await? {
            if !people.iter().any(|(u, _)| *u == c) {
                people.push((c, "creator"));
            }
        }
        let mut presenters = Vec::new();
        for (user, role) in people {
            let r = sqlx::query(
                "SELECT u.name, COALESCE((SELECT rate_bp FROM commission_rates WHERE org_id = $1 AND user_id = u.id), 0) AS rate \
                 FROM users u WHERE u.id = $2",
            )
            .bind(org.as_str())
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
            let Some(r) = r else { continue };
            let rate_bp: i64 = r.try_get("rate")?;
            presenters.push(Commission {
                user_id: user,
                name: r.try_get("name")?,
                role: role.to_string(),
                rate_bp,
                commission_minor: (sales_minor * rate_bp + 5_000) / 10_000,
            });
        }
        let currency = self.org(org).await?.currency.code().to_string();
        Ok(ShowCommissions { show_id: show.id.clone(), orders, sales_minor, currency, presenters })
    }
}

/// Sets each line's pin: the chapter of its show that showed its product last before the moment
/// of video it was added at.
async fn attribute_pins(tx: &mut sqlx::Transaction<'_, sqlx::Any>, lines: &mut [OrderLine]) -> Result<()> {
    let mut shows: Vec<ShowId> = lines.iter().filter(|l| l.media_ms.is_some()).filter_map(|l| l.show_id.clone()).collect();
    shows.sort();
    shows.dedup();
    for show in shows {
        let chapters = crate::replays::chapters_in(&mut **tx, &show).await?;
        for line in lines.iter_mut().filter(|l| l.show_id.as_ref() == Some(&show)) {
            let Some(at) = line.media_ms else { continue };
            line.pin_ms = vetrina_domain::replay::pin_for(&chapters, line.product_id.as_str(), at).map(|c| c.media_ms);
        }
    }
    Ok(())
}

/// Applies the discount `code` to goods of `subtotal` in the checkout's transaction: checks it,
/// and counts the use (atomically: a code with uses left is never used past them). Returns the
/// code as stored and what it takes off.
async fn use_discount(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &OrgId,
    code: &str,
    subtotal: i64,
    now: i64,
) -> Result<(String, i64)> {
    let code = shop::normal_code(code);
    let row = sqlx::query("SELECT * FROM discount_codes WHERE org_id = $1 AND code = $2")
        .bind(org.as_str())
        .bind(&code)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Invalid(vetrina_domain::Invalid::new("discount_code", format!("{code} is not a code of this shop"))))?;
    let found = crate::discounts::discount_from_row(&row)?;
    let off = found.discount(subtotal, now).map_err(|reason| StoreError::Invalid(vetrina_domain::Invalid::new("discount_code", reason)))?;
    let used =
        sqlx::query("UPDATE discount_codes SET uses = uses + 1 WHERE org_id = $1 AND code = $2 AND (max_uses IS NULL OR uses < max_uses)")
            .bind(org.as_str())
            .bind(&code)
            .execute(&mut **tx)
            .await?;
    if used.rows_affected() == 0 {
        return Err(StoreError::Invalid(vetrina_domain::Invalid::new("discount_code", format!("the code {code} has been used up"))));
    }
    Ok((code, off))
}
