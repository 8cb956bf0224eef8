//! Planner settings and their defaults.

use std::time::Duration;

use crate::known::KnownBlocks;

/// Settings of the [`Planner`](super::Planner). Start from [`Config::new`] (the defaults below)
/// and adjust with the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How long peers get to deliver the first verified byte before the origin is asked too.
    /// Default 200 ms: the product promise is that a page never waits noticeably longer than
    /// without mesh, and discovery plus a warm peer answer well inside it on real networks.
    pub fallback_after: Duration,
    /// The deadline for multi-block assets (a dag-pb root: over 256 KiB), when it is longer than
    /// [`Config::fallback_after`]. Default 800 ms: such an asset takes seconds to load, so
    /// 600 ms more for a peer's first byte costs little, and every peer byte it buys is one the
    /// origin does not send (docs/SIMULATION.md, "Defaults": +6 points of offload and +9 of
    /// origin savings on the 20 MiB patch, load time unchanged). A longer
    /// [`Config::fallback_after`] applies to every asset.
    pub large_fallback_after: Duration,
    /// A peer with requests outstanding that delivers nothing for this long, or for as long as
    /// its outstanding bytes need at its observed rate (at [`Config::stall_rate_floor`] before
    /// one is observed) if that is longer, is stalled and loses its blocks. Default 1 s.
    /// 500 ms flagged ordinary peers: a 256 KiB leaf takes 0.5 s on a 4 Mbit/s uplink, and a
    /// first batch over a fresh connection takes longer (docs/SIMULATION.md, "Defaults").
    pub stall_timeout: Duration,
    /// The rate, in bytes per second, at which a peer is given time to send what was asked of
    /// it before its own rate is known. Default 500 kB/s (4 Mbit/s, the median uplink share
    /// the simulator gives mesh): a 5-leaf batch gets 2.6 s.
    pub stall_rate_floor: f64,
    /// Blocks requested from one peer at a time. Default 16 (4 MiB of leaves): enough to keep a
    /// 16 KiB-window WebRTC stream pipelined, small enough to re-plan quickly.
    pub max_in_flight_per_peer: usize,
    /// Leaves per origin Range request. Default 16 (4 MiB).
    pub max_origin_range_leaves: usize,
    /// Origin requests per fetch at a time. Default 4.
    pub max_origin_requests: usize,
    /// Largest asset the planner accepts (a lying root cannot make us buffer more). Default
    /// 256 MiB.
    pub max_asset_size: u64,
    /// Bytes all fetches together may hold for the page, verified and not yet handed over
    /// (leaves that arrived ahead of an earlier one): each multi-block fetch asks only for
    /// leaves within its share of this many bytes of its delivery point (at least one origin
    /// range, [`Config::max_origin_range_leaves`] leaves). Default 64 MiB, the browser node's
    /// default cache budget, which it sets this to. A whole-file origin request (made while
    /// the DAG is unknown) is not windowed: its bytes are held until the root verifies them,
    /// up to [`Config::max_asset_size`].
    pub fetch_buffer: u64,
    /// Score lost for a block that fails verification. Default 60.
    pub corrupt_penalty: i32,
    /// Score lost for stalling. Default 10.
    pub stall_penalty: i32,
    /// Score gained per verified block, up to [`Config::max_score`]. Default 1.
    pub success_reward: i32,
    /// Cap on a peer's score, so good history cannot buy many corrupt blocks. Default 20.
    pub max_score: i32,
    /// A peer at or below this score is ignored. Default -100: two corrupt blocks get any peer
    /// ignored, whatever its history (scores are capped at [`Config::max_score`]); one corrupt
    /// block plus a few stalls too.
    pub ignore_threshold: i32,
    /// Time to first origin byte assumed before any origin transfer was observed. Default 100 ms.
    pub origin_latency_estimate: Duration,
    /// Origin throughput assumed before any origin transfer was observed, bytes per second.
    /// Default 4 MB/s.
    pub origin_rate_estimate: f64,
    /// A peer is slow when its projected finish exceeds the origin's by this factor.
    /// Default 1.5: hedging costs origin bytes, so only switch on a clear win.
    pub slow_peer_factor: f64,
    /// Whether a whole-file origin request (started before the DAG was known) is cancelled and
    /// replaced by leaf ranges for what peers are not delivering, once a peer has delivered the
    /// DAG's nodes. Default true: otherwise the origin sends every byte of a large asset even
    /// when peers deliver most of it (docs/SIMULATION.md, the patch scenarios).
    pub origin_ranges_once_known: bool,
    /// How many connected peers (best score first) a new fetch of a single-block asset asks
    /// for the block straight away (want-block) instead of asking whether they have it
    /// (want-have): one round trip fewer to a peer that holds it, at the cost of duplicate
    /// bytes when several do. Default 4, the warm connections a tab keeps (docs/SIMULATION.md,
    /// "Defaults": +11 points of offload on the site workload, TTFB unchanged, 2.8 instead of
    /// 2.1 bytes uploaded per peer byte used).
    pub want_block_first: usize,
    /// How long a peer that withheld or stalled blocks is demoted for every asset (asked for
    /// nothing the origin can provide). Default 30 s: long enough that a withholder costs each
    /// later fetch nothing, short enough that a peer that was only busy is back soon. Repeat
    /// offences double it up to [`Config::max_demotion`]; each demotion length of good standing
    /// forgives one.
    pub demotion: Duration,
    /// Longest demotion. Default 10 minutes.
    pub max_demotion: Duration,
    /// How many connected peers (best score first) a new fetch asks whether they hold the
    /// asset, when no connected peer announced it and beyond the want-block-first ones. Default
    /// 4: a want-have tells its receiver what the page loads, so it goes to a few chosen peers,
    /// not to every connected one; peers announce what they hold when they connect, and the
    /// DHT names the others.
    pub want_have_fanout: usize,
    /// Whether a completed, fully stored asset emits [`Action::Announce`](super::Action::Announce).
    /// Default true.
    pub announce: bool,
    /// Blocks this process already holds, whose bytes are trusted by identity instead of
    /// being hashed again when a peer or the origin hands them over (see
    /// [`crate::known`]). Default empty: a real node receives fresh bytes and hashes them.
    pub known_blocks: KnownBlocks,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            fallback_after: Duration::from_millis(200),
            large_fallback_after: Duration::from_millis(800),
            stall_timeout: Duration::from_secs(1),
            stall_rate_floor: 500e3,
            max_in_flight_per_peer: 16,
            max_origin_range_leaves: 16,
            max_origin_requests: 4,
            max_asset_size: 256 << 20,
            fetch_buffer: 64 << 20,
            corrupt_penalty: 60,
            stall_penalty: 10,
            success_reward: 1,
            max_score: 20,
            ignore_threshold: -100,
            origin_latency_estimate: Duration::from_millis(100),
            origin_rate_estimate: 4e6,
            slow_peer_factor: 1.5,
            origin_ranges_once_known: true,
            want_block_first: 4,
            demotion: Duration::from_secs(30),
            max_demotion: Duration::from_secs(600),
            want_have_fanout: 4,
            announce: true,
            known_blocks: KnownBlocks::default(),
        }
    }
}

impl Config {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Config::fallback_after`].
    pub fn with_fallback_after(mut self, d: Duration) -> Self {
        self.fallback_after = d;
        self
    }

    /// Sets [`Config::large_fallback_after`].
    pub fn with_large_fallback_after(mut self, d: Duration) -> Self {
        self.large_fallback_after = d;
        self
    }

    /// The deadline for a fetch of `root`: [`Config::fallback_after`], or for a multi-block
    /// asset (its root is a dag-pb node; a single block is raw) the longer of it and
    /// [`Config::large_fallback_after`].
    pub fn deadline_for(&self, root: &cid::Cid) -> Duration {
        if root.codec() == crate::block::DAG_PB_CODEC {
            self.fallback_after.max(self.large_fallback_after)
        } else {
            self.fallback_after
        }
    }

    /// Sets [`Config::stall_timeout`].
    pub fn with_stall_timeout(mut self, d: Duration) -> Self {
        self.stall_timeout = d;
        self
    }

    /// Sets [`Config::stall_rate_floor`] (bytes per second, at least 1).
    pub fn with_stall_rate_floor(mut self, bytes_per_sec: f64) -> Self {
        self.stall_rate_floor = if bytes_per_sec >= 1.0 {
            bytes_per_sec
        } else {
            1.0
        };
        self
    }

    /// Sets [`Config::max_in_flight_per_peer`] (at least 1).
    pub fn with_max_in_flight_per_peer(mut self, n: usize) -> Self {
        self.max_in_flight_per_peer = n.max(1);
        self
    }

    /// Sets [`Config::max_origin_range_leaves`] (at least 1).
    pub fn with_max_origin_range_leaves(mut self, n: usize) -> Self {
        self.max_origin_range_leaves = n.max(1);
        self
    }

    /// Sets [`Config::max_asset_size`].
    pub fn with_max_asset_size(mut self, bytes: u64) -> Self {
        self.max_asset_size = bytes;
        self
    }

    /// Sets [`Config::fetch_buffer`].
    pub fn with_fetch_buffer(mut self, bytes: u64) -> Self {
        self.fetch_buffer = bytes;
        self
    }

    /// Sets the origin estimates used before real transfers are observed.
    pub fn with_origin_estimate(mut self, latency: Duration, bytes_per_sec: f64) -> Self {
        self.origin_latency_estimate = latency;
        self.origin_rate_estimate = bytes_per_sec.max(1.0);
        self
    }

    /// Sets [`Config::slow_peer_factor`]; `f64::INFINITY` turns slow-peer hedging off.
    pub fn with_slow_peer_factor(mut self, factor: f64) -> Self {
        self.slow_peer_factor = if factor > 0.0 { factor } else { f64::INFINITY };
        self
    }

    /// Sets [`Config::origin_ranges_once_known`].
    pub fn with_origin_ranges_once_known(mut self, on: bool) -> Self {
        self.origin_ranges_once_known = on;
        self
    }

    /// Sets [`Config::want_block_first`].
    pub fn with_want_block_first(mut self, peers: usize) -> Self {
        self.want_block_first = peers;
        self
    }

    /// Sets [`Config::demotion`] and [`Config::max_demotion`] (at least `base`).
    pub fn with_demotion(mut self, base: Duration, max: Duration) -> Self {
        self.demotion = base;
        self.max_demotion = max.max(base);
        self
    }

    /// Sets [`Config::want_have_fanout`].
    pub fn with_want_have_fanout(mut self, peers: usize) -> Self {
        self.want_have_fanout = peers;
        self
    }

    /// Sets [`Config::announce`].
    pub fn with_announce(mut self, announce: bool) -> Self {
        self.announce = announce;
        self
    }

    /// Sets [`Config::known_blocks`].
    pub fn with_known_blocks(mut self, known: KnownBlocks) -> Self {
        self.known_blocks = known;
        self
    }
}
