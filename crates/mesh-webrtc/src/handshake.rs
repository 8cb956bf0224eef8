//! The spec's signaling exchange over a `/webrtc-signaling/0.0.1` stream, ending in a usable
//! direct connection (browser only).
//!
//! Initiator (the dialer): `init` channel, offer, answer, trickled candidates until
//! `connected`, `init` open (and kept open: see [`initiate`]), close the stream. Responder:
//! read the offer, answer, trickle until `connected`, close the stream. No candidate is sent
//! before our SDP (the browser gathers only after `setLocalDescription`, which we call after
//! writing the SDP).

use std::{pin::Pin, task::Poll};

use futures::{
    AsyncReadExt, AsyncWriteExt, Stream as _, StreamExt,
    future::{self, Either},
    io::{ReadHalf, WriteHalf},
    stream::{self, LocalBoxStream},
};
use futures_timer::Delay;
use libp2p::Stream;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RtcIceCandidateInit, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit};

use crate::{
    config::Config,
    connection::Connection,
    error::Error,
    limits::Slot,
    offer,
    peer_connection::{INIT_LABEL, PeerConnection, js_error},
    proto::{self, SignalingMessage, SignalingType},
};

/// Runs `fut` with the configured timeout.
async fn with_timeout<T>(
    config: &Config,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let fut = std::pin::pin!(fut);
    match future::select(fut, Delay::new(config.handshake_timeout)).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(Error::Timeout),
    }
}

/// Dialer side. `slot`: the connection's place among the transport's connections.
pub(crate) async fn initiate(
    stream: Stream,
    config: Config,
    slot: Slot,
) -> Result<Connection, Error> {
    with_timeout(&config, async {
        let mut pc = PeerConnection::new(&config)?;
        // Forces an m=application section into the offer.
        let mut init = pc.create_channel(INIT_LABEL);
        let (reader, mut writer) = stream.split();
        let mut messages = message_stream(reader);

        let offer = JsFuture::from(pc.pc.create_offer())
            .await
            .map_err(js_error)?;
        let sdp = PeerConnection::sdp_of(&offer)?;
        write(&mut writer, SignalingType::SdpOffer, sdp.clone()).await?;
        set_description(&pc, RtcSdpType::Offer, &sdp, true).await?;

        let answer = messages
            .next()
            .await
            .ok_or(Error::Protocol("stream ended before the answer"))??;
        if answer.kind != SignalingType::SdpAnswer {
            return Err(Error::Protocol("expected SDP_ANSWER"));
        }
        set_description(&pc, RtcSdpType::Answer, &answer.data, false).await?;

        exchange_candidates(&mut pc, &mut messages, &mut writer).await?;

        // Wait for `init` to open (or to be closed by the remote, as js-libp2p's listener
        // does), then keep it open for the connection's life rather than close it (the spec's
        // dialer closes it). Closing it frees its SCTP stream id, and the browser gives that id
        // to the next channel at once. A Firefox responder that has not finished closing `init`
        // ignores that channel's open: the stream (identify, say) never gets an answer. Before
        // this, the dialer also waited for `init` to finish closing, and sometimes it never did.
        // Both showed as a Chromium tab whose connection to Firefox never identified.
        future::poll_fn(|cx| init.poll_settled(cx)).await;
        pc.keep_open(init);
        if let Err(e) = writer.close().await {
            tracing::debug!("closing the signaling stream: {e}");
        }
        drop(messages);
        Ok(Connection::new(pc, slot, config.max_inbound_streams))
    })
    .await
}

/// Listener side. The offer is read and checked before the `RTCPeerConnection` is created, so
/// a remote that sends junk costs one bounded read, not a connection.
pub(crate) async fn respond(
    stream: Stream,
    config: Config,
    slot: Slot,
) -> Result<Connection, Error> {
    with_timeout(&config, async {
        let (reader, mut writer) = stream.split();
        let mut messages = message_stream(reader);

        let offer = messages
            .next()
            .await
            .ok_or(Error::Protocol("stream ended before the offer"))??;
        offer::check_offer(&offer)?;
        let mut pc = PeerConnection::new(&config)?;
        set_description(&pc, RtcSdpType::Offer, &offer.data, false).await?;
        let answer = JsFuture::from(pc.pc.create_answer())
            .await
            .map_err(js_error)?;
        let sdp = PeerConnection::sdp_of(&answer)?;
        write(&mut writer, SignalingType::SdpAnswer, sdp.clone()).await?;
        set_description(&pc, RtcSdpType::Answer, &sdp, true).await?;

        exchange_candidates(&mut pc, &mut messages, &mut writer).await?;
        if let Err(e) = writer.close().await {
            tracing::debug!("closing the signaling stream: {e}");
        }
        drop(messages);
        Ok(Connection::new(pc, slot, config.max_inbound_streams))
    })
    .await
}

async fn set_description(
    pc: &PeerConnection,
    kind: RtcSdpType,
    sdp: &str,
    local: bool,
) -> Result<(), Error> {
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(sdp);
    let promise = if local {
        pc.pc.set_local_description(&description)
    } else {
        pc.pc.set_remote_description(&description)
    };
    JsFuture::from(promise).await.map_err(js_error)?;
    Ok(())
}

async fn write(
    writer: &mut WriteHalf<Stream>,
    kind: SignalingType,
    data: String,
) -> Result<(), Error> {
    writer
        .write_all(&SignalingMessage { kind, data }.encode_framed())
        .await?;
    writer.flush().await?;
    Ok(())
}

/// The remote's messages as a stream (so a pending read survives `select`).
fn message_stream(
    reader: ReadHalf<Stream>,
) -> LocalBoxStream<'static, Result<SignalingMessage, Error>> {
    stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        match proto::read_signaling_message(&mut reader).await {
            Ok(Some(m)) => Some((Ok(m), Some(reader))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed_local()
}

enum Step {
    Local(Option<String>),
    Remote(Option<Result<SignalingMessage, Error>>),
    StateChanged,
}

/// Trickles candidates both ways until the peer connection is `connected`.
async fn exchange_candidates(
    pc: &mut PeerConnection,
    messages: &mut LocalBoxStream<'static, Result<SignalingMessage, Error>>,
    writer: &mut WriteHalf<Stream>,
) -> Result<(), Error> {
    let mut local = pc
        .candidates
        .take()
        .ok_or(Error::Protocol("candidates taken twice"))?;
    let (mut local_done, mut remote_done) = (false, false);
    loop {
        match pc.pc.connection_state() {
            RtcPeerConnectionState::Connected => return Ok(()),
            RtcPeerConnectionState::Failed => return Err(Error::PeerConnection("failed")),
            RtcPeerConnectionState::Closed => return Err(Error::PeerConnection("closed")),
            _ => {}
        }
        let step = future::poll_fn(|cx| {
            if !local_done && let Poll::Ready(c) = Pin::new(&mut local).poll_next(cx) {
                return Poll::Ready(Step::Local(c));
            }
            if !remote_done && let Poll::Ready(m) = messages.poll_next_unpin(cx) {
                return Poll::Ready(Step::Remote(m));
            }
            if pc.state_changes.poll_next_unpin(cx).is_ready() {
                return Poll::Ready(Step::StateChanged);
            }
            Poll::Pending
        })
        .await;
        match step {
            Step::Local(Some(json)) => {
                // A remote that closed its side may have closed the stream already.
                if let Err(e) = write(writer, SignalingType::IceCandidate, json).await {
                    tracing::debug!("cannot send candidate: {e}");
                }
            }
            Step::Local(None) => local_done = true,
            Step::Remote(Some(Ok(m))) if m.kind == SignalingType::IceCandidate => {
                let Some(init) = PeerConnection::parse_candidate(&m.data) else {
                    continue;
                };
                let init: RtcIceCandidateInit = wasm_bindgen::JsCast::unchecked_into(init);
                let promise = pc
                    .pc
                    .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init));
                if let Err(e) = JsFuture::from(promise).await {
                    tracing::debug!("remote candidate rejected: {}", js_error(e));
                }
            }
            Step::Remote(Some(Ok(_))) => return Err(Error::Protocol("expected ICE_CANDIDATE")),
            // Once both SDPs are set the stream only carries candidates: ICE may well complete
            // without it (a peer that is already connected may reset rather than close it), so
            // an I/O error ends reading, not the handshake; the timeout still bounds it.
            Step::Remote(Some(Err(Error::Io(e)))) => {
                tracing::debug!("signaling stream failed while trickling: {e}");
                remote_done = true;
            }
            Step::Remote(Some(Err(e))) => return Err(e),
            // End of stream: the remote is connected; keep waiting for our side.
            Step::Remote(None) => remote_done = true,
            Step::StateChanged => {}
        }
    }
}
