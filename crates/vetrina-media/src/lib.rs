//! Vetrina's media plane: hosts publish live video over WHIP (RFC 9725) from a browser or OBS,
//! viewers watch over WHEP with sub-second latency; all sessions share one UDP port.
//!
//! - [`sdp`]: a first look at offers (sans-IO, fuzzed); [`stun`]: which session an ICE check is for.
//! - [`lifecycle`]: when media makes a show live and when its absence ends it (sans-IO).
//! - [`forward`]: the forwarding rules (keyframe gating, merged keyframe requests; sans-IO);
//!   [`packetize`]: a frame cut into RTP payloads once for every viewer (sans-IO).
//! - [`engine`]: the str0m sessions and the forwarding between them (a thread per core);
//!   `batch`: a session's datagrams sent in runs (UDP segmentation offload).
//! - [`fmp4`], [`h264`], [`recorder`]: recordings; [`clip`]: clips cut from them on keyframes.
//!
//! Not here: HTTP (the web plane calls [`engine::Media`]), shows and stream keys (the store).

mod batch;
pub mod clip;
pub mod engine;
pub mod fmp4;
pub mod forward;
pub mod h264;
pub mod lifecycle;
pub mod packetize;
pub mod recorder;
pub mod sdp;
pub mod stun;
pub mod webm;

pub use engine::{Media, MediaConfig, MediaError, MediaEvent, Opened, ShowMedia, Stats};

/// Installs str0m's crypto provider for the process; call once before opening sessions.
pub fn install_crypto() {
    str0m::crypto::from_feature_flags().install_process_default();
}
