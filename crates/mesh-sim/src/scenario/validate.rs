//! Range and consistency checks, so a bad file fails before a run starts, naming the field.

use super::spec::{Arrivals, Scenario, Workload};
use super::{MAX_ASSET_MB, MAX_ASSETS, MAX_BUCKETS, MAX_DURATION_S, MAX_SESSIONS, ScenarioError};
use crate::dist::Dist;

impl Scenario {
    /// Checks ranges and consistency; `label` names the scenario in errors.
    pub fn validate(&self, label: &str) -> Result<(), ScenarioError> {
        let bad = |field: &str, reason: String| ScenarioError::Invalid {
            scenario: label.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let fraction = |field: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(bad(field, format!("is {v}, must be between 0 and 1")))
            }
        };
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(field, format!("is {v}, must be a finite number > 0")))
            }
        };
        let dist = |field: &str, d: &Dist| match d.problem() {
            Some(reason) => Err(bad(field, reason)),
            None => Ok(()),
        };
        positive("duration_s", self.duration_s)?;
        if self.duration_s > MAX_DURATION_S {
            return Err(bad(
                "duration_s",
                format!("is over the {MAX_DURATION_S} s limit"),
            ));
        }
        positive("bucket_s", self.bucket_s)?;
        if self.duration_s / self.bucket_s > MAX_BUCKETS {
            return Err(bad(
                "bucket_s",
                format!("gives more than {MAX_BUCKETS} buckets"),
            ));
        }
        if !(0.0..self.duration_s).contains(&self.warmup_s) {
            return Err(bad("warmup_s", "must be >= 0 and below duration_s".into()));
        }
        let sessions = match &self.arrivals {
            Arrivals::Steady { concurrent, ramp_s } => {
                if !ramp_s.is_finite() || *ramp_s < 0.0 {
                    return Err(bad("arrivals.ramp_s", "must be >= 0".into()));
                }
                let mean = self.peers.session_s.mean().max(1.0);
                f64::from(*concurrent) * (1.0 + self.duration_s / mean)
            }
            Arrivals::Burst { users, over_s } => {
                positive("arrivals.over_s", *over_s)?;
                f64::from(*users)
            }
        };
        if sessions > MAX_SESSIONS as f64 {
            return Err(bad(
                "arrivals",
                format!("would create about {sessions:.0} sessions, over {MAX_SESSIONS}"),
            ));
        }
        let p = &self.peers;
        dist("peers.session_s", &p.session_s)?;
        positive("peers.session_s (mean)", p.session_s.mean())?;
        fraction("peers.nat_fraction", p.nat_fraction)?;
        dist("peers.latency_ms", &p.latency_ms)?;
        dist("peers.down_mbps", &p.down_mbps)?;
        positive("peers.down_mbps (mean)", p.down_mbps.mean())?;
        dist("peers.up_mbps", &p.up_mbps)?;
        positive("peers.up_mbps (mean)", p.up_mbps.mean())?;
        fraction("peers.upload_fraction", p.upload_fraction)?;
        positive("peers.cache_mb", p.cache_mb)?;
        if !(p.upload_mb_per_minute.is_finite() && p.upload_mb_per_minute >= 0.0) {
            return Err(bad("peers.upload_mb_per_minute", "must be >= 0".into()));
        }
        if p.max_connections == 0 || p.max_connections > 1024 {
            return Err(bad(
                "peers.max_connections",
                "must be between 1 and 1024".into(),
            ));
        }
        if p.warm_peers > p.max_connections {
            return Err(bad(
                "peers.warm_peers",
                "must not exceed peers.max_connections".into(),
            ));
        }
        let n = &self.network;
        if !(n.core_latency_ms.is_finite() && n.core_latency_ms >= 0.0) {
            return Err(bad("network.core_latency_ms", "must be >= 0".into()));
        }
        dist("network.lookup_ms", &n.lookup_ms)?;
        dist("network.announce_ms", &n.announce_ms)?;
        if n.providers_per_lookup > 1000 {
            return Err(bad(
                "network.providers_per_lookup",
                "must be <= 1000".into(),
            ));
        }
        positive("network.connect_rtts", n.connect_rtts)?;
        positive("network.nat_dial_timeout_ms", n.nat_dial_timeout_ms)?;
        dist("origin.latency_ms", &self.origin.latency_ms)?;
        dist("origin.mbps", &self.origin.mbps)?;
        positive("origin.mbps (mean)", self.origin.mbps.mean())?;
        for o in &self.origin.outages {
            if !(o.start_s >= 0.0 && o.end_s > o.start_s) {
                return Err(bad("origin.outages", "need 0 <= start_s < end_s".into()));
            }
        }
        let pl = &self.planner;
        for (field, v) in [
            ("planner.fallback_after_ms", pl.fallback_after_ms),
            (
                "planner.large_fallback_after_ms",
                pl.large_fallback_after_ms,
            ),
            ("planner.stall_timeout_ms", pl.stall_timeout_ms),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(bad(field, "must be a finite number >= 0".into()));
            }
        }
        if let Some(f) = pl.stall_floor_mbps
            && !(f.is_finite() && f > 0.0)
        {
            return Err(bad(
                "planner.stall_floor_mbps",
                "must be a finite number > 0".into(),
            ));
        }
        if let Some(f) = pl.slow_peer_factor
            && (f.is_nan() || f <= 0.0)
        {
            return Err(bad("planner.slow_peer_factor", "must be > 0".into()));
        }
        match &self.workload {
            Workload::Site {
                assets,
                zipf_s,
                size_kb,
                assets_per_view,
                view_interval_s,
            } => {
                if *assets == 0 || *assets > MAX_ASSETS {
                    return Err(bad(
                        "workload.assets",
                        format!("must be between 1 and {MAX_ASSETS}"),
                    ));
                }
                if !(zipf_s.is_finite() && *zipf_s >= 0.0) {
                    return Err(bad("workload.zipf_s", "must be >= 0".into()));
                }
                dist("workload.size_kb", size_kb)?;
                positive("workload.size_kb (mean)", size_kb.mean())?;
                if *assets_per_view == 0 || assets_per_view > assets {
                    return Err(bad(
                        "workload.assets_per_view",
                        "must be between 1 and workload.assets".into(),
                    ));
                }
                dist("workload.view_interval_s", view_interval_s)?;
                positive("workload.view_interval_s (mean)", view_interval_s.mean())?;
            }
            Workload::LargeFile { size_mb } => {
                positive("workload.size_mb", *size_mb)?;
                if *size_mb > MAX_ASSET_MB {
                    return Err(bad(
                        "workload.size_mb",
                        format!("is over the {MAX_ASSET_MB} MiB asset limit"),
                    ));
                }
            }
        }
        for d in &self.mass_departures {
            fraction("mass_departures.fraction", d.fraction)?;
            if !(d.at_s >= 0.0 && d.at_s < self.duration_s) {
                return Err(bad("mass_departures.at_s", "must be within the run".into()));
            }
        }
        Ok(())
    }
}
