//! Untrusted SDP offers (WHIP and WHEP bodies): the inspection and the one-way rewrite never
//! panic, an offer it accepts has at least one media line, and the rewrite keeps every line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vetrina_media::sdp::{finish_answer, inspect, one_way};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(summary) = inspect(text) {
        assert!(summary.codecs.len() <= 32 && summary.n_media >= 1);
        let _ = summary.has_supported_media();
    }
    for publisher in [true, false] {
        if let Ok(rewritten) = one_way(text, publisher) {
            assert_eq!(rewritten.matches("m=").count(), text.matches("m=").count());
        }
    }
    let _ = finish_answer(text, true);
});
