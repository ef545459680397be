//! PNG plots of simulation reports (plotters, with an embedded DejaVu font so they render the
//! same on any machine).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT: &str = "sans-serif";

fn font() -> anyhow::Result<()> {
    static REGISTER: Once = Once::new();
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| anyhow::anyhow!("the embedded font cannot be read"));
    });
    result
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the plot: {e}")
}

/// Lorenz curves of honest contributors' true contribution and of their earnings.
pub fn lorenz(path: &Path, report: &souk_sim_market::Report) -> anyhow::Result<()> {
    let curve = |values: &[f64]| {
        let n = values.len() as f64;
        std::iter::once((0.0, 0.0))
            .chain(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| ((i as f64 + 1.0) / n, *v)),
            )
            .collect::<Vec<_>>()
    };
    lines(
        path,
        "Lorenz curves of honest contributors",
        ("share of contributors, poorest first", "share of the total"),
        (0.0..1.0, 0.0..1.0),
        SeriesLabelPosition::UpperLeft,
        vec![
            Series {
                label: "equal shares".to_owned(),
                color: RGBColor(150, 150, 150),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
            },
            Series {
                label: format!(
                    "true contribution (Gini {:.2})",
                    report.baseline.gini_contribution
                ),
                color: BLUE,
                points: curve(&report.lorenz_contribution),
            },
            Series {
                label: format!("earnings (Gini {:.2})", report.baseline.gini_earnings),
                color: RED,
                points: curve(&report.lorenz_earnings),
            },
        ],
    )
}

/// Attacker return by strategy, without and with Souk's defences.
pub fn roi(path: &Path, report: &souk_sim_market::Report) -> anyhow::Result<()> {
    font()?;
    let strategies = souk_sim_market::Strategy::ALL;
    // A log scale: returns run from nothing (shown at the floor) to hundreds.
    let floor = 0.01;
    let top = report
        .strategies
        .iter()
        .map(|s| s.attacker_roi)
        .fold(2.0f64, f64::max)
        * 2.0;
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let names: Vec<String> = strategies
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(|n| n.replace('_', " ")))
                .unwrap_or_default()
        })
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Attacker return by strategy (1 = no better than honest)",
            (FONT, 24),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..strategies.len() as f64, (floor..top).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(strategies.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < names.len() {
                names[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("attacker return (log scale)")
        .label_style((FONT, 14))
        .draw()
        .map_err(plot_error)?;
    for (defended, color, offset) in [(false, RED, 0.1), (true, GREEN, 0.5)] {
        let bars = report
            .strategies
            .iter()
            .filter(|s| s.defended == defended)
            .filter_map(|s| {
                let i = strategies.iter().position(|x| *x == s.strategy)? as f64;
                Some(Rectangle::new(
                    [
                        (i + offset, 0.0),
                        (i + offset + 0.38, s.attacker_roi.min(top)),
                    ],
                    color.mix(0.8).filled(),
                ))
            });
        chart
            .draw_series(bars)
            .map_err(plot_error)?
            .label(if defended {
                "defences on"
            } else {
                "defences off"
            })
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
    }
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, 1.0), (strategies.len() as f64, 1.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(plot_error)?;
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// One line of a chart.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Draws `series` as lines on a chart titled `title`.
fn lines(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    legend: SeriesLabelPosition,
    series: Vec<Series>,
) -> anyhow::Result<()> {
    font()?;
    let root = BitMapBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(axes.0)
        .y_desc(axes.1)
        .label_style((FONT, 15))
        .draw()
        .map_err(plot_error)?;
    for Series {
        label,
        color,
        points,
    } in series
    {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE)
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

const PALETTE: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// The share of nodes holding a manifest against time since it was announced.
pub fn propagation(path: &Path, report: &souk_sim_net::NetReport) -> anyhow::Result<()> {
    let mut times = report.propagation_all_ms.clone();
    times.sort_by(f64::total_cmp);
    let n = times.len().max(1) as f64;
    let points: Vec<(f64, f64)> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, (i + 1) as f64 / n))
        .collect();
    let max = times.last().copied().unwrap_or(1.0).max(1.0) * 1.05;
    lines(
        path,
        &format!("Manifest propagation, {} nodes", report.nodes),
        (
            "milliseconds since the announcement",
            "share of nodes holding it",
        ),
        (0.0..max, 0.0..1.05),
        SeriesLabelPosition::LowerRight,
        vec![Series {
            label: "nodes reached".to_owned(),
            color: BLUE,
            points,
        }],
    )
}

/// Each buyer's fetch throughput over time.
pub fn throughput(path: &Path, report: &souk_sim_net::NetReport) -> anyhow::Result<()> {
    let mut series = Vec::new();
    let (mut max_t, mut max_rate) = (1.0f64, 1.0f64);
    for (k, p) in report.purchases.iter().enumerate() {
        let points: Vec<(f64, f64)> = p
            .progress
            .windows(2)
            .map(|w| {
                let dt = (w[1].0.saturating_sub(w[0].0)).max(1) as f64 / 1000.0;
                let rate = w[1].1.saturating_sub(w[0].1) as f64 / (1 << 20) as f64 / dt;
                (w[1].0 as f64, rate)
            })
            .collect();
        for (t, r) in &points {
            max_t = max_t.max(*t);
            max_rate = max_rate.max(*r);
        }
        series.push(Series {
            label: format!("buyer node {}", p.node),
            color: PALETTE[k % PALETTE.len()],
            points,
        });
    }
    lines(
        path,
        "Fetch throughput per buyer",
        ("milliseconds since the purchases began", "MiB/s"),
        (0.0..max_t * 1.05, 0.0..max_rate * 1.1),
        SeriesLabelPosition::UpperLeft,
        series,
    )
}

/// Process memory as nodes were started.
pub fn memory(path: &Path, report: &souk_sim_net::NetReport) -> anyhow::Result<()> {
    let points: Vec<(f64, f64)> = report
        .memory_mib_by_nodes
        .iter()
        .map(|(n, mib)| (*n as f64, *mib / (*n).max(1) as f64))
        .collect();
    let max = points.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.2;
    lines(
        path,
        "Memory per node as the network grows",
        ("nodes running", "MiB of process memory per node"),
        (0.0..report.nodes as f64 * 1.05, 0.0..max),
        SeriesLabelPosition::LowerRight,
        vec![Series {
            label: "resident memory / nodes".to_owned(),
            color: RED,
            points,
        }],
    )
}
