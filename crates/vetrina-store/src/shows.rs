//! Shows, their line-up, hosts and creators.

use std::collections::HashSet;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use vetrina_domain::account::RoomBan;
use vetrina_domain::ids::{OrgId, ProductId, ShowId, UserId};
use vetrina_domain::show::{RunOfShow, Show, ShowPlan, ShowStatus};

use crate::{Result, Store, StoreError, conflict_on_unique, found, new_id, now_ms, to_json};

fn show_row(row: &AnyRow) -> Result<Show> {
    let status: String = row.try_get("status")?;
    let ros: String = row.try_get("run_of_show")?;
    Ok(Show {
        id: ShowId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        status: ShowStatus::parse(&status).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        starts_at: row.try_get("starts_at")?,
        time_zone: row.try_get("time_zone")?,
        cover_src: row.try_get("cover_src")?,
        host_ids: Vec::new(),
        lineup: Vec::new(),
        run_of_show: serde_json::from_str::<RunOfShow>(&ros).map_err(|e| StoreError::Corrupt(format!("run_of_show: {e}")))?,
        live_at: row.try_get("live_at")?,
        ended_at: row.try_get("ended_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_show(&self, org: &OrgId, plan: &ShowPlan) -> Result<Show> {
        let id = ShowId(new_id(ShowId::PREFIX));
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO shows (id, org_id, slug, title, description, status, time_zone, run_of_show, created_at, updated_at) \
             VALUES ($1, $2, $3, '', '', 'draft', 'UTC', '{\"segments\":[]}', $4, $4)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(&plan.slug)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| slug_taken(e, &plan.slug))?;
        write_show(&mut tx, &id, plan, None).await?;
        tx.commit().await?;
        self.show(org, &id).await
    }

    /// Writes a changed plan. `from` is the status the caller read: if another request moved the
    /// show meanwhile, this fails with a conflict instead of undoing that move.
    pub async fn update_show(&self, org: &OrgId, id: &ShowId, from: ShowStatus, plan: &ShowPlan) -> Result<Show> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT status FROM shows WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if row.try_get::<String, _>("status")? != from.as_str() {
            return Err(StoreError::Conflict("the show changed state meanwhile: reload it and try again".into()));
        }
        write_show(&mut tx, id, plan, Some(from)).await?;
        let event = match plan.status {
            ShowStatus::Live if from != ShowStatus::Live => Some("show.live"),
            ShowStatus::Ended if from != ShowStatus::Ended => Some("show.ended"),
            _ => None,
        };
        if let Some(event) = event {
            let data = serde_json::json!({"id": id, "slug": plan.slug, "title": plan.title, "status": plan.status.as_str()});
            crate::webhooks::enqueue(&mut tx, org, event, &data, now_ms()).await?;
        }
        if plan.status == ShowStatus::Ended && from != ShowStatus::Ended {
            crate::replays::end_show_deals(&mut tx, org, id, now_ms()).await?;
        }
        tx.commit().await?;
        self.show(org, id).await
    }

    pub async fn delete_show(&self, org: &OrgId, id: &ShowId) -> Result<()> {
        let row = sqlx::query("SELECT status FROM shows WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        if row.try_get::<String, _>("status")? == ShowStatus::Live.as_str() {
            return Err(StoreError::Conflict("the show is live: end it before deleting it".into()));
        }
        sqlx::query("DELETE FROM shows WHERE id = $1 AND org_id = $2").bind(id.as_str()).bind(org.as_str()).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn show(&self, org: &OrgId, id: &ShowId) -> Result<Show> {
        let row = sqlx::query("SELECT * FROM shows WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.complete(show_row(&row)?).await
    }

    /// The show at this public slug, whatever its organisation.
    pub async fn show_by_slug(&self, slug: &str) -> Result<Show> {
        let row =
            sqlx::query("SELECT * FROM shows WHERE slug = $1").bind(slug).fetch_optional(&self.pool).await?.ok_or(StoreError::NotFound)?;
        self.complete(show_row(&row)?).await
    }

    /// `org`'s shows: upcoming and live first (soonest first), then drafts, then ended.
    pub async fn shows(&self, org: &OrgId) -> Result<Vec<Show>> {
        let rows = sqlx::query(
            "SELECT * FROM shows WHERE org_id = $1 ORDER BY CASE status WHEN 'live' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'draft' THEN 2 ELSE 3 END, \
             starts_at, created_at",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut shows = Vec::with_capacity(rows.len());
        for row in &rows {
            shows.push(self.complete(show_row(row)?).await?);
        }
        Ok(shows)
    }

    pub async fn set_show_cover(&self, org: &OrgId, id: &ShowId, cover_src: Option<&str>) -> Result<Show> {
        found(
            sqlx::query("UPDATE shows SET cover_src = $1, updated_at = $2 WHERE id = $3 AND org_id = $4")
                .bind(cover_src)
                .bind(now_ms())
                .bind(id.as_str())
                .bind(org.as_str())
                .execute(&self.pool)
                .await?,
        )?;
        self.show(org, id).await
    }

    /// The show's stream key, made on first use.
    pub async fn stream_key(&self, show: &ShowId) -> Result<String> {
        let row = sqlx::query("SELECT stream_key FROM shows WHERE id = $1").bind(show.as_str()).fetch_optional(&self.pool).await?;
        match row.ok_or(StoreError::NotFound)?.try_get::<Option<String>, _>("stream_key")? {
            Some(key) => Ok(key),
            None => {
                // Two first uses at once: the second UPDATE finds the key set and both read it back.
                sqlx::query("UPDATE shows SET stream_key = $1 WHERE id = $2 AND stream_key IS NULL")
                    .bind(new_stream_key())
                    .bind(show.as_str())
                    .execute(&self.pool)
                    .await?;
                let row = sqlx::query("SELECT stream_key FROM shows WHERE id = $1").bind(show.as_str()).fetch_one(&self.pool).await?;
                row.try_get::<Option<String>, _>("stream_key")?.ok_or_else(|| StoreError::Corrupt("stream key vanished".into()))
            }
        }
    }

    /// Replaces the show's stream key; the old one stops working at once.
    pub async fn rotate_stream_key(&self, org: &OrgId, show: &ShowId) -> Result<String> {
        let key = new_stream_key();
        found(
            sqlx::query("UPDATE shows SET stream_key = $1 WHERE id = $2 AND org_id = $3")
                .bind(&key)
                .bind(show.as_str())
                .bind(org.as_str())
                .execute(&self.pool)
                .await?,
        )?;
        Ok(key)
    }

    /// Moves a show from one status to another when media says so; `false` when it was not in
    /// `from` (someone moved it meanwhile, or it was already there).
    pub async fn move_show(&self, show: &ShowId, from: &[ShowStatus], to: ShowStatus) -> Result<bool> {
        let now = now_ms();
        let allowed: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let sql = format!(
            "UPDATE shows SET status = $1, updated_at = $2, live_at = CASE WHEN $1 = 'live' AND live_at IS NULL THEN $2 ELSE live_at END, \
             ended_at = CASE WHEN $1 = 'ended' THEN $2 ELSE ended_at END WHERE id = $3 AND status IN ({})",
            crate::placeholders(4, allowed.len())
        );
        let mut query = sqlx::query(&sql).bind(to.as_str()).bind(now).bind(show.as_str());
        for status in allowed {
            query = query.bind(status);
        }
        let mut tx = self.begin_write().await?;
        let moved = query.execute(&mut *tx).await?.rows_affected() == 1;
        let event = match to {
            ShowStatus::Live => Some("show.live"),
            ShowStatus::Ended => Some("show.ended"),
            _ => None,
        };
        if moved && let Some(event) = event {
            let row = sqlx::query("SELECT org_id, slug, title FROM shows WHERE id = $1").bind(show.as_str()).fetch_one(&mut *tx).await?;
            let org = OrgId(row.try_get("org_id")?);
            let data = serde_json::json!({"id": show, "slug": row.try_get::<String, _>("slug")?, "title": row.try_get::<String, _>("title")?, "status": to.as_str()});
            crate::webhooks::enqueue(&mut tx, &org, event, &data, now).await?;
            if to == ShowStatus::Ended {
                crate::replays::end_show_deals(&mut tx, &org, show, now).await?;
            }
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// Records that `show` is recorded to `path`, whose media time 0 is `started_at` (Unix ms).
    pub async fn add_recording(&self, show: &ShowId, path: &str, started_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO recordings (show_id, path, started_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(show.as_str())
            .bind(path)
            .bind(started_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The show's recordings, oldest first: (path, started_at).
    pub async fn recordings(&self, show: &ShowId) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT path, started_at FROM recordings WHERE show_id = $1 ORDER BY started_at")
            .bind(show.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("path")?, r.try_get("started_at")?))).collect()
    }

    /// Appends room events to the show's timeline in one transaction: (at, media_ms, kind, data JSON).
    pub async fn append_timeline(&self, show: &ShowId, events: &[(i64, Option<i64>, String, String)]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (at, media_ms, kind, data) in events {
            sqlx::query("INSERT INTO timeline_events (show_id, at, media_ms, kind, data) VALUES ($1, $2, $3, $4, $5)")
                .bind(show.as_str())
                .bind(*at)
                .bind(*media_ms)
                .bind(kind.as_str())
                .bind(data.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Bans a viewer from the live chat of the organisation's shows (again: keeps the first ban).
    pub async fn ban(&self, org: &OrgId, ban: &RoomBan) -> Result<()> {
        sqlx::query(
            "INSERT INTO room_bans (org_id, identity, name, by_name, show_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (org_id, identity) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(ban.identity.as_str())
        .bind(ban.name.as_str())
        .bind(ban.by.as_str())
        .bind(ban.show_id.as_ref().map(|s| s.as_str()))
        .bind(ban.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps a live room's state, unless a fresher one (more events `applied`) is kept already.
    pub async fn save_room_state(&self, show: &ShowId, state: &SavedRoom, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO room_states (show_id, applied, bus_position, state, saved_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (show_id) DO UPDATE SET applied = excluded.applied, bus_position = excluded.bus_position, \
             state = excluded.state, saved_at = excluded.saved_at WHERE excluded.applied >= room_states.applied",
        )
        .bind(show.as_str())
        .bind(state.applied as i64)
        .bind(state.bus_position.map(|p| p as i64))
        .bind(state.state.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live room's latest saved state, if any.
    pub async fn room_state(&self, show: &ShowId) -> Result<Option<SavedRoom>> {
        let row = sqlx::query("SELECT applied, bus_position, state FROM room_states WHERE show_id = $1")
            .bind(show.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SavedRoom {
                applied: r.try_get::<i64, _>("applied")?.max(0) as u64,
                bus_position: r.try_get::<Option<i64>, _>("bus_position")?.map(|p| p.max(0) as u64),
                state: r.try_get("state")?,
            })
        })
        .transpose()
    }

    /// The organisation's banned viewers, newest first.
    pub async fn bans(&self, org: &OrgId) -> Result<Vec<RoomBan>> {
        let rows = sqlx::query(
            "SELECT identity, name, by_name, show_id, created_at FROM room_bans WHERE org_id = $1 ORDER BY created_at DESC, identity",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RoomBan {
                    identity: r.try_get("identity")?,
                    name: r.try_get("name")?,
                    by: r.try_get("by_name")?,
                    show_id: r.try_get::<Option<String>, _>("show_id")?.map(ShowId),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Lifts a ban; `NotFound` when there is none.
    pub async fn unban(&self, org: &OrgId, identity: &str, by: &str, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT name, show_id FROM room_bans WHERE org_id = $1 AND identity = $2")
            .bind(org.as_str())
            .bind(identity)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let (name, show): (String, Option<String>) = (row.try_get("name")?, row.try_get("show_id")?);
        let done = sqlx::query("DELETE FROM room_bans WHERE org_id = $1 AND identity = $2")
            .bind(org.as_str())
            .bind(identity)
            .execute(&mut *tx)
            .await?;
        found(done)?;
        // The show's moderation log, where the ban was made, says who lifted it (at the moment of
        // its media clock, once it was recorded), unless the show was deleted since.
        if let Some(show) = show {
            let action = serde_json::json!({"by": by, "action": "unban", "target": name});
            sqlx::query(
                "INSERT INTO timeline_events (show_id, at, media_ms, kind, data) \
                 SELECT $1, $2, (SELECT $2 - MIN(started_at) FROM recordings WHERE show_id = $1), 'moderation', $3 \
                 WHERE EXISTS (SELECT 1 FROM shows WHERE id = $1)",
            )
            .bind(show)
            .bind(now)
            .bind(action.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of the show's timeline in media-time order (events without media time, from before
    /// the recording started, count as -1 and come first, in wall-time order), starting after
    /// `after_ms`, or, with `after_at`, after the events of moment `after_ms` up to wall time
    /// `after_at` (a page that ended inside one moment). Each part is a range of the index on
    /// (show, media time, wall time): a page costs the same at the end of a long show as at its
    /// start.
    pub async fn timeline(
        &self,
        show: &ShowId,
        after_ms: i64,
        after_at: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(i64, Option<i64>, String, String)>> {
        let row = |r: &AnyRow| -> Result<(i64, Option<i64>, String, String)> {
            Ok((r.try_get("at")?, r.try_get("media_ms")?, r.try_get("kind")?, r.try_get("data")?))
        };
        let mut events = Vec::new();
        // Before the recording: all of it, or the rest of it after `after_at`.
        let before_recording = match (after_ms, after_at) {
            (..-1, _) => Some(i64::MIN),
            (-1, Some(at)) => Some(at),
            _ => None,
        };
        if let Some(after_at) = before_recording {
            let rows = sqlx::query(
                "SELECT at, media_ms, kind, data FROM timeline_events WHERE show_id = $1 AND media_ms IS NULL AND at > $2 ORDER BY at LIMIT $3",
            )
            .bind(show.as_str())
            .bind(after_at)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            events = rows.iter().map(row).collect::<Result<Vec<_>>>()?;
        }
        let left = limit - events.len() as i64;
        if left > 0 {
            // The moment `after_ms` from `after_at` on (none of it without `after_at`), then later ones.
            let (from, rest_after) = if after_ms >= 0 { (after_ms, after_at.unwrap_or(i64::MAX)) } else { (-1, i64::MAX) };
            let rows = sqlx::query(
                "SELECT at, media_ms, kind, data FROM timeline_events \
                 WHERE show_id = $1 AND media_ms >= $2 AND (media_ms > $2 OR at > $3) ORDER BY media_ms, at LIMIT $4",
            )
            .bind(show.as_str())
            .bind(from)
            .bind(rest_after)
            .bind(left)
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                events.push(row(r)?);
            }
        }
        Ok(events)
    }

    /// The chat lines moderators deleted in the show (their ids, from the timeline's moderation
    /// log): the public timeline leaves them out.
    pub async fn deleted_messages(&self, show: &ShowId) -> Result<std::collections::HashSet<u64>> {
        let rows = sqlx::query("SELECT data FROM timeline_events WHERE show_id = $1 AND kind = 'moderation'")
            .bind(show.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut deleted = std::collections::HashSet::new();
        for r in &rows {
            let data: String = r.try_get("data")?;
            let action: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
            if action["action"] == "delete"
                && let Some(id) = action["message_id"].as_u64()
            {
                deleted.insert(id);
            }
        }
        Ok(deleted)
    }

    /// The ids of every show (any organisation) in `status`.
    pub async fn shows_with_status(&self, status: ShowStatus) -> Result<Vec<ShowId>> {
        let rows = sqlx::query("SELECT id FROM shows WHERE status = $1").bind(status.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(ShowId(r.try_get("id")?))).collect()
    }

    /// Creators invited to this show who accepted.
    pub async fn show_creators(&self, show: &ShowId) -> Result<Vec<UserId>> {
        let rows = sqlx::query("SELECT user_id FROM show_creators WHERE show_id = $1").bind(show.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(UserId(r.try_get("user_id")?))).collect()
    }

    /// Whether `user` is a creator of `show` (in `org`).
    pub async fn is_creator(&self, org: &OrgId, show: &ShowId, user: &UserId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS yes FROM show_creators c JOIN shows s ON s.id = c.show_id WHERE c.show_id = $1 AND c.user_id = $2 AND s.org_id = $3",
        )
        .bind(show.as_str())
        .bind(user.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Who may host `show`: the organisation's presenters and the show's creators.
    pub async fn eligible_hosts(&self, org: &OrgId, show: Option<&ShowId>) -> Result<HashSet<UserId>> {
        let mut hosts: HashSet<UserId> = self.presenters(org).await?.into_iter().collect();
        if let Some(show) = show {
            hosts.extend(self.show_creators(show).await?);
        }
        Ok(hosts)
    }

    /// Shows where `user` is an accepted creator (they are not members of those organisations).
    pub async fn creator_shows(&self, user: &UserId) -> Result<Vec<Show>> {
        let rows =
            sqlx::query("SELECT s.* FROM shows s JOIN show_creators c ON c.show_id = s.id WHERE c.user_id = $1 ORDER BY s.starts_at")
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut shows = Vec::new();
        for row in &rows {
            shows.push(self.complete(show_row(row)?).await?);
        }
        Ok(shows)
    }

    async fn complete(&self, mut show: Show) -> Result<Show> {
        let lineup = sqlx::query("SELECT product_id FROM show_products WHERE show_id = $1 ORDER BY position")
            .bind(show.id.as_str())
            .fetch_all(&self.pool)
            .await?;
        show.lineup = lineup.iter().map(|r| Ok(ProductId(r.try_get("product_id")?))).collect::<Result<_>>()?;
        let hosts = sqlx::query("SELECT user_id FROM show_hosts WHERE show_id = $1 ORDER BY position")
            .bind(show.id.as_str())
            .fetch_all(&self.pool)
            .await?;
        show.host_ids = hosts.iter().map(|r| Ok(UserId(r.try_get("user_id")?))).collect::<Result<_>>()?;
        Ok(show)
    }
}

fn new_stream_key() -> String {
    format!("sk_{}", crate::random_token(20))
}

fn slug_taken(e: sqlx::Error, slug: &str) -> StoreError {
    conflict_on_unique(e, || format!("the address /shows/{slug} is taken: choose another slug"))
}

async fn write_show(tx: &mut Transaction<'static, Any>, id: &ShowId, plan: &ShowPlan, from: Option<ShowStatus>) -> Result<()> {
    let now = now_ms();
    let became_live = plan.status == ShowStatus::Live && from != Some(ShowStatus::Live);
    let ended = plan.status == ShowStatus::Ended && from != Some(ShowStatus::Ended);
    sqlx::query(
        "UPDATE shows SET slug = $1, title = $2, description = $3, status = $4, starts_at = $5, time_zone = $6, run_of_show = $7, \
         updated_at = $8, live_at = CASE WHEN $9 = 1 THEN $8 ELSE live_at END, ended_at = CASE WHEN $10 = 1 THEN $8 ELSE ended_at END \
         WHERE id = $11",
    )
    .bind(&plan.slug)
    .bind(&plan.title)
    .bind(&plan.description)
    .bind(plan.status.as_str())
    .bind(plan.starts_at)
    .bind(&plan.time_zone)
    .bind(to_json(&plan.run_of_show))
    .bind(now)
    .bind(i64::from(became_live))
    .bind(i64::from(ended))
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map_err(|e| slug_taken(e, &plan.slug))?;
    sqlx::query("DELETE FROM show_products WHERE show_id = $1").bind(id.as_str()).execute(&mut **tx).await?;
    for (position, product) in plan.lineup.iter().enumerate() {
        sqlx::query("INSERT INTO show_products (show_id, product_id, position) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(product.as_str())
            .bind(position as i64)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM show_hosts WHERE show_id = $1").bind(id.as_str()).execute(&mut **tx).await?;
    for (position, user) in plan.host_ids.iter().enumerate() {
        sqlx::query("INSERT INTO show_hosts (show_id, user_id, position) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(user.as_str())
            .bind(position as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A live room's saved state (`state` is the room's own JSON; see `vetrina_live::Saved`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedRoom {
    /// Events the state holds.
    pub applied: u64,
    /// The bus's position after the last of them (several nodes), if any.
    pub bus_position: Option<u64>,
    pub state: String,
}
