//! A first look at STUN datagrams (RFC 8489), sans-IO: enough to route an ICE connectivity check
//! from a new address to the one session it is for, by the session's ICE username fragment,
//! instead of asking every session. str0m then checks the message in full (integrity included).

/// Whether a datagram is a STUN message: the type's top two bits zero and the magic cookie.
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= 20 && datagram[0] & 0xc0 == 0 && datagram[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

const USERNAME: u16 = 0x0006;
/// RFC 8489 caps USERNAME at 513 bytes.
const MAX_USERNAME: usize = 513;

/// The USERNAME attribute of a STUN message, if it has one.
pub fn username(datagram: &[u8]) -> Option<&[u8]> {
    if !is_stun(datagram) {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(20..20 + length)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == USERNAME {
            return (len <= MAX_USERNAME).then_some(value);
        }
        // Values are padded to four bytes.
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// The ICE username fragment a connectivity check is addressed to: in a check sent to us the
/// USERNAME is `our-ufrag:their-ufrag` (RFC 8445 7.2.2).
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    let name = username(datagram)?;
    let ours = name.split(|b| *b == b':').next()?;
    std::str::from_utf8(ours).ok().filter(|u| !u.is_empty())
}

/// The `a=ice-ufrag:` of an SDP (our answer: the fragment checks to us will name).
pub fn sdp_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("a=ice-ufrag:")).map(str::trim).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binding request with a USERNAME (and a padding-needing length) then another attribute.
    fn binding(username: &[u8]) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend(USERNAME.to_be_bytes());
        attrs.extend((username.len() as u16).to_be_bytes());
        attrs.extend(username);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        attrs.extend([0x80, 0x2a, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]); // ICE-CONTROLLING
        let mut m = vec![0x00, 0x01];
        m.extend((attrs.len() as u16).to_be_bytes());
        m.extend([0x21, 0x12, 0xa4, 0x42]);
        m.extend([7u8; 12]);
        m.extend(attrs);
        m
    }

    #[test]
    fn finds_the_ufrag_a_check_is_for() {
        let m = binding(b"abcd:wxyz1");
        assert!(is_stun(&m));
        assert_eq!(username(&m), Some(&b"abcd:wxyz1"[..]));
        assert_eq!(local_ufrag(&m), Some("abcd"));
        assert_eq!(sdp_ufrag("v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\n"), Some("abcd"));
        assert_eq!(sdp_ufrag("v=0\r\n"), None);
    }

    #[test]
    fn malformed_messages_are_none() {
        let m = binding(b"abcd:wxyz");
        assert_eq!(username(&m[..24]), None, "shorter than it says");
        let mut lying = m.clone();
        lying[22] = 0xff; // the attribute claims more than there is
        assert_eq!(username(&lying), None);
        assert_eq!(local_ufrag(&binding(b":x")), None, "empty fragment");
        assert_eq!(local_ufrag(&binding(&[0xff, 0xfe, b':', b'a'])), None, "not text");
        assert_eq!(username(&[0x80; 40]), None, "RTP");
        assert_eq!(username(&binding(&[b'a'; 600])), None, "over 513 bytes");
        let mut none = binding(b"");
        none.truncate(20);
        none[2] = 0;
        none[3] = 0;
        assert_eq!(username(&none), None, "no attributes");
    }
}
