//! Schema migrations: numbered SQL files per backend, embedded in the binary, applied in order,
//! each in its own transaction, recorded in `vetrina_migrations`.

use sqlx::Row;

use crate::{Backend, Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// A migration whose SQL is `migrations/<backend>/<file>` for each backend.
macro_rules! migration {
    ($version:expr, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../migrations/postgres/", $file)),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "init", "0001_init.sql"),
    migration!(2, "woocommerce_ids", "0002_woocommerce_ids.sql"),
    migration!(3, "stream_keys", "0003_stream_keys.sql"),
    migration!(4, "recordings", "0004_recordings.sql"),
    migration!(5, "timeline", "0005_timeline.sql"),
    migration!(6, "blocked_words", "0006_blocked_words.sql"),
    migration!(7, "room_bans", "0007_room_bans.sql"),
    migration!(8, "shop", "0008_shop.sql"),
    migration!(9, "replays", "0009_replays.sql"),
    migration!(10, "discounts", "0010_discounts.sql"),
    migration!(11, "lean_holds", "0011_lean_holds.sql"),
    migration!(12, "room_states", "0012_room_states.sql"),
];

/// The number of migrations this build knows.
pub const MIGRATIONS_APPLIED: usize = MIGRATIONS.len();

impl Store {
    /// Applies every migration not yet applied. Safe to run from several nodes at once on
    /// PostgreSQL (an advisory lock serialises them).
    pub async fn migrate(&self) -> Result<usize> {
        let mut n_applied = 0;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS vetrina_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for m in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            if self.backend == Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock(7369727)").execute(&mut *tx).await?;
            }
            let done =
                sqlx::query("SELECT version FROM vetrina_migrations WHERE version = $1").bind(m.version).fetch_optional(&mut *tx).await?;
            if done.is_some() {
                continue;
            }
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Corrupt(format!("migration {} ({}) failed: {e}", m.version, m.name)))?;
            sqlx::query("INSERT INTO vetrina_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(crate::now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
            n_applied += 1;
        }
        Ok(n_applied)
    }

    /// The highest applied migration, or 0.
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM vetrina_migrations").fetch_one(&self.pool).await?;
        Ok(row.try_get("v")?)
    }
}
