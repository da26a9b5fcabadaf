//! The forwarding rules, without I/O: which frames a viewer gets, and when a publisher is asked
//! for a keyframe. The engine applies them to its sessions; here they are tested alone.

use std::time::{Duration, Instant};

/// One viewer's gate: nothing until a keyframe, and back to waiting for one whenever the viewer
/// misses a video frame (its shard's queue was full), instead of showing a broken picture.
#[derive(Clone, Debug)]
pub struct Gate {
    waiting_keyframe: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { waiting_keyframe: true }
    }
}

impl Gate {
    /// Whether a frame goes to this viewer. Audio always passes once the viewer is connected;
    /// video from the first keyframe on.
    pub fn admit(&mut self, video: bool, keyframe: bool) -> bool {
        if !video {
            return true;
        }
        if self.waiting_keyframe && !keyframe {
            return false;
        }
        self.waiting_keyframe = false;
        true
    }

    /// The viewer could not take a frame: drop video until the next keyframe.
    pub fn fell_behind(&mut self) {
        self.waiting_keyframe = true;
    }

    /// Whether the viewer is receiving video.
    pub fn receiving(&self) -> bool {
        !self.waiting_keyframe
    }
}

/// Keyframe requests to one publisher: at most one per `interval`; requests inside the window are
/// merged into one sent when it ends (a burst of joining viewers costs the encoder one keyframe).
#[derive(Clone, Debug)]
pub struct KeyframeRequests {
    interval: Duration,
    last: Option<Instant>,
    wanted: bool,
}

impl KeyframeRequests {
    pub fn new(interval: Duration) -> KeyframeRequests {
        KeyframeRequests { interval, last: None, wanted: false }
    }

    /// Someone wants a keyframe at `now`: true when the request is to be sent now.
    pub fn ask(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|t| now.duration_since(t) < self.interval) {
            self.wanted = true;
            return false;
        }
        self.last = Some(now);
        self.wanted = false;
        true
    }

    /// Whether a merged request is due at `now` (then call [`KeyframeRequests::ask`]).
    pub fn due(&self, now: Instant) -> bool {
        self.wanted && self.last.is_some_and(|t| now.duration_since(t) >= self.interval)
    }
}

/// Forwarding delays (µs) since the engine started, in buckets of 1/32 of a power of two (HDR
/// style): constant memory, any percentile within about 3 %, every hand-over counted rather
/// than the last few thousand.
#[derive(Clone, Debug)]
pub struct Delays {
    counts: Vec<u64>,
    total: u64,
    max: u32,
}

impl Default for Delays {
    fn default() -> Self {
        Delays { counts: vec![0; 32 + 27 * 32], total: 0, max: 0 }
    }
}

impl Delays {
    fn bucket(us: u32) -> usize {
        if us < 32 {
            return us as usize;
        }
        let e = 31 - us.leading_zeros() as usize; // 5..=31
        32 + (e - 5) * 32 + ((us >> (e - 5)) & 31) as usize
    }

    /// The smallest delay a bucket holds.
    fn floor(bucket: usize) -> u32 {
        if bucket < 32 {
            return bucket as u32;
        }
        let (e, m) = ((bucket - 32) / 32 + 5, (bucket - 32) % 32);
        ((32 + m) as u32) << (e - 5)
    }

    pub fn record(&mut self, us: u32) {
        self.counts[Delays::bucket(us)] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    /// The delay under which a share `p` (0 to 1) of the hand-overs fell; 0 before any.
    pub fn percentile(&self, p: f64) -> u32 {
        let rank = ((self.total as f64 * p).ceil() as u64).clamp(1, self.total.max(1));
        if rank == self.total {
            return self.max;
        }
        let mut seen = 0;
        for (bucket, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank && *n > 0 {
                return Delays::floor(bucket).min(self.max);
            }
        }
        0
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// The non-empty buckets: (smallest delay the bucket holds, hand-overs in it), in order.
    pub fn buckets(&self) -> Vec<(u32, u64)> {
        self.counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(b, n)| (Delays::floor(b), *n)).collect()
    }

    /// Adds another's hand-overs (another shard's) to these.
    pub fn merge(&mut self, other: &Delays) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn delay_percentiles_hold_every_hand_over() {
        let mut d = Delays::default();
        assert_eq!(d.percentile(0.99), 0);
        for us in 1..=10_000 {
            d.record(us);
        }
        let near = |got: u32, want: u32| (f64::from(got) - f64::from(want)).abs() <= f64::from(want) * 0.035;
        assert!(near(d.percentile(0.5), 5_000), "{}", d.percentile(0.5));
        assert!(near(d.percentile(0.99), 9_900), "{}", d.percentile(0.99));
        assert_eq!(d.max(), 10_000);
        assert_eq!(d.percentile(1.0), 10_000);
        d.record(u32::MAX);
        assert_eq!(d.max(), u32::MAX);
        for us in [0, 31, 32, 33, 63, 64, 1 << 20, u32::MAX] {
            assert!(Delays::floor(Delays::bucket(us)) <= us && f64::from(us - Delays::floor(Delays::bucket(us))) <= f64::from(us) / 32.0);
        }
    }

    use super::*;

    #[test]
    fn viewers_start_and_restart_at_keyframes() {
        let mut gate = Gate::default();
        assert!(gate.admit(false, false), "audio flows at once");
        assert!(!gate.admit(true, false), "no video before a keyframe");
        assert!(gate.admit(true, true));
        assert!(gate.admit(true, false));
        assert!(gate.receiving());
        gate.fell_behind();
        assert!(!gate.admit(true, false), "behind: skip to the next keyframe");
        assert!(gate.admit(true, true));
    }

    #[test]
    fn keyframe_requests_are_merged() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut k = KeyframeRequests::new(ms(300));
        assert!(k.ask(t0));
        assert!(!k.ask(t0 + ms(10)), "throttled");
        assert!(!k.ask(t0 + ms(200)), "merged");
        assert!(!k.due(t0 + ms(299)));
        assert!(k.due(t0 + ms(300)), "sent when the window ends");
        assert!(k.ask(t0 + ms(300)));
        assert!(!k.due(t0 + ms(900)), "nothing more was asked");
    }
}
