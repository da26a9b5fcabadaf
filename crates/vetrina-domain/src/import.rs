//! Catalogue imports and exports: Shopify's product CSV, Shopify's `products.json`, and our CSV
//! export (Shopify's column layout, so an export imports back into Vetrina or into Shopify).
//!
//! Parsing is all or nothing: either every row becomes a [`ProductInput`] or the caller gets every
//! problem found, each with the line (CSV) or path (JSON) and the reason. Nothing here stores.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::catalogue::{ImageInput, Product, ProductInput, ProductStatus, VariantInput};
use crate::money::Currency;

/// Import stops collecting problems after this many; the first ones are what a person fixes first.
const MAX_PROBLEMS: usize = 50;

/// One thing wrong with the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportProblem {
    /// 1-based line of the CSV file where the row starts (CSV imports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Where in the document (JSON imports), such as `products/2/variants/0/price`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub reason: String,
}

/// What an import made of its input: the products, and warnings that did not stop it.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub products: Vec<ProductInput>,
    pub warnings: Vec<String>,
}

/// The columns of a Shopify product CSV we read (the 2025 layout; older exports name them alike).
struct Columns {
    index: HashMap<String, usize>,
}

impl Columns {
    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        self.index.get(name).and_then(|&i| record.get(i)).map(str::trim).unwrap_or("")
    }

    fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
}

struct Building {
    product: ProductInput,
    line: u64,
    /// Images with their declared positions, sorted at the end.
    images: Vec<(i64, u64, ImageInput)>,
}

/// Parses a Shopify product CSV export. Prices are read in `currency` (the organisation's).
pub fn shopify_csv(data: &[u8], currency: &Currency) -> Result<Parsed, Vec<ImportProblem>> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(data);
    let at_line = |line: u64, reason: String| ImportProblem { line: Some(line), path: None, reason };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![at_line(1, format!("the header row cannot be read: {}", csv_reason(&e)))]),
    };
    let columns = Columns { index: headers.iter().enumerate().map(|(i, h)| (h.trim().to_string(), i)).collect() };
    for required in ["Handle", "Title", "Variant Price"] {
        if !columns.has(required) {
            return Err(vec![at_line(1, format!("the header row has no {required:?} column: is this a Shopify product export?"))]);
        }
    }
    let has_qty = columns.has("Variant Inventory Qty");
    let mut problems = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut products: HashMap<String, Building> = HashMap::new();
    let mut n_unknown_stock = 0;

    for result in reader.records() {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(at_line(line, csv_reason(&e)));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let col = |name: &str| columns.get(&record, name);
        let handle = col("Handle");
        if handle.is_empty() {
            problems.push(at_line(line, "Handle is empty: every row names the product it belongs to".into()));
            continue;
        }
        let building = match products.get_mut(handle) {
            Some(b) => b,
            None => {
                let title = col("Title");
                if title.is_empty() {
                    problems.push(at_line(line, format!("the first row of {handle:?} has no Title")));
                    continue;
                }
                let mut options = Vec::new();
                for n in 1..=3 {
                    let name = col(&format!("Option{n} Name"));
                    if !name.is_empty() {
                        options.push(name.to_string());
                    }
                }
                if options == ["Title"] && col("Option1 Value") == "Default Title" {
                    options.clear();
                }
                let status = if columns.has("Status") {
                    match ProductStatus::parse("Status", col("Status")) {
                        Ok(s) => s,
                        Err(e) => {
                            problems.push(at_line(line, e.to_string()));
                            continue;
                        }
                    }
                } else if col("Published").eq_ignore_ascii_case("false") {
                    ProductStatus::Draft
                } else {
                    ProductStatus::Active
                };
                let product = ProductInput {
                    handle: Some(handle.to_string()),
                    title: title.to_string(),
                    description_html: col("Body (HTML)").to_string(),
                    vendor: col("Vendor").to_string(),
                    product_type: col("Type").to_string(),
                    tags: split_tags(col("Tags")),
                    status,
                    options,
                    variants: Vec::new(),
                    images: Vec::new(),
                };
                order.push(handle.to_string());
                products.entry(handle.to_string()).or_insert(Building { product, line, images: Vec::new() })
            }
        };

        let image_src = col("Image Src");
        if !image_src.is_empty() {
            let position = match col("Image Position") {
                "" => i64::MAX,
                p => match p.parse::<i64>() {
                    Ok(p) => p,
                    Err(_) => {
                        problems.push(at_line(line, format!("Image Position {p:?} is not a whole number")));
                        continue;
                    }
                },
            };
            if !building.images.iter().any(|(_, _, i)| i.src == image_src) {
                let image = ImageInput { src: image_src.to_string(), alt: col("Image Alt Text").to_string() };
                building.images.push((position, line, image));
            }
        }

        let n_options = building.product.options.len();
        let values: Vec<String> = (1..=3).map(|n| col(&format!("Option{n} Value")).to_string()).collect();
        let is_variant_row = !col("Variant Price").is_empty() || !col("Variant SKU").is_empty() || values.iter().any(|v| !v.is_empty());
        if !is_variant_row {
            continue;
        }
        let option_values: Vec<String> = values.into_iter().take(n_options).collect();
        if let Some(missing) = option_values.iter().position(String::is_empty) {
            problems.push(at_line(line, format!("the variant has no value for option {:?}", building.product.options[missing])));
            continue;
        }
        let price_minor = match col("Variant Price") {
            "" => {
                problems.push(at_line(line, "Variant Price is empty: every variant needs a price".into()));
                continue;
            }
            p => match currency.parse_amount("Variant Price", p) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(at_line(line, e.to_string()));
                    continue;
                }
            },
        };
        let compare_at_minor = match col("Variant Compare At Price") {
            "" => None,
            p => match currency.parse_amount("Variant Compare At Price", p) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(at_line(line, e.to_string()));
                    continue;
                }
            },
        };
        let track_stock = !col("Variant Inventory Tracker").is_empty() || !columns.has("Variant Inventory Tracker");
        let stock = match col("Variant Inventory Qty") {
            "" => {
                if track_stock {
                    n_unknown_stock += 1;
                }
                0
            }
            q => match q.parse::<i64>() {
                // Shopify lets stock go negative when overselling is allowed; we count what is left.
                Ok(q) => q.clamp(0, crate::catalogue::MAX_STOCK),
                Err(_) => {
                    problems.push(at_line(line, format!("Variant Inventory Qty {q:?} is not a whole number")));
                    continue;
                }
            },
        };
        let grams = match col("Variant Grams") {
            "" => None,
            g => match g.parse::<f64>() {
                Ok(g) if (0.0..=10_000_000.0).contains(&g) => Some(g.round() as i64),
                _ => {
                    problems.push(at_line(line, format!("Variant Grams {g:?} is not a weight in grams")));
                    continue;
                }
            },
        };
        if building.product.variants.iter().any(|v| v.option_values == option_values) {
            problems.push(at_line(line, format!("the variant {option_values:?} of {handle:?} appears twice")));
            continue;
        }
        let variant_image = col("Variant Image");
        building.product.variants.push(VariantInput {
            id: None,
            sku: col("Variant SKU").to_string(),
            option_values,
            price_minor,
            compare_at_minor,
            stock,
            track_stock,
            barcode: col("Variant Barcode").trim_start_matches('\'').to_string(),
            grams,
            shopify_variant_id: None,
            image_src: (!variant_image.is_empty()).then(|| variant_image.to_string()),
        });
    }

    let mut parsed = Parsed::default();
    for handle in order {
        let Some(mut b) = products.remove(&handle) else { continue };
        b.images.sort_by_key(|(pos, line, _)| (*pos, *line));
        b.product.images = b.images.into_iter().map(|(_, _, i)| i).collect();
        // Check every rule the catalogue has, so the store never sees a product it would refuse.
        match b.product.clone().validate(currency) {
            Ok(_) => parsed.products.push(b.product),
            Err(e) => problems.push(at_line(b.line, format!("product {handle:?}: {e}"))),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        problems.truncate(MAX_PROBLEMS);
        return Err(problems);
    }
    if parsed.products.is_empty() {
        return Err(vec![at_line(1, "the file has no products".into())]);
    }
    if n_unknown_stock > 0 {
        let why = if has_qty { "an empty Variant Inventory Qty" } else { "no Variant Inventory Qty column in the file" };
        parsed.warnings.push(format!("{n_unknown_stock} tracked variants had {why}: their stock was set to 0 (sold out) until you set it"));
    }
    Ok(parsed)
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("the row has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8 text".to_string(),
        _ => format!("the row cannot be read as CSV: {e}"),
    }
}

fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Parses a Shopify `products.json` document (`{"products": [...]}`, as the storefront's
/// `/products.json` and the Admin REST API return it). Shopify's variant ids are kept.
pub fn shopify_json(data: &[u8], currency: &Currency) -> Result<Parsed, Vec<ImportProblem>> {
    let at = |path: String, reason: String| ImportProblem { line: None, path: Some(path), reason };
    let doc: Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![ImportProblem { line: Some(e.line() as u64), path: None, reason: format!("not valid JSON: {e}") }]);
        }
    };
    let Some(items) = doc.get("products").and_then(Value::as_array) else {
        return Err(vec![at(String::new(), "expected an object with a \"products\" array".into())]);
    };
    let mut problems = Vec::new();
    let mut parsed = Parsed::default();
    for (i, p) in items.iter().enumerate() {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        match json_product(p, currency) {
            Ok(product) => match product.clone().validate(currency) {
                Ok(_) => parsed.products.push(product),
                Err(e) => problems.push(at(format!("products/{i}/{}", e.field), e.reason)),
            },
            Err((path, reason)) => problems.push(at(format!("products/{i}{path}"), reason)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if parsed.products.is_empty() {
        return Err(vec![at("products".into(), "the document has no products".into())]);
    }
    Ok(parsed)
}

type JsonProblem = (String, String);

fn json_str(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn json_product(p: &Value, currency: &Currency) -> Result<ProductInput, JsonProblem> {
    if !p.is_object() {
        return Err((String::new(), "expected a product object".into()));
    }
    let title = json_str(p, "title");
    if title.trim().is_empty() {
        return Err(("/title".into(), "a product needs a title".into()));
    }
    let tags = match p.get("tags") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(s)) => split_tags(s),
        _ => Vec::new(),
    };
    let mut options: Vec<String> = p
        .get("options")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|o| if o.is_string() { o.as_str().unwrap_or("").to_string() } else { json_str(o, "name") }).collect())
        .unwrap_or_default();
    let variants_json = p.get("variants").and_then(Value::as_array).cloned().unwrap_or_default();
    let is_default = options == ["Title"] && variants_json.len() == 1 && json_str(&variants_json[0], "option1") == "Default Title";
    if is_default {
        options.clear();
    }
    let images_json = p.get("images").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut images: Vec<(i64, ImageInput, Vec<String>)> = Vec::new();
    for (j, img) in images_json.iter().enumerate() {
        let src = json_str(img, "src");
        if src.is_empty() {
            return Err((format!("/images/{j}/src"), "an image needs a src".into()));
        }
        let position = img.get("position").and_then(Value::as_i64).unwrap_or(j as i64 + 1);
        let variant_ids = img
            .get("variant_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.to_string().trim_matches('"').to_string()).collect())
            .unwrap_or_default();
        images.push((position, ImageInput { src, alt: json_str(img, "alt") }, variant_ids));
    }
    images.sort_by_key(|(pos, _, _)| *pos);
    let mut variants = Vec::new();
    for (j, v) in variants_json.iter().enumerate() {
        let at = |f: &str| format!("/variants/{j}/{f}");
        let price = json_str(v, "price");
        let price_minor = currency.parse_amount("price", &price).map_err(|e| (at("price"), e.reason))?;
        let compare_at_minor = match json_str(v, "compare_at_price").as_str() {
            "" => None,
            c => Some(currency.parse_amount("compare_at_price", c).map_err(|e| (at("compare_at_price"), e.reason))?),
        };
        let option_values = (1..=options.len()).map(|n| json_str(v, &format!("option{n}"))).collect();
        let id = json_str(v, "id");
        let (stock, track_stock) = match v.get("inventory_quantity").and_then(Value::as_i64) {
            Some(q) => (q.clamp(0, crate::catalogue::MAX_STOCK), v.get("inventory_management").is_none_or(|m| !m.is_null())),
            // The storefront document has no quantities, only "available".
            None => {
                let available = v.get("available").and_then(Value::as_bool).unwrap_or(true);
                (if available { 1 } else { 0 }, true)
            }
        };
        let image_src = images.iter().find(|(_, _, ids)| ids.contains(&id)).map(|(_, i, _)| i.src.clone());
        variants.push(VariantInput {
            id: None,
            sku: json_str(v, "sku"),
            option_values,
            price_minor,
            compare_at_minor,
            stock,
            track_stock,
            barcode: json_str(v, "barcode"),
            grams: v.get("grams").and_then(Value::as_i64),
            shopify_variant_id: (!id.is_empty()).then_some(id),
            image_src,
        });
    }
    Ok(ProductInput {
        handle: Some(json_str(p, "handle")).filter(|h| !h.is_empty()),
        title,
        description_html: json_str(p, "body_html"),
        vendor: json_str(p, "vendor"),
        product_type: json_str(p, "product_type"),
        tags,
        status: ProductStatus::parse("status", &json_str(p, "status")).map_err(|e| ("/status".to_string(), e.reason))?,
        options,
        variants,
        images: images.into_iter().map(|(_, i, _)| i).collect(),
    })
}

/// The columns our export writes, in Shopify's order, so the file imports back here and into Shopify.
const EXPORT_COLUMNS: [&str; 26] = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Variant Image",
    "Status",
];

/// Writes products as a Shopify-layout product CSV.
pub fn export_csv(products: &[Product]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing into a Vec cannot fail; the csv crate only reports I/O errors of the sink.
    w.write_record(EXPORT_COLUMNS).expect("writing to a Vec");
    for p in products {
        let n_rows = p.variants.len().max(p.images.len());
        for row in 0..n_rows {
            let mut r: Vec<String> = vec![String::new(); EXPORT_COLUMNS.len()];
            r[0] = p.handle.clone();
            if row == 0 {
                r[1] = p.title.clone();
                r[2] = p.description_html.clone();
                r[3] = p.vendor.clone();
                r[4] = p.product_type.clone();
                r[5] = p.tags.join(", ");
                r[6] = (p.status == ProductStatus::Active).to_string();
                if p.options.is_empty() {
                    r[7] = "Title".into();
                } else {
                    for (n, name) in p.options.iter().enumerate() {
                        r[7 + 2 * n] = name.clone();
                    }
                }
                r[25] = p.status.as_str().into();
            }
            if let Some(v) = p.variants.get(row) {
                if p.options.is_empty() {
                    r[8] = "Default Title".into();
                } else {
                    for (n, value) in v.option_values.iter().enumerate() {
                        r[8 + 2 * n] = value.clone();
                    }
                }
                r[13] = v.sku.clone();
                r[14] = v.grams.map(|g| g.to_string()).unwrap_or_default();
                if v.track_stock {
                    r[15] = "shopify".into();
                    r[16] = v.stock.to_string();
                }
                r[17] = "deny".into();
                r[18] = p.currency.format_amount(v.price_minor);
                r[19] = v.compare_at_minor.map(|c| p.currency.format_amount(c)).unwrap_or_default();
                r[20] = v.barcode.clone();
                r[24] = v.image_src.clone().unwrap_or_default();
            }
            if let Some(img) = p.images.get(row) {
                r[21] = img.src.clone();
                r[22] = (row + 1).to_string();
                r[23] = img.alt.clone();
            }
            w.write_record(&r).expect("writing to a Vec");
        }
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    const REAL: &[u8] = include_bytes!("../../../testdata/shopify/blessed-dressed-products_export.csv");

    #[test]
    fn takes_the_real_shopify_export() {
        let parsed = shopify_csv(REAL, &eur()).unwrap();
        assert_eq!(parsed.products.len(), 7);
        let suit = parsed.products.iter().find(|p| p.variants.len() == 7).expect("the suit with 7 sizes");
        assert_eq!(suit.options, ["Size", "Sleeve length type"]);
        assert_eq!(suit.variants[1].option_values, ["34", "long"]);
        assert_eq!(suit.variants[1].grams, Some(4000));
        assert_eq!(suit.images.len(), 5);
        let tie = &parsed.products[0];
        assert_eq!(tie.title, "Blue/Gold 100% Silk Tie");
        assert!(tie.options.is_empty());
        assert_eq!(tie.variants[0].price_minor, 4500);
        assert_eq!(tie.variants[0].compare_at_minor, Some(6999));
        assert_eq!(tie.images.len(), 3);
        assert!(tie.images[0].src.contains("IMG_8673.jpg"));
        assert!(tie.images[2].src.contains("IMG_8688.jpg"));
        assert!(parsed.warnings[0].contains("no Variant Inventory Qty column"), "{:?}", parsed.warnings);
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let csv = "Handle,Title,Option1 Name,Option1 Value,Variant Price\n\
                   a,A,Size,S,10.00\n\
                   a,,,M,ten\n\
                   ,B,,,1\n\
                   \"c\",\"C\nwith a line break\",,,\n";
        let problems = shopify_csv(csv.as_bytes(), &eur()).unwrap_err();
        let lines: Vec<_> = problems.iter().map(|p| (p.line.unwrap(), p.reason.clone())).collect();
        assert_eq!(lines[0].0, 3, "{lines:?}");
        assert!(lines[0].1.contains("\"ten\" is not a price"), "{lines:?}");
        assert_eq!(lines[1].0, 4);
        assert!(lines[1].1.contains("Handle is empty"));
        assert_eq!(lines[2].0, 5);
        assert!(lines[2].1.contains("at least one variant"), "{lines:?}");
    }

    #[test]
    fn not_a_shopify_file() {
        let problems = shopify_csv(b"name,price\nx,1\n", &eur()).unwrap_err();
        assert!(problems[0].reason.contains("no \"Handle\" column"));
        let problems = shopify_csv(b"Handle,Title,Variant Price\nx,1\n", &eur()).unwrap_err();
        assert!(problems[0].reason.contains("the row has 2 fields but the header has 3"), "{problems:?}");
    }

    #[test]
    fn shopify_json_keeps_variant_ids() {
        let doc = br#"{"products":[{"id":1,"title":"Borsa","handle":"borsa","body_html":"<p>Pelle</p>","vendor":"Bottega",
            "product_type":"Bags","tags":["pelle","estate"],"options":[{"name":"Colore","position":1,"values":["Nero","Cuoio"]}],
            "variants":[{"id":40001,"option1":"Nero","price":"189.00","sku":"B-N","inventory_quantity":4,"inventory_management":"shopify"},
                        {"id":40002,"option1":"Cuoio","price":"189.00","compare_at_price":"229.00","available":false}],
            "images":[{"src":"https://cdn.example.com/b2.jpg","position":2,"variant_ids":[40002]},{"src":"https://cdn.example.com/b1.jpg","position":1}]}]}"#;
        let parsed = shopify_json(doc, &eur()).unwrap();
        let p = &parsed.products[0];
        assert_eq!(p.variants[0].shopify_variant_id.as_deref(), Some("40001"));
        assert_eq!(p.variants[0].stock, 4);
        assert_eq!(p.variants[1].stock, 0);
        assert_eq!(p.variants[1].compare_at_minor, Some(22900));
        assert_eq!(p.images[0].src, "https://cdn.example.com/b1.jpg");
        assert_eq!(p.variants[1].image_src.as_deref(), Some("https://cdn.example.com/b2.jpg"));

        let bad = br#"{"products":[{"title":"X","variants":[{"price":"abc"}]}]}"#;
        let problems = shopify_json(bad, &eur()).unwrap_err();
        assert_eq!(problems[0].path.as_deref(), Some("products/0/variants/0/price"));
        assert!(shopify_json(b"{not json", &eur()).unwrap_err()[0].reason.contains("not valid JSON"));
    }
}
