//! Products, variants and images.
//!
//! Writes of several products (an import) happen in one transaction: all land or none do.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use vetrina_domain::catalogue::{Image, Product, ProductStatus, ValidProduct, Variant, variant_title};
use vetrina_domain::ids::{ImageId, OrgId, ProductId, VariantId};
use vetrina_domain::money::Currency;

use crate::{Result, Store, StoreError, conflict_on_unique, found, json_list, new_id, now_ms, placeholders, to_json};

/// Which products a listing wants.
#[derive(Clone, Debug, Default)]
pub struct ProductQuery {
    /// Matches title, handle, vendor or a variant's SKU (case-insensitive substring).
    pub search: Option<String>,
    pub status: Option<ProductStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: Vec<ProductId>,
    pub updated: Vec<ProductId>,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn product_row(row: &AnyRow) -> Result<Product> {
    let status: String = row.try_get("status")?;
    let currency: String = row.try_get("currency")?;
    Ok(Product {
        id: ProductId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        handle: row.try_get("handle")?,
        title: row.try_get("title")?,
        description_html: row.try_get("description_html")?,
        vendor: row.try_get("vendor")?,
        product_type: row.try_get("product_type")?,
        tags: json_list(row, "tags")?,
        status: ProductStatus::parse("status", &status).map_err(corrupt)?,
        currency: Currency::parse(&currency).map_err(corrupt)?,
        options: json_list(row, "options")?,
        variants: Vec::new(),
        images: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn variant_row(row: &AnyRow) -> Result<Variant> {
    let option_values = json_list(row, "option_values")?;
    Ok(Variant {
        id: VariantId(row.try_get("id")?),
        sku: row.try_get("sku")?,
        title: variant_title(&option_values),
        option_values,
        price_minor: row.try_get("price_minor")?,
        compare_at_minor: row.try_get("compare_at_minor")?,
        stock: row.try_get("stock")?,
        held: row.try_get("held")?,
        track_stock: row.try_get::<i64, _>("track_stock")? != 0,
        barcode: row.try_get("barcode")?,
        grams: row.try_get("grams")?,
        shopify_variant_id: row.try_get("shopify_variant_id")?,
        woocommerce_id: row.try_get("woocommerce_id")?,
        image_src: row.try_get("image_src")?,
    })
}

fn image_row(row: &AnyRow) -> Result<Image> {
    Ok(Image { id: ImageId(row.try_get("id")?), src: row.try_get("src")?, alt: row.try_get("alt")?, position: row.try_get("position")? })
}

impl Store {
    /// Creates one product.
    pub async fn create_product(&self, org: &OrgId, product: ValidProduct) -> Result<Product> {
        let mut tx = self.begin_write().await?;
        let id = insert_product(&mut tx, org, &product).await?;
        tx.commit().await?;
        self.product(org, &id).await
    }

    /// Imports products all or nothing: a product whose handle exists is updated in place
    /// (variants matched by their option values keep their ids), others are created.
    pub async fn import_products(&self, org: &OrgId, products: Vec<ValidProduct>) -> Result<ImportOutcome> {
        let mut outcome = ImportOutcome::default();
        let mut tx = self.begin_write().await?;
        for product in products {
            let existing = sqlx::query("SELECT id FROM products WHERE org_id = $1 AND handle = $2")
                .bind(org.as_str())
                .bind(&product.handle)
                .fetch_optional(&mut *tx)
                .await?;
            match existing {
                Some(row) => {
                    let id = ProductId(row.try_get("id")?);
                    let mut product = product;
                    let current = variant_ids_by_options(&mut tx, &id).await?;
                    for v in &mut product.variants {
                        v.id = current.get(&v.option_values).cloned();
                    }
                    // Imported images replace the old imported ones; uploaded images stay.
                    sqlx::query("DELETE FROM images WHERE product_id = $1 AND blob_key IS NULL")
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    write_product(&mut tx, org, &id, &product).await?;
                    outcome.updated.push(id);
                }
                None => outcome.created.push(insert_product(&mut tx, org, &product).await?),
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Replaces a product's fields, variants and imported images. Variants sent with an id keep
    /// it; variants not sent are removed.
    pub async fn update_product(&self, org: &OrgId, id: &ProductId, product: ValidProduct) -> Result<Product> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM products WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let current: HashSet<VariantId> = variant_ids_by_options(&mut tx, id).await?.into_values().collect();
        for v in &product.variants {
            if let Some(vid) = &v.id
                && !current.contains(vid)
            {
                return Err(StoreError::Conflict(format!("variant {vid} is not a variant of product {id}")));
            }
        }
        write_product(&mut tx, org, id, &product).await?;
        tx.commit().await?;
        self.product(org, id).await
    }

    pub async fn delete_product(&self, org: &OrgId, id: &ProductId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let in_show = sqlx::query(
            "SELECT s.title FROM show_products sp JOIN shows s ON s.id = sp.show_id WHERE sp.product_id = $1 AND s.org_id = $2 LIMIT 1",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = in_show {
            let title: String = row.try_get("title")?;
            return Err(StoreError::Conflict(format!(
                "the product is in the line-up of the show {title:?}: remove it there first, or archive the product"
            )));
        }
        found(
            sqlx::query("DELETE FROM products WHERE id = $1 AND org_id = $2")
                .bind(id.as_str())
                .bind(org.as_str())
                .execute(&mut *tx)
                .await?,
        )?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn product(&self, org: &OrgId, id: &ProductId) -> Result<Product> {
        let mut found = self.products_by_ids(org, std::slice::from_ref(id)).await?;
        found.pop().ok_or(StoreError::NotFound)
    }

    /// The products of `org` with these ids, in the order given; unknown ids are skipped.
    pub async fn products_by_ids(&self, org: &OrgId, ids: &[ProductId]) -> Result<Vec<Product>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT * FROM products WHERE org_id = $1 AND id IN ({})", placeholders(2, ids.len()));
        let mut query = sqlx::query(&sql).bind(org.as_str());
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut products: HashMap<String, Product> = HashMap::new();
        for row in &rows {
            let p = product_row(row)?;
            products.insert(p.id.0.clone(), p);
        }
        let mut listed: Vec<Product> = ids.iter().filter_map(|id| products.remove(id.as_str())).collect();
        self.attach_parts(&mut listed).await?;
        Ok(listed)
    }

    /// A page of `org`'s products, by title, and the total count matching the query.
    pub async fn products(&self, org: &OrgId, q: &ProductQuery) -> Result<(Vec<Product>, i64)> {
        let mut filter = String::from("p.org_id = $1");
        let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| {
            let escaped = s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        if search.is_some() {
            filter.push_str(
                " AND (LOWER(p.title) LIKE $2 ESCAPE '\\' OR LOWER(p.handle) LIKE $2 ESCAPE '\\' OR LOWER(p.vendor) LIKE $2 ESCAPE '\\' \
                 OR EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND LOWER(v.sku) LIKE $2 ESCAPE '\\'))",
            );
        } else {
            filter.push_str(" AND $2 = ''");
        }
        if q.status.is_some() {
            filter.push_str(" AND p.status = $3");
        } else {
            filter.push_str(" AND $3 = ''");
        }
        let status = q.status.map(|s| s.as_str()).unwrap_or("");
        let search = search.unwrap_or_default();
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM products p WHERE {filter}"))
            .bind(org.as_str())
            .bind(&search)
            .bind(status)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(&format!("SELECT p.* FROM products p WHERE {filter} ORDER BY p.title, p.id LIMIT $4 OFFSET $5"))
            .bind(org.as_str())
            .bind(&search)
            .bind(status)
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(&self.pool)
            .await?;
        let mut products = rows.iter().map(product_row).collect::<Result<Vec<_>>>()?;
        self.attach_parts(&mut products).await?;
        Ok((products, total))
    }

    /// Every product of `org`, for exports.
    pub async fn all_products(&self, org: &OrgId) -> Result<Vec<Product>> {
        let (products, _) = self.products(org, &ProductQuery { limit: i64::MAX, ..Default::default() }).await?;
        Ok(products)
    }

    /// The ids of all of `org`'s products (to check references against).
    pub async fn product_ids(&self, org: &OrgId) -> Result<HashSet<ProductId>> {
        let rows = sqlx::query("SELECT id FROM products WHERE org_id = $1").bind(org.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(ProductId(r.try_get("id")?))).collect()
    }

    /// Adds an uploaded image (already stored under `blob_key`) at the end of the product's images.
    pub async fn add_image(&self, org: &OrgId, product: &ProductId, src: &str, blob_key: &str, alt: &str) -> Result<Image> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM products WHERE id = $1 AND org_id = $2")
            .bind(product.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let position: i64 = sqlx::query("SELECT COALESCE(MAX(position), 0) + 1 AS p FROM images WHERE product_id = $1")
            .bind(product.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("p")?;
        let id = new_id(ImageId::PREFIX);
        sqlx::query("INSERT INTO images (id, product_id, org_id, position, src, alt, blob_key) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(product.as_str())
            .bind(org.as_str())
            .bind(position)
            .bind(src)
            .bind(alt)
            .bind(blob_key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE products SET updated_at = $1 WHERE id = $2").bind(now_ms()).bind(product.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Image { id: ImageId(id), src: src.to_string(), alt: alt.to_string(), position })
    }

    /// Removes an image; returns its blob key (if uploaded) so the caller can delete the bytes.
    pub async fn delete_image(&self, org: &OrgId, product: &ProductId, image: &ImageId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT blob_key FROM images WHERE id = $1 AND product_id = $2 AND org_id = $3")
            .bind(image.as_str())
            .bind(product.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM images WHERE id = $1").bind(image.as_str()).execute(&self.pool).await?;
        Ok(row.try_get("blob_key")?)
    }

    async fn attach_parts(&self, products: &mut [Product]) -> Result<()> {
        if products.is_empty() {
            return Ok(());
        }
        let ids = placeholders(1, products.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, p) in products.iter().enumerate() {
            index.insert(p.id.0.clone(), i);
        }
        let variants_sql = format!("SELECT * FROM variants WHERE product_id IN ({ids}) ORDER BY product_id, position");
        let images_sql = format!("SELECT * FROM images WHERE product_id IN ({ids}) ORDER BY product_id, position");
        for (sql, is_variants) in [(variants_sql, true), (images_sql, false)] {
            let mut query = sqlx::query(&sql);
            for p in products.iter() {
                query = query.bind(p.id.0.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                let product_id: String = row.try_get("product_id")?;
                let Some(&i) = index.get(&product_id) else { continue };
                if is_variants {
                    products[i].variants.push(variant_row(&row)?);
                } else {
                    products[i].images.push(image_row(&row)?);
                }
            }
        }
        Ok(())
    }
}

async fn variant_ids_by_options(tx: &mut Transaction<'static, Any>, product: &ProductId) -> Result<HashMap<Vec<String>, VariantId>> {
    let rows =
        sqlx::query("SELECT id, option_values FROM variants WHERE product_id = $1").bind(product.as_str()).fetch_all(&mut **tx).await?;
    rows.iter().map(|r| Ok((json_list(r, "option_values")?, VariantId(r.try_get("id")?)))).collect()
}

async fn insert_product(tx: &mut Transaction<'static, Any>, org: &OrgId, p: &ValidProduct) -> Result<ProductId> {
    let id = ProductId(new_id(ProductId::PREFIX));
    let now = now_ms();
    sqlx::query(
        "INSERT INTO products (id, org_id, handle, title, description_html, vendor, product_type, tags, status, currency, options, created_at, updated_at) \
         VALUES ($1, $2, $3, '', '', '', '', '[]', 'draft', $4, '[]', $5, $5)",
    )
    .bind(id.as_str())
    .bind(org.as_str())
    .bind(&p.handle)
    .bind(p.currency.code())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a product with the handle {:?} already exists", p.handle)))?;
    write_product(tx, org, &id, p).await?;
    Ok(id)
}

/// Writes fields, variants (upserted by id, others removed) and URL images of an existing row.
async fn write_product(tx: &mut Transaction<'static, Any>, org: &OrgId, id: &ProductId, p: &ValidProduct) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE products SET handle = $1, title = $2, description_html = $3, vendor = $4, product_type = $5, tags = $6, \
         status = $7, currency = $8, options = $9, updated_at = $10 WHERE id = $11",
    )
    .bind(&p.handle)
    .bind(&p.title)
    .bind(&p.description_html)
    .bind(&p.vendor)
    .bind(&p.product_type)
    .bind(to_json(&p.tags))
    .bind(p.status.as_str())
    .bind(p.currency.code())
    .bind(to_json(&p.options))
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a product with the handle {:?} already exists", p.handle)))?;

    let keep: Vec<&str> = p.variants.iter().filter_map(|v| v.id.as_ref().map(VariantId::as_str)).collect();
    let existing = sqlx::query("SELECT id FROM variants WHERE product_id = $1").bind(id.as_str()).fetch_all(&mut **tx).await?;
    for row in existing {
        let vid: String = row.try_get("id")?;
        if !keep.contains(&vid.as_str()) {
            sqlx::query("DELETE FROM variants WHERE id = $1").bind(&vid).execute(&mut **tx).await?;
        }
    }
    for (position, v) in p.variants.iter().enumerate() {
        let vid = v.id.clone().unwrap_or_else(|| VariantId(new_id(VariantId::PREFIX)));
        if v.id.is_none() {
            sqlx::query(
                "INSERT INTO variants (id, product_id, org_id, position, sku, option_values, price_minor, stock, track_stock, barcode) \
                 VALUES ($1, $2, $3, 0, '', '[]', 0, 0, 1, '')",
            )
            .bind(vid.as_str())
            .bind(id.as_str())
            .bind(org.as_str())
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query(
            "UPDATE variants SET position = $1, sku = $2, option_values = $3, price_minor = $4, compare_at_minor = $5, \
             stock = CASE WHEN $15 < 0 THEN $6 ELSE stock + ($6 - $15) END, \
             track_stock = $7, barcode = $8, grams = $9, shopify_variant_id = $10, image_src = $11, woocommerce_id = $12 \
             WHERE id = $13 AND product_id = $14",
        )
        .bind(position as i64)
        .bind(&v.sku)
        .bind(to_json(&v.option_values))
        .bind(v.price_minor)
        .bind(v.compare_at_minor)
        .bind(v.stock)
        .bind(i64::from(v.track_stock))
        .bind(&v.barcode)
        .bind(v.grams)
        .bind(v.shopify_variant_id.as_deref())
        .bind(v.image_src.as_deref())
        .bind(v.woocommerce_id.as_deref())
        .bind(vid.as_str())
        .bind(id.as_str())
        // A relative change from the stock the edit started from (-1: set as sent).
        .bind(v.stock_was.filter(|_| v.id.is_some()).unwrap_or(-1).max(-1))
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            crate::conflict_on_check(e, || {
                format!("variants/{position}/stock: {} is fewer than the units buyers hold in their carts now", v.stock)
            })
        })?;
    }

    // URL images: keep those already there (by src), add the new ones, order as sent, uploads after.
    let rows = sqlx::query("SELECT id, src, blob_key FROM images WHERE product_id = $1 ORDER BY position")
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let mut by_src: HashMap<String, String> = HashMap::new();
    let mut uploads = Vec::new();
    for row in &rows {
        let image_id: String = row.try_get("id")?;
        match row.try_get::<Option<String>, _>("blob_key")? {
            Some(_) => uploads.push(image_id),
            None => {
                by_src.insert(row.try_get("src")?, image_id);
            }
        }
    }
    let mut position = 0_i64;
    for img in &p.images {
        position += 1;
        match by_src.remove(&img.src) {
            Some(image_id) => {
                sqlx::query("UPDATE images SET position = $1, alt = $2 WHERE id = $3")
                    .bind(position)
                    .bind(&img.alt)
                    .bind(&image_id)
                    .execute(&mut **tx)
                    .await?;
            }
            None => {
                sqlx::query("INSERT INTO images (id, product_id, org_id, position, src, alt) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(new_id(ImageId::PREFIX))
                    .bind(id.as_str())
                    .bind(org.as_str())
                    .bind(position)
                    .bind(&img.src)
                    .bind(&img.alt)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    for image_id in by_src.values() {
        sqlx::query("DELETE FROM images WHERE id = $1").bind(image_id).execute(&mut **tx).await?;
    }
    for image_id in uploads {
        position += 1;
        sqlx::query("UPDATE images SET position = $1 WHERE id = $2").bind(position).bind(&image_id).execute(&mut **tx).await?;
    }
    Ok(())
}
