//! The forwarding rules, without I/O: which frames a viewer gets, and when a publisher is asked
//! for a keyframe. The engine applies them to its sessions; here they are tested alone.

use std::time::{Duration, Instant};

/// One viewer's gate: nothing until a keyframe, and back to waiting for one whenever the viewer
/// falls behind (a write into its full send queue), instead of buffering.
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

#[cfg(test)]
mod tests {
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
