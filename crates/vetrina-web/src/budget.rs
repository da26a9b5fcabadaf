//! How often something may happen: token buckets (a steady rate and a burst), one per
//! connection or one per remote address. Time is tokio's, so tests run them in virtual time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::time::Instant;

/// A token bucket: `rate` tokens a second, at most `burst` saved.
pub(crate) struct Budget {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl Budget {
    pub(crate) fn new(rate: f64, burst: f64) -> Budget {
        Budget { rate, burst, tokens: burst, at: None }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(at) = self.at {
            self.tokens = (self.tokens + now.saturating_duration_since(at).as_secs_f64() * self.rate).min(self.burst);
        }
        self.at = Some(now);
    }

    /// Whether one more may happen now (and it is counted).
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole seconds until the next one may happen.
    fn wait_secs(&self) -> u32 {
        ((1.0 - self.tokens).max(0.0) / self.rate).ceil() as u32
    }
}

/// One budget per remote address, for what anyone may do without an account (sign in, pick a
/// guest name): enough for a household or a carrier's NAT, not for a script.
pub(crate) struct PerAddress {
    rate: f64,
    burst: f64,
    used: Mutex<Used>,
}

struct Used {
    budgets: HashMap<IpAddr, Budget>,
    /// When the addresses whose budget is full again were last forgotten.
    swept: Option<Instant>,
}

/// Addresses remembered before the ones whose budget is full again are forgotten (at most once
/// a second: a sweep reads them all).
const REMEMBERED: usize = 10_000;
/// Addresses remembered at most: past it (a flood from many addresses), all are forgotten, and
/// memory stays bounded at the cost of fresh budgets for everyone.
const REMEMBERED_AT_MOST: usize = 200_000;

impl PerAddress {
    pub(crate) fn new(rate: f64, burst: f64) -> PerAddress {
        PerAddress { rate, burst, used: Mutex::new(Used { budgets: HashMap::new(), swept: None }) }
    }

    /// Takes one from `ip`'s budget; when it is spent, the seconds to wait. Requests without a
    /// known address (not over TCP) are not counted.
    pub(crate) fn take(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), u32> {
        let Some(ip) = ip else { return Ok(()) };
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let Used { budgets, swept } = &mut *used;
        if budgets.len() >= REMEMBERED && !budgets.contains_key(&ip) && swept.is_none_or(|at| now.duration_since(at).as_secs() >= 1) {
            *swept = Some(now);
            budgets.retain(|_, b| {
                b.refill(now);
                b.tokens < b.burst
            });
        }
        if budgets.len() >= REMEMBERED_AT_MOST {
            budgets.clear();
        }
        let budget = budgets.entry(ip).or_insert_with(|| Budget::new(self.rate, self.burst));
        if budget.take(now) { Ok(()) } else { Err(budget.wait_secs().max(1)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_budget_under_virtual_time() {
        let t0 = Instant::now();
        let mut budget = Budget::new(20.0, 40.0);
        assert_eq!((0..50).filter(|_| budget.take(t0)).count(), 40, "a burst of 40");
        assert!(!budget.take(t0 + Duration::from_millis(10)));
        assert!(budget.take(t0 + Duration::from_millis(60)), "one more after 50 ms");
        assert!(!budget.take(t0 + Duration::from_millis(60)));
        assert_eq!((0..100).filter(|_| budget.take(t0 + Duration::from_secs(10))).count(), 40, "never more than the burst");
    }

    #[test]
    fn each_address_has_its_own_budget_and_is_told_how_long_to_wait() {
        let t0 = Instant::now();
        let limits = PerAddress::new(0.5, 3.0);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        assert!((0..3).all(|_| limits.take(Some(a), t0).is_ok()));
        assert_eq!(limits.take(Some(a), t0), Err(2), "one every two seconds");
        assert!(limits.take(Some(b), t0).is_ok(), "another address");
        assert!(limits.take(None, t0).is_ok());
        assert!(limits.take(Some(a), t0 + Duration::from_secs(2)).is_ok());
        // Many addresses later, the ones with a full budget again are forgotten.
        for i in 0..REMEMBERED as u32 {
            let _ = limits.take(Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))), t0);
        }
        let _ = limits.take(Some("198.51.100.7".parse().unwrap()), t0 + Duration::from_secs(60));
        assert_eq!(limits.used.lock().unwrap().budgets.len(), 1, "only the newcomer is remembered");
    }

    #[test]
    fn a_flood_from_many_addresses_stays_bounded() {
        let t0 = Instant::now();
        let limits = PerAddress::new(0.5, 3.0);
        // Every address still refilling: a sweep a second at most, then everything is forgotten.
        for i in 0..REMEMBERED_AT_MOST as u32 + 10 {
            let _ = limits.take(Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))), t0);
        }
        assert!(limits.used.lock().unwrap().budgets.len() < REMEMBERED_AT_MOST);
    }
}
