//! Clips and indexed replays read a recording's boxes (`vetrina_media::clip`): any bytes give an
//! index or an error, never a panic, a clip cut from an index is whole boxes, and parts joined
//! take only bytes inside their files.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use vetrina_media::clip::{Index, Piece};

fuzz_target!(|data: &[u8]| {
    let Ok(index) = Index::read(&mut Cursor::new(data)) else { return };
    let _ = index.segment_index(0..index.fragments.len(), 0);
    // Joined as the parts of one show: every range taken stays inside the file.
    if let Some(joined) = vetrina_media::clip::join(&[(&index, 0), (&index, index.end_ms / 2)]) {
        for piece in joined.body {
            if let Piece::File { start, len, .. } = piece {
                assert!(start + len <= data.len() as u64);
            }
        }
    }
    let mut out = Vec::new();
    if index.cut(&mut Cursor::new(data), 0, index.end_ms.max(1), &mut out).is_ok() {
        let mut rest = &out[..];
        while rest.len() >= 8 {
            let size = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if size < 8 || size > rest.len() {
                break; // the source's own boxes may use 64-bit or to-the-end sizes
            }
            rest = &rest[size..];
        }
    }
});
