//! The checks a remote's SDP offer must pass before a responder creates an `RTCPeerConnection`
//! for it: the connection is the expensive part (ICE gathering, ports, DTLS), so a remote that
//! opens signaling streams with junk, or with an offer for media we never use, costs us only
//! reading one bounded message ([`crate::proto::MAX_SIGNALING_LEN`]).

use crate::{
    error::Error,
    proto::{SignalingMessage, SignalingType},
};

/// Accepts an offer with exactly one media section, `m=application` (the data channels the
/// spec uses), and a DTLS fingerprint (without one the connection could not be authenticated).
pub fn check_offer(message: &SignalingMessage) -> Result<(), Error> {
    if message.kind != SignalingType::SdpOffer {
        return Err(Error::Protocol("expected SDP_OFFER"));
    }
    let mut lines = message.data.lines().map(str::trim_end);
    if lines.next() != Some("v=0") {
        return Err(Error::BadOffer("does not start with v=0"));
    }
    let (mut application, mut fingerprint) = (0usize, false);
    for line in lines {
        if let Some(media) = line.strip_prefix("m=") {
            if !media.starts_with("application ") {
                return Err(Error::BadOffer("media other than data channels"));
            }
            application += 1;
        }
        fingerprint |= line.starts_with("a=fingerprint:");
    }
    match (application, fingerprint) {
        (0, _) => Err(Error::BadOffer("no m=application section")),
        (1, true) => Ok(()),
        (1, false) => Err(Error::BadOffer("no DTLS fingerprint")),
        _ => Err(Error::BadOffer("more than one m=application section")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(sdp: &str) -> SignalingMessage {
        SignalingMessage {
            kind: SignalingType::SdpOffer,
            data: sdp.into(),
        }
    }

    /// The shape of Chromium's data-channel-only offer (trimmed).
    const CHROMIUM: &str = "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=fingerprint:sha-256 AB:CD:EF\r\na=setup:actpass\r\na=mid:0\r\n\
        a=sctp-port:5000\r\na=max-message-size:262144\r\n";

    #[test]
    fn a_data_channel_offer_passes() {
        assert!(check_offer(&offer(CHROMIUM)).is_ok());
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        let answer = SignalingMessage {
            kind: SignalingType::SdpAnswer,
            data: CHROMIUM.into(),
        };
        assert!(matches!(check_offer(&answer), Err(Error::Protocol(_))));
        let cases = [
            ("", "does not start with v=0"),
            ("garbage", "does not start with v=0"),
            (
                "v=0\r\na=fingerprint:sha-256 AB\r\n",
                "no m=application section",
            ),
            (
                &CHROMIUM.replace("a=fingerprint:sha-256 AB:CD:EF\r\n", ""),
                "no DTLS fingerprint",
            ),
            (
                &format!("{CHROMIUM}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"),
                "media other than data channels",
            ),
            (
                &format!("{CHROMIUM}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"),
                "more than one m=application section",
            ),
        ];
        for (sdp, reason) in cases {
            match check_offer(&offer(sdp)) {
                Err(Error::BadOffer(r)) => assert_eq!(r, reason, "{sdp:?}"),
                other => panic!("{sdp:?}: {other:?}"),
            }
        }
    }
}
