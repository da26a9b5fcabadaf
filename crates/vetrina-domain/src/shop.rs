//! Buying, without I/O: how a batch of "hold these units for me" requests is shared out among
//! buyers when stock and a flash deal are scarce, and what a deal costs.
//!
//! Stock is held when a buyer adds to the cart (not at checkout): on a live show the page says
//! "only 3 left" and the first taps win, so what a cart holds must be what the buyer gets. Holds
//! expire (the store returns their units), so an abandoned cart gives its units back.

use std::collections::HashMap;

/// Most units of one variant a buyer may hold in one cart line.
pub const MAX_QUANTITY: i64 = 99;

/// One buyer's request for more units of one variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRequest {
    /// Who is buying (a cart's buyer), for per-buyer limits.
    pub buyer: String,
    pub quantity: i64,
}

/// A variant's stock at the moment a batch is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stock {
    /// Units on hand and not yet sold.
    pub on_hand: i64,
    /// Units in carts.
    pub held: i64,
    /// Whether stock is counted at all (an untracked variant never runs out).
    pub tracked: bool,
}

impl Stock {
    /// Units a buyer may still add; `None` when stock is not tracked.
    pub fn available(&self) -> Option<i64> {
        self.tracked.then(|| (self.on_hand - self.held).max(0))
    }
}

/// A flash deal as it stands when a batch is decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deal {
    pub id: String,
    /// The deal price; or `percent_off` the regular price.
    pub price_minor: Option<i64>,
    pub percent_off: Option<i64>,
    /// Units at the deal price at most (`None`: as many as stock allows).
    pub quantity: Option<i64>,
    pub per_buyer_limit: Option<i64>,
    pub held: i64,
    pub sold: i64,
    pub starts_at: i64,
    pub ends_at: i64,
}

impl Deal {
    pub fn is_running(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Units left at the deal price (`None`: no cap).
    pub fn remaining(&self) -> Option<i64> {
        self.quantity.map(|q| (q - self.held - self.sold).max(0))
    }

    /// What one unit costs under the deal, from the regular price (percentages round half up,
    /// never below zero, never above the regular price).
    pub fn unit_price(&self, regular_minor: i64) -> i64 {
        let price = match (self.price_minor, self.percent_off) {
            (Some(p), _) => p,
            (None, Some(pct)) => {
                let pct = pct.clamp(0, 100);
                (regular_minor * (100 - pct) + 50) / 100
            }
            (None, None) => regular_minor,
        };
        price.clamp(0, regular_minor.max(0))
    }
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Held,
    /// Not enough stock left: `available` units could still be added.
    SoldOut {
        available: i64,
    },
    /// The deal's units are gone (the product may still be bought at its regular price).
    DealSoldOut {
        available: i64,
    },
    /// The buyer would pass the deal's per-buyer limit; they hold `already`.
    BuyerLimit {
        limit: i64,
        already: i64,
    },
    /// Zero, negative or more than [`MAX_QUANTITY`].
    BadQuantity,
}

/// Decides a batch of requests for one variant, in arrival order: each is held whole or refused
/// (no partial holds: the buyer sees why and may ask for fewer). `used` is what each buyer
/// already holds or bought under the deal; the answer's `held` is the total newly held.
pub fn allocate(stock: Stock, deal: Option<&Deal>, used: &HashMap<String, i64>, requests: &[HoldRequest]) -> Allocation {
    let mut available = stock.available();
    let mut deal_left = deal.and_then(Deal::remaining);
    let mut used = used.clone();
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut held = 0;
    for r in requests {
        let outcome = if r.quantity < 1 || r.quantity > MAX_QUANTITY {
            Outcome::BadQuantity
        } else if let Some(a) = available.filter(|a| *a < r.quantity) {
            Outcome::SoldOut { available: a }
        } else if let Some(left) = deal_left.filter(|left| *left < r.quantity) {
            Outcome::DealSoldOut { available: left }
        } else if let Some(limit) = deal.and_then(|d| d.per_buyer_limit)
            && used.get(&r.buyer).copied().unwrap_or(0) + r.quantity > limit
        {
            Outcome::BuyerLimit { limit, already: used.get(&r.buyer).copied().unwrap_or(0) }
        } else {
            if let Some(a) = available.as_mut() {
                *a -= r.quantity;
            }
            if let Some(left) = deal_left.as_mut() {
                *left -= r.quantity;
            }
            *used.entry(r.buyer.clone()).or_default() += r.quantity;
            held += r.quantity;
            Outcome::Held
        };
        outcomes.push(outcome);
    }
    Allocation { outcomes, held }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// One per request, in order.
    pub outcomes: Vec<Outcome>,
    /// Units newly held in all.
    pub held: i64,
}

/// How an organisation charges shipping and taxes (its shop settings).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ShopSettings {
    /// Flat shipping per order, in minor units.
    pub shipping_flat_minor: i64,
    /// Orders whose goods come to at least this much ship free (`null`: never).
    pub free_shipping_over_minor: Option<i64>,
    /// The tax rate in basis points (2200 = 22%).
    pub tax_rate_bp: i64,
    /// Whether catalogue prices include the tax (as in Europe) or it is added on top.
    pub prices_include_tax: bool,
    /// The merchant's Shopify shop (`shop.example.com` or `x.myshopify.com`), for hand-off.
    pub shopify_domain: Option<String>,
    /// The merchant's WooCommerce shop (`shop.example.com`), for hand-off.
    pub woocommerce_domain: Option<String>,
}

impl ShopSettings {
    /// Checks the settings a merchant sent.
    pub fn validate(&self) -> Result<(), crate::Invalid> {
        if !(0..=100_000_000).contains(&self.shipping_flat_minor) {
            return Err(crate::Invalid::new("shop/shipping_flat_minor", "between 0 and 100000000"));
        }
        if self.free_shipping_over_minor.is_some_and(|f| f < 0) {
            return Err(crate::Invalid::new("shop/free_shipping_over_minor", "0 or more"));
        }
        if !(0..=10_000).contains(&self.tax_rate_bp) {
            return Err(crate::Invalid::new("shop/tax_rate_bp", "between 0 and 10000 (100%)"));
        }
        for (field, domain) in [("shop/shopify_domain", &self.shopify_domain), ("shop/woocommerce_domain", &self.woocommerce_domain)] {
            if let Some(d) = domain
                && (d.is_empty()
                    || d.len() > 253
                    || !d.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                    || !d.contains('.'))
            {
                return Err(crate::Invalid::new(field, "a host name such as shop.example.com (no scheme, no path)"));
            }
        }
        Ok(())
    }
}

/// One line of an order as checkout prices it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    pub quantity: i64,
    pub unit_price_minor: i64,
}

/// An order's money, computed on the server only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// The goods, at the prices shown.
    pub subtotal_minor: i64,
    /// Off the goods, by a discount code.
    pub discount_minor: i64,
    pub shipping_minor: i64,
    /// The tax in the total (included in the prices, or added on top).
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// Rounds `n / d` half up (both non-negative, `d` > 0).
fn div_round(n: i64, d: i64) -> i64 {
    (n + d / 2) / d
}

/// The totals of lines under the shop's settings. Tax applies to goods and shipping.
pub fn totals(lines: &[PricedLine], settings: &ShopSettings) -> Totals {
    totals_with(lines, settings, 0)
}

/// [`totals`] with `discount_minor` off the goods (at most all of them); free shipping counts the
/// goods after the discount.
pub fn totals_with(lines: &[PricedLine], settings: &ShopSettings, discount_minor: i64) -> Totals {
    let subtotal_minor: i64 = lines.iter().map(|l| l.quantity * l.unit_price_minor).sum();
    let discount_minor = discount_minor.clamp(0, subtotal_minor);
    let goods = subtotal_minor - discount_minor;
    let free = settings.free_shipping_over_minor.is_some_and(|over| goods >= over);
    let shipping_minor = if lines.is_empty() || free { 0 } else { settings.shipping_flat_minor };
    let taxed = goods + shipping_minor;
    let rate = settings.tax_rate_bp;
    if settings.prices_include_tax {
        let tax_minor = taxed - div_round(taxed * 10_000, 10_000 + rate);
        Totals { subtotal_minor, discount_minor, shipping_minor, tax_minor, total_minor: taxed }
    } else {
        let tax_minor = div_round(taxed * rate, 10_000);
        Totals { subtotal_minor, discount_minor, shipping_minor, tax_minor, total_minor: taxed + tax_minor }
    }
}

/// A discount code the shop gives out (on air, in a show's announcement, by email).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DiscountCode {
    /// Upper case letters, digits, `-` and `_`; buyers may type it in any case.
    pub code: String,
    /// Percent off the goods (1 to 100); or `amount_off_minor`.
    pub percent_off: Option<i64>,
    pub amount_off_minor: Option<i64>,
    /// The goods must come to at least this much.
    pub min_subtotal_minor: Option<i64>,
    /// Orders it may be used on at most.
    pub max_uses: Option<i64>,
    pub uses: i64,
    /// Unix ms after which it no longer works.
    pub expires_at: Option<i64>,
    pub active: bool,
}

/// A discount code as the merchant writes it.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountInput {
    pub code: String,
    #[serde(default)]
    pub percent_off: Option<i64>,
    #[serde(default)]
    pub amount_off_minor: Option<i64>,
    #[serde(default)]
    pub min_subtotal_minor: Option<i64>,
    #[serde(default)]
    pub max_uses: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A code as buyers type it, as stored: trimmed, upper case.
pub fn normal_code(code: &str) -> String {
    code.trim().to_uppercase()
}

impl DiscountInput {
    pub fn validate(self) -> Result<DiscountCode, crate::Invalid> {
        use crate::Invalid;
        let code = normal_code(&self.code);
        if !(3..=32).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Invalid::new("code", "3 to 32 letters, digits, - or _"));
        }
        match (self.percent_off, self.amount_off_minor) {
            (Some(p), None) if (1..=100).contains(&p) => {}
            (Some(_), None) => return Err(Invalid::new("percent_off", "between 1 and 100")),
            (None, Some(a)) if (1..=100_000_000).contains(&a) => {}
            (None, Some(_)) => return Err(Invalid::new("amount_off_minor", "more than 0")),
            _ => return Err(Invalid::new("percent_off", "give either percent_off or amount_off_minor")),
        }
        if self.min_subtotal_minor.is_some_and(|m| !(0..=1_000_000_000).contains(&m)) {
            return Err(Invalid::new("min_subtotal_minor", "0 or more"));
        }
        if self.max_uses.is_some_and(|m| !(1..=100_000_000).contains(&m)) {
            return Err(Invalid::new("max_uses", "1 or more"));
        }
        if self.expires_at.is_some_and(|e| e < 0) {
            return Err(Invalid::new("expires_at", "a Unix time in milliseconds"));
        }
        Ok(DiscountCode {
            code,
            percent_off: self.percent_off,
            amount_off_minor: self.amount_off_minor,
            min_subtotal_minor: self.min_subtotal_minor,
            max_uses: self.max_uses,
            uses: 0,
            expires_at: self.expires_at,
            active: self.active,
        })
    }
}

impl DiscountCode {
    /// What the code takes off goods of `subtotal_minor` at `now`, or why it does not apply
    /// (said to the buyer).
    pub fn discount(&self, subtotal_minor: i64, now: i64) -> Result<i64, String> {
        if !self.active {
            return Err(format!("the code {} is not active", self.code));
        }
        if self.expires_at.is_some_and(|e| now >= e) {
            return Err(format!("the code {} has expired", self.code));
        }
        if self.max_uses.is_some_and(|m| self.uses >= m) {
            return Err(format!("the code {} has been used up", self.code));
        }
        if let Some(min) = self.min_subtotal_minor.filter(|m| subtotal_minor < *m) {
            return Err(format!("the code {} applies to orders of at least {min} (minor units)", self.code));
        }
        let off = match (self.percent_off, self.amount_off_minor) {
            (Some(p), _) => div_round(subtotal_minor * p, 100),
            (None, Some(a)) => a,
            (None, None) => 0,
        };
        Ok(off.clamp(0, subtotal_minor))
    }
}

/// A Shopify cart permalink: the merchant's own checkout with these variants
/// (`https://shop/cart/VARIANT:QTY,...`); `None` when a line has no Shopify variant id.
pub fn shopify_cart_url(domain: &str, lines: &[(Option<String>, i64)]) -> Option<String> {
    let items: Option<Vec<String>> =
        lines.iter().map(|(id, q)| id.as_ref().filter(|id| id.chars().all(|c| c.is_ascii_digit())).map(|id| format!("{id}:{q}"))).collect();
    let items = items.filter(|i| !i.is_empty())?;
    Some(format!("https://{domain}/cart/{}", items.join(",")))
}

/// WooCommerce add-to-cart links, one per line (`https://shop/?add-to-cart=ID&quantity=Q`: the
/// stock plugin adds one product per request); `None` when a line has no WooCommerce id.
pub fn woocommerce_cart_urls(domain: &str, lines: &[(Option<String>, i64)]) -> Option<Vec<String>> {
    let urls: Option<Vec<String>> = lines
        .iter()
        .map(|(id, q)| {
            id.as_ref()
                .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
                .map(|id| format!("https://{domain}/?add-to-cart={id}&quantity={q}"))
        })
        .collect();
    urls.filter(|u| !u.is_empty())
}

/// Where an order goes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    #[serde(default)]
    pub region: String,
    /// ISO 3166-1 alpha-2 (`IT`, `CH`).
    pub country: String,
}

/// Who buys and where it goes, as checkout takes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub phone: String,
    pub address: Address,
}

impl Contact {
    /// Checks and tidies what a buyer typed (trimmed; the country upper case).
    pub fn validate(mut self) -> Result<Contact, crate::Invalid> {
        let field = |name: &str, value: &str, max: usize, required: bool| -> Result<String, crate::Invalid> {
            let v = value.trim();
            if required && v.is_empty() {
                return Err(crate::Invalid::new(name, "required"));
            }
            if v.chars().count() > max || v.chars().any(char::is_control) {
                return Err(crate::Invalid::new(name, format!("at most {max} characters, one line")));
            }
            Ok(v.to_string())
        };
        self.email = field("email", &self.email, 254, true)?.to_lowercase();
        let (local, domain) = self.email.split_once('@').unwrap_or_default();
        if local.is_empty() || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') || self.email.contains(' ') {
            return Err(crate::Invalid::new("email", "not an email address"));
        }
        self.name = field("name", &self.name, 120, true)?;
        self.phone = field("phone", &self.phone, 40, false)?;
        let a = &mut self.address;
        a.line1 = field("address/line1", &a.line1, 200, true)?;
        a.line2 = field("address/line2", &a.line2, 200, false)?;
        a.city = field("address/city", &a.city, 120, true)?;
        a.postal_code = field("address/postal_code", &a.postal_code, 20, true)?;
        a.region = field("address/region", &a.region, 120, false)?;
        a.country = field("address/country", &a.country, 2, true)?.to_uppercase();
        if a.country.len() != 2 || !a.country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(crate::Invalid::new("address/country", "a two-letter country code such as IT"));
        }
        Ok(self)
    }
}

/// How the buyer pays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Payment {
    /// The merchant is paid outside (bank transfer, cash on delivery) and marks the order paid.
    #[default]
    PayLater,
    /// The buyer finishes in the merchant's Shopify shop (a cart permalink).
    Shopify,
    /// The buyer finishes in the merchant's WooCommerce shop (add-to-cart links).
    Woocommerce,
}

impl Payment {
    pub fn as_str(self) -> &'static str {
        match self {
            Payment::PayLater => "pay_later",
            Payment::Shopify => "shopify",
            Payment::Woocommerce => "woocommerce",
        }
    }

    pub fn parse(s: &str) -> Option<Payment> {
        [Payment::PayLater, Payment::Shopify, Payment::Woocommerce].into_iter().find(|p| p.as_str() == s)
    }
}

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed; the merchant waits for the money.
    PendingPayment,
    /// The buyer was sent to the merchant's own shop to pay there.
    HandedOff,
    Paid,
    Fulfilled,
    /// Cancelled: its units went back on sale.
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::HandedOff => "handed_off",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        use OrderStatus::*;
        [PendingPayment, HandedOff, Paid, Fulfilled, Cancelled].into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the merchant may move an order from this status to `next`.
    pub fn may_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment | HandedOff, Paid)
                | (Paid | PendingPayment | HandedOff, Fulfilled)
                | (PendingPayment | HandedOff | Paid, Cancelled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(buyer: &str, quantity: i64) -> HoldRequest {
        HoldRequest { buyer: buyer.into(), quantity }
    }

    fn deal(quantity: Option<i64>, per_buyer_limit: Option<i64>) -> Deal {
        Deal {
            id: "dl_1".into(),
            price_minor: None,
            percent_off: Some(20),
            quantity,
            per_buyer_limit,
            held: 0,
            sold: 0,
            starts_at: 0,
            ends_at: 1_000,
        }
    }

    #[test]
    fn first_come_first_served_whole_or_not_at_all() {
        let stock = Stock { on_hand: 5, held: 1, tracked: true };
        let a = allocate(stock, None, &HashMap::new(), &[ask("a", 3), ask("b", 2), ask("c", 1), ask("d", 0), ask("e", 100)]);
        assert_eq!(
            a.outcomes,
            [Outcome::Held, Outcome::SoldOut { available: 1 }, Outcome::Held, Outcome::BadQuantity, Outcome::BadQuantity]
        );
        assert_eq!(a.held, 4);
        let untracked = Stock { on_hand: 0, held: 50, tracked: false };
        assert_eq!(allocate(untracked, None, &HashMap::new(), &[ask("a", 99)]).held, 99);
    }

    #[test]
    fn deals_have_their_own_cap_and_a_limit_per_buyer() {
        let stock = Stock { on_hand: 100, held: 0, tracked: true };
        let d = Deal { held: 6, sold: 1, ..deal(Some(10), Some(2)) };
        let used = HashMap::from([("a".to_string(), 1)]);
        let a = allocate(stock, Some(&d), &used, &[ask("a", 2), ask("a", 1), ask("b", 2), ask("c", 2), ask("d", 1)]);
        assert_eq!(
            a.outcomes,
            [
                Outcome::BuyerLimit { limit: 2, already: 1 },
                Outcome::Held,
                Outcome::Held,
                Outcome::DealSoldOut { available: 0 },
                Outcome::DealSoldOut { available: 0 },
            ]
        );
        assert_eq!(a.held, 3, "10 at the deal price: 7 were gone, 3 more now");
    }

    #[test]
    fn deal_prices() {
        let d = deal(None, None);
        assert!(d.is_running(0) && d.is_running(999) && !d.is_running(1_000));
        assert_eq!(d.unit_price(18_900), 15_120);
        assert_eq!(Deal { percent_off: Some(33), ..deal(None, None) }.unit_price(999), 669, "rounded half up");
        assert_eq!(Deal { price_minor: Some(5_000), ..deal(None, None) }.unit_price(18_900), 5_000);
        assert_eq!(Deal { price_minor: Some(50_000), ..deal(None, None) }.unit_price(18_900), 18_900, "never above the regular price");
        assert_eq!(Deal { percent_off: Some(150), ..deal(None, None) }.unit_price(100), 0);
    }

    #[test]
    fn totals_with_shipping_and_taxes() {
        let lines = [PricedLine { quantity: 2, unit_price_minor: 15_120 }, PricedLine { quantity: 1, unit_price_minor: 4_900 }];
        let italy = ShopSettings {
            shipping_flat_minor: 690,
            free_shipping_over_minor: Some(50_000),
            tax_rate_bp: 2_200,
            prices_include_tax: true,
            ..ShopSettings::default()
        };
        // 35,140 of goods + 6.90 shipping = 35,830, of which 22% VAT is 6,461.
        assert_eq!(
            totals(&lines, &italy),
            Totals { subtotal_minor: 35_140, discount_minor: 0, shipping_minor: 690, tax_minor: 6_461, total_minor: 35_830 }
        );
        let big = [PricedLine { quantity: 4, unit_price_minor: 15_120 }];
        assert_eq!(totals(&big, &italy).shipping_minor, 0, "free over 500");
        let us = ShopSettings { shipping_flat_minor: 500, tax_rate_bp: 825, ..ShopSettings::default() };
        assert_eq!(
            totals(&lines, &us),
            Totals { subtotal_minor: 35_140, discount_minor: 0, shipping_minor: 500, tax_minor: 2_940, total_minor: 38_580 }
        );
        assert_eq!(totals(&[], &us), Totals::default(), "an empty cart costs nothing, not even shipping");
        // 10% off 351.40 = 35.14; the goods then cost 316.26, under the 500 for free shipping.
        let ten = DiscountInput {
            code: " live10 ".into(),
            percent_off: Some(10),
            amount_off_minor: None,
            min_subtotal_minor: Some(10_000),
            max_uses: Some(2),
            expires_at: Some(5_000),
            active: true,
        }
        .validate()
        .unwrap();
        assert_eq!(ten.code, "LIVE10");
        let off = ten.discount(35_140, 1_000).unwrap();
        assert_eq!(off, 3_514);
        let t = totals_with(&lines, &italy, off);
        assert_eq!((t.discount_minor, t.shipping_minor, t.total_minor), (3_514, 690, 35_140 - 3_514 + 690));
        assert!(ten.discount(9_999, 1_000).unwrap_err().contains("at least"));
        assert!(ten.discount(35_140, 5_000).unwrap_err().contains("expired"));
        assert!(DiscountCode { uses: 2, ..ten.clone() }.discount(35_140, 0).unwrap_err().contains("used up"));
        assert!(DiscountCode { active: false, ..ten.clone() }.discount(35_140, 0).unwrap_err().contains("not active"));
        let big = DiscountCode { percent_off: None, amount_off_minor: Some(1_000_000), ..ten.clone() };
        assert_eq!(big.discount(35_140, 0).unwrap(), 35_140, "never more than the goods");
        let bad = |code: &str, pct: Option<i64>, amount: Option<i64>| {
            DiscountInput {
                code: code.into(),
                percent_off: pct,
                amount_off_minor: amount,
                min_subtotal_minor: None,
                max_uses: None,
                expires_at: None,
                active: true,
            }
            .validate()
            .unwrap_err()
            .field
        };
        assert_eq!(bad("ab", Some(10), None), "code");
        assert_eq!(bad("NO SPACES", Some(10), None), "code");
        assert_eq!(bad("OK10", Some(0), None), "percent_off");
        assert_eq!(bad("OK10", Some(101), None), "percent_off");
        assert_eq!(bad("OK10", None, Some(-5)), "amount_off_minor");
        assert_eq!(bad("OK10", Some(5), Some(5)), "percent_off");
    }

    #[test]
    fn hand_off_links() {
        let lines = [(Some("44012345678901".to_string()), 2), (Some("44012345678902".to_string()), 1)];
        assert_eq!(
            shopify_cart_url("shop.example.com", &lines).unwrap(),
            "https://shop.example.com/cart/44012345678901:2,44012345678902:1"
        );
        assert_eq!(shopify_cart_url("shop.example.com", &[(None, 1)]), None, "a variant not from Shopify");
        assert_eq!(shopify_cart_url("shop.example.com", &[(Some("1/../x".into()), 1)]), None, "ids are numbers");
        assert_eq!(
            woocommerce_cart_urls("w.example", &[(Some("77".into()), 3)]).unwrap(),
            ["https://w.example/?add-to-cart=77&quantity=3"]
        );
        let bad = ShopSettings { shopify_domain: Some("https://x.com/".into()), ..ShopSettings::default() };
        assert_eq!(bad.validate().unwrap_err().field, "shop/shopify_domain");
    }

    #[test]
    fn contacts_and_order_statuses() {
        let contact = Contact {
            email: " Anna@Example.COM ".into(),
            name: "Anna Rossi".into(),
            phone: String::new(),
            address: Address {
                line1: "Via Roma 1".into(),
                line2: String::new(),
                city: "Firenze".into(),
                postal_code: "50100".into(),
                region: String::new(),
                country: "it".into(),
            },
        };
        let ok = contact.clone().validate().unwrap();
        assert_eq!((ok.email.as_str(), ok.address.country.as_str()), ("anna@example.com", "IT"));
        let bad = Contact { email: "anna".into(), ..contact.clone() };
        assert_eq!(bad.validate().unwrap_err().field, "email");
        let mut bad = contact.clone();
        bad.address.city = " ".into();
        assert_eq!(bad.validate().unwrap_err().field, "address/city");
        use OrderStatus::*;
        assert!(PendingPayment.may_become(Paid) && Paid.may_become(Fulfilled) && Paid.may_become(Cancelled));
        assert!(!Cancelled.may_become(Paid) && !Fulfilled.may_become(Cancelled) && !Paid.may_become(Paid));
    }

    /// Whatever the batch, never more held than available, nor more at the deal price than its cap.
    #[test]
    fn never_oversold() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as i64
        };
        for _ in 0..2_000 {
            let stock = Stock { on_hand: next(50), held: 0, tracked: true };
            let stock = Stock { held: next(stock.on_hand + 1), ..stock };
            let cap = next(3).eq(&0).then(|| next(30));
            let d = Deal { held: 0, ..deal(cap, Some(1 + next(5))) };
            let requests: Vec<HoldRequest> = (0..next(40)).map(|_| ask(&format!("b{}", next(8)), next(12) - 1)).collect();
            let a = allocate(stock, Some(&d), &HashMap::new(), &requests);
            assert!(a.held <= stock.on_hand - stock.held, "{stock:?} {a:?}");
            if let Some(cap) = cap {
                assert!(a.held <= cap);
            }
            let granted: i64 = requests.iter().zip(&a.outcomes).filter(|(_, o)| **o == Outcome::Held).map(|(r, _)| r.quantity).sum();
            assert_eq!(granted, a.held);
        }
    }
}
