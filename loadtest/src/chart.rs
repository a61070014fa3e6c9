//! A small hand-written SVG chart of a run over time: one or more panels stacked on a shared
//! time axis, each with named series (latency percentiles in one, throughput in another). Any
//! scenario can draw its own timeline with it: it knows nothing of messaging or media.

use std::fmt::Write;

/// One line: a name for the legend and `(seconds, value)` points in time order. A `None` value
/// is a gap (a second with nothing to measure).
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, Option<f64>)>,
}

/// A box of lines sharing a y axis.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The y axis, with its unit, such as `send to deliver (ms)`.
    pub title: String,
    pub series: Vec<Series>,
}

/// The whole picture.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    /// The x axis, such as `seconds since sending started`.
    pub x_label: String,
    pub panels: Vec<Panel>,
}

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 240.0;
const TOP: f64 = 60.0;
const GAP: f64 = 50.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 150.0;
/// Colour-blind-safe line colours (Okabe-Ito), in series order.
const COLOURS: [&str; 6] = [
    "#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9",
];

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or above `x`, so axes end on
/// a value people read at a glance. Zero and below give 1.
pub fn nice_ceiling(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return 1.0;
    }
    let power = 10f64.powf(x.log10().floor());
    let fraction = x / power;
    // A small tolerance so 50.0000001 (float noise) stays 50, not 100.
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|&s| fraction <= s * (1.0 + 1e-9))
        .unwrap_or(10.0);
    step * power
}

/// Maps data to pixels inside one plot area: x from `0..=x_max`, y from `0..=y_max` upward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub x_max: f64,
    pub y_max: f64,
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl Scale {
    /// A scale whose axes end at the round numbers above the largest x and y seen.
    pub fn fit(series: &[Series], left: f64, top: f64, width: f64, height: f64) -> Scale {
        let points = series.iter().flat_map(|s| s.points.iter());
        let (mut x_max, mut y_max) = (0f64, 0f64);
        for &(x, y) in points {
            x_max = x_max.max(x);
            y_max = y_max.max(y.unwrap_or(0.0));
        }
        Scale {
            x_max: nice_ceiling(x_max),
            y_max: nice_ceiling(y_max),
            left,
            top,
            width,
            height,
        }
    }

    pub fn x(&self, x: f64) -> f64 {
        self.left + x.clamp(0.0, self.x_max) / self.x_max * self.width
    }

    pub fn y(&self, y: f64) -> f64 {
        self.top + self.height - y.clamp(0.0, self.y_max) / self.y_max * self.height
    }

    /// Five evenly spaced values from 0 to the axis's end, for grid lines and labels.
    pub fn ticks(max: f64) -> Vec<f64> {
        (0..=5).map(|i| max * i as f64 / 5.0).collect()
    }
}

/// A number for an axis label: thousands as `k`, millions as `M`, few decimals.
fn label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Chart {
    /// The chart as a standalone SVG document.
    pub fn svg(&self) -> String {
        let height = TOP + self.panels.len() as f64 * (PANEL_HEIGHT + GAP) + 20.0;
        let plot_width = WIDTH - LEFT - RIGHT;
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            out,
            r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"##,
            WIDTH / 2.0,
            escape(&self.title)
        );
        // One x range for all panels, so they line up in time.
        let all: Vec<Series> = self.panels.iter().flat_map(|p| p.series.clone()).collect();
        let x_max = Scale::fit(&all, 0.0, 0.0, 1.0, 1.0).x_max;
        for (n, panel) in self.panels.iter().enumerate() {
            let top = TOP + n as f64 * (PANEL_HEIGHT + GAP);
            let mut scale = Scale::fit(&panel.series, LEFT, top, plot_width, PANEL_HEIGHT);
            scale.x_max = x_max;
            self.panel(&mut out, panel, &scale);
        }
        out.push_str("</svg>\n");
        out
    }

    fn panel(&self, out: &mut String, panel: &Panel, s: &Scale) {
        let bottom = s.top + s.height;
        for v in Scale::ticks(s.y_max) {
            let y = s.y(v);
            let _ = write!(
                out,
                r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                s.left,
                s.left + s.width,
                s.left - 6.0,
                y + 4.0,
                label(v)
            );
        }
        for v in Scale::ticks(s.x_max) {
            let x = s.x(v);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#eeeeee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                s.top,
                bottom,
                bottom + 16.0,
                label(v)
            );
        }
        let _ = write!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888888"/>"##,
            s.left, s.top, s.width, s.height
        );
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="13" font-weight="bold">{}</text><text x="{}" y="{}" text-anchor="middle" fill="#555555">{}</text>"##,
            s.left,
            s.top - 8.0,
            escape(&panel.title),
            s.left + s.width / 2.0,
            bottom + 32.0,
            escape(&self.x_label)
        );
        for (i, series) in panel.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            for run in polyline_runs(series, s) {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{run}"/>"#
                );
            }
            let y = s.top + 14.0 + i as f64 * 18.0;
            let x = s.left + s.width + 12.0;
            let _ = write!(
                out,
                r#"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
                y - 4.0,
                x + 20.0,
                y - 4.0,
                x + 26.0,
                y,
                escape(&series.name)
            );
        }
    }
}

/// The series' points in pixels, split at gaps: one `points` attribute per unbroken run.
fn polyline_runs(series: &Series, s: &Scale) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for &(x, y) in &series.points {
        match y {
            Some(y) => {
                let _ = write!(current, "{:.1},{:.1} ", s.x(x), s.y(y));
            }
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs.into_iter().map(|r| r.trim_end().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, Option<f64>)]) -> Series {
        Series {
            name: name.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn axes_end_on_round_numbers_above_the_data() {
        assert_eq!(nice_ceiling(43.3), 50.0);
        assert_eq!(nice_ceiling(50.0), 50.0);
        assert_eq!(nice_ceiling(51.0), 100.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(0.013), 0.02);
        assert_eq!(nice_ceiling(19_966.0), 20_000.0);
        assert_eq!(nice_ceiling(120_001.0), 200_000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn points_map_into_the_plot_area_with_y_upward() {
        let data = [series("p99", &[(0.0, Some(0.0)), (30.0, Some(43.3))])];
        let s = Scale::fit(&data, 80.0, 40.0, 600.0, 200.0);
        assert_eq!((s.x_max, s.y_max), (50.0, 50.0));
        assert_eq!((s.x(0.0), s.y(0.0)), (80.0, 240.0));
        assert_eq!((s.x(50.0), s.y(50.0)), (680.0, 40.0));
        assert_eq!(s.x(25.0), 380.0);
        assert_eq!(s.y(25.0), 140.0);
        // Outside the axes is drawn at the edge, never outside the box.
        assert_eq!((s.x(-3.0), s.y(1e9)), (80.0, 40.0));
        assert_eq!(Scale::ticks(50.0), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    }

    #[test]
    fn gaps_split_a_line_and_labels_are_short() {
        let s = Scale::fit(
            &[series("a", &[(0.0, Some(10.0)), (10.0, Some(10.0))])],
            0.0,
            0.0,
            100.0,
            100.0,
        );
        let a = series(
            "a",
            &[
                (0.0, Some(10.0)),
                (1.0, Some(5.0)),
                (2.0, None),
                (3.0, None),
                (4.0, Some(0.0)),
            ],
        );
        assert_eq!(
            polyline_runs(&a, &s),
            vec!["0.0,0.0 10.0,50.0".to_string(), "40.0,100.0".to_string()]
        );
        assert_eq!(label(20_000.0), "20k");
        assert_eq!(label(2_500_000.0), "2.5M");
        assert_eq!(label(0.25), "0.25");
        assert_eq!(label(40.0), "40");
    }

    #[test]
    fn the_svg_names_every_series_and_escapes_text() {
        let chart = Chart {
            title: "im <100 x 50>".into(),
            x_label: "seconds".into(),
            panels: vec![
                Panel {
                    title: "latency (ms)".into(),
                    series: vec![
                        series("p50", &[(0.0, Some(1.0)), (1.0, Some(2.0))]),
                        series("p99", &[(0.0, Some(9.0)), (1.0, Some(40.0))]),
                    ],
                },
                Panel {
                    title: "deliveries/s".into(),
                    series: vec![series("delivered", &[(0.0, Some(5000.0))])],
                },
            ],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("im &lt;100 x 50&gt;"));
        for name in [">p50<", ">p99<", ">delivered<", ">latency (ms)<"] {
            assert!(svg.contains(name), "{name}");
        }
        assert_eq!(svg.matches("<polyline").count(), 3);
    }
}
