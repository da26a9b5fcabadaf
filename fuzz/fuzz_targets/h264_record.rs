//! Publishers send H.264 that Vetrina parses to record (Annex B splitting, SPS sizes, the MP4
//! muxer): arbitrary frames never panic, and what is written is whole boxes.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vetrina_media::fmp4::{Fmp4Recorder, Kind};
use vetrina_media::h264;

fuzz_target!(|data: &[u8]| {
    for nal in h264::nal_units(data) {
        let _ = h264::sps_size(nal);
    }
    let t0 = Instant::now();
    let mut recorder = Fmp4Recorder::new();
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(64).enumerate() {
        let kind = if i % 3 == 2 { Kind::Audio } else { Kind::Video };
        let rtp = u64::from(chunk.first().copied().unwrap_or(0)) * 1000 + i as u64 * 3000;
        out.extend(recorder.push(kind, rtp, t0 + Duration::from_millis(i as u64 * 33), chunk));
    }
    out.extend(recorder.finish());
    // Whole boxes: each size covers exactly the bytes up to the next box.
    let mut rest = &out[..];
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        assert!(size >= 8 && size <= rest.len(), "box size {size} with {} bytes left", rest.len());
        rest = &rest[size..];
    }
    assert!(rest.is_empty());
});
