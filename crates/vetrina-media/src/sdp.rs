//! A first look at an SDP offer (RFC 8866) before it reaches the WebRTC stack: is it SDP at all,
//! does it carry media we can take, and which codecs. Gives people clear reasons ("the offer has
//! no H.264, VP8 or Opus") instead of a generic failure. No I/O; fuzzed (`fuzz/sdp_offer`).

/// What an offer asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OfferSummary {
    /// Sections of every kind (`m=` lines), data channels included.
    pub n_media: usize,
    /// Audio and video sections in use (not turned down with port 0).
    pub n_audio: usize,
    pub n_video: usize,
    pub has_h264: bool,
    pub has_vp8: bool,
    pub has_opus: bool,
    /// Every codec name offered, upper case, for messages.
    pub codecs: Vec<String>,
    /// Audio and video sections (not turned down with port 0) with no codec we take: "video".
    pub unusable: Vec<&'static str>,
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
    #[error("the offer's {kind} is {direction}: {expected}")]
    Direction { kind: &'static str, direction: String, expected: &'static str },
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
    // The audio or video section being read: its kind, whether it has port 0, a codec we take,
    // `a=bundle-only`.
    let mut section: Option<(&'static str, bool, bool, bool)> = None;
    // A section read to its end: counted when in use (port 0 turns a section down, RFC 3264
    // section 6, unless it is bundle-only, RFC 8843), and noted when we take none of its codecs.
    let finish = |summary: &mut OfferSummary, section: Option<(&'static str, bool, bool, bool)>| {
        let Some((kind, port_0, taken, bundle_only)) = section else { return };
        if port_0 && !bundle_only {
            return;
        }
        if kind == "audio" {
            summary.n_audio += 1;
        } else {
            summary.n_video += 1;
        }
        if !taken {
            summary.unusable.push(kind);
        }
    };
    for (i, line) in lines {
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(SdpProblem::BadLine(i + 1));
        }
        let value = &line[2..];
        match bytes[0] {
            b'm' => {
                n_media += 1;
                finish(&mut summary, section.take());
                let mut fields = value.split(' ');
                let kind = match fields.next() {
                    Some("audio") => Some("audio"),
                    Some("video") => Some("video"),
                    _ => None,
                };
                section = kind.map(|k| (k, fields.next() == Some("0"), false, false));
            }
            b'a' => {
                if let (Some(s), "bundle-only") = (section.as_mut(), value) {
                    s.3 = true;
                }
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    let codec = map.split_once(' ').map(|(_, c)| c).unwrap_or("").split('/').next().unwrap_or("").to_ascii_uppercase();
                    match codec.as_str() {
                        "H264" => summary.has_h264 = true,
                        "VP8" => summary.has_vp8 = true,
                        "OPUS" => summary.has_opus = true,
                        _ => {}
                    }
                    if let Some(s) = section.as_mut() {
                        s.2 |= if s.0 == "video" { matches!(codec.as_str(), "H264" | "VP8") } else { codec == "OPUS" };
                    }
                    if !codec.is_empty() && !summary.codecs.contains(&codec) && summary.codecs.len() < 32 {
                        summary.codecs.push(codec);
                    }
                }
            }
            _ => {}
        }
    }
    finish(&mut summary, section);
    summary.n_media = n_media;
    if n_media == 0 {
        return Err(SdpProblem::NoMedia);
    }
    Ok(summary)
}

/// Our answer as we send it: the full list of our candidates, said to be complete
/// (`a=end-of-candidates`, RFC 8840 section 4.4; RFC 9725 section 4.3.2 asks for the full list
/// in the answer), and no `a=ice-options:trickle`: we take no trickled candidates (an ICE-lite
/// server needs none, and PATCH answers 405). With `one_stream` every section's `msid` names the
/// same stream (WHEP: a viewer gets one MediaStream).
pub fn finish_answer(answer: &str, one_stream: bool) -> String {
    let eol = if answer.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<&str> = answer.lines().map(|l| l.trim_end_matches('\r')).collect();
    // The candidates go with the first section; when that one is turned down (port 0: a viewer's
    // video in a codec we lack) they must move to the first section in use, or the client finds
    // none where the bundle is carried.
    let sections: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.starts_with("m=")).map(|(i, _)| i).collect();
    let section_of = |at: usize| sections.iter().rposition(|&start| start <= at);
    let turned_down = |section: usize| lines[sections[section]].split(' ').nth(1) == Some("0");
    if let Some(first) = lines.iter().position(|l| l.starts_with("a=candidate:"))
        && let Some(with_candidates) = section_of(first)
        && turned_down(with_candidates)
        && let Some(live) = (0..sections.len()).find(|&s| !turned_down(s))
    {
        let candidates: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("a=candidate:")).collect();
        lines.retain(|l| !l.starts_with("a=candidate:"));
        let sections: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.starts_with("m=")).map(|(i, _)| i).collect();
        let end = sections.get(live + 1).copied().unwrap_or(lines.len());
        lines.splice(end..end, candidates);
    }
    let stream = lines.iter().find_map(|l| l.strip_prefix("a=msid:")).and_then(|v| v.split(' ').next()).map(str::to_string);
    let mut out = String::with_capacity(answer.len() + 64);
    for (i, line) in lines.iter().enumerate() {
        if *line == "a=ice-options:trickle" || *line == "a=end-of-candidates" {
            continue;
        }
        match (one_stream, &stream) {
            (true, Some(stream)) if line.starts_with("a=msid:") || (line.starts_with("a=ssrc:") && line.contains(" msid:")) => {
                // `a=msid:<stream> <track>`, `a=ssrc:<n> msid:<stream> <track>`.
                let (head, rest) = line.split_once("msid:").unwrap_or((line, ""));
                let track = rest.split_once(' ').map(|(_, t)| t);
                out.push_str(head);
                out.push_str("msid:");
                out.push_str(stream);
                if let Some(track) = track {
                    out.push(' ');
                    out.push_str(track);
                }
            }
            (true, Some(stream)) if line.starts_with("a=msid-semantic:") => {
                out.push_str("a=msid-semantic: WMS ");
                out.push_str(stream);
            }
            _ => out.push_str(line),
        }
        out.push_str(eol);
        let next_is_candidate = lines.get(i + 1).is_some_and(|l| l.starts_with("a=candidate:"));
        if line.starts_with("a=candidate:") && !next_is_candidate {
            out.push_str("a=end-of-candidates");
            out.push_str(eol);
        }
    }
    out
}

const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/// The offer made one-way, as WHIP and WHEP sessions are (RFC 9725 section 4.4.1; WHEP's
/// "Media Direction Attributes"): in each audio and video section a publisher's `sendrecv`
/// becomes `sendonly` and a viewer's `recvonly`, so that the answer says `recvonly` to a
/// publisher and `sendonly` to a viewer, as both protocols require. A section with no direction
/// takes the session's, or `sendrecv` (RFC 8866 section 6.7). The other way round, or
/// `inactive`, is refused. Line ends are kept as they came.
pub fn one_way(offer: &str, publisher: bool) -> Result<String, SdpProblem> {
    let (ours, expected) = if publisher {
        ("sendonly", "a WHIP offer sends media (sendonly, or sendrecv)")
    } else {
        ("recvonly", "a WHEP offer receives media (recvonly, or sendrecv)")
    };
    let direction_of = |line: &str| DIRECTIONS.into_iter().find(|d| line.trim_end() == format!("a={d}"));
    let eol = if offer.contains("\r\n") { "\r\n" } else { "\n" };
    let mut session_direction = "sendrecv";
    let mut out = String::with_capacity(offer.len() + 64);
    // The audio or video section being copied, and whether it has said its direction. Port 0
    // turns a section down unless it is bundle-only (RFC 8843): a max-bundle offer's later
    // sections are, and they are in use. A port-0 section is held until that is known.
    let mut open: Option<(&'static str, bool)> = None;
    let mut port_0: Option<(&'static str, String)> = None;
    let close = |open: &mut Option<(&'static str, bool)>, out: &mut String, session: &str| -> Result<(), SdpProblem> {
        if let Some((kind, false)) = open.take() {
            let direction = if session == "sendrecv" { ours } else { session };
            if direction != ours {
                return Err(SdpProblem::Direction { kind, direction: direction.to_string(), expected });
            }
            if !out.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str("a=");
            out.push_str(direction);
            out.push_str(eol);
        }
        Ok(())
    };
    // A direction line of an audio or video section in use, written one-way; `false` when the
    // line is no direction.
    let one_way_line = |out: &mut String, piece: &str, line: &str, kind: &'static str| -> Result<bool, SdpProblem> {
        let Some(direction) = direction_of(line) else { return Ok(false) };
        if direction != "sendrecv" && direction != ours {
            return Err(SdpProblem::Direction { kind, direction: direction.to_string(), expected });
        }
        out.push_str("a=");
        out.push_str(ours);
        out.push_str(&piece[line.len()..]);
        Ok(true)
    };
    let mut in_media = false;
    for piece in offer.split_inclusive('\n') {
        let line = piece.trim_end_matches(['\r', '\n']);
        if let Some(value) = line.strip_prefix("m=") {
            close(&mut open, &mut out, session_direction)?;
            in_media = true;
            let mut fields = value.split(' ');
            let kind = match fields.next() {
                Some("audio") => Some("audio"),
                Some("video") => Some("video"),
                _ => None,
            };
            if let Some((_, held)) = port_0.take() {
                out.push_str(&held);
            }
            open = None;
            match (kind, fields.next()) {
                (Some(kind), Some("0")) => {
                    out.push_str(piece);
                    port_0 = Some((kind, String::new()));
                    continue;
                }
                (Some(kind), _) => open = Some((kind, false)),
                _ => {}
            }
        } else if let Some((kind, held)) = port_0.as_mut() {
            held.push_str(piece);
            if line.trim_end() == "a=bundle-only" {
                // In use after all: its lines so far are copied as those of a section in use.
                let (kind, held) = (*kind, std::mem::take(held));
                port_0 = None;
                let mut said = false;
                for piece in held.split_inclusive('\n') {
                    if one_way_line(&mut out, piece, piece.trim_end_matches(['\r', '\n']), kind)? {
                        said = true;
                    } else {
                        out.push_str(piece);
                    }
                }
                open = Some((kind, said));
            }
            continue;
        } else if !in_media {
            if let Some(direction) = direction_of(line) {
                session_direction = direction;
            }
        } else if let Some((kind, said)) = open.as_mut()
            && one_way_line(&mut out, piece, line, kind)?
        {
            *said = true;
            continue;
        }
        out.push_str(piece);
    }
    if let Some((_, held)) = port_0.take() {
        out.push_str(&held);
    }
    close(&mut open, &mut out, session_direction)?;
    Ok(out)
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
        assert_eq!(av1.unusable, ["video"]);
        assert!(s.unusable.is_empty());
        // A section turned down with port 0 is not one the offer wants; a bundle-only one is.
        let partial = "v=0\nm=audio 9 RTP 111\na=rtpmap:111 opus/48000/2\nm=video 0 RTP 45\na=rtpmap:45 AV1/90000\n";
        let summary = inspect(partial).unwrap();
        assert!(summary.unusable.is_empty() && (summary.n_audio, summary.n_video, summary.n_media) == (1, 0, 2));
        let bundled = partial.replace("AV1/90000\n", "AV1/90000\na=bundle-only\n");
        assert_eq!(inspect(&bundled).unwrap().unusable, ["video"]);
    }

    #[test]
    fn answers_say_their_candidates_are_all_there() {
        let answer = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic: WMS s1 s2\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-options:trickle\r\na=mid:0\r\na=sendonly\r\na=msid:s1 t1\r\n\
            a=ssrc:1 cname:x\r\na=ssrc:1 msid:s1 t1\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
            a=candidate:2 1 udp 2130706431 127.0.0.2 5000 typ host\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-options:trickle\r\na=mid:1\r\na=sendonly\r\na=msid:s2 t2\r\na=ssrc:2 msid:s2 t2\r\n";
        let whep = finish_answer(answer, true);
        assert!(!whep.contains("trickle"), "{whep}");
        assert!(whep.contains("typ host\r\na=end-of-candidates\r\nm=video"), "once, after the last: {whep}");
        assert_eq!(whep.matches("end-of-candidates").count(), 1);
        assert!(
            whep.contains("a=msid-semantic: WMS s1\r\n") && whep.contains("a=msid:s1 t2\r\n") && whep.contains("a=ssrc:2 msid:s1 t2\r\n")
        );
        assert!(!whep.contains("s2 ") && whep.contains("a=ssrc:1 cname:x\r\n"), "{whep}");
        let whip = finish_answer(answer, false);
        assert!(whip.contains("a=msid:s2 t2") && whip.contains("a=end-of-candidates"));
        // The first section turned down: the candidates move to the first one in use.
        let rejected = answer.replace("m=audio 9", "m=audio 0");
        let moved = finish_answer(&rejected, true);
        let video_at = moved.find("m=video").unwrap();
        assert_eq!(moved[..video_at].matches("a=candidate:").count(), 0, "{moved}");
        assert!(moved[video_at..].ends_with("typ host\r\na=end-of-candidates\r\n"), "{moved}");
        assert_eq!(moved.matches("a=candidate:").count(), 2);
    }

    #[test]
    fn offers_are_made_one_way() {
        // A browser's transceivers are sendrecv unless told otherwise.
        let both = CHROME.replace("opus/48000/2\r\n", "opus/48000/2\r\na=sendrecv\r\n");
        let whip = one_way(&both, true).unwrap();
        assert!(whip.contains("opus/48000/2\r\na=sendonly\r\nm=video") && !whip.contains("sendrecv"), "{whip}");
        // The video section said nothing: sendrecv by default (RFC 8866 section 6.7).
        assert!(whip.ends_with("H264/90000\r\na=sendonly\r\n"), "{whip}");
        let whep = one_way(&both, false).unwrap();
        assert_eq!(whep.matches("a=recvonly\r\n").count(), 2, "{whep}");
        assert_eq!(whep.matches('\n').count(), whep.matches("\r\n").count(), "CRLF kept");
        // Already one-way the right way: unchanged.
        let sendonly = both.replace("sendrecv", "sendonly") + "a=sendonly\r\n";
        assert_eq!(one_way(&sendonly, true).unwrap(), sendonly);
        // The wrong way round, or inactive: refused, naming the section.
        assert_eq!(
            one_way(&sendonly, false).unwrap_err().to_string(),
            "the offer's audio is sendonly: a WHEP offer receives media (recvonly, or sendrecv)"
        );
        let inactive = both.replace("a=sendrecv", "a=inactive");
        assert!(matches!(one_way(&inactive, true), Err(SdpProblem::Direction { kind: "audio", .. })));
        // A session-level direction holds for sections that say none; LF line ends stay LF.
        let session = "v=0\ns=-\na=recvonly\nm=video 9 RTP 96\na=rtpmap:96 VP8/90000\n";
        assert_eq!(one_way(session, false).unwrap(), format!("{session}a=recvonly\n"));
        assert!(one_way(session, true).is_err());
        // Max-bundle: a later section with port 0 and bundle-only is in use, and made one-way.
        let bundled =
            "v=0\r\nm=audio 9 RTP 111\r\na=sendrecv\r\nm=video 0 RTP 96\r\na=sendrecv\r\na=bundle-only\r\na=rtpmap:96 VP8/90000\r\n";
        let whep = one_way(bundled, false).unwrap();
        assert_eq!(whep, bundled.replace("sendrecv", "recvonly"));
        let silent = "v=0\nm=video 9 RTP 96\nm=video 0 RTP 96\na=bundle-only\n";
        assert_eq!(one_way(silent, true).unwrap(), "v=0\nm=video 9 RTP 96\na=sendonly\nm=video 0 RTP 96\na=bundle-only\na=sendonly\n");
        // A section turned down and a data channel are left as they are.
        let other = "v=0\nm=video 0 RTP 45\na=inactive\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\n";
        assert_eq!(one_way(other, true).unwrap(), other);
    }
}
