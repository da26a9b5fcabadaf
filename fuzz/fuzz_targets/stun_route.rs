//! Every datagram from a new address is looked at by `vetrina_media::stun` to find the session
//! it is for: any bytes give an answer or none, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vetrina_media::stun;

fuzz_target!(|data: &[u8]| {
    let _ = stun::is_stun(data);
    if let Some(name) = stun::username(data) {
        assert!(name.len() <= 513);
    }
    let _ = stun::local_ufrag(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stun::sdp_ufrag(text);
    }
});
