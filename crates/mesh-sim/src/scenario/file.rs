//! Reading a file and expanding its sweep and variants into runs.

use std::path::Path;

use super::spec::{Scenario, VariantSpec};
use super::{MAX_VARIANTS, ScenarioError};

/// One run of a file: a label, its x position and the scenario.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Label.
    pub label: String,
    /// Numeric x, when there is one.
    pub x: Option<f64>,
    /// The scenario to run.
    pub scenario: Scenario,
}

/// A parsed file: the base scenario and its variants (just the base when it has none).
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    /// The base scenario.
    pub base: Scenario,
    /// The runs.
    pub variants: Vec<Variant>,
}

impl ScenarioFile {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates scenario text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let parse_err = |source| ScenarioError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        };
        // Parsing the text first gives errors with line and column.
        let base: Scenario = toml::from_str(text).map_err(parse_err)?;
        base.validate(&base.name)?;
        let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        table.remove("sweep");
        table.remove("variants");
        let mut specs: Vec<VariantSpec> = base.variants.clone();
        if let Some(sweep) = &base.sweep {
            if !sweep.labels.is_empty() && sweep.labels.len() != sweep.values.len() {
                return Err(ScenarioError::Invalid {
                    scenario: base.name.clone(),
                    field: "sweep.labels".into(),
                    reason: format!(
                        "has {} labels for {} values",
                        sweep.labels.len(),
                        sweep.values.len()
                    ),
                });
            }
            for (i, value) in sweep.values.iter().enumerate() {
                let label = sweep
                    .labels
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("{}={}", sweep.param, value));
                let mut set = toml::Table::new();
                set.insert(sweep.param.clone(), value.clone());
                specs.push(VariantSpec {
                    label,
                    x: value
                        .as_float()
                        .or_else(|| value.as_integer().map(|i| i as f64)),
                    set,
                });
            }
        }
        if specs.len() > MAX_VARIANTS {
            return Err(ScenarioError::Invalid {
                scenario: base.name.clone(),
                field: "variants".into(),
                reason: format!("expands to {} runs, more than {MAX_VARIANTS}", specs.len()),
            });
        }
        let mut variants = Vec::with_capacity(specs.len().max(1));
        if specs.is_empty() {
            let mut scenario = base.clone();
            scenario.sweep = None;
            scenario.variants.clear();
            variants.push(Variant {
                label: "base".into(),
                x: None,
                scenario,
            });
        }
        for spec in specs {
            let mut t = table.clone();
            for (key, value) in &spec.set {
                set_path(&mut t, key, value.clone()).map_err(|reason| ScenarioError::Variant {
                    scenario: base.name.clone(),
                    variant: spec.label.clone(),
                    reason,
                })?;
            }
            let scenario: Scenario =
                toml::Value::Table(t)
                    .try_into()
                    .map_err(|e: toml::de::Error| ScenarioError::Variant {
                        scenario: base.name.clone(),
                        variant: spec.label.clone(),
                        reason: e.to_string().trim().to_owned(),
                    })?;
            scenario.validate(&format!("{} [{}]", base.name, spec.label))?;
            variants.push(Variant {
                label: spec.label,
                x: spec.x,
                scenario,
            });
        }
        Ok(Self { base, variants })
    }
}

/// Sets `value` at dotted `path` in `table`, creating tables on the way.
fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return Err("empty field path".into());
    };
    let mut t = table;
    for part in parts {
        let entry = t
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{path}`: `{part}` is not a table"))?;
    }
    t.insert(last.to_owned(), value);
    Ok(())
}
