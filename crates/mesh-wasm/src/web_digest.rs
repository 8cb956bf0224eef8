//! SHA-256 of received blocks and origin bodies by the browser's WebCrypto
//! (`crypto.subtle.digest`).
//!
//! Why: every byte a tab takes from a peer is hashed, and sha2 compiled to wasm was the
//! largest single item of the fetching tab's main thread (11.5 of ~43 ms per MiB,
//! docs/BENCHMARKS-WEBRTC.md). WebCrypto is the browser's native SHA-256 (with the CPU's SHA
//! instructions where it has them): in Chromium here 0.1 ms for 100 KiB against ~0.7 in wasm.
//! It is asynchronous, so the engine hands such blocks out ([`Output::Digest`]) and the driver
//! brings their digests back ([`mesh_engine::Engine::handle_digest`]). The persistent cache's
//! blocks are hashed the same way when a returning visitor's node restores them
//! ([`mesh_engine::Engine::restore`]), and origin bodies as they arrive, cut into
//! leaves by their request's task (`origin.rs`, [`mesh_engine::Engine::handle_origin_leaf`]).
//!
//! The engine trusts the digest as it trusts its own sha2 (see [`Sha256Digest`]): WebCrypto is
//! given exactly the bytes the engine holds (a view of them, which `digest` copies before it
//! returns), and a digest that is not 32 bytes is not used. Where WebCrypto is missing
//! (`crypto.subtle` exists only in secure contexts: https and localhost pages) the engine
//! hashes every block itself; a `digest` call that fails is answered with sha2's digest.
//!
//! [`Output::Digest`]: mesh_engine::Output::Digest

use bytes::Bytes;
use futures::future::{LocalBoxFuture, join_all};
use js_sys::{Reflect, Uint8Array};
use mesh_core::Sha256Digest;
use mesh_engine::PersistedBlock;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::SubtleCrypto;

/// Blocks smaller than this are hashed in wasm: at 16 KiB sha2 takes ~0.1 ms, and a digest
/// handed out costs a turn of the node's loop to come back. Leaves of an asset are 256 KiB,
/// the blocks of small assets their whole size; the DAG's inner nodes are a few KiB.
pub(crate) const MIN_BYTES: usize = 16 * 1024;

/// The page's (or worker's) WebCrypto, if it has one.
#[derive(Clone)]
pub(crate) struct WebDigest {
    subtle: SubtleCrypto,
}

impl WebDigest {
    /// `crypto.subtle` of the global scope, or `None` where it is missing.
    pub(crate) fn find() -> Option<Self> {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
        let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
        if !subtle.is_object() {
            return None;
        }
        Some(Self {
            subtle: subtle.unchecked_into(),
        })
    }

    /// The digest of `data`. Resolves with sha2's digest if WebCrypto fails, so every
    /// [`Output::Digest`](mesh_engine::Output::Digest) is answered.
    pub(crate) fn digest(&self, data: Bytes) -> LocalBoxFuture<'static, Sha256Digest> {
        let promise = self.subtle.digest_with_str_and_u8_array("SHA-256", &data);
        Box::pin(async move {
            let digest = match promise {
                Ok(promise) => JsFuture::from(promise).await.ok().and_then(digest_bytes),
                Err(_) => None,
            };
            digest.unwrap_or_else(|| {
                tracing::warn!("WebCrypto digest failed: hashing in wasm");
                Sha256Digest::of(&data)
            })
        })
    }

    /// The digests of `blocks` (a slice of a persisted cache), computed side by side.
    pub(crate) async fn digest_all(&self, blocks: Vec<PersistedBlock>) -> Vec<PersistedBlock> {
        let digests = join_all(blocks.iter().map(|b| self.digest(b.data.clone()))).await;
        blocks
            .into_iter()
            .zip(digests)
            .map(|(block, digest)| block.with_digest(digest))
            .collect()
    }
}

/// The 32 bytes of a resolved `digest` (an `ArrayBuffer`).
fn digest_bytes(value: JsValue) -> Option<Sha256Digest> {
    let bytes = Uint8Array::new(&value);
    let mut out = [0u8; 32];
    if bytes.length() as usize != out.len() {
        return None;
    }
    bytes.copy_to(&mut out);
    Some(Sha256Digest::from_computed(out))
}
