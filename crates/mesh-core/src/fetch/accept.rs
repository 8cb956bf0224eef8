//! Taking blocks in: the store, verified peer and origin blocks, delivery, and the end of a
//! fetch (completion, failure, cancellation).

use std::collections::{BTreeSet, VecDeque};

use cid::Cid;

use super::*;

impl<P: PeerKey, S: BlockStore> Planner<P, S> {
    /// Takes blocks in the store instead of asking anyone; walks down through cached nodes.
    pub(super) fn want_from_store(&mut self, now: Instant, id: FetchId, cids: Vec<Cid>) {
        let mut queue: VecDeque<Cid> = cids.into();
        let mut budget = self.config.max_asset_size / 1024 + 1024; // bounds the walk
        while let Some(cid) = queue.pop_front() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let Some(block) = self.store.get(&cid) else {
                continue;
            };
            match self.accept(now, id, block, BlockSource::Cache) {
                Ok(new_children) => queue.extend(new_children),
                Err(_) => {
                    // A cached block that does not fit the DAG is useless; drop it.
                    self.store.remove(&cid);
                }
            }
        }
        self.finish_or_schedule(now, id);
    }

    /// Adds a verified block to fetch `id`: layout, store, pins, stats, delivery. Returns the
    /// children it revealed that are still missing. Errors mean the block is structurally bad.
    pub(super) fn accept(
        &mut self,
        now: Instant,
        id: FetchId,
        block: Block,
        from: BlockSource<P>,
    ) -> Result<Vec<Cid>, LayoutError> {
        let Some(f) = self.fetches.get_mut(&id) else {
            return Ok(Vec::new());
        };
        if !f.layout.is_missing(block.cid()) {
            self.outputs.push_back(Output::Event(Event::BlockDuplicate {
                cid: *block.cid(),
                from,
            }));
            return Ok(Vec::new());
        }
        let cid = *block.cid();
        let revealed = match f.layout.insert(&block)? {
            Inserted::Node { new_children } => new_children,
            Inserted::Leaf { .. } => {
                f.leaf_data.insert(cid, block.data().clone());
                Vec::new()
            }
        };
        let bytes = block.len() as u64;
        let source = from.source();
        if source == Source::Peer {
            f.peer_started = true;
        }
        if f.count(now, &from, bytes) {
            self.stats.record_ttfb(source, now - f.started);
        }
        self.stats.record_bytes(source, bytes);
        if source != Source::Cache {
            if let Err(error) = self.store.put(block) {
                f.all_stored = false;
                self.outputs
                    .push_back(Output::Event(Event::StoreFailed { cid, error }));
            }
        }
        self.store.pin(&cid);
        f.pinned.push(cid);
        // Accepted first: the page labels bytes by where their block came from as they arrive.
        self.outputs.push_back(Output::Event(Event::BlockAccepted {
            fetch: id,
            cid,
            from: from.clone(),
            bytes,
        }));
        for (offset, data) in f.take_deliverable() {
            self.outputs
                .push_back(Output::Action(Action::Deliver(Deliver {
                    fetch: id,
                    offset,
                    data,
                })));
        }
        self.cancel_elsewhere(cid, &from);
        let mut missing = Vec::new();
        if let Some(f) = self.fetches.get(&id) {
            missing = revealed
                .into_iter()
                .filter(|c| f.layout.is_missing(c))
                .collect();
        }
        if source != Source::Cache && !missing.is_empty() {
            // Children may already be cached (shared chunks, earlier partial fetches).
            self.want_from_store(now, id, missing.clone());
        }
        Ok(missing)
    }

    /// Tells other peers asked for `cid` that it is no longer wanted (unless another fetch
    /// still wants it).
    pub(super) fn cancel_elsewhere(&mut self, cid: Cid, winner: &BlockSource<P>) {
        if !self.fetches_missing(&cid).is_empty() {
            return;
        }
        for (peer, state) in &mut self.peers {
            if matches!(winner, BlockSource::Peer(w) if w == peer) {
                continue;
            }
            if state.in_flight.remove(&cid).is_some() {
                self.slots_freed.insert(peer.clone());
                self.outputs.push_back(Output::Action(Action::SendCancel {
                    peer: peer.clone(),
                    cids: vec![cid],
                }));
            }
        }
    }

    pub(super) fn accept_origin(&mut self, now: Instant, id: FetchId, blocks: Vec<Block>) {
        for block in blocks {
            let cid = *block.cid();
            if let Err(e) = self.accept(now, id, block, BlockSource::Origin) {
                // The hash matched a CID of this DAG, so the DAG itself is malformed.
                let error = OriginError::Verify(match e {
                    LayoutError::Verify(v) => v,
                    _ => crate::block::VerifyError::Unsupported {
                        cid,
                        codec: cid.codec(),
                        hash: cid.hash().code(),
                    },
                });
                self.outputs
                    .push_back(Output::Event(Event::OriginRejected { fetch: id, error }));
            }
        }
        self.finish_or_schedule(now, id);
    }

    pub(super) fn reject_origin(
        &mut self,
        now: Instant,
        id: FetchId,
        request: OriginRequestId,
        error: OriginError,
    ) {
        self.origin_index.remove(&request);
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.origin_requests.remove(&request);
        f.origin_failed = true;
        let cancelled: Vec<OriginRequestId> = f.origin_requests.keys().copied().collect();
        f.origin_requests.clear();
        for r in cancelled {
            self.origin_index.remove(&r);
            self.outputs
                .push_back(Output::Action(Action::CancelOrigin(CancelOrigin {
                    request: r,
                })));
        }
        self.outputs.push_back(Output::Event(Event::OriginRejected {
            fetch: id,
            error: error.clone(),
        }));
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        let peers_can = f
            .holders
            .iter()
            .any(|p| self.peers.get(p).is_some_and(|s| s.usable()))
            || f.peers_pending();
        if !peers_can {
            let cid = f.root;
            self.fail(id, FetchError::Origin { cid, source: error });
            return;
        }
        self.schedule(now, id);
    }

    pub(super) fn complete(&mut self, now: Instant, id: FetchId) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        let mut summary = f.summary.clone();
        summary.size = f.delivered;
        summary.elapsed = now - f.started;
        let cid = f.root;
        // A fetch served wholly from the store changed nothing worth announcing.
        let fetched = f.summary.bytes_peer + f.summary.bytes_origin > 0;
        let announce = self.config.announce && f.all_stored && fetched;
        self.release(id);
        if announce {
            self.outputs
                .push_back(Output::Action(Action::Announce { cid }));
        }
        self.outputs.push_back(Output::Event(Event::Completed {
            fetch: id,
            cid,
            summary,
        }));
    }

    pub(super) fn fail(&mut self, id: FetchId, error: FetchError) {
        if self.release(id) {
            self.outputs
                .push_back(Output::Event(Event::Failed { fetch: id, error }));
        }
    }

    /// Ends a fetch: cancels its wants and origin requests, unpins its blocks. Returns whether
    /// it existed.
    pub(super) fn release(&mut self, id: FetchId) -> bool {
        let Some(f) = self.fetches.remove(&id) else {
            return false;
        };
        for request in f.origin_requests.keys() {
            self.origin_index.remove(request);
            self.outputs
                .push_back(Output::Action(Action::CancelOrigin(CancelOrigin {
                    request: *request,
                })));
        }
        for cid in &f.pinned {
            self.store.unpin(cid);
        }
        let still_wanted: BTreeSet<Cid> = self
            .fetches
            .values()
            .flat_map(|g| g.layout.missing())
            .collect();
        for (peer, state) in &mut self.peers {
            let dropped: Vec<Cid> = state
                .in_flight
                .iter()
                .filter(|(c, fl)| fl.fetch == id && !still_wanted.contains(c))
                .map(|(c, _)| *c)
                .collect();
            for cid in &dropped {
                state.in_flight.remove(cid);
            }
            if !dropped.is_empty() {
                self.slots_freed.insert(peer.clone());
            }
            if !dropped.is_empty() && state.connected {
                self.outputs.push_back(Output::Action(Action::SendCancel {
                    peer: peer.clone(),
                    cids: dropped,
                }));
            }
        }
        true
    }
}
