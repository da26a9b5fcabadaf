//! Every viewer's bytes go through the room's WebSocket reader: arbitrary bytes never panic,
//! the messages do not depend on how the bytes were cut into reads, and nothing grows past the
//! message limit.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use vetrina_live::websocket::{Reader, Received};

const MAX: usize = 1024;

fn read(data: &[u8], cut: usize) -> (VecDeque<Received>, Option<u16>) {
    let mut reader = Reader::new(MAX);
    let mut out = VecDeque::new();
    for piece in data.chunks(cut.max(1)) {
        if let Err(v) = reader.feed(piece, &mut out) {
            return (out, Some(v.code));
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else { return };
    let whole = read(data, data.len());
    assert_eq!(read(data, usize::from(cut % 17)), whole, "the same messages however the bytes are cut");
    for message in &whole.0 {
        match message {
            Received::Text(t) => assert!(t.len() <= MAX),
            Received::Binary(b) => assert!(b.len() <= MAX),
            Received::Ping(p) => assert!(p.len() <= 125),
            Received::Pong | Received::Close(_) => {}
        }
    }
});
