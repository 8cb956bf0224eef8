//! The node task's side of the persistent cache: restoring it at start, saving and deleting
//! as the engine's cache changes, and the figures and events the page sees. The database
//! itself is [`crate::idb`].
//!
//! Failures never stop the node: without IndexedDB (a private window) or after an error it
//! goes on with its memory cache, and the page gets a `persist` event saying why. After a
//! quota error no more assets are saved (deletes still run, to free room); the next visit
//! tries again.

use cid::Cid;
use futures::channel::mpsc;
use mesh_core::Block;
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

pub(crate) struct Persistence {
    name: Option<String>,
    db: Option<Idb>,
    quota_hit: bool,
    report: PersistReport,
    done_tx: mpsc::UnboundedSender<WriteDone>,
    /// Settled writes, for the node task's loop.
    pub(crate) done: mpsc::UnboundedReceiver<WriteDone>,
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

    /// Opens the database and hands what it holds to the engine; what fails verification,
    /// does not fit or cannot be read is deleted. The event to send the page, if any.
    pub(crate) async fn restore(
        &mut self,
        engine: &mut BrowserEngine,
        now: mesh_core::time::Instant,
    ) -> Option<PersistEvent> {
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
                return Some(PersistEvent::error(&e));
            }
        };
        let bytes = loaded
            .blocks
            .iter()
            .map(|(_, d)| d.len() as u64)
            .sum::<u64>();
        let restored = engine.restore(now, loaded.blocks, loaded.roots);
        let bad: Vec<Cid> = restored
            .corrupt
            .iter()
            .map(|(cid, _)| *cid)
            .chain(restored.refused.iter().map(|(cid, _)| *cid))
            .collect();
        self.report.state = "on";
        self.report.restored_blocks = restored.blocks as u64;
        self.report.restored_assets = restored.provided.len() as u64;
        self.report.corrupt_blocks = restored.corrupt.len() as u64;
        if !bad.is_empty() || !restored.incomplete.is_empty() || !loaded.unreadable.is_empty() {
            let write = db.delete(&bad, &restored.incomplete, &loaded.unreadable);
            self.spawn(
                write,
                Write::Delete {
                    blocks: bad.len() as u64,
                },
            );
        }
        self.db = Some(db);
        Some(PersistEvent::Restored {
            blocks: restored.blocks as u64,
            bytes,
            assets: restored.provided.len() as u64,
            corrupt: restored.corrupt.len() as u64,
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
