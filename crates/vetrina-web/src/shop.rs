//! The commerce plane's hot path: holding stock for carts (docs/shop.md).
//!
//! A flash sale sends thousands of "add to cart" for one variant within a second. Each one as its
//! own transaction on the variant's row would queue them all behind one lock; instead one task
//! per node takes whatever requests are waiting, groups them by variant and decides each group in
//! one transaction ([`Store::hold_batch`]): while a transaction runs the next batch gathers, so
//! the busier the sale, the larger the batches. Stock changes go out at once to this node's rooms
//! (and rooms on other nodes read them every 2 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};
use vetrina_domain::ids::{OrgId, VariantId};
use vetrina_store::shop::{Held, Item, MAX_BATCH, NewHold, StockLevel};
use vetrina_store::{Store, StoreError, now_ms};

/// Requests waiting for the ledger at most; more are refused at once (503).
const QUEUE: usize = 20_000;
/// How long a variant this node saw sold out is answered "sold out" without asking the database
/// again: after a flash sale sells out, the rush still coming gets its answer at once. Stock
/// that comes back through this node (expired holds, emptied carts, cancelled orders) ends it at
/// once; stock that comes back elsewhere (another node, a restock) shows within this time.
const SOLD_OUT_FRESH: Duration = Duration::from_millis(500);

/// A request's answer: its hold, and the item and stock its batch decided on (shared by the
/// batch's answers: a clone each would be a handful of allocations per request on the ledger's
/// thread).
type Answer = (Held, Arc<Item>, Arc<StockLevel>);

type Reply = oneshot::Sender<Result<Answer, LedgerError>>;

struct Job {
    org: OrgId,
    variant: VariantId,
    hold: NewHold,
    reply: Reply,
}

/// This node's door to the inventory ledger.
#[derive(Clone)]
pub struct Ledger {
    jobs: mpsc::Sender<Job>,
    /// Stock changes, for the rooms.
    pub stock: broadcast::Sender<StockLevel>,
    /// How long a hold lasts.
    pub hold_ms: i64,
    sold_out: SoldOut,
}

/// Variants this node last saw with nothing left, and when.
#[derive(Clone, Default)]
struct SoldOut(Arc<SoldOutSeen>);

#[derive(Default)]
struct SoldOutSeen {
    seen: Mutex<HashMap<(OrgId, VariantId), Instant>>,
    /// Moves on whenever stock comes back: a batch decided before that cannot mark sold out.
    cleared: AtomicU64,
}

impl SoldOut {
    /// Where the clears are (read before a batch is decided).
    fn epoch(&self) -> u64 {
        self.0.cleared.load(Ordering::Acquire)
    }

    /// Takes in a level read from the database.
    fn saw(&self, level: &StockLevel) {
        self.saw_since(level, None);
    }

    /// Takes in a level decided by a batch that started at `epoch`: "nothing left" counts only
    /// if no stock came back meanwhile (that later change is the truth).
    fn saw_since(&self, level: &StockLevel, epoch: Option<u64>) {
        let mut seen = self.0.seen.lock().unwrap_or_else(|e| e.into_inner());
        let key = (level.org.clone(), level.variant.clone());
        if level.available == Some(0) {
            if epoch.is_none_or(|e| e == self.epoch()) {
                seen.insert(key, Instant::now());
            }
        } else {
            seen.remove(&key);
            self.0.cleared.fetch_add(1, Ordering::AcqRel);
        }
        if seen.len() > 10_000 {
            seen.retain(|_, at| at.elapsed() < SOLD_OUT_FRESH);
        }
    }

    /// Forgets what `org`'s variants were seen at: the merchant changed stock.
    fn forget(&self, org: &OrgId) {
        let mut seen = self.0.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|(o, _), _| o != org);
        self.0.cleared.fetch_add(1, Ordering::AcqRel);
    }

    fn is(&self, org: &OrgId, variant: &VariantId) -> bool {
        let seen = self.0.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&(org.clone(), variant.clone())).is_some_and(|at| at.elapsed() < SOLD_OUT_FRESH)
    }
}

/// Why a hold was not decided.
#[derive(Clone, Debug)]
pub enum LedgerError {
    /// The queue is full: the server is overloaded.
    Busy,
    /// No such variant in the organisation, or not for sale.
    NotFound,
    /// The database failed (logged).
    Failed,
    /// Nothing left: seen in the last half second (no new decision was made).
    SoldOut,
}

impl Ledger {
    /// Starts the ledger's task and the sweeper that returns expired holds to stock.
    /// `batch` is the most requests decided in one transaction (1: one transaction per request,
    /// the naive way, for comparison).
    pub fn start(store: Store, hold_ms: i64, batch: usize) -> Ledger {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let (stock, _) = broadcast::channel(1024);
        let sold_out = SoldOut::default();
        let batch = batch.clamp(1, MAX_BATCH);
        // On an SQLite file the ledger runs on a thread of its own with a connection of its own,
        // and decides each batch there from BEGIN to COMMIT: through the pool every statement
        // was a hand-off to sqlx's worker thread and back, each waiting for a core in a rush.
        // (PostgreSQL's answers arrive through the runtime's own reactor, whose connections must
        // stay on it.)
        let own = match store.sqlite_ledger() {
            Ok(own) => own,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the ledger's SQLite connection: batches go through the pool");
                None
            }
        };
        if let Some(own) = own {
            let (stock, sold_out) = (stock.clone(), sold_out.clone());
            let started =
                std::thread::Builder::new().name("vetrina-ledger".into()).spawn(
                    move || match tokio::runtime::Builder::new_current_thread().build() {
                        Ok(runtime) => runtime.block_on(decide(Decider::Own(own), rx, stock, sold_out, hold_ms, batch)),
                        Err(e) => tracing::error!(error = %e, "cannot start the ledger's runtime: adding to carts will fail"),
                    },
                );
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start the ledger's thread: adding to carts will fail");
            }
        } else {
            tokio::spawn(decide(Decider::Pool(store.clone()), rx, stock.clone(), sold_out.clone(), hold_ms, batch));
        }
        tokio::spawn(sweep(store, stock.clone(), sold_out.clone()));
        Ledger { jobs, stock, hold_ms, sold_out }
    }

    /// Asks to hold units; the answer comes once the batch it joined is committed.
    pub async fn hold(&self, org: OrgId, variant: VariantId, hold: NewHold) -> Result<Answer, LedgerError> {
        if self.sold_out.is(&org, &variant) {
            return Err(LedgerError::SoldOut);
        }
        let (reply, answer) = oneshot::channel();
        self.jobs.try_send(Job { org, variant, hold, reply }).map_err(|_| LedgerError::Busy)?;
        answer.await.unwrap_or(Err(LedgerError::Failed))
    }

    /// The merchant changed stock (a product edited or deleted, an import): nothing is taken as
    /// sold out any more without asking the database.
    pub fn restocked(&self, org: &OrgId) {
        self.sold_out.forget(org);
    }

    /// Tells the rooms about stock that changed elsewhere (a cart emptied, an order).
    pub fn changed(&self, levels: Vec<StockLevel>) {
        for level in levels {
            self.sold_out.saw(&level);
            let _ = self.stock.send(level);
        }
    }
}

/// Where the ledger's batches run.
enum Decider {
    /// Through the store's pool.
    Pool(Store),
    /// On the ledger thread's own SQLite connection.
    Own(vetrina_store::shop::SqliteLedger),
}

impl Decider {
    async fn hold_batch(
        &mut self,
        org: &OrgId,
        variant: &VariantId,
        requests: &[NewHold],
        now: i64,
        hold_ms: i64,
    ) -> Result<(Vec<Held>, Item, StockLevel), StoreError> {
        match self {
            Decider::Pool(store) => store.hold_batch(org, variant, requests, now, hold_ms).await,
            Decider::Own(own) => own.hold_batch(org, variant, requests, now, hold_ms),
        }
    }
}

async fn decide(
    mut decider: Decider,
    mut jobs: mpsc::Receiver<Job>,
    stock: broadcast::Sender<StockLevel>,
    sold_out: SoldOut,
    hold_ms: i64,
    batch_size: usize,
) {
    while let Some(first) = jobs.recv().await {
        // Everything that is waiting joins this round, grouped by variant in arrival order.
        let mut groups: Vec<((OrgId, VariantId), Vec<Job>)> = Vec::new();
        let mut index: HashMap<(OrgId, VariantId), usize> = HashMap::new();
        let mut n = 0;
        let mut next = Some(first);
        while let Some(job) = next {
            let key = (job.org.clone(), job.variant.clone());
            let i = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(job);
            n += 1;
            next = if n < batch_size * 8 { jobs.try_recv().ok() } else { None };
        }
        for ((org, variant), group) in groups {
            for batch in chunks(group, batch_size) {
                // Sold out by an earlier batch: the rest of the rush is answered without asking.
                if sold_out.is(&org, &variant) {
                    for job in batch {
                        let _ = job.reply.send(Err(LedgerError::SoldOut));
                    }
                    continue;
                }
                let (requests, replies): (Vec<NewHold>, Vec<Reply>) = batch.into_iter().map(|j| (j.hold, j.reply)).unzip();
                let epoch = sold_out.epoch();
                let started = std::time::Instant::now();
                let result = decider.hold_batch(&org, &variant, &requests, now_ms(), hold_ms).await;
                tracing::debug!(variant_id = %variant, requests = requests.len(), ms = started.elapsed().as_secs_f64() * 1000.0, "decided a batch");
                match result {
                    Ok((results, item, level)) => {
                        sold_out.saw_since(&level, Some(epoch));
                        let _ = stock.send(level.clone());
                        let (item, level) = (Arc::new(item), Arc::new(level));
                        for (reply, held) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok((held, item.clone(), level.clone())));
                        }
                    }
                    Err(e) => {
                        if !matches!(e, StoreError::NotFound) {
                            tracing::error!(variant_id = %variant, error = %e, "cannot hold stock");
                        }
                        let answer = if matches!(e, StoreError::NotFound) { LedgerError::NotFound } else { LedgerError::Failed };
                        for reply in replies {
                            let _ = reply.send(Err(answer.clone()));
                        }
                    }
                }
            }
        }
    }
}

fn chunks(mut jobs: Vec<Job>, size: usize) -> Vec<Vec<Job>> {
    let mut out = Vec::new();
    while jobs.len() > size {
        let rest = jobs.split_off(size);
        out.push(jobs);
        jobs = rest;
    }
    out.push(jobs);
    out
}

/// Returns expired holds to stock, every second.
async fn sweep(store: Store, stock: broadcast::Sender<StockLevel>, sold_out: SoldOut) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        loop {
            match store.expire_holds(now_ms(), 1_000).await {
                Ok(levels) => {
                    let done = levels.is_empty();
                    for level in levels {
                        sold_out.saw(&level);
                        let _ = stock.send(level);
                    }
                    if done {
                        break;
                    }
                }
                // The node is stopping.
                Err(_) if store.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot return expired holds to stock (will try again)");
                    break;
                }
            }
        }
    }
}
