//! Transfer stats: byte totals, offload ratio, time-to-first-byte quantiles, merging.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mesh_core::stats::{MAX_TTFB, Source, StatsSnapshot, TTFB_RELATIVE_ERROR, TransferStats};
use proptest::prelude::*;

/// The exact nearest-rank quantile of `samples`, as documented for `ttfb_quantile`.
fn exact_quantile(samples: &[u64], q: f64) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as u64;
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    sorted[(rank - 1) as usize]
}

/// Whether `estimate` is within the documented relative error of `exact`.
fn within_bound(estimate: u64, exact: u64) -> bool {
    (estimate.abs_diff(exact) as f64) <= exact as f64 * TTFB_RELATIVE_ERROR
}

fn stats_with(source: Source, samples: &[u64]) -> TransferStats {
    let mut stats = TransferStats::new();
    for &micros in samples {
        stats.record_ttfb(source, Duration::from_micros(micros));
    }
    stats
}

#[test]
fn empty_stats() {
    let stats = TransferStats::new();
    for source in Source::ALL {
        assert_eq!(stats.bytes(source), 0);
        assert_eq!(stats.ttfb_quantile(source, 0.5), None);
        assert_eq!(stats.ttfb_count(source), 0);
    }
    assert_eq!(stats.offload_ratio(), None);
    assert_eq!(stats.snapshot(), StatsSnapshot::default());
}

#[test]
fn offload_ratio_counts_network_bytes_only() {
    let mut stats = TransferStats::new();
    stats.record_bytes(Source::Cache, 5_000);
    assert_eq!(
        stats.offload_ratio(),
        None,
        "cache bytes alone are not network bytes"
    );
    stats.record_bytes(Source::Origin, 100);
    assert_eq!(stats.offload_ratio(), Some(0.0));
    stats.record_bytes(Source::Peer, 300);
    assert_eq!(stats.offload_ratio(), Some(0.75));
    stats.record_bytes(Source::Cache, 1_000_000);
    assert_eq!(
        stats.offload_ratio(),
        Some(0.75),
        "cache bytes do not move the ratio"
    );

    let mut peers_only = TransferStats::new();
    peers_only.record_bytes(Source::Peer, 1);
    assert_eq!(peers_only.offload_ratio(), Some(1.0));
}

#[test]
fn counters_accumulate_and_saturate() {
    let mut stats = TransferStats::new();
    stats.record_bytes(Source::Peer, 10);
    stats.record_bytes(Source::Peer, 5);
    stats.record_served(7);
    stats.record_served(8);
    stats.record_fallback();
    stats.record_fallback();
    assert_eq!(stats.bytes(Source::Peer), 15);
    assert_eq!(stats.bytes(Source::Origin), 0);
    assert_eq!(stats.bytes_served(), 15);
    assert_eq!(stats.fallbacks(), 2);
    stats.record_bytes(Source::Origin, u64::MAX);
    stats.record_bytes(Source::Origin, u64::MAX);
    assert_eq!(stats.bytes(Source::Origin), u64::MAX);
    let ratio = stats.offload_ratio().unwrap();
    assert!((0.0..1e-12).contains(&ratio), "{ratio}");
}

#[test]
fn uniform_distribution_quantiles() {
    // 1 ms .. 1000 ms in 1 ms steps: the nearest-rank q-quantile is ceil(1000 q) ms.
    let samples: Vec<u64> = (1..=1000).map(|ms| ms * 1000).collect();
    let stats = stats_with(Source::Origin, &samples);
    for (q, exact_ms) in [(0.01, 10), (0.1, 100), (0.25, 250), (0.5, 500), (0.9, 900)] {
        let got = stats.ttfb_quantile(Source::Origin, q).unwrap();
        assert!(
            within_bound(got.as_micros() as u64, exact_ms * 1000),
            "q={q}: {got:?} vs {exact_ms} ms"
        );
    }
    assert_eq!(
        stats.ttfb_quantile(Source::Origin, 0.0),
        Some(Duration::from_millis(1))
    );
    assert_eq!(
        stats.ttfb_quantile(Source::Origin, 1.0),
        Some(Duration::from_millis(1000))
    );
    assert_eq!(stats.ttfb_count(Source::Origin), 1000);
}

#[test]
fn constant_distribution_is_exact() {
    let stats = stats_with(Source::Peer, &[123_457; 50]);
    for q in [0.0, 0.3, 0.5, 0.99, 1.0] {
        assert_eq!(
            stats.ttfb_quantile(Source::Peer, q),
            Some(Duration::from_micros(123_457))
        );
    }
}

#[test]
fn bimodal_distribution() {
    // 90 fast peer answers at 12 ms and 10 stragglers at 480 ms.
    let mut samples = vec![12_000; 90];
    samples.extend([480_000; 10]);
    let stats = stats_with(Source::Peer, &samples);
    let p50 = stats.ttfb_quantile(Source::Peer, 0.5).unwrap();
    let p90 = stats.ttfb_quantile(Source::Peer, 0.9).unwrap();
    let p91 = stats.ttfb_quantile(Source::Peer, 0.91).unwrap();
    assert!(within_bound(p50.as_micros() as u64, 12_000), "{p50:?}");
    assert!(within_bound(p90.as_micros() as u64, 12_000), "{p90:?}");
    // The slow mode holds the maximum, so its estimate is clamped to the exact value.
    assert_eq!(p91, Duration::from_millis(480));
}

#[test]
fn sources_are_kept_apart() {
    let mut stats = TransferStats::new();
    stats.record_ttfb(Source::Peer, Duration::from_millis(20));
    stats.record_ttfb(Source::Origin, Duration::from_millis(200));
    assert_eq!(
        stats.ttfb_quantile(Source::Peer, 0.5),
        Some(Duration::from_millis(20))
    );
    assert_eq!(
        stats.ttfb_quantile(Source::Origin, 0.5),
        Some(Duration::from_millis(200))
    );
    assert_eq!(stats.ttfb_quantile(Source::Cache, 0.5), None);
}

#[test]
fn extreme_durations() {
    let mut stats = TransferStats::new();
    stats.record_ttfb(Source::Cache, Duration::from_nanos(400));
    assert_eq!(
        stats.ttfb_quantile(Source::Cache, 0.5),
        Some(Duration::ZERO)
    );
    stats.record_ttfb(Source::Origin, Duration::from_secs(2 * 3600));
    stats.record_ttfb(Source::Origin, Duration::MAX);
    assert_eq!(stats.ttfb_quantile(Source::Origin, 0.5), Some(MAX_TTFB));
    assert!(MAX_TTFB > Duration::from_secs(60 * 60));
}

#[test]
fn snapshot_fills_every_field() {
    let mut stats = TransferStats::new();
    stats.record_bytes(Source::Peer, 600);
    stats.record_bytes(Source::Origin, 200);
    stats.record_bytes(Source::Cache, 50);
    stats.record_served(1234);
    stats.record_fallback();
    stats.record_ttfb(Source::Peer, Duration::from_micros(15_500));
    stats.record_ttfb(Source::Origin, Duration::from_millis(80));
    stats.record_ttfb(Source::Cache, Duration::from_micros(20));
    let snap = stats.snapshot();
    assert_eq!(
        snap,
        StatsSnapshot {
            bytes_peer: 600,
            bytes_origin: 200,
            bytes_cache: 50,
            bytes_served: 1234,
            fallbacks: 1,
            offload_ratio: Some(0.75),
            ttfb_p50_ms_peer: Some(15.5),
            ttfb_p50_ms_origin: Some(80.0),
            ttfb_p50_ms_cache: Some(0.02),
        }
    );
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["bytes_peer"], 600);
    assert_eq!(json["offload_ratio"], 0.75);
    assert_eq!(json["ttfb_p50_ms_cache"], 0.02);
    let back: StatsSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, snap);

    let empty = serde_json::to_value(TransferStats::new().snapshot()).unwrap();
    assert!(empty["offload_ratio"].is_null());
}

#[test]
fn source_serialises_lowercase() {
    assert_eq!(serde_json::to_string(&Source::Peer).unwrap(), "\"peer\"");
    assert_eq!(
        serde_json::from_str::<Source>("\"origin\"").unwrap(),
        Source::Origin
    );
}

#[test]
fn merge_totals_nodes() {
    let mut a = TransferStats::new();
    a.record_bytes(Source::Peer, 100);
    a.record_fallback();
    a.record_ttfb(Source::Peer, Duration::from_millis(10));
    let mut b = TransferStats::new();
    b.record_bytes(Source::Peer, 50);
    b.record_bytes(Source::Origin, 50);
    b.record_served(9);
    b.record_ttfb(Source::Peer, Duration::from_millis(30));
    b.record_ttfb(Source::Origin, Duration::from_millis(70));
    a.merge(&b);
    assert_eq!(a.bytes(Source::Peer), 150);
    assert_eq!(a.offload_ratio(), Some(0.75));
    assert_eq!((a.fallbacks(), a.bytes_served()), (1, 9));
    assert_eq!(a.ttfb_count(Source::Peer), 2);
    assert_eq!(
        a.ttfb_quantile(Source::Peer, 1.0),
        Some(Duration::from_millis(30))
    );
    assert_eq!(
        a.ttfb_quantile(Source::Origin, 0.5),
        Some(Duration::from_millis(70))
    );
    let before = a.clone();
    a.merge(&TransferStats::new());
    assert_eq!(a, before, "merging nothing changes nothing");
}

proptest! {
    #[test]
    fn quantiles_are_within_the_documented_error(
        samples in proptest::collection::vec(0u64..5_000_000_000, 1..400),
        q in 0.0f64..=1.0,
    ) {
        let stats = stats_with(Source::Peer, &samples);
        let got = stats.ttfb_quantile(Source::Peer, q).unwrap().as_micros() as u64;
        let capped: Vec<u64> = samples
            .iter()
            .map(|&s| s.min(MAX_TTFB.as_micros() as u64))
            .collect();
        let exact = exact_quantile(&capped, q);
        prop_assert!(within_bound(got, exact), "q={} got {} exact {}", q, got, exact);
        prop_assert_eq!(
            stats.ttfb_quantile(Source::Peer, 0.0).unwrap().as_micros() as u64,
            *capped.iter().min().unwrap()
        );
        prop_assert_eq!(
            stats.ttfb_quantile(Source::Peer, 1.0).unwrap().as_micros() as u64,
            *capped.iter().max().unwrap()
        );
    }

    #[test]
    fn merge_equals_recording_everything_in_one(
        events in proptest::collection::vec((0usize..3, 0u64..10_000_000, any::<bool>()), 0..200),
    ) {
        let (mut left, mut right, mut all) =
            (TransferStats::new(), TransferStats::new(), TransferStats::new());
        for (source, micros, goes_left) in events {
            let source = Source::ALL[source];
            for stats in [if goes_left { &mut left } else { &mut right }, &mut all] {
                stats.record_ttfb(source, Duration::from_micros(micros));
                stats.record_bytes(source, micros);
                if micros % 3 == 0 {
                    stats.record_fallback();
                }
                stats.record_served(micros / 2);
            }
        }
        left.merge(&right);
        prop_assert_eq!(left.snapshot(), all.snapshot());
        for source in Source::ALL {
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                prop_assert_eq!(left.ttfb_quantile(source, q), all.ttfb_quantile(source, q));
            }
        }
    }
}
