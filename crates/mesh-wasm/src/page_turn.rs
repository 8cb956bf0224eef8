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
//! The task must not queue behind the page. A task of ordinary priority (the first cut posted
//! a `MessageChannel` message to itself) waits behind everything a loading page has queued,
//! image decoding, rendering, other messages: in the swarm demo the node of a tab loading 36
//! images waited once per delivery, and the small assets' time to first byte doubled (p50
//! 180 → 585 and 780 ms). `scheduler.postTask` at `user-blocking` priority runs ahead of those
//! (Chromium, Firefox; windows and workers), and the demo is as before. Where the browser has no
//! scheduler there is no wait: the node goes on in the same turn, as it did before this module.
//! Never `setTimeout(0)`: timers of hidden tabs are throttled to once a second and less, which
//! would stall a background tab's node after every delivery.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Waits for a `user-blocking` task of `scheduler.postTask`: the wait ends after the
/// microtasks queued before it.
pub(crate) struct PageTurn {
    /// `None` where the global scope has no `scheduler.postTask`: then there is no wait.
    scheduler: Option<Scheduler>,
}

/// `scheduler`, its `postTask` and the options `{priority: 'user-blocking'}`.
struct Scheduler {
    this: JsValue,
    post_task: Function,
    options: JsValue,
}

impl PageTurn {
    pub(crate) fn new() -> Self {
        Self {
            scheduler: Scheduler::find(),
        }
    }

    /// Resolves once the browser has run a task posted by this call (see the module docs); at
    /// once without a scheduler.
    pub(crate) async fn wait(&self) {
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        // The task is the promise's resolve function itself: no closure to keep alive.
        let promise = Promise::new(&mut |resolve: Function, _reject| {
            if scheduler
                .post_task
                .call2(&scheduler.this, &resolve, &scheduler.options)
                .is_err()
            {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        // Cannot reject: only `resolve` is ever called.
        let _ = JsFuture::from(promise).await;
    }
}

impl Scheduler {
    fn find() -> Option<Self> {
        let this = Reflect::get(&js_sys::global(), &"scheduler".into()).ok()?;
        if !this.is_object() {
            return None;
        }
        let post_task = Reflect::get(&this, &"postTask".into())
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        let options = Object::new();
        Reflect::set(&options, &"priority".into(), &"user-blocking".into()).ok()?;
        Some(Self {
            this,
            post_task,
            options: options.into(),
        })
    }
}
