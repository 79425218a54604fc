//! Line plots as SVG and PNG with `plotters` (accuracy vs N and vs tokens
//! here; chapter 5 plots its reward curves with the same function). Text is
//! drawn with DejaVu Sans, embedded so the PNG needs no system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use shared::{Error, Result};

/// DejaVu Sans (Bitstream Vera license: `ch04/assets/DejaVu-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Series with more points than this are drawn as a bare line, without markers.
const MAX_MARKED_POINTS: usize = 40;

/// Pixel size of every plot.
const SIZE: (u32, u32) = (800, 500);

/// One named line of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// A plot: title, axis labels and lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// The title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

/// Writes `plot` to `<stem>.svg` and `<stem>.png` (each to a temporary name
/// first, then renamed) and returns both paths.
pub fn save_line_plot(stem: &Path, plot: &LinePlot) -> Result<Vec<PathBuf>> {
    register_embedded_font();
    let svg_path = stem.with_extension("svg");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, plot).map_err(|e| plot_error(&svg_path, e))?;
    }
    shared::io::write_atomically(&svg_path, svg.as_bytes())?;
    let png_path = stem.with_extension("png");
    let tmp = stem.with_extension("part.png");
    {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        draw(&root, plot).map_err(|e| plot_error(&png_path, e))?;
    }
    std::fs::rename(&tmp, &png_path).map_err(|e| Error::io(&png_path, e))?;
    Ok(vec![svg_path, png_path])
}

fn register_embedded_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure would only
        // mean unlabelled plots, so it is not an error worth stopping for.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws the axes, grid, lines with point markers and the legend.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &LinePlot,
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (x_range, y_range) = ranges(&plot.series);
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label.as_str())
        .y_desc(plot.y_label.as_str())
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    let count = plot.series.len();
    for (i, series) in plot.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        // Earlier series are drawn wider, so a later one that lies on top of them
        // (best-of-N equal to self-consistency at some N) leaves them visible.
        let under = (count - 1 - i) as u32;
        let width = 2 + 2 * under;
        chart
            .draw_series(LineSeries::new(
                series.points.iter().copied(),
                color.stroke_width(width),
            ))
            .map_err(|e| e.to_string())?
            .label(series.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
            });
        // Markers help a few points; on a dense series (a training curve) they
        // would only blot out the line.
        if series.points.len() <= MAX_MARKED_POINTS {
            chart
                .draw_series(
                    series
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 4 + 2 * under as i32, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Axis ranges covering every point with a little room (a unit range when
/// there are no points or all are equal).
fn ranges(series: &[Series]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let pad = |lo: f64, hi: f64| {
        if !lo.is_finite() {
            0.0..1.0
        } else if hi == lo {
            (lo - 0.5)..(hi + 0.5)
        } else {
            let margin = 0.05 * (hi - lo);
            (lo - margin)..(hi + margin)
        }
    };
    (pad(x0, x1), pad(y0, y1))
}

fn plot_error(path: &Path, e: String) -> Error {
    Error::format(path, format!("cannot draw the plot: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_and_a_png() {
        let dir = std::env::temp_dir().join(format!("rfs-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plot = LinePlot {
            title: "Accuracy vs N".into(),
            x_label: "N".into(),
            y_label: "accuracy (%)".into(),
            series: vec![
                Series {
                    name: "self-consistency".into(),
                    points: vec![(1.0, 10.0), (3.0, 14.0), (9.0, 20.0)],
                },
                Series {
                    name: "greedy".into(),
                    points: vec![(1.0, 12.0)],
                },
            ],
        };
        let paths = save_line_plot(&dir.join("acc"), &plot).unwrap();
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(
            svg.contains("<svg")
                && svg.contains("Accuracy vs N")
                && svg.contains("self-consistency")
        );
        let png = std::fs::read(&paths[1]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(!dir.join("acc.part.png").exists());
    }

    #[test]
    fn ranges_cover_the_points_and_survive_degenerate_input() {
        let s = |points| {
            vec![Series {
                name: "s".into(),
                points,
            }]
        };
        let (x, y) = ranges(&s(vec![(1.0, 5.0), (9.0, 7.0)]));
        assert!(x.start < 1.0 && x.end > 9.0 && y.start < 5.0 && y.end > 7.0);
        let (x, _) = ranges(&s(vec![(3.0, 3.0)]));
        assert!(x.start < 3.0 && x.end > 3.0);
        assert_eq!(ranges(&s(vec![])).0, 0.0..1.0);
    }
}
