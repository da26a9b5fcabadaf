//! A first look at an SDP offer (RFC 8866) before it reaches the WebRTC stack: is it SDP at all,
//! does it carry media we can take, and which codecs. Gives people clear reasons ("the offer has
//! no H.264, VP8 or Opus") instead of a generic failure. No I/O; fuzzed (`fuzz/sdp_offer`).

/// What an offer asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OfferSummary {
    pub n_audio: usize,
    pub n_video: usize,
    pub has_h264: bool,
    pub has_vp8: bool,
    pub has_opus: bool,
    /// Every codec name offered, upper case, for messages.
    pub codecs: Vec<String>,
}

impl OfferSummary {
    /// Whether there is media we can take: a video line with H.264 or VP8, or an audio line with Opus.
    pub fn has_supported_media(&self) -> bool {
        (self.n_video > 0 && (self.has_h264 || self.has_vp8)) || (self.n_audio > 0 && self.has_opus)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpProblem {
    #[error("the offer is not SDP: it must start with \"v=0\"")]
    NotSdp,
    #[error("the offer has no media (no \"m=\" line)")]
    NoMedia,
    #[error("line {0} of the offer is not \"<letter>=<value>\"")]
    BadLine(usize),
}

/// Reads an offer's structure. Accepts CRLF or LF line ends (RFC 8866 asks CRLF; many tools send LF).
pub fn inspect(offer: &str) -> Result<OfferSummary, SdpProblem> {
    let mut summary = OfferSummary::default();
    let mut lines = offer.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()).enumerate();
    match lines.next() {
        Some((_, "v=0")) => {}
        _ => return Err(SdpProblem::NotSdp),
    }
    let mut n_media = 0;
    for (i, line) in lines {
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(SdpProblem::BadLine(i + 1));
        }
        let value = &line[2..];
        match bytes[0] {
            b'm' => {
                n_media += 1;
                match value.split(' ').next() {
                    Some("audio") => summary.n_audio += 1,
                    Some("video") => summary.n_video += 1,
                    _ => {}
                }
            }
            b'a' => {
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    let codec = map.split_once(' ').map(|(_, c)| c).unwrap_or("").split('/').next().unwrap_or("").to_ascii_uppercase();
                    match codec.as_str() {
                        "H264" => summary.has_h264 = true,
                        "VP8" => summary.has_vp8 = true,
                        "OPUS" => summary.has_opus = true,
                        _ => {}
                    }
                    if !codec.is_empty() && !summary.codecs.contains(&codec) && summary.codecs.len() < 32 {
                        summary.codecs.push(codec);
                    }
                }
            }
            _ => {}
        }
    }
    if n_media == 0 {
        return Err(SdpProblem::NoMedia);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n";

    #[test]
    fn offers() {
        let s = inspect(CHROME).unwrap();
        assert_eq!((s.n_audio, s.n_video), (1, 1));
        assert!(s.has_h264 && s.has_vp8 && s.has_opus && s.has_supported_media());
        assert_eq!(inspect("hello"), Err(SdpProblem::NotSdp));
        assert_eq!(inspect(""), Err(SdpProblem::NotSdp));
        assert_eq!(inspect("v=0\r\ns=-\r\n"), Err(SdpProblem::NoMedia));
        assert_eq!(inspect("v=0\nm=video 9 RTP 96\nnonsense\n"), Err(SdpProblem::BadLine(3)));
        let av1 = inspect("v=0\nm=video 9 UDP/TLS/RTP/SAVPF 45\na=rtpmap:45 AV1/90000\n").unwrap();
        assert!(!av1.has_supported_media());
        assert_eq!(av1.codecs, ["AV1"]);
    }
}
