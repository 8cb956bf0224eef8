//! CSV files and the console table.
//!
//! Numbers are written with a fixed number of significant decimals so that the same run gives
//! byte-identical files; a value that does not exist (a latency quantile without samples) is an
//! empty cell. Wall-clock figures never go into files, only to the console.

use std::fmt::Write as _;

use crate::result::RunResult;

/// A number for a CSV cell: empty for NaN, integers without decimals, otherwise six decimals
/// with trailing zeros trimmed.
pub fn cell(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One row per variant: scenario, variant, x, every summary column, events processed.
pub fn summary_csv(results: &[RunResult]) -> String {
    let mut out = String::new();
    let Some(first) = results.first() else {
        return out;
    };
    out.push_str("scenario,variant,x");
    for (name, _) in first.summary.columns() {
        out.push(',');
        out.push_str(name);
    }
    out.push_str(",events\n");
    for r in results {
        let _ = write!(
            out,
            "{},{},{}",
            quote(&r.scenario),
            quote(&r.variant),
            r.x.map(cell).unwrap_or_default()
        );
        for (_, v) in r.summary.columns() {
            out.push(',');
            out.push_str(&cell(v));
        }
        let _ = writeln!(out, ",{}", r.perf.events);
    }
    out
}

/// One row per variant and time bucket.
pub fn series_csv(results: &[RunResult]) -> String {
    let mut out = String::new();
    let Some(row) = results.iter().find_map(|r| r.series.first()) else {
        return out;
    };
    out.push_str("scenario,variant");
    for (name, _) in row.columns() {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    for r in results {
        for row in &r.series {
            out.push_str(&quote(&r.scenario));
            out.push(',');
            out.push_str(&quote(&r.variant));
            for (_, v) in row.columns() {
                out.push(',');
                out.push_str(&cell(v));
            }
            out.push('\n');
        }
    }
    out
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "-".into()
    }
}

fn ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "-".into()
    }
}

/// A fixed-width table of the headline figures, with wall time and event rate.
pub fn table(results: &[RunResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<26} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>10} {:>8}",
        "scenario",
        "variant",
        "online",
        "offload",
        "savings",
        "ttfb p50",
        "ttfb p95",
        "fell back",
        "failed",
        "events",
        "wall s"
    );
    for r in results {
        let s = &r.summary;
        let wall = r.perf.wall.as_secs_f64();
        let _ = writeln!(
            out,
            "{:<22} {:<26} {:>7.0} {:>8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>10} {:>8.1}",
            r.scenario,
            r.variant,
            s.online_avg,
            pct(s.offload),
            pct(s.origin_savings),
            ms(s.ttfb_ms[0]),
            ms(s.ttfb_ms[1]),
            pct(s.fell_back),
            s.failed,
            r.perf.events,
            wall
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_stable() {
        assert_eq!(cell(3.0), "3");
        assert_eq!(cell(0.5), "0.5");
        assert_eq!(cell(1.0 / 3.0), "0.333333");
        assert_eq!(cell(f64::NAN), "");
        assert_eq!(cell(-0.0000001), "0");
        assert_eq!(quote("a,b"), "\"a,b\"");
    }
}
