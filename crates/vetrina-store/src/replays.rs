//! Replays: the timeline read by kind (chapters), clips cut from recordings, and what happens to
//! a show's deals when it ends.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use vetrina_domain::ids::{ClipId, OrgId, ShowId};
use vetrina_domain::replay::{Chapter, Clip};
use vetrina_domain::show::RunOfShow;

use crate::{Result, Store, StoreError, found, new_id};

/// Deals for the replay sit on segment `-1 - i` for run-of-show segment `i` (a live deal sits on
/// segment `i`), so each segment has at most one of each.
pub fn replay_segment(segment: usize) -> i64 {
    -1 - segment as i64
}

/// Far in the future: a replay price has no end.
const NO_END: i64 = 253_402_300_799_000;

fn clip_from_row(r: &AnyRow) -> Result<Clip> {
    Ok(Clip {
        id: ClipId(r.try_get("id")?),
        show_id: ShowId(r.try_get("show_id")?),
        title: r.try_get("title")?,
        start_ms: r.try_get("start_ms")?,
        end_ms: r.try_get("end_ms")?,
        bytes: r.try_get("bytes")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Where a clip's file is and whose it is.
pub struct ClipFile {
    pub clip: Clip,
    pub org_id: OrgId,
    pub path: String,
}

impl Store {
    /// The show's chapters: its pins and run-of-show segments, in media-time order.
    pub async fn chapters(&self, show: &ShowId) -> Result<Vec<Chapter>> {
        chapters_in(&self.pool, show).await
    }

    /// Records a clip whose file is written at `path`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_clip(
        &self,
        id: &ClipId,
        org: &OrgId,
        show: &ShowId,
        title: &str,
        range: (i64, i64),
        path: &str,
        bytes: i64,
        now: i64,
    ) -> Result<Clip> {
        sqlx::query(
            "INSERT INTO clips (id, org_id, show_id, title, start_ms, end_ms, path, bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(show.as_str())
        .bind(title)
        .bind(range.0)
        .bind(range.1)
        .bind(path)
        .bind(bytes)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(Clip {
            id: id.clone(),
            show_id: show.clone(),
            title: title.to_string(),
            start_ms: range.0,
            end_ms: range.1,
            bytes,
            created_at: now,
        })
    }

    /// A new clip's id, before its file is written (the file is named after it).
    pub fn new_clip_id(&self) -> ClipId {
        ClipId(new_id(ClipId::PREFIX))
    }

    /// The show's clips, in media-time order.
    pub async fn clips(&self, org: &OrgId, show: &ShowId) -> Result<Vec<Clip>> {
        let rows = sqlx::query("SELECT * FROM clips WHERE org_id = $1 AND show_id = $2 ORDER BY start_ms, created_at")
            .bind(org.as_str())
            .bind(show.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(clip_from_row).collect()
    }

    /// A clip by id (any organisation: clips are public once cut).
    pub async fn clip(&self, id: &str) -> Result<ClipFile> {
        let row =
            sqlx::query("SELECT * FROM clips WHERE id = $1").bind(id).fetch_optional(&self.pool).await?.ok_or(StoreError::NotFound)?;
        Ok(ClipFile { clip: clip_from_row(&row)?, org_id: OrgId(row.try_get("org_id")?), path: row.try_get("path")? })
    }

    /// Deletes a clip; returns its file's path (for the caller to remove).
    pub async fn delete_clip(&self, org: &OrgId, id: &ClipId) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let path: String = sqlx::query("SELECT path FROM clips WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get("path")?;
        let done =
            sqlx::query("DELETE FROM clips WHERE id = $1 AND org_id = $2").bind(id.as_str()).bind(org.as_str()).execute(&mut *tx).await?;
        found(done)?;
        tx.commit().await?;
        Ok(path)
    }
}

/// When a show ends: its live deals end with it, and segments with a replay price get a deal at
/// that price for the replay (no cap, no end).
pub(crate) async fn end_show_deals(tx: &mut Transaction<'_, Any>, org: &OrgId, show: &ShowId, now: i64) -> Result<()> {
    sqlx::query("UPDATE deals SET ends_at = $1 WHERE show_id = $2 AND segment >= 0 AND ends_at > $1")
        .bind(now)
        .bind(show.as_str())
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT run_of_show FROM shows WHERE id = $1").bind(show.as_str()).fetch_one(&mut **tx).await?;
    let plan: RunOfShow = serde_json::from_str(&row.try_get::<String, _>("run_of_show")?).unwrap_or_default();
    for (i, segment) in plan.segments.iter().enumerate() {
        let Some(deal) = &segment.deal else { continue };
        let Some(price) = deal.replay_price_minor else { continue };
        sqlx::query(
            "INSERT INTO deals (id, org_id, show_id, segment, product_id, variant_id, price_minor, percent_off, quantity, per_buyer_limit, \
             starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, $9, $10) ON CONFLICT (show_id, segment) DO NOTHING",
        )
        .bind(new_id(vetrina_domain::ids::DealId::PREFIX))
        .bind(org.as_str())
        .bind(show.as_str())
        .bind(replay_segment(i))
        .bind(deal.product_id.as_str())
        .bind(deal.variant_id.as_ref().map(|v| v.as_str()))
        .bind(price)
        .bind(deal.per_buyer_limit)
        .bind(now)
        .bind(NO_END)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The show's chapters (see [`vetrina_domain::replay::chapters`]), read with `db`.
pub(crate) async fn chapters_in<'e, E: sqlx::Executor<'e, Database = Any>>(db: E, show: &ShowId) -> Result<Vec<Chapter>> {
    let rows = sqlx::query(
        "SELECT media_ms, kind, data FROM timeline_events WHERE show_id = $1 AND kind IN ('pin', 'segment') ORDER BY COALESCE(media_ms, -1), at",
    )
    .bind(show.as_str())
    .fetch_all(db)
    .await?;
    let events: Vec<(Option<i64>, String, String)> =
        rows.iter().map(|r| Ok((r.try_get("media_ms")?, r.try_get("kind")?, r.try_get("data")?))).collect::<Result<_>>()?;
    Ok(vetrina_domain::replay::chapters(events.iter().map(|(m, k, d)| (*m, k.as_str(), d.as_str()))))
}
