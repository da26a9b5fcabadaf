//! A publisher's frames cut into RTP payloads once, for every viewer of the show (sans-IO).
//!
//! Viewers' sessions run in str0m's RTP mode: the engine writes these payloads to each viewer's
//! send stream with the viewer's own sequence numbers, so a frame is packetised once per show
//! rather than once per viewer, and its payloads are shared (`Arc`) rather than copied.

use std::sync::Arc;

use str0m::format::Codec;
use str0m::unversioned::{H264Packetizer, OpusPacketizer, Packetizer, Vp8Packetizer};

/// The largest RTP payload, as str0m cuts frames for its default datagram size: 1,150 bytes less
/// the SRTP tag (16), down to a whole SRTP block (16).
pub const PAYLOAD_MTU: usize = (1150 - 16) / 16 * 16;

/// One frame's RTP payloads, in order, shared by the viewers.
#[derive(Debug)]
pub struct Packets {
    pub payloads: Vec<Arc<[u8]>>,
    /// The frame's last packet carries the marker bit (video: the end of a picture).
    pub marker_on_last: bool,
    /// Losses may be answered with resends (video; not audio, whose next frame is due in 20 ms).
    pub nackable: bool,
}

/// A publisher's packetiser per codec: H.264 keeps the parameter sets it saw to put them before
/// the next picture, VP8 numbers pictures, so one lives as long as the publisher.
#[derive(Debug, Default)]
pub struct ShowPacketizer {
    h264: Option<H264Packetizer>,
    vp8: Option<Vp8Packetizer>,
}

impl ShowPacketizer {
    /// The payloads of one frame, or `None` for a codec Vetrina does not forward or a frame the
    /// packetiser refuses (it is then dropped for every viewer, as a lost frame would be).
    pub fn packetize(&mut self, codec: Codec, frame: &[u8]) -> Option<Packets> {
        let (chunks, marker_on_last, nackable) = match codec {
            Codec::H264 => {
                let p = self.h264.get_or_insert_with(H264Packetizer::default);
                (p.packetize(PAYLOAD_MTU, frame), true, p.nackable())
            }
            Codec::Vp8 => {
                let p = self.vp8.get_or_insert_with(Vp8Packetizer::default);
                (p.packetize(PAYLOAD_MTU, frame), true, p.nackable())
            }
            Codec::Opus => {
                let mut p = OpusPacketizer;
                (p.packetize(PAYLOAD_MTU, frame), false, p.nackable())
            }
            _ => return None,
        };
        let chunks = match chunks {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => return None,
            Err(e) => {
                tracing::debug!(?codec, error = %e, "frame not packetised");
                return None;
            }
        };
        Some(Packets { payloads: chunks.into_iter().map(Arc::from).collect(), marker_on_last, nackable })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An H.264 access unit in Annex B: SPS, PPS and an IDR slice of `idr_len` bytes.
    fn keyframe(idr_len: usize) -> Vec<u8> {
        let mut au = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65];
        au.extend((0..idr_len).map(|i| (i % 251) as u8 | 1));
        au
    }

    #[test]
    fn h264_keyframes_carry_their_parameter_sets_and_fit_the_mtu() {
        let mut p = ShowPacketizer::default();
        let packets = p.packetize(Codec::H264, &keyframe(5_000)).expect("packetised");
        assert!(packets.marker_on_last && packets.nackable);
        assert!(packets.payloads.len() >= 5, "5 kB in payloads of at most {PAYLOAD_MTU}: {}", packets.payloads.len());
        assert!(packets.payloads.iter().all(|p| p.len() <= PAYLOAD_MTU));
        // The parameter sets go with the picture: a STAP-A (24) or FU-A (28) first, carrying them.
        let first = &packets.payloads[0];
        assert!(matches!(first[0] & 0x1f, 24 | 28), "first NAL type {}", first[0] & 0x1f);
        let all: Vec<u8> = packets.payloads.iter().flat_map(|p| p.iter().copied()).collect();
        assert!(all.windows(4).any(|w| w == [0x67, 0x42, 0xc0, 0x1f]), "the SPS is sent");
        // A picture that fits one payload is one packet.
        let small = p.packetize(Codec::H264, &[0, 0, 0, 1, 0x41, 1, 2, 3]).expect("packetised");
        assert_eq!(small.payloads.len(), 1);
        assert_eq!(&small.payloads[0][..], &[0x41, 1, 2, 3]);
    }

    #[test]
    fn opus_is_one_unmarked_packet_without_resends() {
        let mut p = ShowPacketizer::default();
        let packets = p.packetize(Codec::Opus, &[0xfc; 120]).expect("packetised");
        assert_eq!(packets.payloads.len(), 1);
        assert!(!packets.marker_on_last && !packets.nackable);
    }

    #[test]
    fn vp8_pictures_are_cut_with_their_descriptor() {
        let mut p = ShowPacketizer::default();
        let packets = p.packetize(Codec::Vp8, &vec![0x10; 3_000]).expect("packetised");
        assert!(packets.payloads.len() >= 3 && packets.payloads.iter().all(|p| p.len() <= PAYLOAD_MTU));
        assert_eq!(packets.payloads[0][0] & 0x10, 0x10, "the first packet starts the partition (S bit)");
        assert_eq!(packets.payloads[1][0] & 0x10, 0, "the others do not");
        assert!(p.packetize(Codec::Vp9, &[1, 2, 3]).is_none(), "not forwarded");
    }
}
