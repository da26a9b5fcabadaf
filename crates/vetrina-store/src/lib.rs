//! Vetrina's store: every read and write of durable state goes through [`Store`].
//!
//! The backend is chosen from the database URL: `postgres://...` for PostgreSQL (several nodes),
//! anything else (`sqlite://path`, or a plain path) for an embedded SQLite file in WAL mode. Each
//! backend has its own migrations (`migrations/sqlite`, `migrations/postgres`), applied at start.
//! The rest of Vetrina sees only [`Store`]'s domain-shaped methods: it never writes SQL and never
//! knows which database it runs on. The SQL here keeps to what both databases accept (`$n`
//! parameters, `BIGINT` times, JSON as text), so one implementation serves both and one story test
//! suite checks both.
//!
//! Not here: HTTP, sessions' cookie format, password hashing (the web plane), file bytes (see
//! [`blobs`]).

pub mod accounts;
pub mod blobs;
pub mod catalogue;
pub mod discounts;
mod migrate;
pub mod orders;
pub mod replays;
pub mod shop;
pub mod shows;
pub mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use migrate::MIGRATIONS_APPLIED;

/// Which database a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What went wrong in the store, in terms the web plane can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such thing, or not in this organisation (the two are never told apart).
    #[error("not found")]
    NotFound,
    /// The write would break a uniqueness or state rule; the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite ledger's own connection ([`shop::SqliteLedger`]).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// What was sent breaks a rule only the stored data can check (a discount code used up).
    #[error("{0}")]
    Invalid(vetrina_domain::Invalid),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite database's file (not for PostgreSQL or an in-memory database).
    sqlite_file: Option<Arc<str>>,
}

/// Every SQLite connection's settings. WAL lets readers run beside the one writer; NORMAL sync
/// is durable across process crashes (not power loss), the usual trade for WAL. Pages are read
/// through a memory map and a 32 MB cache per connection: without them a flash sale spent most of
/// its time in read() calls for pages SQLite's 2 MB default cache had let go. Checkpoints mostly
/// run beside the writer (Store::checkpoint, every second); a write does it only past 16 MB of
/// log, and the log file is cut back to 64 MB after.
const SQLITE_PRAGMAS: [&str; 8] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -32768",
    "PRAGMA wal_autocheckpoint = 4000",
    "PRAGMA journal_size_limit = 67108864",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];

impl Store {
    /// Connects to `url` and applies the migrations that are missing.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url, sqlite_file) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string(), None)
        } else {
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
            let sep = if path.contains('?') { '&' } else { '?' };
            let file = path.split('?').next().filter(|f| !f.is_empty() && !f.contains(":memory:") && !path.contains("mode=memory"));
            (Backend::Sqlite, format!("sqlite://{path}{sep}mode=rwc"), file.map(Arc::from))
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .min_connections(1)
                    // A rush (a flash sale's checkouts) queues for the connections on purpose:
                    // only a wait past 5 s is worth a warning, not each of thousands.
                    .acquire_slow_threshold(Duration::from_secs(5))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                sqlx::Executor::execute(&mut *conn, pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .acquire_slow_threshold(Duration::from_secs(5))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Store { pool, backend, sqlite_file })
    }

    /// SQLite: copies the write-ahead log back into the database without waiting for readers or
    /// the writer (a passive checkpoint); run every second beside the server. PostgreSQL: nothing.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.pool).await?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that writes. On SQLite it takes the database's one write lock at
    /// once (`BEGIN IMMEDIATE`, waiting up to `busy_timeout` for it): begun plainly, a
    /// transaction that read before it wrote failed at once (`SQLITE_BUSY`) when another
    /// connection (the flash-sale ledger's, a webhook delivery, the sweeper) had written
    /// meanwhile, and the request answered 500. PostgreSQL: a plain transaction, its row locks
    /// order the writers.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the node closed the store (it is stopping): background work ends quietly.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// Unix milliseconds now. The store stamps rows with it; rules that depend on time take `now`
/// from their caller instead.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A new random id with `prefix` (`prd_` + 20 characters of base32: 100 bits).
/// An id that sorts by creation time (milliseconds, then random): rows written in bulk land at
/// the end of their index instead of all over it.
pub fn new_time_id(prefix: &str, now_ms: i64) -> String {
    let mut bytes = [0_u8; 13];
    bytes[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    fill_random(&mut bytes[6..]);
    format!("{prefix}{}", base32(&bytes).get(..20).unwrap_or_default())
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_token(13).get(..20).unwrap_or_default())
}

/// `n_bytes` random bytes from the OS, written as lowercase base32 (no padding).
pub fn random_token(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    fill_random(&mut bytes);
    base32(&bytes)
}

/// Fills `out` with random bytes from the OS, drawn 4 KiB at a time per thread: ids and tokens
/// are made on hot paths (in a flash sale a cart, a hold and a buyer's secret per request), and a
/// `getrandom` call for each cost a system call and the kernel generator's set-up every time.
/// Each byte is handed out once and wiped from the pool as it is.
fn fill_random(out: &mut [u8]) {
    const POOL: usize = 4096;
    thread_local! {
        static BYTES: std::cell::RefCell<(Box<[u8; POOL]>, usize)> = std::cell::RefCell::new((Box::new([0; POOL]), POOL));
    }
    BYTES.with(|pool| {
        let (bytes, next) = &mut *pool.borrow_mut();
        let mut filled = 0;
        while filled < out.len() {
            if *next == POOL {
                // The OS random source failing is not something a web server can recover from.
                getrandom::getrandom(&mut bytes[..]).expect("the OS random number generator failed");
                *next = 0;
            }
            let n = (out.len() - filled).min(POOL - *next);
            out[filled..filled + n].copy_from_slice(&bytes[*next..*next + n]);
            bytes[*next..*next + n].fill(0);
            *next += n;
            filled += n;
        }
    });
}

pub(crate) fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut n_bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        n_bits += 8;
        while n_bits >= 5 {
            n_bits -= 5;
            out.push(ALPHABET[((buffer >> n_bits) & 31) as usize] as char);
        }
    }
    if n_bits > 0 {
        out.push(ALPHABET[((buffer << (5 - n_bits)) & 31) as usize] as char);
    }
    out
}

/// Turns a unique-constraint violation into a [`StoreError::Conflict`] with `message`.
fn conflict_on_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(message()),
        _ => StoreError::Database(e),
    }
}

/// A CHECK constraint refused the write (more held than in stock, say): a conflict the message
/// explains.
fn conflict_on_check(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::CheckViolation => StoreError::Conflict(message()),
        _ => StoreError::Database(e),
    }
}

/// `NotFound` unless the statement touched a row (an update or delete by id within an organisation).
fn found(done: sqlx::any::AnyQueryResult) -> Result<()> {
    if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

fn json_list(row: &AnyRow, col: &str) -> Result<Vec<String>> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data structs (strings, numbers, vectors) to a String cannot fail.
    serde_json::to_string(value).expect("plain data serialises")
}

/// The rows of a JSON array of objects bound as parameter `$n`, one `value` column each (read a
/// field with `value ->> 'name'`, the same on both databases). A batch's rows travel as one JSON
/// parameter, so a statement of any size has a handful of parameters: one statement and one
/// round trip where `$N` lists needed a statement per few dozen rows (SQLite looks a named
/// parameter up by walking the list of names, so a statement's cost grows with the square of its
/// parameters).
fn json_objects(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("json_each(${n})"),
        Backend::Postgres => format!("json_array_elements(${n}::json)"),
    }
}

/// The rows of a JSON array of strings bound as parameter `$n`, one text `value` each: for
/// `IN (SELECT value FROM ...)`.
fn json_strings(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("json_each(${n})"),
        Backend::Postgres => format!("json_array_elements_text(${n}::json)"),
    }
}

/// `$first, $first+1, ...` placeholders for an `IN (...)` list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_and_tokens() {
        let id = super::new_id("prd_");
        assert_eq!(id.len(), 24);
        assert!(id.starts_with("prd_"));
        assert_ne!(super::new_id("prd_"), id);
        assert_eq!(super::base32(b"\xff\xff"), "777q");
        assert_eq!(super::placeholders(2, 3), "$2, $3, $4");
        // Drawn from the pool across its refills: never the same bytes twice.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let mut b = [0_u8; 13];
            super::fill_random(&mut b);
            assert!(seen.insert(b));
        }
        let mut big = vec![0_u8; 10_000];
        super::fill_random(&mut big);
        assert!(big.iter().filter(|&&b| b == 0).count() < 200, "random bytes, not the wiped pool");
    }
}
