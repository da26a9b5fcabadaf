//! A shop's discount codes (their use at checkout is in `orders`).

use sqlx::Row;
use sqlx::any::AnyRow;
use vetrina_domain::ids::OrgId;
use vetrina_domain::shop::DiscountCode;

use crate::{Result, Store, StoreError, conflict_on_unique, found};

pub(crate) fn discount_from_row(r: &AnyRow) -> Result<DiscountCode> {
    Ok(DiscountCode {
        code: r.try_get("code")?,
        percent_off: r.try_get("percent_off")?,
        amount_off_minor: r.try_get("amount_off_minor")?,
        min_subtotal_minor: r.try_get("min_subtotal_minor")?,
        max_uses: r.try_get("max_uses")?,
        uses: r.try_get("uses")?,
        expires_at: r.try_get("expires_at")?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}

impl Store {
    /// The shop's codes, in alphabetical order.
    pub async fn discount_codes(&self, org: &OrgId) -> Result<Vec<DiscountCode>> {
        let rows =
            sqlx::query("SELECT * FROM discount_codes WHERE org_id = $1 ORDER BY code").bind(org.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(discount_from_row).collect()
    }

    /// One code (as stored: upper case).
    pub async fn discount_code(&self, org: &OrgId, code: &str) -> Result<DiscountCode> {
        let row = sqlx::query("SELECT * FROM discount_codes WHERE org_id = $1 AND code = $2")
            .bind(org.as_str())
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        discount_from_row(&row)
    }

    /// Adds a code; 409 when the shop has it already.
    pub async fn create_discount_code(&self, org: &OrgId, d: &DiscountCode, now: i64) -> Result<DiscountCode> {
        sqlx::query(
            "INSERT INTO discount_codes (org_id, code, percent_off, amount_off_minor, min_subtotal_minor, max_uses, uses, expires_at, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)",
        )
        .bind(org.as_str())
        .bind(&d.code)
        .bind(d.percent_off)
        .bind(d.amount_off_minor)
        .bind(d.min_subtotal_minor)
        .bind(d.max_uses)
        .bind(d.expires_at)
        .bind(i64::from(d.active))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, || format!("the shop has a code {} already", d.code)))?;
        self.discount_code(org, &d.code).await
    }

    /// Replaces a code's terms (its uses stay); a limit below the uses so far is a 409.
    pub async fn update_discount_code(&self, org: &OrgId, d: &DiscountCode) -> Result<DiscountCode> {
        let done = sqlx::query(
            "UPDATE discount_codes SET percent_off = $3, amount_off_minor = $4, min_subtotal_minor = $5, max_uses = $6, expires_at = $7, active = $8 \
             WHERE org_id = $1 AND code = $2",
        )
        .bind(org.as_str())
        .bind(&d.code)
        .bind(d.percent_off)
        .bind(d.amount_off_minor)
        .bind(d.min_subtotal_minor)
        .bind(d.max_uses)
        .bind(d.expires_at)
        .bind(i64::from(d.active))
        .execute(&self.pool)
        .await
        .map_err(|e| crate::conflict_on_check(e, || format!("the code {} has been used more times than that", d.code)))?;
        found(done)?;
        self.discount_code(org, &d.code).await
    }

    pub async fn delete_discount_code(&self, org: &OrgId, code: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM discount_codes WHERE org_id = $1 AND code = $2")
            .bind(org.as_str())
            .bind(code)
            .execute(&self.pool)
            .await?;
        found(done)
    }
}
