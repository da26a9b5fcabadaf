//! When a room makes its next frame: a tick (about 100 ms) after the last one, once most of the
//! room's connections have written the last one out.
//!
//! A node can only write so many frames a second to its sockets. While it keeps up, frames go
//! every tick. When it cannot (a big room on a small machine), frames made on the clock would
//! only pile up in each connection's queue: every viewer would get every frame, later and later,
//! until their queues overflowed. Paced by delivery instead, the room makes fewer and fuller
//! frames, and a chat line waits for the next frame rather than behind a queue of old ones. A few
//! slow clients do not hold the room back: it waits for most (`MOST`), never for the last
//! `STRAGGLERS` (a stalled phone in a small room), and at most `wait_at_most`.

/// The share of connections (in percent) that must have written the last frame out.
pub const MOST: usize = 95;
/// Connections that may still be writing the last frame whatever the room's size.
pub const STRAGGLERS: usize = 8;

#[derive(Debug)]
pub struct Pace {
    every_ms: i64,
    wait_at_most_ms: i64,
    last_ms: Option<i64>,
}

impl Pace {
    pub fn new(every_ms: i64, wait_at_most_ms: i64) -> Pace {
        Pace { every_ms, wait_at_most_ms, last_ms: None }
    }

    /// Whether the next frame may be made at `now`: `written` of the `receivers` the last frame
    /// went to have written it out. A tick less a tenth counts as a tick (timers fire late).
    pub fn due(&self, now_ms: i64, written: usize, receivers: usize) -> bool {
        let Some(last) = self.last_ms else { return true };
        let since = now_ms - last;
        let behind = receivers.saturating_sub(written);
        since >= self.every_ms - self.every_ms / 10
            && (behind * 100 <= receivers * (100 - MOST) || behind <= STRAGGLERS || since >= self.wait_at_most_ms)
    }

    /// A frame was made at `now`.
    pub fn made(&mut self, now_ms: i64) {
        self.last_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::Pace;

    #[test]
    fn a_frame_a_tick_while_connections_keep_up() {
        let mut pace = Pace::new(100, 1000);
        assert!(pace.due(0, 0, 0), "the first frame goes at once");
        pace.made(0);
        assert!(!pace.due(50, 10_000, 10_000), "not twice in a tick");
        assert!(pace.due(98, 10_000, 10_000), "a timer a little early or the last frame a little late");
        assert!(pace.due(100, 10_000, 10_000));
        assert!(pace.due(100, 9_500, 10_000), "a few slow connections do not hold the room back");
    }

    #[test]
    fn a_node_behind_makes_fewer_frames() {
        let mut pace = Pace::new(100, 1000);
        pace.made(1_000);
        // 94 % have the last frame: wait for them, for at most a second.
        assert!(!pace.due(1_100, 9_400, 10_000));
        assert!(!pace.due(1_990, 9_400, 10_000));
        assert!(pace.due(1_250, 9_500, 10_000), "as soon as most have it");
        assert!(pace.due(2_000, 0, 10_000), "and never more than a second apart");
        // However small the room, a few stalled connections do not hold the others back.
        pace.made(3_000);
        assert!(pace.due(3_100, 2, 10));
        assert!(pace.due(3_100, 0, 8));
        assert!(!pace.due(3_100, 1, 10));
        // A frame nobody was listening to holds nothing back.
        pace.made(4_000);
        assert!(pace.due(4_100, 0, 0));
    }
}
