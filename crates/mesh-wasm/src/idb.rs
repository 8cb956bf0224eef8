//! The persistent cache's database: the blocks of complete assets in IndexedDB, so a
//! returning tab serves and announces what it holds from the start instead of fetching it
//! again (driven by [`crate::persist`]).
//!
//! The memory store stays the cache the node works from; the database is its copy, written
//! behind it: an asset is saved when the engine reports it complete ([`Output::Cached`]) and
//! its blocks deleted when they leave the store ([`Output::Uncached`]), so the copy never
//! holds more than `cacheBytes` for long. At start the whole copy is read back and handed to
//! [`Engine::restore`], which verifies every block against its CID (a block changed on disk
//! is dropped, never served) and keeps the newest within the budget.
//!
//! Two object stores: `blocks` (key: CID text; value `{d: Uint8Array, s: saved-at ms}`) and
//! `roots` (key: the root's CID text; value: saved-at ms). Write transactions are created in
//! the order of the engine's outputs, and IndexedDB runs transactions over the same stores in
//! creation order, so a delete never overtakes the save it undoes.
//!
//! Tabs of one origin share the database. Each tab's copy follows its own store, so while
//! several run the database may hold up to their sum; every start trims it to the budget.
//!
//! [`Output::Cached`]: mesh_engine::Output::Cached
//! [`Output::Uncached`]: mesh_engine::Output::Uncached
//! [`Engine::restore`]: mesh_engine::Engine::restore

use std::future::Future;

use bytes::Bytes;
use cid::Cid;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use mesh_core::Block;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbObjectStore, IdbRequest, IdbTransaction, IdbTransactionMode,
};

/// The schema's version; bump with an upgrade path when the layout changes.
const VERSION: u32 = 1;
const BLOCKS: &str = "blocks";
const ROOTS: &str = "roots";

/// Why the persistent cache cannot be used; the node goes on in memory.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PersistError {
    /// No IndexedDB here (a private window, a sandboxed frame, storage blocked).
    #[error("IndexedDB is unavailable: {0}")]
    Unavailable(String),
    /// The origin's storage quota is used up.
    #[error("the storage quota is exceeded: {0}")]
    Quota(String),
    /// Reading or writing failed otherwise.
    #[error("IndexedDB failed: {0}")]
    Storage(String),
}

impl PersistError {
    /// `unavailable`, `quota` or `storage`, as the page's `persist` event names it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Quota(_) => "quota",
            Self::Storage(_) => "storage",
        }
    }

    /// From a `DOMException` (or anything thrown): quota errors by their name.
    fn from_js(e: &JsValue) -> Self {
        let name = Reflect::get(e, &"name".into())
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_default();
        let message = Reflect::get(e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| format!("{e:?}"));
        let text = format!("{name}: {message}");
        match name.as_str() {
            "QuotaExceededError" => Self::Quota(text),
            "SecurityError" | "InvalidStateError" | "UnknownError" => Self::Unavailable(text),
            _ => Self::Storage(text),
        }
    }
}

/// What the database held, as read back (nothing verified yet).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Blocks oldest first.
    pub(crate) blocks: Vec<(Cid, Bytes)>,
    /// Roots of assets saved whole.
    pub(crate) roots: Vec<Cid>,
    /// Keys that are not CIDs or values not of our shape: to delete.
    pub(crate) unreadable: Vec<JsValue>,
}

/// An open cache database.
#[derive(Debug, Clone)]
pub(crate) struct Idb {
    db: IdbDatabase,
}

/// Settles with a request's result or its error.
fn request(req: &IdbRequest) -> impl Future<Output = Result<JsValue, PersistError>> + use<> {
    let req = req.clone();
    let promise = Promise::new(&mut |resolve, reject| {
        let done = req.clone();
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &done.result().unwrap_or(JsValue::UNDEFINED));
        });
        let failed = req.clone();
        let err = Closure::once_into_js(move || {
            let e = failed
                .error()
                .ok()
                .flatten()
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL);
            let _ = reject.call1(&JsValue::NULL, &e);
        });
        req.set_onsuccess(Some(ok.unchecked_ref()));
        req.set_onerror(Some(err.unchecked_ref()));
    });
    async move {
        JsFuture::from(promise)
            .await
            .map_err(|e| PersistError::from_js(&e))
    }
}

/// Settles when a transaction commits, or with why it did not.
fn committed(tx: &IdbTransaction) -> impl Future<Output = Result<(), PersistError>> + use<> {
    let tx = tx.clone();
    let promise = Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let failed = tx.clone();
        let reject_error = reject.clone();
        let err = Closure::once_into_js(move || {
            let e = failed.error().map(JsValue::from).unwrap_or(JsValue::NULL);
            let _ = reject_error.call1(&JsValue::NULL, &e);
        });
        let aborted = tx.clone();
        let abort = Closure::once_into_js(move || {
            let e = aborted.error().map(JsValue::from).unwrap_or(JsValue::NULL);
            let _ = reject.call1(&JsValue::NULL, &e);
        });
        tx.set_oncomplete(Some(ok.unchecked_ref()));
        tx.set_onerror(Some(err.unchecked_ref()));
        tx.set_onabort(Some(abort.unchecked_ref()));
    });
    async move {
        JsFuture::from(promise)
            .await
            .map(drop)
            .map_err(|e| PersistError::from_js(&e))
    }
}

fn js(e: JsValue) -> PersistError {
    PersistError::from_js(&e)
}

impl Idb {
    /// Opens (creating if needed) the database `name`.
    pub(crate) async fn open(name: &str) -> Result<Self, PersistError> {
        let factory = Reflect::get(&js_sys::global(), &"indexedDB".into())
            .ok()
            .and_then(|f| f.dyn_into::<IdbFactory>().ok())
            .ok_or_else(|| PersistError::Unavailable("no indexedDB in this context".into()))?;
        let open = factory
            .open_with_u32(name, VERSION)
            .map_err(|e| PersistError::Unavailable(PersistError::from_js(&e).to_string()))?;
        let upgrading = open.clone();
        let upgrade = Closure::once_into_js(move || {
            if let Ok(db) = upgrading.result().and_then(|r| r.dyn_into::<IdbDatabase>()) {
                let names = db.object_store_names();
                for store in [BLOCKS, ROOTS] {
                    if !names.contains(store) {
                        let _ = db.create_object_store(store);
                    }
                }
            }
        });
        open.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
        let db = request(&open)
            .await
            .map_err(|e| match e {
                PersistError::Quota(_) => e,
                other => PersistError::Unavailable(other.to_string()),
            })?
            .dyn_into::<IdbDatabase>()
            .map_err(|_| PersistError::Storage("open did not yield a database".into()))?;
        Ok(Self { db })
    }

    fn transaction(&self, mode: IdbTransactionMode) -> Result<IdbTransaction, PersistError> {
        let stores = Array::of2(&BLOCKS.into(), &ROOTS.into());
        self.db
            .transaction_with_str_sequence_and_mode(&stores, mode)
            .map_err(js)
    }

    fn stores(tx: &IdbTransaction) -> Result<(IdbObjectStore, IdbObjectStore), PersistError> {
        Ok((
            tx.object_store(BLOCKS).map_err(js)?,
            tx.object_store(ROOTS).map_err(js)?,
        ))
    }

    /// Reads everything back.
    pub(crate) async fn load(&self) -> Result<Loaded, PersistError> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let (blocks, roots) = Self::stores(&tx)?;
        // All four requests are placed before the first await: a transaction commits as soon
        // as no request is pending.
        let keys = request(&blocks.get_all_keys().map_err(js)?);
        let values = request(&blocks.get_all().map_err(js)?);
        let root_keys = request(&roots.get_all_keys().map_err(js)?);
        let keys: Array = keys.await?.unchecked_into();
        let values: Array = values.await?.unchecked_into();
        let root_keys: Array = root_keys.await?.unchecked_into();

        let mut loaded = Loaded::default();
        let mut dated = Vec::new();
        for (key, value) in keys.iter().zip(values.iter()) {
            let cid = key.as_string().and_then(|k| Cid::try_from(k.as_str()).ok());
            let data = Reflect::get(&value, &"d".into())
                .ok()
                .and_then(|d| d.dyn_into::<Uint8Array>().ok());
            let saved = Reflect::get(&value, &"s".into())
                .ok()
                .and_then(|s| s.as_f64())
                .unwrap_or(0.0);
            match (cid, data) {
                (Some(cid), Some(data)) => dated.push((saved, cid, Bytes::from(data.to_vec()))),
                _ => loaded.unreadable.push(key),
            }
        }
        // Oldest first, so the budget keeps the newest; key order breaks ties.
        dated.sort_by(|a, b| a.0.total_cmp(&b.0));
        loaded.blocks = dated
            .into_iter()
            .map(|(_, cid, data)| (cid, data))
            .collect();
        for key in root_keys.iter() {
            match key.as_string().and_then(|k| Cid::try_from(k.as_str()).ok()) {
                Some(cid) => loaded.roots.push(cid),
                None => loaded.unreadable.push(key),
            }
        }
        Ok(loaded)
    }

    /// Saves an asset's blocks and its root, in one transaction; settles when committed.
    pub(crate) fn save(
        &self,
        root: &Cid,
        blocks: &[Block],
    ) -> impl Future<Output = Result<(), PersistError>> + use<> {
        let placed = self.place_save(root, blocks);
        async move { committed(&placed?).await }
    }

    fn place_save(&self, root: &Cid, blocks: &[Block]) -> Result<IdbTransaction, PersistError> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        let (store, roots) = Self::stores(&tx)?;
        let saved = JsValue::from(js_sys::Date::now());
        for block in blocks {
            let value = Object::new();
            let data = Uint8Array::from(&block.data()[..]);
            Reflect::set(&value, &"d".into(), &data).map_err(js)?;
            Reflect::set(&value, &"s".into(), &saved).map_err(js)?;
            store
                .put_with_key(&value, &block.cid().to_string().into())
                .map_err(js)?;
        }
        roots
            .put_with_key(&saved, &root.to_string().into())
            .map_err(js)?;
        Ok(tx)
    }

    /// Deletes blocks, roots and unreadable keys, in one transaction; settles when committed.
    pub(crate) fn delete(
        &self,
        blocks: &[Cid],
        roots: &[Cid],
        unreadable: &[JsValue],
    ) -> impl Future<Output = Result<(), PersistError>> + use<> {
        let placed = (|| {
            let tx = self.transaction(IdbTransactionMode::Readwrite)?;
            let (store, root_store) = Self::stores(&tx)?;
            for cid in blocks {
                store.delete(&cid.to_string().into()).map_err(js)?;
            }
            for cid in roots {
                root_store.delete(&cid.to_string().into()).map_err(js)?;
            }
            for key in unreadable {
                store.delete(key).map_err(js)?;
                root_store.delete(key).map_err(js)?;
            }
            Ok(tx)
        })();
        async move { committed(&placed?).await }
    }
}
