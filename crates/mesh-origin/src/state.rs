//! What the control API changes and reports: the down switch, the added latency, the
//! throttle, and the counters.
//!
//! Shared by every connection task, so it is atomics plus one mutex around the counters that
//! need a map; every critical section is a few additions.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Most distinct paths counted in [`Stats::paths`]. Only paths that named a file are counted,
/// so this is only reached by sites with more files than that; later paths go uncounted
/// (their bytes still count in the totals).
pub const MAX_COUNTED_PATHS: usize = 100_000;

/// The origin's run-time settings and counters.
#[derive(Debug, Default)]
pub struct OriginState {
    down: AtomicBool,
    latency_ms: AtomicU64,
    /// Bytes per second; 0 is unlimited.
    rate: AtomicU64,
    stats: Mutex<Stats>,
}

/// The settings the control API changes, as `/_origin/state` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Every non-control request gets a 503.
    pub down: bool,
    /// Added before each non-control response's headers.
    pub latency_ms: u64,
    /// Body throttle in bytes per second; `None` is unlimited.
    pub rate_bytes_per_sec: Option<u64>,
}

/// Counters since start or the last reset, as `/_origin/stats` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Requests outside `/_origin/` (files, the manifest, preflights, errors).
    pub requests: u64,
    /// Body bytes handed to connections: the CDN egress the mesh aims to cut. Headers are not
    /// counted; a body cut short by the client counts what was sent.
    pub bytes_served: u64,
    /// `206 Partial Content` responses.
    pub partial_responses: u64,
    /// `304 Not Modified` responses.
    pub not_modified: u64,
    /// Requests refused with `503` because the origin was down.
    pub refused_down: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Per file path (the decoded URL path of a served file): requests and body bytes.
    pub paths: BTreeMap<String, PathStats>,
}

/// Counters of one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathStats {
    /// Responses for this path (any status).
    pub requests: u64,
    /// Body bytes sent for this path.
    pub bytes: u64,
}

impl OriginState {
    /// Initial settings.
    pub fn new(settings: Settings) -> Self {
        let state = Self::default();
        state.apply(settings);
        state
    }

    /// Replaces every setting.
    pub fn apply(&self, settings: Settings) {
        self.set_down(settings.down);
        self.set_latency(Duration::from_millis(settings.latency_ms));
        self.set_rate(settings.rate_bytes_per_sec);
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        Settings {
            down: self.is_down(),
            latency_ms: self.latency_ms.load(Ordering::Relaxed),
            rate_bytes_per_sec: self.rate(),
        }
    }

    /// Turns the down switch.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }

    /// Whether non-control requests are refused.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Sets the added latency (saturating at `u64::MAX` ms).
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// The added latency.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Sets the body throttle; `None` (or `Some(0)`) is unlimited.
    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        self.rate
            .store(bytes_per_sec.unwrap_or(0), Ordering::Relaxed);
    }

    /// The body throttle, `None` when unlimited.
    pub fn rate(&self) -> Option<u64> {
        match self.rate.load(Ordering::Relaxed) {
            0 => None,
            rate => Some(rate),
        }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.with_stats(|stats| stats.clone())
    }

    /// Zeroes every counter.
    pub fn reset_stats(&self) {
        self.with_stats(|stats| *stats = Stats::default());
    }

    /// Counts a non-control response with `status`, for `path` when it named a file.
    pub(crate) fn record_response(&self, status: u16, path: Option<&str>) {
        self.with_stats(|stats| {
            stats.requests += 1;
            *stats.statuses.entry(status).or_default() += 1;
            match status {
                206 => stats.partial_responses += 1,
                304 => stats.not_modified += 1,
                _ => {}
            }
            if let Some(path) = path {
                if let Some(counts) = path_entry(stats, path) {
                    counts.requests += 1;
                }
            }
        });
    }

    /// Counts a request refused because the origin is down.
    pub(crate) fn record_refused(&self) {
        self.with_stats(|stats| stats.refused_down += 1);
        self.record_response(503, None);
    }

    /// Counts `n` body bytes sent for `path` (`None`: not a file, e.g. the manifest).
    pub(crate) fn record_body(&self, path: Option<&str>, n: u64) {
        self.with_stats(|stats| {
            stats.bytes_served += n;
            if let Some(counts) = path.and_then(|path| path_entry(stats, path)) {
                counts.bytes += n;
            }
        });
    }

    fn with_stats<T>(&self, f: impl FnOnce(&mut Stats) -> T) -> T {
        // A panic while holding the lock cannot leave counters inconsistent in a way that
        // matters more than losing them: keep counting.
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut stats)
    }
}

/// The counters of `path`, created if there is room.
fn path_entry<'a>(stats: &'a mut Stats, path: &str) -> Option<&'a mut PathStats> {
    if !stats.paths.contains_key(path) && stats.paths.len() >= MAX_COUNTED_PATHS {
        return None;
    }
    Some(stats.paths.entry(path.to_owned()).or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let state = OriginState::default();
        state.record_response(200, Some("/a"));
        state.record_body(Some("/a"), 10);
        state.record_response(206, Some("/a"));
        state.record_body(Some("/a"), 5);
        state.record_response(304, Some("/b"));
        state.record_refused();
        state.record_body(None, 7);
        let stats = state.stats();
        assert_eq!(stats.requests, 4);
        assert_eq!(stats.bytes_served, 22);
        assert_eq!(stats.partial_responses, 1);
        assert_eq!(stats.not_modified, 1);
        assert_eq!(stats.refused_down, 1);
        assert_eq!(stats.statuses[&503], 1);
        assert_eq!(
            stats.paths["/a"],
            PathStats {
                requests: 2,
                bytes: 15
            }
        );
        assert_eq!(
            stats.paths["/b"],
            PathStats {
                requests: 1,
                bytes: 0
            }
        );
        state.reset_stats();
        assert_eq!(state.stats(), Stats::default());
    }

    #[test]
    fn settings_round_trip() {
        let settings = Settings {
            down: true,
            latency_ms: 80,
            rate_bytes_per_sec: Some(1000),
        };
        let state = OriginState::new(settings);
        assert_eq!(state.settings(), settings);
        state.set_rate(Some(0));
        assert_eq!(state.rate(), None);
    }
}
