//! What a run reports: a summary over the measurement window and a time series.

use std::time::Duration;

use crate::metrics::{Bucket, FALLBACK_REASONS, Metrics, REASSIGN_REASONS, Served, ratio};

fn reassign_column(reason: &str) -> &'static str {
    match reason {
        "stalled" => "reassigned_stalled",
        "slow" => "reassigned_slow",
        "disconnected" => "reassigned_disconnected",
        "ignored" => "reassigned_ignored",
        "dont_have" => "reassigned_dont_have",
        _ => "reassigned_other",
    }
}

/// Totals over the measurement window (after warm-up).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Mean peers online.
    pub online_avg: f64,
    /// Sessions created over the whole run.
    pub sessions: u64,
    /// Fetches completed.
    pub fetches: u64,
    /// Fetches completed that needed the network (not entirely from the tab's store).
    pub network_fetches: u64,
    /// Fetches that failed.
    pub failed: u64,
    /// Fetches abandoned because their tab closed.
    pub abandoned: u64,
    /// Peer bytes / (peer + origin bytes), as mesh-core's `TransferStats` defines it.
    pub offload: f64,
    /// 1 − origin egress / network bytes needed: like offload but charging the origin for bytes
    /// it sent that lost a race or were cancelled.
    pub origin_savings: f64,
    /// Offload of the hottest 1 % of assets (at least one).
    pub offload_top1: f64,
    /// Offload of the hottest 10 %.
    pub offload_top10: f64,
    /// Offload of the other 90 %.
    pub offload_tail: f64,
    /// GiB verified from peers.
    pub peer_gib: f64,
    /// GiB verified from the origin.
    pub origin_gib: f64,
    /// GiB the origin sent.
    pub origin_egress_gib: f64,
    /// Share of network fetches that brought in the origin.
    pub fell_back: f64,
    /// Fallbacks per network fetch, by reason (see `metrics::FALLBACK_REASONS`).
    pub fallbacks: [f64; 6],
    /// Share of network fetches served by peers only, the origin only, or both.
    pub served_peer: f64,
    /// See [`Summary::served_peer`].
    pub served_origin: f64,
    /// See [`Summary::served_peer`].
    pub served_mixed: f64,
    /// Time to first byte of network fetches, ms: p50, p95, p99.
    pub ttfb_ms: [f64; 3],
    /// TTFB p50 and p95 of fetches served by peers only, ms.
    pub ttfb_peer_ms: [f64; 2],
    /// TTFB p50 and p95 of fetches served by the origin only, ms.
    pub ttfb_origin_ms: [f64; 2],
    /// TTFB p50 and p95 of mixed fetches, ms.
    pub ttfb_mixed_ms: [f64; 2],
    /// Time to complete a network fetch, ms: p50, p95.
    pub load_ms: [f64; 2],
    /// Provider lookups per second per 1000 online peers.
    pub lookups_per_s_1k: f64,
    /// Announcements per second per 1000 online peers.
    pub announces_per_s_1k: f64,
    /// Dials (relay-signalled connection attempts) per second per 1000 online peers.
    pub dials_per_s_1k: f64,
    /// Random-peer requests per second per 1000 online peers.
    pub discovery_per_s_1k: f64,
    /// Connections closed to make room, per second per 1000 online peers.
    pub evictions_per_s_1k: f64,
    /// Share of dials that failed.
    pub dial_failure: f64,
    /// Peer upload bytes per byte verified from peers (> 1: cancelled or duplicate uploads).
    pub upload_overhead: f64,
    /// Blocks taken back from peers per network fetch, by reason (stalled, slow,
    /// disconnected, ignored, don't-have, other).
    pub reassigned: [f64; 6],
    /// Blocks from peers that lost the race to another source, per network fetch.
    pub duplicate_blocks: f64,
    /// Blocks from peers lost to a connection closed in flight, per network fetch.
    pub lost_blocks: f64,
}

/// Counters of one time bucket, as rates.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    /// Bucket start, s.
    pub t_s: f64,
    /// Mean peers online.
    pub online: f64,
    /// Offload within the bucket.
    pub offload: f64,
    /// Origin egress, MB/s.
    pub origin_mbps: f64,
    /// Peer uploads, MB/s.
    pub peer_mbps: f64,
    /// Fetches started per second.
    pub started_per_s: f64,
    /// Fetches completed per second.
    pub completed_per_s: f64,
    /// Fetches failed per second.
    pub failed_per_s: f64,
    /// Fallbacks per second.
    pub fallbacks_per_s: f64,
    /// TTFB p50 of network fetches completed in the bucket, ms.
    pub ttfb_p50_ms: f64,
    /// Lookups per second.
    pub lookups_per_s: f64,
    /// Dials per second.
    pub dials_per_s: f64,
    /// Departures in the bucket.
    pub departures: u64,
}

/// Engine figures of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    /// Events processed.
    pub events: u64,
    /// Most events queued at once.
    pub peak_queue: usize,
    /// Wall time of the run (catalogue building included).
    pub wall: Duration,
}

/// One variant's results.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Variant label.
    pub variant: String,
    /// Numeric x of the variant, if any.
    pub x: Option<f64>,
    /// The summary.
    pub summary: Summary,
    /// The time series.
    pub series: Vec<SeriesRow>,
    /// Engine figures.
    pub perf: Perf,
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// Offload over a range of asset ranks.
fn offload_of(per_asset: &[[u64; 2]]) -> f64 {
    let (p, o) = per_asset
        .iter()
        .fold((0, 0), |(p, o), a| (p + a[0], o + a[1]));
    ratio(p, p + o)
}

impl Summary {
    pub(crate) fn from_metrics(m: &Metrics) -> Self {
        let (w, secs): (Bucket, f64) = m.window();
        let online_avg = w.online_us / (secs.max(1e-9) * 1e6);
        let network = w.completed - w.completed_cache;
        let per_1k = |n: u64| {
            if online_avg > 0.0 && secs > 0.0 {
                n as f64 / secs / online_avg * 1000.0
            } else {
                f64::NAN
            }
        };
        let mut net = m.ttfb[0].clone();
        net.merge(&m.ttfb[1]);
        net.merge(&m.ttfb[2]);
        let served = |s: Served| ratio(m.ttfb[s as usize].count(), net.count());
        let n = m.per_asset.len();
        let top1 = (n / 100).max(1).min(n);
        let top10 = (n / 10).max(1).min(n);
        let mut fallbacks = [0.0; 6];
        for (i, f) in fallbacks.iter_mut().enumerate() {
            *f = ratio(w.fallbacks[i], network);
        }
        debug_assert_eq!(FALLBACK_REASONS.len(), fallbacks.len());
        Summary {
            online_avg,
            sessions: m.sessions,
            fetches: w.completed,
            network_fetches: network,
            failed: w.failed,
            abandoned: w.abandoned,
            offload: w.offload(),
            origin_savings: w.origin_savings(),
            offload_top1: offload_of(&m.per_asset[..top1]),
            offload_top10: offload_of(&m.per_asset[..top10]),
            offload_tail: offload_of(&m.per_asset[top10..]),
            peer_gib: gib(w.bytes[0]),
            origin_gib: gib(w.bytes[1]),
            origin_egress_gib: gib(w.origin_egress),
            fell_back: ratio(w.fell_back, network),
            fallbacks,
            served_peer: served(Served::Peer),
            served_origin: served(Served::Origin),
            served_mixed: served(Served::Mixed),
            ttfb_ms: [
                net.quantile_ms(0.5),
                net.quantile_ms(0.95),
                net.quantile_ms(0.99),
            ],
            ttfb_peer_ms: [
                m.ttfb[Served::Peer as usize].quantile_ms(0.5),
                m.ttfb[Served::Peer as usize].quantile_ms(0.95),
            ],
            ttfb_origin_ms: [
                m.ttfb[Served::Origin as usize].quantile_ms(0.5),
                m.ttfb[Served::Origin as usize].quantile_ms(0.95),
            ],
            ttfb_mixed_ms: [
                m.ttfb[Served::Mixed as usize].quantile_ms(0.5),
                m.ttfb[Served::Mixed as usize].quantile_ms(0.95),
            ],
            load_ms: [m.elapsed.quantile_ms(0.5), m.elapsed.quantile_ms(0.95)],
            lookups_per_s_1k: per_1k(w.lookups),
            announces_per_s_1k: per_1k(w.announces),
            dials_per_s_1k: per_1k(w.dials),
            discovery_per_s_1k: per_1k(w.discovery),
            evictions_per_s_1k: per_1k(w.evictions),
            dial_failure: ratio(w.dial_failures, w.dials),
            upload_overhead: ratio(w.peer_egress, w.bytes[0]),
            reassigned: std::array::from_fn(|i| ratio(w.reassigned[i], network)),
            duplicate_blocks: ratio(w.duplicate_blocks, network),
            lost_blocks: ratio(w.lost_blocks, network),
        }
    }

    /// Named values in CSV column order.
    pub fn columns(&self) -> Vec<(&'static str, f64)> {
        let mut c = vec![
            ("online_avg", self.online_avg),
            ("sessions", self.sessions as f64),
            ("fetches", self.fetches as f64),
            ("network_fetches", self.network_fetches as f64),
            ("failed", self.failed as f64),
            ("abandoned", self.abandoned as f64),
            ("offload", self.offload),
            ("origin_savings", self.origin_savings),
            ("offload_top1pct", self.offload_top1),
            ("offload_top10pct", self.offload_top10),
            ("offload_tail90pct", self.offload_tail),
            ("peer_gib", self.peer_gib),
            ("origin_gib", self.origin_gib),
            ("origin_egress_gib", self.origin_egress_gib),
            ("fell_back", self.fell_back),
        ];
        let names = [
            "fallback_deadline",
            "fallback_no_providers",
            "fallback_peers_lost",
            "fallback_stalled",
            "fallback_slow",
            "fallback_other",
        ];
        for (name, v) in names.iter().zip(self.fallbacks) {
            c.push((name, v));
        }
        for (name, v) in REASSIGN_REASONS.iter().zip(self.reassigned) {
            c.push((reassign_column(name), v));
        }
        c.extend([
            ("served_peer", self.served_peer),
            ("served_origin", self.served_origin),
            ("served_mixed", self.served_mixed),
            ("ttfb_p50_ms", self.ttfb_ms[0]),
            ("ttfb_p95_ms", self.ttfb_ms[1]),
            ("ttfb_p99_ms", self.ttfb_ms[2]),
            ("ttfb_peer_p50_ms", self.ttfb_peer_ms[0]),
            ("ttfb_peer_p95_ms", self.ttfb_peer_ms[1]),
            ("ttfb_origin_p50_ms", self.ttfb_origin_ms[0]),
            ("ttfb_origin_p95_ms", self.ttfb_origin_ms[1]),
            ("ttfb_mixed_p50_ms", self.ttfb_mixed_ms[0]),
            ("ttfb_mixed_p95_ms", self.ttfb_mixed_ms[1]),
            ("load_p50_ms", self.load_ms[0]),
            ("load_p95_ms", self.load_ms[1]),
            ("lookups_per_s_per_1k", self.lookups_per_s_1k),
            ("announces_per_s_per_1k", self.announces_per_s_1k),
            ("dials_per_s_per_1k", self.dials_per_s_1k),
            ("discovery_per_s_per_1k", self.discovery_per_s_1k),
            ("evictions_per_s_per_1k", self.evictions_per_s_1k),
            ("dial_failure", self.dial_failure),
            ("upload_overhead", self.upload_overhead),
            ("duplicate_blocks", self.duplicate_blocks),
            ("lost_blocks", self.lost_blocks),
        ]);
        c
    }
}

impl SeriesRow {
    pub(crate) fn from_metrics(m: &Metrics) -> Vec<Self> {
        let mut t = 0.0;
        m.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let s = m.width_s(i).max(1e-9);
                let t_s = t;
                t += s;
                SeriesRow {
                    t_s,
                    online: b.online_us / (s * 1e6),
                    offload: b.offload(),
                    origin_mbps: b.origin_egress as f64 / 1e6 / s,
                    peer_mbps: b.peer_egress as f64 / 1e6 / s,
                    started_per_s: b.started as f64 / s,
                    completed_per_s: b.completed as f64 / s,
                    failed_per_s: b.failed as f64 / s,
                    fallbacks_per_s: b.fallbacks.iter().sum::<u64>() as f64 / s,
                    ttfb_p50_ms: b.ttfb.quantile_ms(0.5),
                    lookups_per_s: b.lookups as f64 / s,
                    dials_per_s: b.dials as f64 / s,
                    departures: b.departures,
                }
            })
            .collect()
    }

    /// Named values in CSV column order.
    pub fn columns(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("t_s", self.t_s),
            ("online", self.online),
            ("offload", self.offload),
            ("origin_mbps", self.origin_mbps),
            ("peer_mbps", self.peer_mbps),
            ("started_per_s", self.started_per_s),
            ("completed_per_s", self.completed_per_s),
            ("failed_per_s", self.failed_per_s),
            ("fallbacks_per_s", self.fallbacks_per_s),
            ("ttfb_p50_ms", self.ttfb_p50_ms),
            ("lookups_per_s", self.lookups_per_s),
            ("dials_per_s", self.dials_per_s),
            ("departures", self.departures as f64),
        ]
    }
}
