//! Precision-recall plot (SVG) of `eval copies`, one curve per method.

use super::copies::CopiesReport;
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

/// Writes the precision-recall curves of `report` to an SVG file.
pub fn precision_recall_svg(report: &CopiesReport, path: &Path) -> Result<()> {
    let plot_error =
        |e: &dyn std::fmt::Display| Error::InvalidArgument(format!("plot {}: {e}", path.display()));
    let root = SVGBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Copy detection: {} copies of {} originals, {} distractors",
                report.queries, report.originals, report.distractors
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1.01f64)
        .map_err(|e| plot_error(&e))?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        .draw()
        .map_err(|e| plot_error(&e))?;
    for (i, m) in report.methods.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points: Vec<(f64, f64)> = vec![(0.0, m.curve.first().map_or(1.0, |p| p.precision))];
        points.extend(m.curve.iter().map(|p| (p.recall, p.precision)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| plot_error(&e))?
            .label(format!("{} (µAP {:.3})", m.method.name(), m.micro_ap))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(&e))?;
    root.present().map_err(|e| plot_error(&e))?;
    Ok(())
}
