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
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    pub fn new(generation: Generation, ttl: Duration, max_entries: usize) -> Self {
        Cache { generation, ttl, max_entries, entries: Mutex::new(HashMap::new()) }
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
