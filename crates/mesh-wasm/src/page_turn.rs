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
//! The task is `scheduler.postTask` at `user-blocking` priority where the browser has it
//! (Chromium). A task of ordinary priority waits behind everything a loading page queues
//! (image decoding, rendering, other messages): in the swarm demo, with a `MessageChannel`
//! message, the node of a tab loading 36 images waited once per delivery and the small
//! assets' time to first byte doubled (p50 180 → 340–930 ms per tab); with `user-blocking`
//! it is as before. Elsewhere a `MessageChannel` message to itself. Never `setTimeout(0)`:
//! timers of hidden tabs are throttled to once a second and less, which would stall a
//! background tab's node after every delivery; messages and scheduler tasks are not.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::MessageChannel;

/// Posts a task and waits for it: the wait ends in a task of its own, after the microtasks
/// queued before it.
pub(crate) struct PageTurn {
    /// `scheduler.postTask` and its options (`user-blocking`), where the browser has it.
    post_task: Option<(JsValue, Function, JsValue)>,
    /// Otherwise a message to itself; `None` where the global scope has no `MessageChannel`:
    /// then there is no wait.
    channel: Option<MessageChannel>,
}

impl PageTurn {
    pub(crate) fn new() -> Self {
        Self {
            post_task: Self::find_post_task(),
            channel: MessageChannel::new().ok(),
        }
    }

    /// `scheduler.postTask` (Chromium; windows and workers): a task of `user-blocking`
    /// priority runs before the page's ordinary tasks (rendering, image decoding, other
    /// messages), so the node is not queued behind a busy page for every delivery.
    fn find_post_task() -> Option<(JsValue, Function, JsValue)> {
        let scheduler = Reflect::get(&js_sys::global(), &"scheduler".into()).ok()?;
        if !scheduler.is_object() {
            return None;
        }
        let post_task = Reflect::get(&scheduler, &"postTask".into()).ok()?;
        let post_task = post_task.dyn_into::<Function>().ok()?;
        let options = Object::new();
        Reflect::set(&options, &"priority".into(), &"user-blocking".into()).ok()?;
        Some((scheduler, post_task, options.into()))
    }

    /// Resolves once the browser has run a task after this call (see the module docs).
    pub(crate) async fn wait(&self) {
        if let Some((scheduler, post_task, options)) = &self.post_task {
            // The task is the promise's resolve function itself.
            let promise = Promise::new(&mut |resolve: Function, _reject| {
                if post_task.call2(scheduler, &resolve, options).is_err() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            });
            let _ = JsFuture::from(promise).await;
            return;
        }
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
