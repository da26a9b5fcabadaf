//! When media makes a show live and when its absence ends it. Sans-IO: events and time in,
//! decisions out, so the grace period is tested without waiting.
//!
//! The first publisher to connect turns the show live. When the publisher is gone, the show
//! stays live for the grace period; a publisher that comes back within it resumes the same show
//! (and the same recording); after it, the show ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A decision for the show's owner (the store) to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A publisher connected: the show is live (again).
    Live(String),
    /// The publisher has been gone for the whole grace period: the show has ended.
    End(String),
}

#[derive(Debug)]
pub struct Lifecycle {
    grace: Duration,
    /// Shows whose publisher left, and when.
    absent_since: HashMap<String, Instant>,
}

impl Lifecycle {
    pub fn new(grace: Duration) -> Lifecycle {
        Lifecycle { grace, absent_since: HashMap::new() }
    }

    pub fn publisher_connected(&mut self, show: &str) -> Decision {
        self.absent_since.remove(show);
        Decision::Live(show.to_string())
    }

    pub fn publisher_gone(&mut self, show: &str, now: Instant) {
        self.absent_since.insert(show.to_string(), now);
    }

    /// Shows whose grace period ran out by `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<Decision> {
        let grace = self.grace;
        let expired: Vec<String> =
            self.absent_since.iter().filter(|(_, t)| now.duration_since(**t) >= grace).map(|(s, _)| s.clone()).collect();
        for show in &expired {
            self.absent_since.remove(show);
        }
        expired.into_iter().map(Decision::End).collect()
    }

    /// When `tick` next has something to decide.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.absent_since.values().min().map(|t| *t + self.grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_period() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(Duration::from_secs(60));
        assert_eq!(l.publisher_connected("a"), Decision::Live("a".into()));
        l.publisher_gone("a", t0);
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(60)));
        assert!(l.tick(t0 + Duration::from_secs(59)).is_empty());
        // Back within the grace period: the same show goes on.
        l.publisher_connected("a");
        assert!(l.tick(t0 + Duration::from_secs(120)).is_empty());
        l.publisher_gone("a", t0 + Duration::from_secs(130));
        assert_eq!(l.tick(t0 + Duration::from_secs(190)), vec![Decision::End("a".into())]);
        assert!(l.tick(t0 + Duration::from_secs(500)).is_empty(), "once");
    }
}
