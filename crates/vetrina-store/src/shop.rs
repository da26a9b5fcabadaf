//! Carts, holds and deals: the inventory ledger (docs/shop.md).
//!
//! Units move between three counters: a variant's `stock` (on hand, not sold), its `held` (in
//! carts) and, for flash deals, the deal's `held` and `sold`. Every change happens in one
//! transaction that first locks the rows it changes (an `UPDATE` that writes nothing new, the
//! same SQL on SQLite and PostgreSQL), always carts before variants before deals and in id order
//! (buyers' carts in buyer order), and the database's CHECK constraints refuse any state with more
//! held than on hand.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;
use vetrina_domain::ids::{CartId, DealId, HoldId, OrgId, ProductId, ShowId, VariantId};
use vetrina_domain::shop::{self, Deal, HoldRequest, Outcome, Stock};

use crate::{Backend, Result, Store, StoreError, json_objects, json_strings, new_id, placeholders, to_json};

/// Requests decided in one transaction at most.
pub const MAX_BATCH: usize = 400;

/// A buyer's request to hold units of a variant in their cart.
#[derive(Clone, Debug)]
pub struct NewHold {
    /// Who is buying: their cart at the organisation is found (or made) in the same transaction.
    pub buyer: String,
    pub quantity: i64,
    /// Whether the buyer asks for the running flash deal's price (when there is one).
    pub use_deal: bool,
    /// Where the buyer was: the show, `live` or `replay` (or `shelf`), the moment of video.
    pub show: Option<ShowId>,
    pub source: &'static str,
    pub media_ms: Option<i64>,
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub outcome: Outcome,
    /// The new hold, when held.
    pub hold: Option<HoldId>,
    /// The deal it was held under.
    pub deal: Option<DealId>,
    /// The buyer's cart.
    pub cart: CartId,
    /// Units of the variant in the cart now (this hold's and earlier ones).
    pub in_cart: i64,
    /// What one unit costs the buyer (the deal's price when held under the deal).
    pub unit_price_minor: i64,
    /// When this hold expires (Unix ms).
    pub expires_at: i64,
}

/// The variant a batch was about, as buyers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub product: ProductId,
    pub title: String,
    pub options: Vec<String>,
    pub image: Option<String>,
    pub regular_price_minor: i64,
    pub currency: String,
}

/// A variant's stock after a change, for the rooms ("3 left").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockLevel {
    pub org: OrgId,
    pub product: ProductId,
    pub variant: VariantId,
    /// Units buyers may still add (`None`: not tracked).
    pub available: Option<i64>,
}

/// A running deal as the shop shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunningDeal {
    pub id: DealId,
    pub show_id: ShowId,
    pub product_id: ProductId,
    pub variant_id: Option<VariantId>,
    pub price_minor: Option<i64>,
    pub percent_off: Option<i64>,
    pub quantity: Option<i64>,
    pub per_buyer_limit: Option<i64>,
    pub remaining: Option<i64>,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// A deal to start (from a show's run of show).
#[derive(Clone, Debug)]
pub struct DealStart {
    pub org: OrgId,
    pub show: ShowId,
    pub segment: i64,
    pub product: ProductId,
    pub variant: Option<VariantId>,
    pub price_minor: Option<i64>,
    pub percent_off: Option<i64>,
    pub quantity: Option<i64>,
    pub per_buyer_limit: Option<i64>,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// One line of a cart: units of a variant held under one price.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CartLine {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub title: String,
    pub options: Vec<String>,
    pub image: Option<String>,
    pub quantity: i64,
    /// The price of one unit now (the deal's, when held under a deal).
    pub unit_price_minor: i64,
    pub regular_price_minor: i64,
    pub currency: String,
    pub deal_id: Option<DealId>,
    /// When the first of its holds expires (Unix ms).
    pub expires_at: i64,
    /// Units still available to add (`None`: not tracked).
    pub available: Option<i64>,
}

/// A row's columns by name, from sqlx (the pool) or rusqlite (the SQLite ledger's own
/// connection): the ledger's rows are read by one set of functions whichever brought them.
pub(crate) trait Fields {
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
}

/// [`Fields`] for a driver's row type, through its by-name getter.
macro_rules! fields_by_name {
    ($row:ty, $get:ident) => {
        impl Fields for $row {
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.$get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.$get(col)?)
            }
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.$get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.$get(col)?)
            }
        }
    };
}
fields_by_name!(sqlx::any::AnyRow, try_get);
fields_by_name!(rusqlite::Row<'_>, get);

/// A variant's stock from a row with `stock`, `held` and `track_stock`.
pub(crate) fn stock_from_row(r: &impl Fields) -> Result<Stock> {
    Ok(Stock { on_hand: r.int("stock")?, held: r.int("held")?, tracked: r.int("track_stock")? != 0 })
}

/// The buyers' carts at the organisation, made where missing (in the caller's transaction);
/// also which of them were made now. One statement for any number of buyers, whether their carts
/// exist or not: an upsert of the buyers (one JSON parameter) that returns every buyer's cart (an
/// existing cart is touched: `updated_at`), so a flash sale's batch spends one round trip on
/// carts, not a read and then a write. New carts get time-ordered ids, so a rush of new buyers
/// appends to the carts' and holds' indexes instead of writing all over them; a cart was made now
/// when the id that came back is the one proposed.
async fn carts_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    org: &OrgId,
    buyers: &[&str],
    now: i64,
) -> Result<(HashMap<String, CartId>, HashSet<String>)> {
    #[derive(serde::Serialize)]
    struct NewCart<'a> {
        id: String,
        buyer: &'a str,
    }
    let proposed: Vec<NewCart> = buyers.iter().map(|&buyer| NewCart { id: crate::new_time_id(CartId::PREFIX, now), buyer }).collect();
    // `WHERE true`: SQLite's grammar needs a WHERE before ON CONFLICT in an INSERT ... SELECT.
    let sql = format!(
        "INSERT INTO carts (id, org_id, buyer, created_at, updated_at) SELECT value ->> 'id', $1, value ->> 'buyer', $2, $2 FROM {} WHERE true \
         ON CONFLICT (org_id, buyer) DO UPDATE SET updated_at = excluded.updated_at RETURNING id, buyer",
        json_objects(backend, 3)
    );
    let rows = sqlx::query(&sql).bind(org.as_str()).bind(now).bind(to_json(&proposed)).fetch_all(&mut **tx).await?;
    let proposed: HashSet<&str> = proposed.iter().map(|p| p.id.as_str()).collect();
    let mut carts: HashMap<String, CartId> = HashMap::with_capacity(buyers.len());
    let mut made = HashSet::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        if proposed.contains(id.as_str()) {
            made.insert(id.clone());
        }
        carts.insert(r.try_get("buyer")?, CartId(id));
    }
    Ok((carts, made))
}

/// A variant's stock as it is now in the transaction.
pub(crate) async fn level_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org: &OrgId,
    product: &str,
    variant: &str,
) -> Result<StockLevel> {
    let r = sqlx::query("SELECT stock, held, track_stock FROM variants WHERE id = $1").bind(variant).fetch_one(&mut **tx).await?;
    Ok(StockLevel {
        org: org.clone(),
        product: ProductId(product.to_string()),
        variant: VariantId(variant.to_string()),
        available: stock_from_row(&r)?.available(),
    })
}

pub(crate) fn deal_from_row(r: &impl Fields) -> Result<Deal> {
    Ok(Deal {
        id: r.text("id")?,
        price_minor: r.opt_int("price_minor")?,
        percent_off: r.opt_int("percent_off")?,
        quantity: r.opt_int("quantity")?,
        per_buyer_limit: r.opt_int("per_buyer_limit")?,
        held: r.int("held")?,
        sold: r.int("sold")?,
        starts_at: r.int("starts_at")?,
        ends_at: r.int("ends_at")?,
    })
}

/// Locks the variant `$1` of the organisation `$2` (an update that changes nothing, the same SQL
/// on both databases) and reads it as it is now, its product's with it: one round trip.
const LOCK_VARIANT: &str = "UPDATE variants SET held = held WHERE id = $1 AND org_id = $2 RETURNING stock, held, track_stock, product_id, \
     price_minor, option_values, image_src, \
     (SELECT p.status FROM products p WHERE p.id = variants.product_id) AS status, \
     (SELECT p.title FROM products p WHERE p.id = variants.product_id) AS title, \
     (SELECT p.currency FROM products p WHERE p.id = variants.product_id) AS currency, \
     (SELECT src FROM images i WHERE i.product_id = variants.product_id ORDER BY position LIMIT 1) AS first_image";

/// Locks and reads the deal running at `$4` on the organisation `$1`'s product `$2` (or its
/// variant `$3`).
const LOCK_DEAL: &str = "UPDATE deals SET held = held WHERE id = (SELECT id FROM deals WHERE org_id = $1 AND product_id = $2 \
     AND (variant_id IS NULL OR variant_id = $3) AND starts_at <= $4 AND ends_at > $4 ORDER BY starts_at DESC LIMIT 1) RETURNING *";

const ADD_HELD: &str = "UPDATE variants SET held = held + $1 WHERE id = $2";
const ADD_DEAL_HELD: &str = "UPDATE deals SET held = held + $1 WHERE id = $2";

/// What each buyer (`$2`, a list) already has under the deal `$1`, for its per-buyer limit: held
/// now, and bought already (orders not cancelled).
fn used_under_deal_sql(backend: Backend) -> String {
    format!(
        "SELECT buyer, CAST(SUM(n) AS BIGINT) AS n FROM ( \
           SELECT buyer, quantity AS n FROM holds WHERE deal_id = $1 AND buyer IN (SELECT value FROM {list}) \
           UNION ALL SELECT o.buyer, l.quantity FROM order_lines l JOIN orders o ON o.id = l.order_id \
           WHERE l.deal_id = $1 AND o.status <> 'cancelled' AND o.buyer IN (SELECT value FROM {list})) AS used GROUP BY buyer",
        list = json_strings(backend, 2)
    )
}

/// Units of the variant `$1` in each of the carts `$2` (a list).
fn in_carts_sql(backend: Backend) -> String {
    format!(
        "SELECT cart_id, CAST(SUM(quantity) AS BIGINT) AS n FROM holds WHERE variant_id = $1 AND cart_id IN (SELECT value FROM {}) \
         GROUP BY cart_id",
        json_strings(backend, 2)
    )
}

/// The item and its stock from a [`LOCK_VARIANT`] row; `NotFound` when the product is not for sale.
fn item_from_row(r: &impl Fields) -> Result<(Item, Stock)> {
    if r.text("status")? != "active" {
        return Err(StoreError::NotFound);
    }
    let item = Item {
        product: ProductId(r.text("product_id")?),
        title: r.text("title")?,
        options: serde_json::from_str(&r.text("option_values")?).unwrap_or_default(),
        image: r.opt_text("image_src")?.or(r.opt_text("first_image")?),
        regular_price_minor: r.int("price_minor")?,
        currency: r.text("currency")?,
    };
    Ok((item, stock_from_row(r)?))
}

/// The buyers of a batch, each once, in order (the order their carts are locked in).
fn buyers_of(requests: &[NewHold]) -> Vec<&str> {
    let mut buyers: Vec<&str> = requests.iter().map(|r| r.buyer.as_str()).collect();
    buyers.sort_unstable();
    buyers.dedup();
    buyers
}

/// What a batch is decided on, read in its transaction.
struct Found {
    carts: HashMap<String, CartId>,
    item: Item,
    stock: Stock,
    deal: Option<Deal>,
    /// Units each buyer has under the deal already.
    used: HashMap<String, i64>,
}

/// A batch decided: one answer per request (without `in_cart`, known once written), the
/// variant's stock after, and how many units the deal gave.
struct Decided {
    results: Vec<Held>,
    stock: Stock,
    deal_held: i64,
}

/// Decides a batch on what was read (no I/O): those who asked for the deal first, then the rest
/// at the regular price.
fn decide_batch(requests: &[NewHold], found: &Found, now: i64, hold_ms: i64) -> Decided {
    let mut stock = found.stock;
    let mut decided: Vec<Option<(Outcome, Option<DealId>)>> = vec![None; requests.len()];
    let mut deal_held = 0;
    for with_deal in [true, false] {
        let picked: Vec<usize> = (0..requests.len()).filter(|&i| requests[i].use_deal == with_deal).collect();
        if picked.is_empty() {
            continue;
        }
        let asks: Vec<HoldRequest> =
            picked.iter().map(|&i| HoldRequest { buyer: requests[i].buyer.clone(), quantity: requests[i].quantity }).collect();
        let under = if with_deal { found.deal.as_ref() } else { None };
        let allocation = shop::allocate(stock, under, &found.used, &asks);
        stock.held += allocation.held;
        if under.is_some() {
            deal_held += allocation.held;
        }
        for (k, &i) in picked.iter().enumerate() {
            decided[i] = Some((allocation.outcomes[k].clone(), under.map(|d| DealId(d.id.clone()))));
        }
    }
    let regular = found.item.regular_price_minor;
    let deal_price = found.deal.as_ref().map_or(regular, |d| d.unit_price(regular));
    let results = requests
        .iter()
        .zip(decided)
        .map(|(r, d)| {
            let (outcome, deal) = d.unwrap_or((Outcome::BadQuantity, None));
            let held = outcome == Outcome::Held;
            Held {
                hold: held.then(|| HoldId(crate::new_time_id(HoldId::PREFIX, now))),
                unit_price_minor: if deal.is_some() { deal_price } else { regular },
                deal: deal.filter(|_| held),
                outcome,
                cart: found.carts.get(r.buyer.as_str()).cloned().unwrap_or_default(),
                in_cart: 0,
                expires_at: now + hold_ms,
            }
        })
        .collect();
    Decided { results, stock, deal_held }
}

/// Fills in how many units of the variant each buyer's cart holds now: what this batch gave a
/// cart made now, or what the store counted (`counted`) for the others.
fn fill_in_cart(requests: &[NewHold], results: &mut [Held], made: &HashSet<String>, mut counted: HashMap<String, i64>) {
    for (r, h) in requests.iter().zip(results.iter()) {
        if h.hold.is_some() && made.contains(h.cart.as_str()) {
            *counted.entry(h.cart.0.clone()).or_default() += r.quantity;
        }
    }
    for h in results {
        h.in_cart = counted.get(h.cart.as_str()).copied().unwrap_or(0);
    }
}

impl Store {
    /// The buyer's cart at the organisation, if they have one.
    pub async fn cart_of(&self, org: &OrgId, buyer: &str) -> Result<Option<CartId>> {
        let row = sqlx::query("SELECT id FROM carts WHERE org_id = $1 AND buyer = $2")
            .bind(org.as_str())
            .bind(buyer)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id").map(CartId)).transpose()?)
    }

    /// The buyer's cart at the organisation, made on first use.
    pub async fn cart_for(&self, org: &OrgId, buyer: &str, now: i64) -> Result<CartId> {
        if let Some(cart) = self.cart_of(org, buyer).await? {
            return Ok(cart);
        }
        let mut tx = self.begin_write().await?;
        let cart = carts_of(&mut tx, self.backend, org, &[buyer], now).await?.0.remove(buyer).ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(cart)
    }

    /// Starts a show segment's flash deal (once per segment: again is a no-op).
    pub async fn start_deal(&self, deal: &DealStart) -> Result<()> {
        sqlx::query(
            "INSERT INTO deals (id, org_id, show_id, segment, product_id, variant_id, price_minor, percent_off, quantity, per_buyer_limit, \
             starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (show_id, segment) DO NOTHING",
        )
        .bind(new_id(DealId::PREFIX))
        .bind(deal.org.as_str())
        .bind(deal.show.as_str())
        .bind(deal.segment)
        .bind(deal.product.as_str())
        .bind(deal.variant.as_ref().map(|v| v.as_str()))
        .bind(deal.price_minor)
        .bind(deal.percent_off)
        .bind(deal.quantity)
        .bind(deal.per_buyer_limit)
        .bind(deal.starts_at)
        .bind(deal.ends_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The deals of the organisation's show running at `now`.
    pub async fn running_deals(&self, show: &ShowId, now: i64) -> Result<Vec<RunningDeal>> {
        let rows = sqlx::query("SELECT * FROM deals WHERE show_id = $1 AND starts_at <= $2 AND ends_at > $2 ORDER BY starts_at")
            .bind(show.as_str())
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let d = deal_from_row(r)?;
                Ok(RunningDeal {
                    id: DealId(d.id.clone()),
                    show_id: ShowId(r.try_get("show_id")?),
                    product_id: ProductId(r.try_get("product_id")?),
                    variant_id: r.try_get::<Option<String>, _>("variant_id")?.map(VariantId),
                    price_minor: d.price_minor,
                    percent_off: d.percent_off,
                    quantity: d.quantity,
                    per_buyer_limit: d.per_buyer_limit,
                    remaining: d.remaining(),
                    starts_at: d.starts_at,
                    ends_at: d.ends_at,
                })
            })
            .collect()
    }

    /// Decides a batch of hold requests for one variant of `org` in one transaction, in order;
    /// holds last `hold_ms`. Buyers' carts are found or made in the same transaction. `NotFound`
    /// when the variant is not the organisation's or its product is not for sale. The answer
    /// holds one [`Held`] per request, the variant and its stock after.
    pub async fn hold_batch(
        &self,
        org: &OrgId,
        variant: &VariantId,
        requests: &[NewHold],
        now: i64,
        hold_ms: i64,
    ) -> Result<(Vec<Held>, Item, StockLevel)> {
        let mut tx = self.begin_write().await?;
        // The buyers' carts first (the upsert locks those that exist): carts before variants, as
        // checkout takes them, so the two never wait for each other in a circle. Nothing is kept
        // when the variant is not found: the transaction is dropped.
        let buyers = buyers_of(requests);
        let (carts, made) = carts_of(&mut tx, self.backend, org, &buyers, now).await?;
        let row = sqlx::query(LOCK_VARIANT).bind(variant.as_str()).bind(org.as_str()).fetch_optional(&mut *tx).await?;
        let (item, stock) = item_from_row(&row.ok_or(StoreError::NotFound)?)?;
        let product = item.product.clone();
        // The running deal on this variant, when anyone asks for it.
        let mut deal: Option<Deal> = None;
        if requests.iter().any(|r| r.use_deal) {
            let found = sqlx::query(LOCK_DEAL)
                .bind(org.as_str())
                .bind(product.as_str())
                .bind(variant.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            deal = found.as_ref().map(deal_from_row).transpose()?;
        }
        let mut used: HashMap<String, i64> = HashMap::new();
        if let Some(d) = deal.as_ref().filter(|d| d.per_buyer_limit.is_some()) {
            let sql = used_under_deal_sql(self.backend);
            for r in sqlx::query(&sql).bind(d.id.as_str()).bind(to_json(&buyers)).fetch_all(&mut *tx).await? {
                used.insert(r.try_get("buyer")?, r.try_get("n")?);
            }
        }
        let found = Found { carts, item, stock, deal, used };
        let Decided { mut results, stock, deal_held } = decide_batch(requests, &found, now, hold_ms);

        let granted: Vec<(&NewHold, &Held)> = requests.iter().zip(&results).filter(|(_, h)| h.hold.is_some()).collect();
        if !granted.is_empty() {
            #[derive(serde::Serialize)]
            struct NewHoldRow<'a> {
                id: &'a Option<HoldId>,
                cart: &'a CartId,
                deal: &'a Option<DealId>,
                buyer: &'a str,
                quantity: i64,
                show: &'a Option<ShowId>,
                source: &'a str,
                media_ms: Option<i64>,
            }
            let rows: Vec<NewHoldRow> = granted
                .iter()
                .map(|(r, h)| NewHoldRow {
                    id: &h.hold,
                    cart: &h.cart,
                    deal: &h.deal,
                    buyer: &r.buyer,
                    quantity: r.quantity,
                    show: &r.show,
                    source: r.source,
                    media_ms: r.media_ms,
                })
                .collect();
            let sql = format!(
                "INSERT INTO holds (id, org_id, cart_id, variant_id, product_id, deal_id, buyer, quantity, show_id, source, media_ms, created_at, expires_at) \
                 SELECT value ->> 'id', $1, value ->> 'cart', $2, $3, value ->> 'deal', value ->> 'buyer', CAST(value ->> 'quantity' AS BIGINT), \
                 value ->> 'show', value ->> 'source', CAST(value ->> 'media_ms' AS BIGINT), $4, $5 FROM {}",
                json_objects(self.backend, 6)
            );
            sqlx::query(&sql)
                .bind(org.as_str())
                .bind(variant.as_str())
                .bind(product.as_str())
                .bind(now)
                .bind(now + hold_ms)
                .bind(to_json(&rows))
                .execute(&mut *tx)
                .await?;
        }
        let total: i64 = granted.iter().map(|(r, _)| r.quantity).sum();
        if total > 0 {
            sqlx::query(ADD_HELD).bind(total).bind(variant.as_str()).execute(&mut *tx).await?;
        }
        if let Some(d) = found.deal.as_ref().filter(|_| deal_held > 0) {
            sqlx::query(ADD_DEAL_HELD).bind(deal_held).bind(d.id.as_str()).execute(&mut *tx).await?;
        }
        let mut counted: HashMap<String, i64> = HashMap::new();
        let cart_ids: Vec<&str> = found.carts.values().map(|c| c.as_str()).filter(|c| !made.contains(*c)).collect();
        if !cart_ids.is_empty() {
            for r in sqlx::query(&in_carts_sql(self.backend)).bind(variant.as_str()).bind(to_json(&cart_ids)).fetch_all(&mut *tx).await? {
                counted.insert(r.try_get("cart_id")?, r.try_get("n")?);
            }
        }
        tx.commit().await?;
        fill_in_cart(requests, &mut results, &made, counted);
        let level = StockLevel { org: org.clone(), product, variant: variant.clone(), available: stock.available() };
        Ok((results, found.item, level))
    }

    /// Returns the units of holds expired at `now` (at most `limit` holds) to stock; the answer
    /// is the stock of every variant that changed.
    pub async fn expire_holds(&self, now: i64, limit: i64) -> Result<Vec<StockLevel>> {
        let rows = sqlx::query("SELECT id FROM holds WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2")
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let parts: Vec<(String, Option<i64>)> =
            rows.iter().map(|r| r.try_get("id").map(|id| (id, None))).collect::<std::result::Result<_, _>>()?;
        self.release_holds(&parts).await
    }

    /// Takes holds out of carts and returns their units to the variant and the deal: each hold
    /// whole (`None`) or some of its units. Holds already gone (another node expired them) are
    /// skipped: whoever deletes or shrinks a hold returns its units, once.
    async fn release_holds(&self, parts: &[(String, Option<i64>)]) -> Result<Vec<StockLevel>> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut per_variant: BTreeMap<String, (String, String, i64)> = BTreeMap::new();
        let mut per_deal: BTreeMap<String, i64> = BTreeMap::new();
        let mut credit = |r: &sqlx::any::AnyRow, n: i64| -> Result<()> {
            let entry = per_variant.entry(r.try_get("variant_id")?).or_insert_with(|| (String::new(), String::new(), 0));
            entry.0 = r.try_get("org_id")?;
            entry.1 = r.try_get("product_id")?;
            entry.2 += n;
            if let Some(deal) = r.try_get::<Option<String>, _>("deal_id")? {
                *per_deal.entry(deal).or_default() += n;
            }
            Ok(())
        };
        let whole: Vec<&str> = parts.iter().filter(|(_, n)| n.is_none()).map(|(id, _)| id.as_str()).collect();
        if !whole.is_empty() {
            let sql = format!(
                "DELETE FROM holds WHERE id IN (SELECT value FROM {}) RETURNING org_id, variant_id, product_id, deal_id, quantity",
                json_strings(self.backend, 1)
            );
            for r in sqlx::query(&sql).bind(to_json(&whole)).fetch_all(&mut *tx).await? {
                let n: i64 = r.try_get("quantity")?;
                credit(&r, n)?;
            }
        }
        for (id, n) in parts.iter().filter_map(|(id, n)| n.map(|n| (id, n))) {
            let row = sqlx::query(
                "UPDATE holds SET quantity = quantity - $1 WHERE id = $2 AND quantity > $1 RETURNING org_id, variant_id, product_id, deal_id",
            )
            .bind(n)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(r) = row {
                credit(&r, n)?;
            }
        }
        // Variants before deals, each in id order: the same lock order as every other change.
        let mut levels = Vec::new();
        for (variant, (org, product, n)) in &per_variant {
            sqlx::query("UPDATE variants SET held = held - $1 WHERE id = $2").bind(*n).bind(variant.as_str()).execute(&mut *tx).await?;
            levels.push(level_of(&mut tx, &OrgId(org.clone()), product, variant).await?);
        }
        for (deal, n) in &per_deal {
            sqlx::query("UPDATE deals SET held = held - $1 WHERE id = $2").bind(*n).bind(deal.as_str()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(levels)
    }

    /// Takes a variant out of a cart (every hold of it), or down to `keep` units (the newest
    /// holds go first).
    pub async fn reduce_line(&self, cart: &CartId, variant: &VariantId, keep: i64) -> Result<Vec<StockLevel>> {
        let rows = sqlx::query("SELECT id, quantity FROM holds WHERE cart_id = $1 AND variant_id = $2 ORDER BY created_at, id")
            .bind(cart.as_str())
            .bind(variant.as_str())
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        // The oldest holds are kept, the newest given back (the one across the line in part).
        let mut kept = 0;
        let mut release = Vec::new();
        for r in &rows {
            let n: i64 = r.try_get("quantity")?;
            let id: String = r.try_get("id")?;
            if kept + n <= keep {
                kept += n;
            } else if kept < keep {
                release.push((id, Some(kept + n - keep)));
                kept = keep;
            } else {
                release.push((id, None));
            }
        }
        self.release_holds(&release).await
    }

    /// The cart's lines, with prices as they are now.
    pub async fn cart_lines(&self, cart: &CartId, now: i64) -> Result<Vec<CartLine>> {
        let rows = sqlx::query(
            "SELECT h.variant_id, h.product_id, h.deal_id, CAST(SUM(h.quantity) AS BIGINT) AS quantity, MIN(h.expires_at) AS expires_at \
             FROM holds h WHERE h.cart_id = $1 AND h.expires_at > $2 GROUP BY h.variant_id, h.product_id, h.deal_id \
             ORDER BY MIN(h.created_at)",
        )
        .bind(cart.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for r in rows {
            let variant = VariantId(r.try_get("variant_id")?);
            let v = sqlx::query(
                "SELECT v.price_minor, v.option_values, v.stock, v.held, v.track_stock, v.image_src, p.title, p.currency, \
                 (SELECT src FROM images i WHERE i.product_id = p.id ORDER BY position LIMIT 1) AS first_image \
                 FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = $1",
            )
            .bind(variant.as_str())
            .fetch_one(&self.pool)
            .await?;
            let regular: i64 = v.try_get("price_minor")?;
            let deal_id = r.try_get::<Option<String>, _>("deal_id")?.map(DealId);
            let mut unit = regular;
            if let Some(id) = &deal_id
                && let Some(d) = sqlx::query("SELECT * FROM deals WHERE id = $1").bind(id.as_str()).fetch_optional(&self.pool).await?
            {
                unit = deal_from_row(&d)?.unit_price(regular);
            }
            let stock = stock_from_row(&v)?;
            let options: String = v.try_get("option_values")?;
            lines.push(CartLine {
                variant_id: variant,
                product_id: ProductId(r.try_get("product_id")?),
                title: v.try_get("title")?,
                options: serde_json::from_str(&options).unwrap_or_default(),
                image: v.try_get::<Option<String>, _>("image_src")?.or(v.try_get("first_image")?),
                quantity: r.try_get("quantity")?,
                unit_price_minor: unit,
                regular_price_minor: regular,
                currency: v.try_get("currency")?,
                deal_id,
                expires_at: r.try_get("expires_at")?,
                available: stock.available(),
            });
        }
        Ok(lines)
    }

    /// Units buyers may still add, per variant of the products (for the rooms and the shelf).
    pub async fn stock_levels(&self, org: &OrgId, products: &[ProductId]) -> Result<Vec<StockLevel>> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, product_id, stock, held, track_stock FROM variants WHERE org_id = $1 AND product_id IN ({}) ORDER BY product_id, position",
            placeholders(2, products.len())
        );
        let mut q = sqlx::query(&sql).bind(org.as_str());
        for p in products {
            q = q.bind(p.as_str());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let stock = stock_from_row(r)?;
                Ok(StockLevel {
                    org: org.clone(),
                    product: ProductId(r.try_get("product_id")?),
                    variant: VariantId(r.try_get("id")?),
                    available: stock.available(),
                })
            })
            .collect()
    }
}

/// The flash-sale ledger's own connection to an SQLite database, for the thread that decides
/// batches ([`SqliteLedger::hold_batch`]). Through the pool, each of a batch's statements was a
/// hand-off to sqlx's worker thread for the connection and back, twice a statement, each waiting
/// for a core in a rush; here the batch runs on the caller's thread from BEGIN to COMMIT, with
/// prepared single-row statements instead of rows packed into JSON. SQLite has one writer at a
/// time: this connection takes turns with the pool's like any of them (`busy_timeout`).
pub struct SqliteLedger {
    conn: rusqlite::Connection,
}

impl Store {
    /// A connection of the caller's own for the ledger's batches: `None` unless the store is an
    /// SQLite file.
    pub fn sqlite_ledger(&self) -> Result<Option<SqliteLedger>> {
        let Some(file) = self.sqlite_file.as_deref() else { return Ok(None) };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(file, flags)?;
        for pragma in crate::SQLITE_PRAGMAS {
            // Some pragmas answer with a row (journal_mode), others with none.
            conn.query_row(pragma, [], |_| Ok(())).or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(()),
                e => Err(e),
            })?;
        }
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Some(SqliteLedger { conn }))
    }
}

impl SqliteLedger {
    /// [`Store::hold_batch`] on this connection: the same decisions, the same rows.
    pub fn hold_batch(
        &mut self,
        org: &OrgId,
        variant: &VariantId,
        requests: &[NewHold],
        now: i64,
        hold_ms: i64,
    ) -> Result<(Vec<Held>, Item, StockLevel)> {
        use rusqlite::params;
        // IMMEDIATE: the write lock from the start (the first statement writes anyway), so the
        // transaction never has to upgrade a read snapshot another writer has overtaken.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Carts before the variant, as in `Store::hold_batch`; new carts get time-ordered ids.
        let mut carts: HashMap<String, CartId> = HashMap::with_capacity(requests.len());
        let mut made = HashSet::new();
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO carts (id, org_id, buyer, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) \
                 ON CONFLICT (org_id, buyer) DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
            )?;
            for buyer in buyers_of(requests) {
                let proposed = crate::new_time_id(CartId::PREFIX, now);
                let id: String = upsert.query_row(params![proposed, org.as_str(), buyer, now], |r| r.get(0))?;
                if id == proposed {
                    made.insert(id.clone());
                }
                carts.insert(buyer.to_string(), CartId(id));
            }
        }
        let (item, stock) = {
            let mut lock = tx.prepare_cached(LOCK_VARIANT)?;
            let mut rows = lock.query(params![variant.as_str(), org.as_str()])?;
            item_from_row(rows.next()?.ok_or(StoreError::NotFound)?)?
        };
        let product = item.product.clone();
        let mut deal: Option<Deal> = None;
        if requests.iter().any(|r| r.use_deal) {
            let mut lock = tx.prepare_cached(LOCK_DEAL)?;
            let mut rows = lock.query(params![org.as_str(), product.as_str(), variant.as_str(), now])?;
            deal = rows.next()?.map(deal_from_row).transpose()?;
        }
        let mut used: HashMap<String, i64> = HashMap::new();
        if let Some(d) = deal.as_ref().filter(|d| d.per_buyer_limit.is_some()) {
            let mut query = tx.prepare_cached(&used_under_deal_sql(Backend::Sqlite))?;
            let mut rows = query.query(params![d.id, to_json(&buyers_of(requests))])?;
            while let Some(r) = rows.next()? {
                used.insert(r.text("buyer")?, r.int("n")?);
            }
        }
        let found = Found { carts, item, stock, deal, used };
        let Decided { mut results, stock, deal_held } = decide_batch(requests, &found, now, hold_ms);

        let mut total = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO holds (id, org_id, cart_id, variant_id, product_id, deal_id, buyer, quantity, show_id, source, media_ms, \
                 created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for (r, h) in requests.iter().zip(&results) {
                let Some(id) = &h.hold else { continue };
                insert.execute(params![
                    id.as_str(),
                    org.as_str(),
                    h.cart.as_str(),
                    variant.as_str(),
                    product.as_str(),
                    h.deal.as_ref().map(|d| d.as_str()),
                    r.buyer,
                    r.quantity,
                    r.show.as_ref().map(|s| s.as_str()),
                    r.source,
                    r.media_ms,
                    now,
                    now + hold_ms
                ])?;
                total += r.quantity;
            }
        }
        if total > 0 {
            tx.prepare_cached(ADD_HELD)?.execute(params![total, variant.as_str()])?;
        }
        if let Some(d) = found.deal.as_ref().filter(|_| deal_held > 0) {
            tx.prepare_cached(ADD_DEAL_HELD)?.execute(params![deal_held, d.id])?;
        }
        let mut counted: HashMap<String, i64> = HashMap::new();
        let cart_ids: Vec<&str> = found.carts.values().map(|c| c.as_str()).filter(|c| !made.contains(*c)).collect();
        if !cart_ids.is_empty() {
            let mut query = tx.prepare_cached(&in_carts_sql(Backend::Sqlite))?;
            let mut rows = query.query(params![variant.as_str(), to_json(&cart_ids)])?;
            while let Some(r) = rows.next()? {
                counted.insert(r.text("cart_id")?, r.int("n")?);
            }
        }
        tx.commit()?;
        fill_in_cart(requests, &mut results, &made, counted);
        let level = StockLevel { org: org.clone(), product, variant: variant.clone(), available: stock.available() };
        Ok((results, found.item, level))
    }
}
