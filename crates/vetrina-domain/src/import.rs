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
pub const MAX_PROBLEMS: usize = 50;

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

/// Windows-1252's characters for bytes 0x80 to 0x9F (the rest are ISO-8859-1's, which are
/// Unicode's first 256); the five bytes it leaves undefined read as their C1 controls.
const WINDOWS_1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–',
    '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// An upload's bytes as UTF-8, from the `charset` its `Content-Type` named (lower case): UTF-8
/// (or none, or US-ASCII) as it is; ISO-8859-1 and Windows-1252, which older spreadsheet
/// programs write, decoded. `None` for a charset not read here.
pub fn to_utf8<'a>(data: &'a [u8], charset: Option<&str>) -> Option<std::borrow::Cow<'a, [u8]>> {
    match charset {
        None | Some("utf-8" | "utf8" | "us-ascii") => Some(data.into()),
        // Labels of Latin-1 are read as Windows-1252, as the WHATWG Encoding Standard and every
        // browser do: files so labelled are written by Windows programs.
        Some("iso-8859-1" | "latin1" | "iso_8859-1" | "latin-1" | "l1" | "windows-1252" | "cp1252") => {
            let text: String = data
                .iter()
                .map(|&b| match b {
                    0x80..=0x9f => WINDOWS_1252_HIGH[usize::from(b - 0x80)],
                    b => char::from(b),
                })
                .collect();
            Some(text.into_bytes().into())
        }
        Some(_) => None,
    }
}

/// The columns of a Shopify product CSV we read (the 2025 layout; older exports name them alike).
struct Columns {
    index: HashMap<String, usize>,
    /// Numbers are written `1.234,50` (a file split by `;`, as spreadsheets in Italian save CSV).
    decimal_comma: bool,
}

impl Columns {
    /// A number cell, written as we read numbers (`1234.50`).
    fn number<'r>(&self, record: &'r csv::StringRecord, name: &str) -> std::borrow::Cow<'r, str> {
        let cell = self.get(record, name);
        if self.decimal_comma && cell.contains(',') { cell.replace('.', "").replace(',', ".").into() } else { cell.into() }
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        // Our export quotes cells that would read as formulas (`'=...`): read them as written.
        self.index.get(name).and_then(|&i| record.get(i)).map(|cell| crate::text::from_spreadsheet_cell(cell.trim()).trim()).unwrap_or("")
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

/// Opens a product CSV: skips a UTF-8 byte order mark, reads the header row, and checks the
/// columns `required` are there (`layout` names the export in the message when one is missing).
fn open_csv<'d>(data: &'d [u8], required: &[&str], layout: &str) -> Result<(csv::Reader<&'d [u8]>, Columns), Vec<ImportProblem>> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![at_line(1, "the file is empty".into())]);
    }
    let delimiter = delimiter(data);
    let mut reader = csv::ReaderBuilder::new().flexible(false).delimiter(delimiter).from_reader(data);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![at_line(1, format!("the header row cannot be read: {}", csv_reason(&e)))]),
    };
    let columns =
        Columns { index: headers.iter().enumerate().map(|(i, h)| (h.trim().to_string(), i)).collect(), decimal_comma: delimiter == b';' };
    for name in required {
        if !columns.has(name) {
            return Err(vec![at_line(1, format!("the header row has no {name:?} column: is this a {layout} product export?"))]);
        }
    }
    Ok((reader, columns))
}

/// How a CSV file splits its fields, from its header row: `,` (RFC 4180, Shopify, WooCommerce),
/// `;` (a spreadsheet saving CSV in a language whose decimal mark is a comma) or a tab.
fn delimiter(data: &[u8]) -> u8 {
    let header = data.split(|&b| b == b'\n').next().unwrap_or(data);
    let (mut quoted, mut counts) = (false, [0usize; 3]);
    for &b in header {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    match counts {
        [c, s, t] if s > c && s >= t => b';',
        [c, s, t] if t > c && t > s => b'\t',
        _ => b',',
    }
}

fn at_line(line: u64, reason: String) -> ImportProblem {
    ImportProblem { line: Some(line), path: None, reason }
}

/// Ends a CSV import: each product (with the line its row starts on) is checked against every
/// rule of the catalogue, so the store never sees one it would refuse; any problem fails it all.
fn finish_csv(
    products: Vec<(u64, ProductInput)>,
    mut problems: Vec<ImportProblem>,
    currency: &Currency,
) -> Result<Parsed, Vec<ImportProblem>> {
    let mut parsed = Parsed::default();
    for (line, product) in products {
        match product.clone().validate(currency) {
            Ok(_) => parsed.products.push(product),
            Err(e) => problems.push(at_line(line, format!("product {:?}: {e}", product.handle.as_deref().unwrap_or(&product.title)))),
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
    Ok(parsed)
}

/// Parses a Shopify product CSV export. Prices are read in `currency` (the organisation's).
pub fn shopify_csv(data: &[u8], currency: &Currency) -> Result<Parsed, Vec<ImportProblem>> {
    let (mut reader, columns) = open_csv(data, &["Handle", "Title", "Variant Price"], "Shopify")?;
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
        let price_minor = match columns.number(&record, "Variant Price").as_ref() {
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
        let compare_at_minor = match columns.number(&record, "Variant Compare At Price").as_ref() {
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
        let grams = match columns.number(&record, "Variant Grams").as_ref() {
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
            stock_was: None,
            track_stock,
            barcode: col("Variant Barcode").trim_start_matches('\'').to_string(),
            grams,
            shopify_variant_id: None,
            woocommerce_id: None,
            image_src: (!variant_image.is_empty()).then(|| variant_image.to_string()),
        });
    }

    let mut built = Vec::with_capacity(order.len());
    for handle in order {
        let Some(mut b) = products.remove(&handle) else { continue };
        b.images.sort_by_key(|(pos, line, _)| (*pos, *line));
        b.product.images = b.images.into_iter().map(|(_, _, i)| i).collect();
        built.push((b.line, b.product));
    }
    let mut parsed = finish_csv(built, problems, currency)?;
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
        csv::ErrorKind::Utf8 { .. } => {
            "the row is not UTF-8 text: save the file as \"CSV UTF-8\", or send it as \"text/csv; charset=windows-1252\"".to_string()
        }
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
            stock_was: None,
            track_stock,
            barcode: json_str(v, "barcode"),
            grams: v.get("grams").and_then(Value::as_i64),
            shopify_variant_id: (!id.is_empty()).then_some(id),
            woocommerce_id: None,
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

/// Which CSV layout a file is in, from its header row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvLayout {
    Shopify,
    WooCommerce,
}

/// Recognises a product CSV by its header: Shopify's (`Handle`) or WooCommerce's (`Type`,
/// `Regular price`). `None` when it is neither.
pub fn csv_layout(data: &[u8]) -> Option<CsvLayout> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter(data)).from_reader(data);
    let headers = reader.headers().ok()?;
    let has = |name: &str| headers.iter().any(|h| h.trim() == name);
    if has("Handle") {
        Some(CsvLayout::Shopify)
    } else if has("Type") && has("Regular price") {
        Some(CsvLayout::WooCommerce)
    } else {
        None
    }
}

/// Parses a product CSV in whichever layout its header shows.
pub fn product_csv(data: &[u8], currency: &Currency) -> Result<Parsed, Vec<ImportProblem>> {
    match csv_layout(data) {
        Some(CsvLayout::WooCommerce) => woocommerce_csv(data, currency),
        // Shopify's parser explains what a Shopify header lacks, which helps most people.
        _ => shopify_csv(data, currency),
    }
}

/// Parses a WooCommerce product CSV export (Products > Export). Simple products become one
/// variant; variable products take their variations (rows whose `Parent` is `id:<ID>` or the
/// parent's SKU). WooCommerce ids are kept for add-to-cart links into the shop.
pub fn woocommerce_csv(data: &[u8], currency: &Currency) -> Result<Parsed, Vec<ImportProblem>> {
    let (mut reader, columns) = open_csv(data, &["Type", "Name", "Regular price"], "WooCommerce")?;
    let mut problems = Vec::new();
    // Parents in file order, and where to find them by "id:<ID>" or SKU.
    let mut parents: Vec<(u64, ProductInput, bool)> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut variations: Vec<(u64, csv::StringRecord)> = Vec::new();
    let mut handles: HashMap<String, usize> = HashMap::new();
    let mut n_unknown_stock = 0;
    let price = |record: &csv::StringRecord, line: u64, problems: &mut Vec<ImportProblem>| -> Option<(i64, Option<i64>)> {
        let regular = columns.number(record, "Regular price");
        let sale = columns.number(record, "Sale price");
        let parse = |field: &str, text: &str| currency.parse_amount(field, text);
        match (regular.as_ref(), sale.as_ref()) {
            ("", "") => {
                problems.push(at_line(line, "Regular price is empty: every product needs a price".into()));
                None
            }
            (r, "") => parse("Regular price", r).map(|p| (p, None)).map_err(|e| problems.push(at_line(line, e.to_string()))).ok(),
            ("", s) => parse("Sale price", s).map(|p| (p, None)).map_err(|e| problems.push(at_line(line, e.to_string()))).ok(),
            (r, s) => match (parse("Regular price", r), parse("Sale price", s)) {
                (Ok(r), Ok(s)) => Some((s, (r > s).then_some(r))),
                (Err(e), _) | (_, Err(e)) => {
                    problems.push(at_line(line, e.to_string()));
                    None
                }
            },
        }
    };
    let stock = |record: &csv::StringRecord, line: u64, problems: &mut Vec<ImportProblem>, unknown: &mut i32| -> Option<(i64, bool)> {
        let in_stock = columns.get(record, "In stock?");
        match columns.get(record, "Stock") {
            // Stock not managed: "In stock?" says whether it sells at all.
            "" if in_stock == "0" => Some((0, true)),
            "" if columns.has("Stock") => Some((0, false)),
            "" => {
                *unknown += 1;
                Some((0, true))
            }
            q => match q.parse::<f64>() {
                Ok(q) => Some(((q.max(0.0) as i64).min(crate::catalogue::MAX_STOCK), true)),
                Err(_) => {
                    problems.push(at_line(line, format!("Stock {q:?} is not a whole number")));
                    None
                }
            },
        }
    };
    for result in reader.records() {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                problems.push(at_line(e.position().map_or(0, |p| p.line()), csv_reason(&e)));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let col = |name: &str| columns.get(&record, name);
        let kind = col("Type").to_ascii_lowercase();
        let kinds: Vec<&str> = kind.split(',').map(str::trim).collect();
        if kinds.contains(&"variation") {
            variations.push((line, record.clone()));
            continue;
        }
        if !(kinds.contains(&"simple") || kinds.contains(&"variable")) {
            // Grouped and external products sell nothing themselves.
            continue;
        }
        let name = col("Name");
        if name.is_empty() {
            problems.push(at_line(line, "Name is empty".into()));
            continue;
        }
        let mut handle = crate::text::slugify(name);
        let n = handles.entry(handle.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            handle = format!("{handle}-{n}");
        }
        let description = match (col("Description"), col("Short description")) {
            ("", short) => short.to_string(),
            (long, _) => long.to_string(),
        };
        let status = match col("Published") {
            "1" | "" => ProductStatus::Active,
            "-1" | "0" => ProductStatus::Draft,
            other => {
                problems.push(at_line(line, format!("Published {other:?} is not 1, 0 or -1")));
                continue;
            }
        };
        let mut tags = split_tags(col("Tags"));
        tags.extend(split_tags(col("Categories")).into_iter().map(|c| c.rsplit('>').next().unwrap_or("").trim().to_string()));
        let images = col("Images")
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|src| ImageInput { src: src.to_string(), alt: String::new() })
            .collect();
        let grams = col("Weight (kg)").parse::<f64>().ok().filter(|w| (0.0..=10_000.0).contains(w)).map(|w| (w * 1000.0).round() as i64);
        let mut product = ProductInput {
            handle: Some(handle),
            title: name.to_string(),
            description_html: description,
            vendor: String::new(),
            product_type: String::new(),
            tags,
            status,
            options: Vec::new(),
            variants: Vec::new(),
            images,
        };
        let is_variable = kinds.contains(&"variable");
        if is_variable {
            for n in 1..=3 {
                let name = col(&format!("Attribute {n} name"));
                if !name.is_empty() {
                    product.options.push(name.to_string());
                }
            }
        } else {
            let Some((price_minor, compare_at_minor)) = price(&record, line, &mut problems) else { continue };
            let Some((stock, track_stock)) = stock(&record, line, &mut problems, &mut n_unknown_stock) else { continue };
            product.variants.push(VariantInput {
                sku: col("SKU").to_string(),
                price_minor,
                compare_at_minor,
                stock,
                track_stock,
                grams,
                woocommerce_id: Some(col("ID").to_string()).filter(|id| !id.is_empty()),
                ..Default::default()
            });
        }
        let i = parents.len();
        if !col("ID").is_empty() {
            by_ref.insert(format!("id:{}", col("ID")), i);
        }
        if !col("SKU").is_empty() {
            by_ref.insert(col("SKU").to_string(), i);
        }
        parents.push((line, product, is_variable));
    }
    for (line, record) in variations {
        let col = |name: &str| columns.get(&record, name);
        let Some(&i) = by_ref.get(col("Parent")) else {
            problems.push(at_line(line, format!("the variation's Parent {:?} is not a variable product in this file", col("Parent"))));
            continue;
        };
        let Some((price_minor, compare_at_minor)) = price(&record, line, &mut problems) else { continue };
        let Some((stock, track_stock)) = stock(&record, line, &mut problems, &mut n_unknown_stock) else { continue };
        let product = &mut parents[i].1;
        let mut option_values = vec![String::new(); product.options.len()];
        for n in 1..=3 {
            let name = col(&format!("Attribute {n} name"));
            if name.is_empty() {
                continue;
            }
            match product.options.iter().position(|o| o.eq_ignore_ascii_case(name)) {
                Some(k) => option_values[k] = col(&format!("Attribute {n} value(s)")).to_string(),
                None => problems.push(at_line(line, format!("attribute {name:?} is not an attribute of {:?}", product.title))),
            }
        }
        if let Some(k) = option_values.iter().position(String::is_empty) {
            // WooCommerce's "any value" variations have no single value: name it so.
            option_values[k] = "Any".to_string();
        }
        product.variants.push(VariantInput {
            sku: col("SKU").to_string(),
            option_values,
            price_minor,
            compare_at_minor,
            stock,
            stock_was: None,
            track_stock,
            grams: col("Weight (kg)").parse::<f64>().ok().filter(|w| (0.0..=10_000.0).contains(w)).map(|w| (w * 1000.0).round() as i64),
            woocommerce_id: Some(col("ID").to_string()).filter(|id| !id.is_empty()),
            image_src: col("Images").split(',').next().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string),
            ..Default::default()
        });
    }
    let mut parsed = finish_csv(parents.into_iter().map(|(line, product, _)| (line, product)).collect(), problems, currency)?;
    if n_unknown_stock > 0 {
        parsed
            .warnings
            .push(format!("{n_unknown_stock} variants had no Stock column: their stock was set to 0 (sold out) until you set it"));
    }
    Ok(parsed)
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
    // RFC 4180: records end with CRLF.
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
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
            // No cell a spreadsheet would run as a formula (a title "=HYPERLINK(...)").
            w.write_record(r.iter().map(|c| crate::text::spreadsheet_cell(c).into_owned())).expect("writing to a Vec");
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
    fn a_spreadsheet_in_italian_saves_csv_with_semicolons_and_decimal_commas() {
        let eur = Currency::parse("EUR").unwrap();
        let saved = "Handle;Title;Tags;Variant Price;Variant Compare At Price;Variant Grams\r\n\
            borsa;\"Borsa; pelle\";\"estate, saldi\";1.234,50;1.500,00;850,4\r\n";
        let parsed = shopify_csv(saved.as_bytes(), &eur).unwrap();
        let product = &parsed.products[0];
        assert_eq!(product.title, "Borsa; pelle");
        assert_eq!(product.tags, ["estate", "saldi"]);
        let v = &product.variants[0];
        assert_eq!((v.price_minor, v.compare_at_minor, v.grams), (123_450, Some(150_000), Some(850)));
        assert_eq!(csv_layout(saved.as_bytes()), Some(CsvLayout::Shopify));
        // A comma file stays a comma file, whatever its cells hold.
        assert_eq!(delimiter(b"Handle,Title;x,Variant Price\n"), b',');
        assert_eq!(delimiter(b"\"a,b\";c;d\n"), b';');
        // Not UTF-8 and not labelled: the problem says how to save it.
        let latin = b"Handle,Title,Variant Price\ncaffe,Caff\xe8,5.00\n";
        let problems = shopify_csv(latin, &eur).unwrap_err();
        assert!(problems[0].reason.contains("CSV UTF-8"), "{problems:?}");
    }

    #[test]
    fn legacy_charsets_are_read() {
        let latin1 = b"Handle,Title\ncaff\xe8,Caff\xe8 \x80\n";
        assert_eq!(
            to_utf8(latin1, Some("iso-8859-1")).unwrap().as_ref(),
            "Handle,Title\ncaffè,Caffè €\n".as_bytes(),
            "as browsers read it"
        );
        assert_eq!(to_utf8(latin1, Some("windows-1252")).unwrap().as_ref(), "Handle,Title\ncaffè,Caffè €\n".as_bytes());
        assert_eq!(to_utf8("già".as_bytes(), None).unwrap().as_ref(), "già".as_bytes());
        assert!(to_utf8(b"x", Some("shift_jis")).is_none());
        // Our export's quoted formulas read back as written.
        assert_eq!(crate::text::from_spreadsheet_cell("'=1+1"), "=1+1");
        assert_eq!(crate::text::from_spreadsheet_cell("'quoted"), "'quoted");
        assert_eq!(crate::text::spreadsheet_cell("-5 off"), "'-5 off");
        assert_eq!(crate::text::spreadsheet_cell("-5"), "-5", "a number is no formula");
        assert_eq!(crate::text::spreadsheet_cell("+39 333"), "'+39 333");
        // A value that starts with a quote before such a character comes back as it was.
        for value in ["'-123", "=SUM(A1)", "'quoted", "@home", "-3.5", "''=x"] {
            let cell = crate::text::spreadsheet_cell(value);
            assert_eq!(crate::text::from_spreadsheet_cell(&cell), value, "{cell}");
        }
    }

    #[test]
    fn not_a_shopify_file() {
        let problems = shopify_csv(b"name,price\nx,1\n", &eur()).unwrap_err();
        assert!(problems[0].reason.contains("no \"Handle\" column"));
        let problems = shopify_csv(b"Handle,Title,Variant Price\nx,1\n", &eur()).unwrap_err();
        assert!(problems[0].reason.contains("the row has 2 fields but the header has 3"), "{problems:?}");
    }

    #[test]
    fn woocommerce_export() {
        let csv = include_bytes!("../../../testdata/woocommerce/wc-product-export.csv");
        assert_eq!(csv_layout(csv), Some(CsvLayout::WooCommerce));
        assert_eq!(csv_layout(REAL), Some(CsvLayout::Shopify));
        let parsed = product_csv(csv, &eur()).unwrap();
        assert_eq!(parsed.products.len(), 2, "{parsed:?}");
        let hoodie = &parsed.products[0];
        assert_eq!(hoodie.title, "Felpa con cappuccio");
        assert_eq!(hoodie.options, ["Colore", "Taglia"]);
        assert_eq!(hoodie.variants.len(), 3);
        assert_eq!(hoodie.variants[0].option_values, ["Blu", "M"]);
        assert_eq!(hoodie.variants[0].woocommerce_id.as_deref(), Some("44"));
        assert_eq!(hoodie.variants[0].price_minor, 4500);
        assert_eq!(hoodie.variants[0].compare_at_minor, Some(5500));
        assert_eq!(hoodie.variants[2].stock, 0);
        assert!(!hoodie.variants[1].track_stock, "stock not managed");
        let cap = &parsed.products[1];
        assert_eq!(cap.variants[0].price_minor, 1800);
        assert_eq!(cap.variants[0].stock, 12);
        assert_eq!(cap.images.len(), 2);
        assert_eq!(cap.status, ProductStatus::Active);

        let bad = b"ID,Type,SKU,Name,Published,Regular price,Parent,Attribute 1 name,Attribute 1 value(s)\n\
                    50,variation,x,X,1,abc,id:999,Colore,Blu\n";
        let problems = woocommerce_csv(bad, &eur()).unwrap_err();
        assert_eq!(problems[0].line, Some(2));
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
