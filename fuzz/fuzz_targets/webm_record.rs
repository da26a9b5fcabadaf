//! A VP8 publisher's frames go into a WebM recording, and finished WebM recordings are read back
//! to be served (`vetrina_media::webm`): arbitrary frames never panic and give a recording that
//! reads back whole; arbitrary bytes read as a recording give an index or an error, never a
//! panic.
#![no_main]

use std::io::Cursor;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vetrina_media::clip::Piece;
use vetrina_media::fmp4::{Container, Fmp4Recorder, Kind};
use vetrina_media::webm::Index;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Index::read(&mut Cursor::new(data)) {
        let _ = index.head();
        // Joined as the parts of one show: every range taken stays inside the file.
        if let Some((_, body)) = vetrina_media::webm::join(&[(&index, 0), (&index, 5_000)]) {
            for piece in body {
                if let Piece::File { start, len, .. } = piece {
                    assert!(start + len <= data.len() as u64);
                }
            }
        }
    }
    let t0 = Instant::now();
    let mut recorder = Fmp4Recorder::with(Container::WebM);
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(64).enumerate() {
        let kind = if i % 3 == 2 { Kind::Audio } else { Kind::Vp8 };
        let rtp = u64::from(chunk.first().copied().unwrap_or(0)) * 1000 + i as u64 * 3000;
        out.extend(recorder.push(kind, rtp, t0 + Duration::from_millis(i as u64 * 33), chunk));
    }
    out.extend(recorder.finish());
    if !out.is_empty() {
        let index = Index::read(&mut Cursor::new(&out)).expect("our own recording reads back");
        if !index.clusters.is_empty() {
            assert!(index.head().is_some());
        }
    }
});
