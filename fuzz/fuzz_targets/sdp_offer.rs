//! Untrusted SDP offers (WHIP and WHEP bodies): the inspection never panics, and an offer it
//! accepts has at least one media line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vetrina_media::sdp::inspect;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(summary) = inspect(text) {
        assert!(summary.codecs.len() <= 32);
        let _ = summary.has_supported_media();
    }
});
