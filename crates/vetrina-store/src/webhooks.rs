//! Webhooks: the merchant's endpoints and the outbox of deliveries (docs/webhooks.md). An event's
//! deliveries are written in the transaction that makes the event happen, so none is lost and
//! none is sent for something that did not happen.

use sqlx::Row;
use vetrina_domain::ids::OrgId;

use base64::Engine;

use crate::{Result, Store, StoreError, found, new_id, new_time_id, to_json};

/// The events a webhook may subscribe to.
pub const EVENTS: [&str; 5] = ["order.created", "order.paid", "order.cancelled", "show.live", "show.ended"];

/// A merchant's endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// `whsec_` and the base64 key (Standard Webhooks); shown when made, and to the shop's admins.
    pub secret: String,
    pub events: Vec<String>,
    pub created_at: i64,
}

/// One event sent (or being sent) to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Also the `webhook-id` header: the same for every retry.
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    /// `pending`, `delivered` or `failed` (given up after the last retry).
    pub status: String,
    pub attempts: i64,
    /// The endpoint's last HTTP status.
    pub last_status: Option<i64>,
    pub last_error: String,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub url: String,
    #[serde(skip)]
    pub secret: String,
}

fn delivery_from_row(r: &sqlx::any::AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        event: r.try_get("event")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
        payload: r.try_get("payload")?,
        url: r.try_get::<Option<String>, _>("url").ok().flatten().unwrap_or_default(),
        secret: r.try_get::<Option<String>, _>("secret").ok().flatten().unwrap_or_default(),
    })
}

/// Queues `event` for every endpoint of the organisation that subscribed to it, in the caller's
/// transaction: `{"type", "timestamp", "data"}`.
pub(crate) async fn enqueue(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org: &OrgId,
    event: &str,
    data: &impl serde::Serialize,
    now: i64,
) -> Result<()> {
    let hooks = sqlx::query("SELECT id, events FROM webhooks WHERE org_id = $1").bind(org.as_str()).fetch_all(&mut **tx).await?;
    let payload = to_json(&serde_json::json!({
        "type": event,
        "timestamp": vetrina_domain::show::rfc3339(now),
        "data": data,
    }));
    for hook in hooks {
        let events: Vec<String> = serde_json::from_str(&hook.try_get::<String, _>("events")?).unwrap_or_default();
        if !events.iter().any(|e| e == event) {
            continue;
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event, payload, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
        )
        .bind(new_time_id("msg_", now))
        .bind(hook.try_get::<String, _>("id")?)
        .bind(org.as_str())
        .bind(event)
        .bind(&payload)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Waits before retry n (1-based); after the last, the delivery has failed.
pub const RETRY_AFTER_S: [i64; 6] = [5, 30, 120, 600, 3_600, 21_600];

impl Store {
    /// Registers an endpoint; its signing secret is made here.
    pub async fn create_webhook(&self, org: &OrgId, url: &str, events: &[String], now: i64) -> Result<Webhook> {
        let mut key = [0_u8; 24];
        getrandom::getrandom(&mut key).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
        let hook = Webhook {
            id: new_id("whk_"),
            url: url.to_string(),
            secret: format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key)),
            events: events.to_vec(),
            created_at: now,
        };
        sqlx::query("INSERT INTO webhooks (id, org_id, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&hook.id)
            .bind(org.as_str())
            .bind(&hook.url)
            .bind(&hook.secret)
            .bind(to_json(&hook.events))
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(hook)
    }

    pub async fn webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>> {
        let rows =
            sqlx::query("SELECT * FROM webhooks WHERE org_id = $1 ORDER BY created_at").bind(org.as_str()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Webhook {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    secret: r.try_get("secret")?,
                    events: serde_json::from_str(&r.try_get::<String, _>("events")?).unwrap_or_default(),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn delete_webhook(&self, org: &OrgId, id: &str) -> Result<()> {
        found(sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2").bind(org.as_str()).bind(id).execute(&self.pool).await?)
    }

    /// The endpoint's latest deliveries, newest first.
    pub async fn deliveries(&self, org: &OrgId, webhook: &str, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT d.* FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE w.org_id = $1 AND d.webhook_id = $2 ORDER BY d.created_at DESC, d.id DESC LIMIT $3",
        )
        .bind(org.as_str())
        .bind(webhook)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() && !self.webhooks(org).await?.iter().any(|w| w.id == webhook) {
            return Err(StoreError::NotFound);
        }
        rows.iter().map(delivery_from_row).collect()
    }

    /// Sends a delivery again (by hand, from the delivery log): due now, with a fresh schedule of
    /// retries. `NotFound` unless it belongs to this organisation's endpoint.
    pub async fn send_again(&self, org: &OrgId, webhook: &str, delivery: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1 \
             WHERE id = $2 AND webhook_id = $3 AND org_id = $4",
        )
        .bind(now)
        .bind(delivery)
        .bind(webhook)
        .bind(org.as_str())
        .execute(&self.pool)
        .await?;
        crate::found(done)
    }

    /// Deliveries due at `now`, each claimed for a minute (another node will not send it too).
    pub async fn claim_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT d.*, w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for r in rows {
            let d = delivery_from_row(&r)?;
            let took = sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND status = 'pending'",
            )
            .bind(now + 60_000)
            .bind(&d.id)
            .bind(d.next_attempt_at)
            .execute(&self.pool)
            .await?;
            if took.rows_affected() == 1 {
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// Records an attempt: delivered (a 2xx), or retried later, or failed for good.
    pub async fn record_attempt(&self, id: &str, status: Option<i64>, error: &str, delivered: bool, now: i64) -> Result<()> {
        let row = sqlx::query("SELECT attempts FROM webhook_deliveries WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(()) };
        let attempts: i64 = row.try_get::<i64, _>("attempts")? + 1;
        let (state, next) = if delivered {
            ("delivered", now)
        } else {
            match RETRY_AFTER_S.get(attempts as usize - 1) {
                Some(s) => ("pending", now + s * 1000),
                None => ("failed", now),
            }
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $1, status = $2, last_status = $3, last_error = $4, next_attempt_at = $5, \
             delivered_at = CASE WHEN $2 = 'delivered' THEN $6 ELSE delivered_at END WHERE id = $7",
        )
        .bind(attempts)
        .bind(state)
        .bind(status)
        .bind(error.chars().take(500).collect::<String>())
        .bind(next)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
