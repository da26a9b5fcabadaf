//! The catalogue: products, their variants (the buyable things) and images.
//!
//! [`ProductInput`] is what a person or an importer sends; [`ProductInput::validate`] turns it into
//! a [`ValidProduct`] or says exactly which field is wrong. [`Product`] is what the store returns.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Invalid;
use crate::ids::{ImageId, OrgId, ProductId, VariantId};
use crate::money::{Currency, check_amount};
use crate::text;

pub const MAX_OPTIONS: usize = 3;
pub const MAX_VARIANTS: usize = 250;
pub const MAX_IMAGES: usize = 250;
pub const MAX_STOCK: i64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// On sale and visible on show pages.
    #[default]
    Active,
    /// Being prepared; not shown to viewers.
    Draft,
    /// No longer sold; kept for past orders and replays.
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Active => "active",
            ProductStatus::Draft => "draft",
            ProductStatus::Archived => "archived",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<ProductStatus, Invalid> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" | "" => Ok(ProductStatus::Active),
            "draft" => Ok(ProductStatus::Draft),
            "archived" => Ok(ProductStatus::Archived),
            other => Err(Invalid::new(field, format!("{other:?} is not a status: use active, draft or archived"))),
        }
    }
}

/// A product as sent by the console, the API or an importer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// URL-friendly name, unique in the organisation; made from the title when absent.
    #[serde(default)]
    pub handle: Option<String>,
    pub title: String,
    /// The description as HTML (as shops keep it). Pages show it as plain text.
    #[serde(default)]
    pub description_html: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub product_type: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub status: ProductStatus,
    /// Option names such as `["Size", "Colour"]`, at most three. Empty for a single-variant product.
    #[serde(default)]
    pub options: Vec<String>,
    pub variants: Vec<VariantInput>,
    /// Images known by URL (from an import). Uploaded images are added through their own route.
    #[serde(default)]
    pub images: Vec<ImageInput>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Set to keep an existing variant (and its stock history) when editing.
    #[serde(default)]
    pub id: Option<VariantId>,
    #[serde(default)]
    pub sku: String,
    /// One value per product option, in the same order (`["M", "Blu"]`).
    #[serde(default)]
    pub option_values: Vec<String>,
    /// Price in minor units of the product's currency (`4500` is 45.00 EUR).
    pub price_minor: i64,
    #[serde(default)]
    pub compare_at_minor: Option<i64>,
    /// Units available. Ignored when `track_stock` is false.
    #[serde(default)]
    pub stock: i64,
    /// When editing an existing variant: the stock the edit started from (what reading the
    /// product answered). The change (`stock - stock_was`) is then applied to the stock as it is
    /// now, so units sold meanwhile are not put back on sale by a form loaded before the sale.
    /// Absent: `stock` is set as it is.
    #[serde(default)]
    pub stock_was: Option<i64>,
    /// Whether stock is counted; untracked variants never sell out.
    #[serde(default = "yes")]
    pub track_stock: bool,
    #[serde(default)]
    pub barcode: String,
    #[serde(default)]
    pub grams: Option<i64>,
    /// Shopify's variant id, kept from an import so cart links into the Shopify shop can be built.
    #[serde(default)]
    pub shopify_variant_id: Option<String>,
    /// WooCommerce's product or variation id, kept for `?add-to-cart=` links into the shop.
    #[serde(default)]
    pub woocommerce_id: Option<String>,
    /// URL of the image that shows this variant.
    #[serde(default)]
    pub image_src: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub src: String,
    #[serde(default)]
    pub alt: String,
}

/// A product that passed every rule; the store writes it as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidProduct {
    pub handle: String,
    pub title: String,
    pub description_html: String,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub status: ProductStatus,
    pub currency: Currency,
    pub options: Vec<String>,
    pub variants: Vec<VariantInput>,
    pub images: Vec<ImageInput>,
}

impl ProductInput {
    /// Checks every rule and returns the product ready to store, or the first field that is wrong.
    pub fn validate(self, currency: &Currency) -> Result<ValidProduct, Invalid> {
        let title = text::required("title", &self.title, 255)?;
        let handle = match self.handle.as_deref().map(str::trim) {
            Some(h) if !h.is_empty() => handle(h)?,
            _ => text::slugify(&title),
        };
        let description_html = text::limit("description_html", &self.description_html, 65_536)?;
        let vendor = text::limit("vendor", &self.vendor, 255)?;
        let product_type = text::limit("product_type", &self.product_type, 255)?;
        if self.tags.len() > 250 {
            return Err(Invalid::new("tags", "at most 250 tags"));
        }
        let mut tags = Vec::new();
        for (i, tag) in self.tags.iter().enumerate() {
            let tag = text::limit(&format!("tags/{i}"), tag, 255)?;
            if !tag.is_empty() && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if self.options.len() > MAX_OPTIONS {
            return Err(Invalid::new("options", format!("at most {MAX_OPTIONS} options (such as Size, Colour, Material)")));
        }
        let mut options = Vec::new();
        for (i, name) in self.options.iter().enumerate() {
            let name = text::required(&format!("options/{i}"), name, 255)?;
            if options.iter().any(|o: &String| o.eq_ignore_ascii_case(&name)) {
                return Err(Invalid::new(format!("options/{i}"), format!("option {name:?} appears twice")));
            }
            options.push(name);
        }
        if self.variants.is_empty() {
            return Err(Invalid::new("variants", "a product needs at least one variant (its price and stock)"));
        }
        if self.variants.len() > MAX_VARIANTS {
            return Err(Invalid::new("variants", format!("at most {MAX_VARIANTS} variants")));
        }
        let mut variants: Vec<VariantInput> = Vec::with_capacity(self.variants.len());
        for (i, v) in self.variants.into_iter().enumerate() {
            let at = |f: &str| format!("variants/{i}/{f}");
            if v.option_values.len() != options.len() {
                return Err(Invalid::new(
                    at("option_values"),
                    format!("has {} values but the product has {} options", v.option_values.len(), options.len()),
                ));
            }
            let mut option_values = Vec::new();
            for (j, value) in v.option_values.iter().enumerate() {
                option_values.push(text::required(&format!("variants/{i}/option_values/{j}"), value, 255)?);
            }
            if variants.iter().any(|o| o.option_values == option_values) {
                return Err(Invalid::new(at("option_values"), format!("{option_values:?} is the same as another variant's")));
            }
            let price_minor = check_amount(&at("price_minor"), v.price_minor)?;
            let compare_at_minor = v.compare_at_minor.map(|c| check_amount(&at("compare_at_minor"), c)).transpose()?;
            if !(0..=MAX_STOCK).contains(&v.stock) {
                return Err(Invalid::new(at("stock"), format!("{} is out of range: stock is between 0 and {MAX_STOCK}", v.stock)));
            }
            if let Some(g) = v.grams
                && !(0..=10_000_000).contains(&g)
            {
                return Err(Invalid::new(at("grams"), format!("{g} is out of range")));
            }
            let image_src = v.image_src.as_deref().map(|s| url(&at("image_src"), s)).transpose()?;
            let shopify_variant_id = shop_id(&at("shopify_variant_id"), v.shopify_variant_id.as_deref(), "Shopify variant")?;
            let woocommerce_id = shop_id(&at("woocommerce_id"), v.woocommerce_id.as_deref(), "WooCommerce product")?;
            let stock_was = if v.id.is_some() { v.stock_was } else { None };
            variants.push(VariantInput {
                id: v.id,
                sku: text::limit(&at("sku"), &v.sku, 255)?,
                option_values,
                price_minor,
                compare_at_minor,
                stock: v.stock,
                stock_was,
                track_stock: v.track_stock,
                barcode: text::limit(&at("barcode"), &v.barcode, 255)?,
                grams: v.grams,
                shopify_variant_id,
                woocommerce_id,
                image_src,
            });
        }
        if self.images.len() > MAX_IMAGES {
            return Err(Invalid::new("images", format!("at most {MAX_IMAGES} images")));
        }
        let mut images = Vec::new();
        for (i, img) in self.images.into_iter().enumerate() {
            images.push(ImageInput {
                src: url(&format!("images/{i}/src"), &img.src)?,
                alt: text::limit(&format!("images/{i}/alt"), &img.alt, 512)?,
            });
        }
        Ok(ValidProduct {
            handle,
            title,
            description_html,
            vendor,
            product_type,
            tags,
            status: self.status,
            currency: currency.clone(),
            options,
            variants,
            images,
        })
    }
}

/// A shop's numeric id (Shopify variant, WooCommerce product), or none.
fn shop_id(field: &str, id: Option<&str>, what: &str) -> Result<Option<String>, Invalid> {
    match id.map(str::trim) {
        Some(id) if !id.is_empty() => {
            if !id.bytes().all(|b| b.is_ascii_digit()) || id.len() > 20 {
                return Err(Invalid::new(field, format!("{id:?} is not a {what} id (digits)")));
            }
            Ok(Some(id.to_string()))
        }
        _ => Ok(None),
    }
}

/// A product handle: what Shopify calls it, unique per organisation, no spaces.
pub fn handle(value: &str) -> Result<String, Invalid> {
    let value = text::required("handle", value, 255)?;
    if value.chars().any(|c| c.is_whitespace() || c == '/' || c == '?' || c == '#') {
        return Err(Invalid::new("handle", format!("{value:?} must not contain spaces, '/', '?' or '#'")));
    }
    Ok(value.to_lowercase())
}

/// An absolute http(s) URL, as image sources are.
pub fn url(field: &str, value: &str) -> Result<String, Invalid> {
    let value = text::required(field, value, 2048)?;
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) && !rest.contains(['"', '<', '>']) => Ok(value),
        _ if value.starts_with("/media/") && !value.contains(['"', '<', '>', ' ']) => Ok(value),
        _ => Err(Invalid::new(field, format!("{value:?} is not an http(s) URL"))),
    }
}

/// A product as stored, with its variants and images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: ProductId,
    pub org_id: OrgId,
    pub handle: String,
    pub title: String,
    pub description_html: String,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub status: ProductStatus,
    pub currency: Currency,
    pub options: Vec<String>,
    pub variants: Vec<Variant>,
    pub images: Vec<Image>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    pub id: VariantId,
    pub sku: String,
    pub option_values: Vec<String>,
    /// A readable name such as "M / Blu" (or "Default" for a single-variant product).
    pub title: String,
    pub price_minor: i64,
    pub compare_at_minor: Option<i64>,
    pub stock: i64,
    /// Units of `stock` in buyers' carts now (until checkout or their hold expires).
    #[serde(default)]
    pub held: i64,
    pub track_stock: bool,
    pub barcode: String,
    pub grams: Option<i64>,
    pub shopify_variant_id: Option<String>,
    pub woocommerce_id: Option<String>,
    pub image_src: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    pub id: ImageId,
    /// Where a browser loads it: an absolute URL (imported) or `/media/...` (uploaded).
    pub src: String,
    pub alt: String,
    pub position: i64,
}

impl Product {
    /// The lowest variant price, which listings show as "from".
    pub fn price_from_minor(&self) -> i64 {
        self.variants.iter().map(|v| v.price_minor).min().unwrap_or(0)
    }

    /// Units on sale across variants, or `None` when some variant is untracked (never sells out).
    pub fn total_stock(&self) -> Option<i64> {
        self.variants.iter().map(|v| v.track_stock.then_some(v.stock)).sum()
    }
}

/// A variant's readable name from its option values.
pub fn variant_title(option_values: &[String]) -> String {
    if option_values.is_empty() { "Default".to_string() } else { option_values.join(" / ") }
}

/// The description as plain text: tags dropped, the common entities decoded, whitespace folded.
/// Pages render descriptions as text, so imported HTML never runs in a viewer's browser.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn variant(values: &[&str], price: i64) -> VariantInput {
        VariantInput {
            option_values: values.iter().map(|s| s.to_string()).collect(),
            price_minor: price,
            track_stock: true,
            ..Default::default()
        }
    }

    #[test]
    fn validates_products() {
        let ok = ProductInput {
            title: "Giacca di lino".into(),
            options: vec!["Taglia".into()],
            variants: vec![variant(&["S"], 12900), variant(&["M"], 12900)],
            ..Default::default()
        };
        let valid = ok.clone().validate(&eur()).unwrap();
        assert_eq!(valid.handle, "giacca-di-lino");

        let check = |p: ProductInput, field: &str| {
            let err = p.validate(&eur()).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        };
        check(ProductInput { title: " ".into(), ..ok.clone() }, "title");
        check(ProductInput { variants: vec![], ..ok.clone() }, "variants");
        check(ProductInput { variants: vec![variant(&["S"], 1), variant(&["S"], 2)], ..ok.clone() }, "variants/1/option_values");
        check(ProductInput { variants: vec![variant(&[], 1)], ..ok.clone() }, "variants/0/option_values");
        check(ProductInput { variants: vec![variant(&["S"], -1)], ..ok.clone() }, "variants/0/price_minor");
        check(ProductInput { variants: vec![VariantInput { stock: -3, ..variant(&["S"], 1) }], ..ok.clone() }, "variants/0/stock");
        check(
            ProductInput { images: vec![ImageInput { src: "javascript:alert(1)".into(), alt: String::new() }], ..ok.clone() },
            "images/0/src",
        );
        check(ProductInput { handle: Some("has space".into()), ..ok }, "handle");
    }

    #[test]
    fn descriptions_become_text() {
        assert_eq!(html_to_text("<p>Seta <b>100%</b> &amp; lino</p><script>x</script>"), "Seta 100% & lino x");
        assert_eq!(html_to_text("a<br>b"), "a b");
    }
}
