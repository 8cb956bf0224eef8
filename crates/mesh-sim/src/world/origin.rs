//! The origin: HTTP bodies that start after the origin's latency and stream at the request's
//! throughput, sharing the peer's downlink, one leaf-sized piece per event.

use std::ops::Range;

use mesh_core::fetch::{FetchId, OriginRequestId};
use mesh_core::time::Instant;

use super::peer::{OriginBody, PeerState};
use super::{Ev, World, mbps, ms_us};

impl World<'_> {
    pub(super) fn origin_fetch(
        &mut self,
        id: u32,
        st: &mut PeerState,
        fetch: FetchId,
        request: OriginRequestId,
        range: Option<Range<u64>>,
    ) {
        let Some(asset) = st.asset_of(fetch) else {
            return;
        };
        self.metrics.at(self.now).origin_requests += 1;
        let latency = ms_us(self.sc.origin.latency_ms.sample(&mut self.net_rng));
        if self.origin_down(self.now) {
            self.queue
                .push(self.now + latency, Ev::OriginFailed { peer: id, request });
            return;
        }
        let size = self.cat.assets[asset as usize].size;
        let range = range.unwrap_or(0..size);
        let range = range.start.min(size)..range.end.min(size);
        let rate = mbps(self.sc.origin.mbps.sample(&mut self.net_rng));
        let body = OriginBody {
            id: request,
            asset,
            pos: range.start,
            range,
            rate,
        };
        self.schedule_piece(id, &body, self.now + latency);
        st.origin.push(body);
    }

    fn schedule_piece(&mut self, id: u32, body: &OriginBody, start: u64) {
        let len = self.cat.piece(body.asset, body.pos, &body.range).len() as u64;
        let at = self.start_download(id, start, len, body.rate);
        self.queue.push(
            at,
            Ev::OriginPiece {
                peer: id,
                request: body.id,
            },
        );
    }

    pub(super) fn origin_piece(&mut self, id: u32, request: OriginRequestId) {
        let now = Instant::from_micros(self.now);
        self.end_download(id);
        self.with_peer(id, |w, st| {
            // Gone if the planner cancelled it.
            let Some(i) = st.origin.iter().position(|b| b.id == request) else {
                return;
            };
            let body = &mut st.origin[i];
            let piece = w.cat.piece(body.asset, body.pos, &body.range);
            body.pos += piece.len() as u64;
            w.metrics.at(w.now).origin_egress += piece.len() as u64;
            let done = piece.is_empty() || body.pos >= body.range.end;
            if done {
                st.origin.swap_remove(i);
            } else {
                w.schedule_piece(id, &st.origin[i], w.now);
            }
            if !piece.is_empty() {
                st.planner.handle_origin_data(now, request, piece);
            }
            if done {
                st.planner.handle_origin_done(now, request);
            }
            w.drain(id, st);
        });
    }

    pub(super) fn origin_failed(&mut self, id: u32, request: OriginRequestId) {
        let now = Instant::from_micros(self.now);
        self.with_peer(id, |w, st| {
            w.metrics.at(w.now).origin_failures += 1;
            st.planner
                .handle_origin_failed(now, request, "origin unavailable (HTTP 503)".into());
            w.drain(id, st);
        });
    }
}
