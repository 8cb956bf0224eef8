//! Distributions named in scenario files.
//!
//! A quantity is either a plain number (always that value) or a table naming a distribution:
//!
//! ```toml
//! latency_ms = 20
//! latency_ms = { lognormal = { median = 20, sigma = 0.6 } }
//! session_s = { exponential = { mean = 300 } }
//! size_kb = { lognormal = { median = 15, sigma = 1.4, max = 4096 } }
//! up_mbps = { uniform = { min = 2, max = 20 } }
//! ```
//!
//! Log-normal is the usual shape of latencies, bandwidths, file sizes and session lengths
//! (many small, a long tail); the median is the number people quote, so that is the parameter.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::rng::Stream;

/// A non-negative random quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always this value.
    Fixed(f64),
    /// Log-normal: `median · e^(sigma · N(0,1))`, optionally capped.
    LogNormal {
        /// The median.
        median: f64,
        /// Standard deviation of the logarithm.
        sigma: f64,
        /// Largest value drawn (larger draws are clamped).
        max: Option<f64>,
    },
    /// Exponential with this mean, optionally capped.
    Exponential {
        /// The mean.
        mean: f64,
        /// Largest value drawn.
        max: Option<f64>,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

impl Dist {
    /// A draw.
    pub(crate) fn sample(&self, rng: &mut Stream) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::LogNormal { median, sigma, max } => {
                let v = median * (sigma * rng.normal()).exp();
                max.map_or(v, |m| v.min(m))
            }
            Dist::Exponential { mean, max } => {
                let v = rng.exponential(mean);
                max.map_or(v, |m| v.min(m))
            }
            Dist::Uniform { min, max } => min + (max - min) * rng.unit(),
        }
    }

    /// The mean (ignoring caps, which only matter in the far tail).
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::LogNormal { median, sigma, .. } => median * (sigma * sigma / 2.0).exp(),
            Dist::Exponential { mean, .. } => mean,
            Dist::Uniform { min, max } => (min + max) / 2.0,
        }
    }

    /// Why the parameters make no sense, if they do not.
    pub(crate) fn problem(&self) -> Option<String> {
        let bad = |v: f64| !v.is_finite() || v < 0.0;
        match *self {
            Dist::Fixed(v) if bad(v) => Some(format!("value {v} is not a finite number >= 0")),
            Dist::LogNormal { median, sigma, max } => {
                if bad(median) || bad(sigma) || max.is_some_and(bad) {
                    Some("lognormal needs median >= 0, sigma >= 0, max >= 0".into())
                } else {
                    None
                }
            }
            Dist::Exponential { mean, max } if bad(mean) || max.is_some_and(bad) => {
                Some("exponential needs mean >= 0 and max >= 0".into())
            }
            Dist::Uniform { min, max } if bad(min) || bad(max) || max < min => {
                Some("uniform needs 0 <= min <= max".into())
            }
            _ => None,
        }
    }
}

/// The table form, externally tagged by distribution name.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Named {
    Lognormal {
        median: f64,
        sigma: f64,
        #[serde(default)]
        max: Option<f64>,
    },
    Exponential {
        mean: f64,
        #[serde(default)]
        max: Option<f64>,
    },
    Uniform {
        min: f64,
        max: f64,
    },
}

struct DistVisitor;

impl<'de> Visitor<'de> for DistVisitor {
    type Value = Dist;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a number, or a table such as { lognormal = { median = 20, sigma = 0.5 } }, \
             { exponential = { mean = 300 } } or { uniform = { min = 1, max = 5 } }",
        )
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dist, E> {
        Ok(Dist::Fixed(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dist, E> {
        Ok(Dist::Fixed(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dist, E> {
        Ok(Dist::Fixed(v as f64))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dist, A::Error> {
        let named = Named::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(match named {
            Named::Lognormal { median, sigma, max } => Dist::LogNormal { median, sigma, max },
            Named::Exponential { mean, max } => Dist::Exponential { mean, max },
            Named::Uniform { min, max } => Dist::Uniform { min, max },
        })
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DistVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rng::Purpose;

    #[derive(Deserialize)]
    struct Holder {
        d: Dist,
    }

    fn parse(s: &str) -> Result<Dist, toml::de::Error> {
        toml::from_str::<Holder>(s).map(|h| h.d)
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("d = 3").unwrap(), Dist::Fixed(3.0));
        assert_eq!(parse("d = 2.5").unwrap(), Dist::Fixed(2.5));
        assert_eq!(
            parse("d = { lognormal = { median = 20, sigma = 0.5 } }").unwrap(),
            Dist::LogNormal {
                median: 20.0,
                sigma: 0.5,
                max: None
            }
        );
        assert_eq!(
            parse("d = { exponential = { mean = 4, max = 9 } }").unwrap(),
            Dist::Exponential {
                mean: 4.0,
                max: Some(9.0)
            }
        );
        assert_eq!(
            parse("d = { uniform = { min = 1, max = 2 } }").unwrap(),
            Dist::Uniform { min: 1.0, max: 2.0 }
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse("d = { lognormal = { median = 20 } }").unwrap_err();
        assert!(e.to_string().contains("sigma"), "{e}");
        let e = parse("d = { pareto = { alpha = 1 } }").unwrap_err();
        assert!(e.to_string().contains("pareto"), "{e}");
        let e = parse("d = \"fast\"").unwrap_err();
        assert!(e.to_string().contains("lognormal"), "{e}");
    }

    #[test]
    fn lognormal_median_and_cap_hold() {
        let d = Dist::LogNormal {
            median: 10.0,
            sigma: 1.0,
            max: Some(50.0),
        };
        let mut s = Stream::new(1, Purpose::Network, 0);
        let mut v: Vec<f64> = (0..20_001).map(|_| d.sample(&mut s)).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[10_000] - 10.0).abs() < 0.5, "{}", v[10_000]);
        assert!(v.iter().all(|&x| x <= 50.0));
        assert!((d.mean() - 10.0 * 0.5f64.exp()).abs() < 1e-9);
    }
}
