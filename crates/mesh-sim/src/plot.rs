//! SVG charts of results, drawn with plotters' SVG backend (text is SVG text, so no font files
//! are needed and the output is byte-identical across runs).

use std::path::Path;

use plotters::prelude::*;

use crate::result::RunResult;

/// Chart size in pixels.
const SIZE: (u32, u32) = (760, 440);

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("plot {path}: {reason}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// What failed.
    pub reason: String,
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// Points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
}

/// The x axis of a chart.
#[derive(Debug, Clone)]
pub enum XAxis {
    /// Numbers, optionally on a log scale.
    Numeric {
        /// Axis label.
        label: String,
        /// Logarithmic.
        log: bool,
    },
    /// Named categories at x = 0, 1, 2, …
    Categories(Vec<String>),
}

/// Draws a line chart to `path`.
pub fn line_chart(
    path: &Path,
    title: &str,
    x: &XAxis,
    y_label: &str,
    lines: &[Line],
) -> Result<(), PlotError> {
    let err = |reason: String| PlotError {
        path: path.display().to_string(),
        reason,
    };
    let finite: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    let (mut x0, mut x1) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    let mut y1 = finite.iter().fold(0.0f64, |hi, p| hi.max(p.1));
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if let XAxis::Categories(c) = x {
        (x0, x1) = (-0.5, c.len() as f64 - 0.5);
    } else if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.08 };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(if matches!(x, XAxis::Categories(_)) {
            70
        } else {
            40
        })
        .y_label_area_size(60);
    match x {
        XAxis::Numeric { label, log: true } if x0 > 0.0 => {
            let mut chart = builder
                .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), 0.0..y1)
                .map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(label.as_str())
                .y_desc(y_label)
                .draw()
                .map_err(|e| err(e.to_string()))?;
            draw_lines(&mut chart, lines).map_err(err)?;
        }
        XAxis::Numeric { label, .. } => {
            let pad = (x1 - x0) * 0.03;
            let mut chart = builder
                .build_cartesian_2d(x0 - pad..x1 + pad, 0.0..y1)
                .map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(label.as_str())
                .y_desc(y_label)
                .draw()
                .map_err(|e| err(e.to_string()))?;
            draw_lines(&mut chart, lines).map_err(err)?;
        }
        XAxis::Categories(names) => {
            let mut chart = builder
                .build_cartesian_2d(x0..x1, 0.0..y1)
                .map_err(|e| err(e.to_string()))?;
            let fmt = |v: &f64| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .x_labels(names.len().max(2) * 2 + 1)
                .x_label_formatter(&fmt)
                .disable_x_mesh()
                .y_desc(y_label)
                .draw()
                .map_err(|e| err(e.to_string()))?;
            draw_lines(&mut chart, lines).map_err(err)?;
        }
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    lines: &[Line],
) -> Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for (i, line) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = line
            .points
            .iter()
            .copied()
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(line.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if pts.len() <= 40 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The x axis for a file's variants: numeric when every variant has an x, else categories.
pub fn variant_axis(results: &[RunResult], label: &str, log: bool) -> (XAxis, Vec<f64>) {
    if results.iter().all(|r| r.x.is_some()) {
        let xs = results.iter().map(|r| r.x.unwrap_or_default()).collect();
        (
            XAxis::Numeric {
                label: label.to_owned(),
                log,
            },
            xs,
        )
    } else {
        (
            XAxis::Categories(results.iter().map(|r| r.variant.clone()).collect()),
            (0..results.len()).map(|i| i as f64).collect(),
        )
    }
}
