//! The node task's side of the persistent cache: restoring it at start (a slice per turn of
//! the node's loop), saving and deleting
//! as the engine's cache changes, and the figures and events the page sees. The database
//! itself is [`crate::idb`].
//!
//! Failures never stop the node: without IndexedDB (a private window) or after an error it
//! goes on with its memory cache, and the page gets a `persist` event saying why. After a
//! quota error no more assets are saved (deletes still run, to free room); the next visit
//! tries again.

use bytes::Bytes;
use cid::Cid;
use futures::channel::mpsc;
use mesh_core::Block;
use mesh_engine::PersistedBlock;
use serde::Serialize;

use crate::idb::{Idb, PersistError};
use crate::transport::BrowserEngine;

/// A database write that settled.
pub(crate) struct WriteDone {
    op: Write,
    result: Result<(), PersistError>,
}

#[derive(Clone, Copy)]
enum Write {
    Save { blocks: u64 },
    Delete { blocks: u64 },
}

/// `stats().persist`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersistReport {
    /// `off` (`persist: false`), `loading`, `on`, or `unavailable` (the node runs in memory).
    pub(crate) state: &'static str,
    /// Blocks verified and taken back at start.
    pub(crate) restored_blocks: u64,
    /// Whole assets taken back at start (provided again).
    pub(crate) restored_assets: u64,
    /// Blocks read back that no longer matched their CID: deleted, never served.
    pub(crate) corrupt_blocks: u64,
    /// Assets saved since start.
    pub(crate) saved_assets: u64,
    /// Blocks saved since start.
    pub(crate) saved_blocks: u64,
    /// Blocks deleted since start (evicted, corrupt or over the budget).
    pub(crate) deleted_blocks: u64,
    /// Writes not yet committed.
    pub(crate) pending_writes: u64,
    /// Writes that failed.
    pub(crate) errors: u64,
}

/// Detail of a `persist` event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "event")]
pub(crate) enum PersistEvent {
    /// The cache of an earlier visit is back.
    Restored {
        blocks: u64,
        bytes: u64,
        assets: u64,
        corrupt: u64,
        incomplete: u64,
    },
    /// Something failed; the node goes on in memory.
    Error { kind: &'static str, message: String },
}

impl PersistEvent {
    fn error(e: &PersistError) -> Self {
        Self::Error {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Bytes of persisted blocks verified per turn of the node's loop while a restore runs: about
/// 8 ms of hashing at the ~120 MiB/s SHA-256 runs at in wasm here, 1–3 ms with WebCrypto, so
/// connections progress and the page's thread is free between slices (in one piece, a 50 MiB
/// cache was a 0.4 s task that held up the node's first connection by as much).
const RESTORE_SLICE_BYTES: usize = 1 << 20;

/// A restore under way: what the database held, handed to the engine a slice at a time.
pub(crate) struct Restoring {
    blocks: std::vec::IntoIter<(Cid, Bytes)>,
    roots: Vec<Cid>,
    unreadable: Vec<wasm_bindgen::JsValue>,
    bytes: u64,
    restored: u64,
    corrupt: u64,
    /// Blocks to delete: corrupt, or refused by the store.
    bad: Vec<Cid>,
}

pub(crate) struct Persistence {
    name: Option<String>,
    db: Option<Idb>,
    quota_hit: bool,
    report: PersistReport,
    done_tx: mpsc::UnboundedSender<WriteDone>,
    /// Settled writes, for the node task's loop.
    pub(crate) done: mpsc::UnboundedReceiver<WriteDone>,
}

impl Restoring {
    /// The next [`RESTORE_SLICE_BYTES`] of blocks; empty once every block was handed out.
    pub(crate) fn next_slice(&mut self) -> Vec<PersistedBlock> {
        let mut slice = Vec::new();
        let mut bytes = 0;
        for (cid, data) in self.blocks.by_ref() {
            bytes += data.len();
            slice.push(PersistedBlock::new(cid, data));
            if bytes >= RESTORE_SLICE_BYTES {
                break;
            }
        }
        slice
    }

    /// Whether `cid` is an asset the database holds whole, so a fetch of it waits for the
    /// restore and is served from the cache.
    pub(crate) fn holds(&self, cid: &Cid) -> bool {
        self.roots.contains(cid)
    }
}

impl Persistence {
    /// The cache in database `name`, or none.
    pub(crate) fn new(name: Option<String>) -> Self {
        let (done_tx, done) = mpsc::unbounded();
        Self {
            report: PersistReport {
                state: if name.is_some() { "loading" } else { "off" },
                ..PersistReport::default()
            },
            name,
            db: None,
            quota_hit: false,
            done_tx,
            done,
        }
    }

    pub(crate) fn report(&self) -> PersistReport {
        self.report.clone()
    }

    /// Opens the database and reads what it holds. `None` when the cache is off; otherwise
    /// either the restore to carry out with [`Persistence::restore_slice`], or the event that
    /// says why there is none (the node goes on in memory).
    pub(crate) async fn open(&mut self) -> Option<Result<Restoring, PersistEvent>> {
        let name = self.name.clone()?;
        let opened = async {
            let db = Idb::open(&name).await?;
            let loaded = db.load().await?;
            Ok::<_, PersistError>((db, loaded))
        };
        let (db, loaded) = match opened.await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "persistent cache unavailable: memory only");
                self.report.state = "unavailable";
                return Some(Err(PersistEvent::error(&e)));
            }
        };
        // Open from now on: blocks the budget pushes out while the restore runs are deleted
        // from the database as they go.
        self.db = Some(db);
        let bytes = loaded
            .blocks
            .iter()
            .map(|(_, d)| d.len() as u64)
            .sum::<u64>();
        Some(Ok(Restoring {
            blocks: loaded.blocks.into_iter(),
            roots: loaded.roots,
            unreadable: loaded.unreadable,
            bytes,
            restored: 0,
            corrupt: 0,
            bad: Vec::new(),
        }))
    }

    /// Hands the engine `slice`, the next [`Restoring::next_slice`] of `job` (each block
    /// verified against its CID), or, once every block is in (an empty slice), the roots.
    /// Returns the event for the page when the restore is done; what failed verification, did
    /// not fit or could not be read is then deleted from the database.
    pub(crate) fn restore_slice(
        &mut self,
        job: &mut Restoring,
        slice: Vec<PersistedBlock>,
        engine: &mut BrowserEngine,
        now: mesh_core::time::Instant,
    ) -> Option<PersistEvent> {
        let last = slice.is_empty();
        let roots = if last {
            std::mem::take(&mut job.roots)
        } else {
            Vec::new()
        };
        let restored = engine.restore(now, slice, roots);
        job.restored += restored.blocks as u64;
        job.corrupt += restored.corrupt.len() as u64;
        job.bad.extend(restored.corrupt.iter().map(|(cid, _)| *cid));
        job.bad.extend(restored.refused.iter().map(|(cid, _)| *cid));
        if !last {
            return None;
        }
        self.report.state = "on";
        self.report.restored_blocks = job.restored;
        self.report.restored_assets = restored.provided.len() as u64;
        self.report.corrupt_blocks = job.corrupt;
        if let Some(db) = &self.db
            && (!job.bad.is_empty()
                || !restored.incomplete.is_empty()
                || !job.unreadable.is_empty())
        {
            let write = db.delete(&job.bad, &restored.incomplete, &job.unreadable);
            self.spawn(
                write,
                Write::Delete {
                    blocks: job.bad.len() as u64,
                },
            );
        }
        Some(PersistEvent::Restored {
            blocks: job.restored,
            bytes: job.bytes,
            assets: restored.provided.len() as u64,
            corrupt: job.corrupt,
            incomplete: restored.incomplete.len() as u64,
        })
    }

    /// An asset completed in the store: save it.
    pub(crate) fn cached(&mut self, root: &Cid, blocks: &[Block]) {
        if let Some(db) = &self.db
            && !self.quota_hit
        {
            let write = db.save(root, blocks);
            self.spawn(
                write,
                Write::Save {
                    blocks: blocks.len() as u64,
                },
            );
        }
    }

    /// Blocks left the store: delete them, and the assets withdrawn with them.
    pub(crate) fn uncached(&mut self, blocks: &[Cid], roots: &[Cid]) {
        if let Some(db) = &self.db {
            let write = db.delete(blocks, roots, &[]);
            self.spawn(
                write,
                Write::Delete {
                    blocks: blocks.len() as u64,
                },
            );
        }
    }

    fn spawn(
        &mut self,
        write: impl std::future::Future<Output = Result<(), PersistError>> + 'static,
        op: Write,
    ) {
        self.report.pending_writes += 1;
        let tx = self.done_tx.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = write.await;
            let _ = tx.unbounded_send(WriteDone { op, result });
        });
    }

    /// A write settled; the event to send the page, if it failed.
    pub(crate) fn on_done(&mut self, done: WriteDone) -> Option<PersistEvent> {
        self.report.pending_writes = self.report.pending_writes.saturating_sub(1);
        match (done.op, done.result) {
            (Write::Save { blocks }, Ok(())) => {
                self.report.saved_assets += 1;
                self.report.saved_blocks += blocks;
                None
            }
            (Write::Delete { blocks }, Ok(())) => {
                self.report.deleted_blocks += blocks;
                None
            }
            (_, Err(e)) => {
                tracing::warn!(error = %e, "persistent cache write failed");
                self.report.errors += 1;
                if matches!(e, PersistError::Quota(_)) {
                    self.quota_hit = true;
                }
                Some(PersistEvent::error(&e))
            }
        }
    }
}
