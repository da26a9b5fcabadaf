//! Short-lived memory of hot reads: public show pages, catalogue listings, and who a credential
//! belongs to. A read-mostly shop serves the same answers thousands of times a second; the
//! database need not be asked each time.
//!
//! Every entry carries the [`Generation`] it was computed in. Any successful write through the web
//! plane moves the generation on (see `lib.rs`), which drops every entry at once: a node never
//! serves an answer older than its own last write. Writes made on another node (several nodes on
//! PostgreSQL) are seen after at most the entry's time to live. Planes that change data outside
//! HTTP (the ledger, later) call [`Generation::advance`] too.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A counter that every write moves on; entries from an older generation are gone.
#[derive(Clone, Debug, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// A bounded map whose entries expire after `ttl` or when the generation moves.
#[derive(Debug)]
pub struct Cache<K, V> {
    generation: Generation,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<K, (u64, Instant, V)>>,
    /// Loads under way, one per key, with the generation they started in: requests missing
    /// the same key in the same generation wait for them.
    loading: Mutex<HashMap<K, (u64, Loading<V>)>>,
}

type Loading<V> = Arc<tokio::sync::OnceCell<Option<V>>>;

/// A request's share in a load: when the last one leaves (done, or dropped mid-way), the load is
/// forgotten.
struct Share<'a, K: Eq + Hash, V> {
    loading: &'a Mutex<HashMap<K, (u64, Loading<V>)>>,
    key: &'a K,
    cell: Loading<V>,
}

impl<K: Eq + Hash, V> Drop for Share<'_, K, V> {
    fn drop(&mut self) {
        let Ok(mut loading) = self.loading.lock() else { return };
        // The map's and ours: nobody else waits for it.
        if loading.get(self.key).is_some_and(|(_, c)| Arc::ptr_eq(c, &self.cell)) && Arc::strong_count(&self.cell) <= 2 {
            loading.remove(self.key);
        }
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    pub fn new(generation: Generation, ttl: Duration, max_entries: usize) -> Self {
        Cache { generation, ttl, max_entries, entries: Mutex::new(HashMap::new()), loading: Mutex::new(HashMap::new()) }
    }

    /// The value for `key`, from memory or from `load` (then remembered). Requests that miss the
    /// same key at the same time wait for one load and share its result (`None` too), instead of
    /// each asking the database: a crowd arriving at a show that just changed asks once.
    pub async fn get_or_load(&self, key: K, load: impl Future<Output = Option<V>>) -> Option<V>
    where
        K: Clone,
    {
        if let Some(value) = self.get(&key) {
            return Some(value);
        }
        // A load started before a write is not joined: its answer may predate the write.
        let made_in = self.generation.current();
        let cell = {
            let Ok(mut loading) = self.loading.lock() else { return load.await };
            let entry = loading.entry(key.clone()).or_insert_with(|| (made_in, Loading::default()));
            if entry.0 != made_in {
                *entry = (made_in, Loading::default());
            }
            entry.1.clone()
        };
        let share = Share { loading: &self.loading, key: &key, cell };
        share
            .cell
            .get_or_init(|| async {
                let value = load.await;
                if let Some(value) = &value {
                    self.put(key.clone(), value.clone(), made_in);
                }
                value
            })
            .await
            .clone()
    }

    /// The value for `key` if it is of the current generation and younger than the time to live.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = Instant::now();
        let generation = self.generation.current();
        // No await is held under this lock and no code here panics, so it is never poisoned.
        let entries = self.entries.lock().ok()?;
        let (made_in, made_at, value) = entries.get(key)?;
        (*made_in == generation && now.duration_since(*made_at) < self.ttl).then(|| value.clone())
    }

    /// Remembers `value`, computed in generation `made_in` (read before the computation started,
    /// so a write that raced with it makes the value stale at once).
    pub fn put(&self, key: K, value: V, made_in: u64) {
        if made_in != self.generation.current() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= self.max_entries {
            // Full: start over rather than track recency; a miss only costs one database read.
            entries.clear();
        }
        entries.insert(key, (made_in, Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_crowd_that_misses_loads_once() {
        let cache: Arc<Cache<&str, u32>> = Arc::new(Cache::new(Generation::default(), Duration::from_secs(60), 10));
        let loads = Arc::new(AtomicU64::new(0));
        let crowd: Vec<_> = (0..50)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_load("show", async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Some(7)
                        })
                        .await
                })
            })
            .collect();
        for request in crowd {
            assert_eq!(request.await.unwrap(), Some(7));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for the crowd");
        assert!(cache.loading.lock().unwrap().is_empty(), "nothing left of the load");
        assert_eq!(cache.get_or_load("none", async { None }).await, None, "a miss is not remembered");
        assert!(cache.loading.lock().unwrap().is_empty());
        // A request given up mid-load leaves nothing behind.
        let slow = cache.get_or_load("slow", async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Some(1)
        });
        assert!(tokio::time::timeout(Duration::from_millis(10), slow).await.is_err());
        assert!(cache.loading.lock().unwrap().is_empty(), "a cancelled load is forgotten");
        // A write while a load runs: later requests do not take the older answer.
        let generation = Generation::default();
        let cache: Arc<Cache<&str, u32>> = Arc::new(Cache::new(generation.clone(), Duration::from_secs(60), 10));
        let before = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .get_or_load("show", async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some(1)
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        generation.advance();
        assert_eq!(cache.get_or_load("show", async { Some(2) }).await, Some(2), "read after the write");
        assert_eq!(before.await.unwrap(), Some(1));
        assert_eq!(cache.get(&"show"), Some(2), "the older answer is not kept");
        assert_eq!(cache.get_or_load("none", async { Some(1) }).await, Some(1));
    }

    #[test]
    fn generations_and_bounds() {
        let generation = Generation::default();
        let cache: Cache<&str, u32> = Cache::new(generation.clone(), Duration::from_secs(60), 2);
        let g = generation.current();
        cache.put("a", 1, g);
        assert_eq!(cache.get(&"a"), Some(1));
        generation.advance();
        assert_eq!(cache.get(&"a"), None, "a write drops every entry");
        cache.put("b", 2, g);
        assert_eq!(cache.get(&"b"), None, "computed before the write: not kept");
        let g = generation.current();
        cache.put("a", 1, g);
        cache.put("b", 2, g);
        cache.put("c", 3, g);
        assert_eq!(cache.get(&"a"), None, "bounded");
        assert_eq!(cache.get(&"c"), Some(3));
        let expired: Cache<&str, u32> = Cache::new(generation.clone(), Duration::ZERO, 2);
        expired.put("a", 1, generation.current());
        assert_eq!(expired.get(&"a"), None);
    }
}
