//! A turn of the browser's event loop for the page, after the node hands it bytes.
//!
//! The node's loop runs as one wasm-bindgen task: everything it does after a delivery in the
//! same turn (the persistent cache's IndexedDB write, polling the swarm, which sends the DHT
//! announcement of what was just fetched) runs before the page's promise continuations get
//! the bytes. Traced in the two-tab benchmark (`MESH_BENCH_TRACE=1`), that was 1.6 ms of a
//! 7.6 ms request for 100 KiB from a warm peer: the digest resolved, the write and three
//! WebSocket sends ran, and only then did the page read its chunk. Waiting for a task of its
//! own after a delivery lets the page's microtasks (the fetch's `Response`, the body reader)
//! run first.
//!
//! Why a `MessageChannel` message and not `setTimeout(0)`: timers of hidden tabs are throttled
//! to once a second (and less), which would stall the node after every delivery in a
//! background tab; messages are not throttled (the reason schedulers such as React's use them).

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::MessageChannel;

/// Posts a message to itself and waits for it: the wait ends in a task of its own, after the
/// microtasks queued before it.
pub(crate) struct PageTurn {
    /// `None` where the global scope has no `MessageChannel`: then there is no wait.
    channel: Option<MessageChannel>,
}

impl PageTurn {
    pub(crate) fn new() -> Self {
        Self {
            channel: MessageChannel::new().ok(),
        }
    }

    /// Resolves once the browser has run a task after this call (see the module docs).
    pub(crate) async fn wait(&self) {
        let Some(channel) = &self.channel else {
            return;
        };
        let (receiver, sender) = (channel.port1(), channel.port2());
        let promise = Promise::new(&mut |resolve: Function, _reject| {
            // The message event's handler is the promise's resolve function itself: no closure
            // to keep alive. Setting `onmessage` starts the port.
            receiver.set_onmessage(Some(&resolve));
            if sender.post_message(&JsValue::UNDEFINED).is_err() {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        // Cannot reject: only `resolve` is ever called.
        let _ = JsFuture::from(promise).await;
    }
}

impl Drop for PageTurn {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.port1().set_onmessage(None);
            channel.port1().close();
            channel.port2().close();
        }
    }
}
