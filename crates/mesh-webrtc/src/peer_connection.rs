//! Thin, `!Send` wrappers over `RTCPeerConnection` and `RTCDataChannel` (browser only).
//!
//! Every event handler is installed when the object is created, so nothing the browser
//! dispatches early (a remote's first data channel, its first message) is lost (WEBRTC.md §6.5).

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    io,
    rc::Rc,
    task::{Context, Poll, Waker},
};

use futures::channel::mpsc;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit,
    RtcDataChannelState, RtcDataChannelType, RtcIceServer, RtcPeerConnection,
    RtcPeerConnectionIceEvent,
};

use crate::{config::Config, error::Error, limits::ReceiveBudget, stream::Channel};

/// Send buffer above which writers wait (`bufferedAmount`). What a channel has taken cannot be
/// recalled: a block the receiver cancels (won from the origin or another peer) still arrives
/// if it is in this buffer. At 1 MiB (four blocks) the swarm demo's tabs served 1.04-1.28x the
/// bytes peers used; at 256 KiB 1.00-1.04x, with no change in the 16 MiB throughput
/// (docs/BENCHMARKS-WEBRTC.md, "A smaller send buffer"). Data SCTP has in flight is not
/// counted here, so this does not cap the congestion window.
const HIGH_WATER: u32 = 256 * 1024;
/// `bufferedamountlow` fires below this: 64 KiB is ~2 ms at 30 MiB/s, time for the writer's
/// task to run before the buffer empties.
const LOW_WATER: u32 = 64 * 1024;
/// Remote-opened channels queued before the muxer takes them.
const MAX_PENDING_CHANNELS: usize = 32;
/// The label of the initiator's negotiation-only channel (spec).
pub(crate) const INIT_LABEL: &str = "init";

pub(crate) fn js_error(e: JsValue) -> Error {
    Error::Js(
        e.as_string()
            .or_else(|| {
                e.dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
            })
            .unwrap_or_else(|| format!("{e:?}")),
    )
}

#[derive(Default)]
struct ChannelShared {
    messages: VecDeque<Vec<u8>>,
    queued: usize,
    open: bool,
    closed: bool,
    /// Closed by us after dropping received messages (the receive budget was spent): the
    /// stream's read half ends in a reset, not EOF.
    lost: bool,
    recv_wakers: Vec<Waker>,
    /// Tasks waiting to send (a stream's reader may wait to send a FIN_ACK while its writer
    /// waits for room: both must be woken).
    write_wakers: Vec<Waker>,
}

impl ChannelShared {
    fn wait_to_write(&mut self, cx: &Context<'_>) {
        if !self.write_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            self.write_wakers.push(cx.waker().clone());
        }
    }

    fn wake_all(&mut self) {
        for w in self.recv_wakers.drain(..) {
            w.wake();
        }
        for w in self.write_wakers.drain(..) {
            w.wake();
        }
    }
}

/// An `RTCDataChannel` with its handlers, as a [`Channel`].
pub(crate) struct DataChannel {
    dc: RtcDataChannel,
    shared: Rc<RefCell<ChannelShared>>,
    /// The connection's, shared by all its channels; holds this channel's queued bytes.
    budget: ReceiveBudget,
    _onopen: Closure<dyn FnMut()>,
    _onclose: Closure<dyn FnMut()>,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
    _onlow: Closure<dyn FnMut()>,
}

impl DataChannel {
    pub(crate) fn new(dc: RtcDataChannel, channel_budget: ReceiveBudget) -> Self {
        dc.set_binary_type(RtcDataChannelType::Arraybuffer);
        dc.set_buffered_amount_low_threshold(LOW_WATER);
        let shared = Rc::new(RefCell::new(ChannelShared {
            open: dc.ready_state() == RtcDataChannelState::Open,
            closed: matches!(
                dc.ready_state(),
                RtcDataChannelState::Closing | RtcDataChannelState::Closed
            ),
            ..Default::default()
        }));
        let s = shared.clone();
        let onopen = Closure::<dyn FnMut()>::new(move || {
            let mut s = s.borrow_mut();
            s.open = true;
            s.wake_all();
        });
        let s = shared.clone();
        let onclose = Closure::<dyn FnMut()>::new(move || {
            let mut s = s.borrow_mut();
            s.closed = true;
            s.wake_all();
        });
        let s = shared.clone();
        let weak_dc = dc.clone();
        let budget = channel_budget.clone();
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let mut s = s.borrow_mut();
            if s.closed {
                return;
            }
            // Checked against the budget before it is copied into wasm memory: a flood past
            // the budget costs no copy.
            let data = ev.data();
            let buffer = data.dyn_ref::<js_sys::ArrayBuffer>();
            let text = if buffer.is_none() {
                data.as_string()
            } else {
                None
            };
            let len = match (buffer, &text) {
                (Some(buffer), _) => buffer.byte_length() as usize,
                (None, Some(text)) => text.len(),
                (None, None) => {
                    tracing::debug!("ignoring data channel message of unexpected type");
                    return;
                }
            };
            if budget.try_reserve(len) {
                let bytes = match buffer {
                    Some(buffer) => Uint8Array::new(buffer).to_vec(),
                    None => text.unwrap_or_default().into_bytes(),
                };
                s.queued += len;
                s.messages.push_back(bytes);
            } else {
                // The connection's receive budget is spent: its peer sends faster than we
                // read, or sends what nobody asked for. Dropping this channel's queue frees
                // what it held; the stream sees the channel close.
                tracing::debug!("connection receive budget exceeded; closing a channel");
                s.messages.clear();
                budget.release(std::mem::take(&mut s.queued));
                s.closed = true;
                s.lost = true;
                weak_dc.close();
            }
            for w in s.recv_wakers.drain(..) {
                w.wake();
            }
        });
        let s = shared.clone();
        let onlow = Closure::<dyn FnMut()>::new(move || {
            for w in s.borrow_mut().write_wakers.drain(..) {
                w.wake();
            }
        });
        dc.set_onopen(Some(onopen.as_ref().unchecked_ref()));
        dc.set_onclose(Some(onclose.as_ref().unchecked_ref()));
        dc.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        dc.set_onbufferedamountlow(Some(onlow.as_ref().unchecked_ref()));
        Self {
            dc,
            shared,
            budget: channel_budget,
            _onopen: onopen,
            _onclose: onclose,
            _onmessage: onmessage,
            _onlow: onlow,
        }
    }

    /// Ready once the channel has opened or closed, whichever the browser reported first
    /// (a js-libp2p responder closes `init` as soon as it arrives, so we may see both at once).
    pub(crate) fn poll_settled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.shared.borrow_mut();
        if s.open || s.closed {
            return Poll::Ready(());
        }
        s.wait_to_write(cx);
        Poll::Pending
    }

    /// From now on drops what arrives on this channel, and frees what it holds of the
    /// connection's receive budget. For a channel kept open that no stream reads: otherwise its
    /// remote could fill the budget every stream of the connection shares through it.
    pub(crate) fn discard_incoming(&mut self) {
        self.dc.set_onmessage(None);
        let mut s = self.shared.borrow_mut();
        s.messages.clear();
        self.budget.release(std::mem::take(&mut s.queued));
    }
}

impl Channel for DataChannel {
    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        {
            let mut s = self.shared.borrow_mut();
            if s.closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if !s.open {
                s.wait_to_write(cx);
                return Poll::Pending;
            }
            if self.dc.buffered_amount() <= HIGH_WATER {
                return Poll::Ready(Ok(()));
            }
            s.wait_to_write(cx);
        }
        // `bufferedamountlow` may have fired before the waker was stored.
        if self.dc.buffered_amount() <= LOW_WATER {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.dc
            .send_with_u8_array(message)
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, js_error(e).to_string()))
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Vec<u8>>>> {
        let mut s = self.shared.borrow_mut();
        if let Some(m) = s.messages.pop_front() {
            // Still counted against the budget until the stream's reader has it (`release`).
            s.queued -= m.len();
            return Poll::Ready(Some(Ok(m)));
        }
        if s.lost {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the connection's receive budget was spent: received bytes were dropped",
            ))));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        if !s.recv_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.recv_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn close(&mut self) {
        self.dc.close();
    }

    fn release(&mut self, bytes: usize) {
        self.budget.release(bytes);
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        self.dc.set_onopen(None);
        self.dc.set_onclose(None);
        self.dc.set_onmessage(None);
        self.dc.set_onbufferedamountlow(None);
        let mut s = self.shared.borrow_mut();
        s.messages.clear();
        self.budget.release(std::mem::take(&mut s.queued));
    }
}

/// A `statechange` handler and the `RTCSctpTransport` and `RTCDtlsTransport` it is set on.
type TransportWatch = (Closure<dyn FnMut()>, JsValue, JsValue);

/// An `RTCPeerConnection` with the handlers both roles need.
pub(crate) struct PeerConnection {
    pub(crate) pc: RtcPeerConnection,
    /// Remote-opened channels, already wrapped (so their messages are captured).
    pub(crate) inbound: mpsc::Receiver<DataChannel>,
    /// One item per `connectionstatechange`.
    pub(crate) state_changes: mpsc::UnboundedReceiver<()>,
    /// Received-but-unread bytes of all its channels ([`Config::with_max_receive_buffer`]).
    budget: ReceiveBudget,
    /// Local candidates as `JSON.stringify(candidate.toJSON())`; only during the handshake.
    pub(crate) candidates: Option<mpsc::UnboundedReceiver<String>>,
    /// The dialer's `init` channel, open for the connection's life (see `handshake::initiate`).
    init: Option<DataChannel>,
    /// Set once the SCTP or DTLS transport has closed: the remote closed its side (see
    /// [`PeerConnection::watch_transports`]).
    transport_closed: Rc<Cell<bool>>,
    state_tx: mpsc::UnboundedSender<()>,
    /// The `statechange` handler on `pc.sctp` and `pc.sctp.transport`, with those objects.
    transport_watch: Option<TransportWatch>,
    _ondatachannel: Closure<dyn FnMut(RtcDataChannelEvent)>,
    _onstate: Closure<dyn FnMut()>,
    _onicecandidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
}

impl PeerConnection {
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        let servers = Array::new();
        for server in &config.ice_servers {
            let s = RtcIceServer::new();
            let urls: Array = server.urls.iter().map(|u| JsValue::from_str(u)).collect();
            s.set_urls(&urls);
            if let Some(u) = &server.username {
                s.set_username(u);
            }
            if let Some(c) = &server.credential {
                s.set_credential(c);
            }
            servers.push(&s);
        }
        let rtc_config = RtcConfiguration::new();
        rtc_config.set_ice_servers(&servers);
        let pc = RtcPeerConnection::new_with_configuration(&rtc_config).map_err(js_error)?;

        let budget = ReceiveBudget::new(config.max_receive_buffer);
        let channel_budget = budget.clone();
        let (mut channel_tx, inbound) = mpsc::channel(MAX_PENDING_CHANNELS);
        let ondatachannel =
            Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |ev: RtcDataChannelEvent| {
                let dc = ev.channel();
                if dc.label() == INIT_LABEL {
                    // The initiator's negotiation channel: no stream, and not closed from here
                    // either (its dialer keeps it open, see `handshake::initiate`).
                    return;
                }
                if let Err(e) = channel_tx.try_send(DataChannel::new(dc, channel_budget.clone())) {
                    tracing::debug!("too many unaccepted inbound streams; closing one");
                    e.into_inner().close();
                }
            });
        pc.set_ondatachannel(Some(ondatachannel.as_ref().unchecked_ref()));

        let (state_tx, state_changes) = mpsc::unbounded();
        let tx = state_tx.clone();
        let onstate = Closure::<dyn FnMut()>::new(move || {
            let _ = tx.unbounded_send(());
        });
        pc.set_onconnectionstatechange(Some(onstate.as_ref().unchecked_ref()));

        let (cand_tx, candidates) = mpsc::unbounded();
        let onicecandidate = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |ev: RtcPeerConnectionIceEvent| {
                // Null / empty candidates mark the end of gathering; the spec sends no marker.
                let Some(c) = ev.candidate() else { return };
                if c.candidate().is_empty() {
                    return;
                }
                let json = js_sys::JSON::stringify(&c.to_json())
                    .ok()
                    .and_then(|s| s.as_string());
                if let Some(json) = json {
                    let _ = cand_tx.unbounded_send(json);
                }
            },
        );
        pc.set_onicecandidate(Some(onicecandidate.as_ref().unchecked_ref()));

        Ok(Self {
            pc,
            inbound,
            state_changes,
            budget,
            init: None,
            transport_closed: Rc::new(Cell::new(false)),
            state_tx,
            transport_watch: None,
            candidates: Some(candidates),
            _ondatachannel: ondatachannel,
            _onstate: onstate,
            _onicecandidate: onicecandidate,
        })
    }

    /// Watches the SCTP association and the DTLS transport under it. When the remote closes
    /// its peer connection both close at once, while `connectionState` only turns `failed`
    /// after ICE consent expires (15 s measured in Chromium): without this a closed peer would
    /// look alive that long.
    pub(crate) fn watch_transports(&mut self) {
        let get = |obj: &JsValue, key: &str| Reflect::get(obj, &JsValue::from_str(key)).ok();
        let Some(sctp) = get(&self.pc, "sctp").filter(|s| s.is_object()) else {
            return;
        };
        let Some(dtls) = get(&sctp, "transport").filter(|d| d.is_object()) else {
            return;
        };
        let (flag, tx) = (self.transport_closed.clone(), self.state_tx.clone());
        let (s, d) = (sctp.clone(), dtls.clone());
        let onchange = Closure::<dyn FnMut()>::new(move || {
            let sctp_state = get(&s, "state").and_then(|v| v.as_string());
            let dtls_state = get(&d, "state").and_then(|v| v.as_string());
            if sctp_state.as_deref() == Some("closed")
                || matches!(dtls_state.as_deref(), Some("closed" | "failed"))
            {
                flag.set(true);
                let _ = tx.unbounded_send(());
            }
        });
        for target in [&sctp, &dtls] {
            let _ = Reflect::set(
                target,
                &JsValue::from_str("onstatechange"),
                onchange.as_ref(),
            );
        }
        self.transport_watch = Some((onchange, sctp, dtls));
    }

    /// Holds the dialer's `init` channel open until the connection closes: its SCTP stream id
    /// is then never handed to a stream channel. Nothing reads it, so what arrives on it is
    /// dropped.
    pub(crate) fn keep_open(&mut self, mut init: DataChannel) {
        init.discard_incoming();
        self.init = Some(init);
    }

    /// Whether the remote closed the connection (see [`PeerConnection::watch_transports`]).
    pub(crate) fn transport_closed(&self) -> bool {
        self.transport_closed.get()
    }

    /// A new outbound stream channel: empty label, not negotiated (the browser picks the id).
    pub(crate) fn create_channel(&self, label: &str) -> DataChannel {
        let init = RtcDataChannelInit::new();
        init.set_negotiated(false);
        DataChannel::new(
            self.pc
                .create_data_channel_with_data_channel_dict(label, &init),
            self.budget.clone(),
        )
    }

    /// The SDP text of a `createOffer` / `createAnswer` result.
    pub(crate) fn sdp_of(description: &JsValue) -> Result<String, Error> {
        Reflect::get(description, &JsValue::from_str("sdp"))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or(Error::Js("session description without sdp".into()))
    }

    /// Parses a remote candidate's JSON; `None` for the end-of-candidates forms (`null`, `""`,
    /// an empty candidate), which need no action.
    pub(crate) fn parse_candidate(json: &str) -> Option<Object> {
        if json.is_empty() {
            return None;
        }
        let value = js_sys::JSON::parse(json).ok()?;
        if value.is_null() || value.is_undefined() {
            return None;
        }
        let candidate = Reflect::get(&value, &JsValue::from_str("candidate")).ok()?;
        if candidate.as_string().is_none_or(|c| c.is_empty()) {
            return None;
        }
        value.dyn_into::<Object>().ok()
    }
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.pc.set_ondatachannel(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_onicecandidate(None);
        if let Some((_, sctp, dtls)) = self.transport_watch.take() {
            for target in [&sctp, &dtls] {
                let _ = Reflect::set(target, &JsValue::from_str("onstatechange"), &JsValue::NULL);
            }
        }
        self.pc.close();
    }
}
