//! SVG latency chart for the bench report.

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub struct ChartStep {
    pub name: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

const P50: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
const P99: RGBColor = RGBColor(0xdd, 0x84, 0x52);

/// Writes an SVG bar chart: for each step, two bars (p50 and p99 latency in ms),
/// a log-scale x axis, a legend, a title given by `title`, axis labels.
pub fn write_latency_chart(path: &Path, title: &str, steps: &[ChartStep]) -> anyhow::Result<()> {
    // Horizontal bars so that long step names stay readable without rotation;
    // log axis because steps span sub-millisecond reads to slow writes.
    let n = steps.len().max(1);
    let positive = steps
        .iter()
        .flat_map(|s| [s.p50_ms, s.p99_ms])
        .filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = positive.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (min, max) = if min <= max { (min, max) } else { (1.0, 1.0) };
    // One spare decade on the right keeps the legend and value labels clear of the bars.
    let lo = 10f64.powf(min.log10().floor());
    let hi = 10f64.powf(max.log10().floor() + 1.0) * 10.0;

    // Plotters' built-in font only estimates text width (the SVG viewer does the
    // real layout), so size the label column from the longest name.
    let longest = steps
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let label_width = (longest as u32 * 7 + 40).clamp(80, 320);
    let height = 130 + 36 * n as u32;

    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;

    // Integer rows of ROW units (f64 axes lose their label formatter under
    // with_key_points); step i is centred at row(i), first step on top.
    const ROW: i32 = 20;
    let n = n as i32;
    let row = |i: usize| (n - 1 - i as i32) * ROW + ROW / 2;
    let y = (0..n * ROW).with_key_points((0..n).map(|r| r * ROW + ROW / 2).collect());

    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(44)
        .y_label_area_size(label_width)
        .build_cartesian_2d((lo..hi).log_scale(), y)
        .map_err(|e| anyhow!("{e:?}"))?;

    let name_at = |v: &i32| {
        let i = n - 1 - v / ROW;
        usize::try_from(i)
            .ok()
            .and_then(|i| steps.get(i))
            .map_or(String::new(), |s| s.name.clone())
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(BLACK.mix(0.04))
        .x_desc("latency (ms, log scale)")
        .y_desc("step")
        .x_label_formatter(&|v| fmt_ms(*v))
        .y_label_formatter(&name_at)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;

    // Non-positive or missing values cannot sit on a log axis; draw them as empty bars.
    let clamp = |v: f64| if v.is_finite() && v > lo { v } else { lo };
    for (label, color, offset, value) in [
        (
            "p50",
            P50,
            4,
            (|s: &ChartStep| s.p50_ms) as fn(&ChartStep) -> f64,
        ),
        ("p99", P99, -4, |s: &ChartStep| s.p99_ms),
    ] {
        let bars = steps.iter().enumerate().map(|(i, s)| {
            let yc = row(i) + offset;
            Rectangle::new([(lo, yc - 3), (clamp(value(s)), yc + 3)], color.filled())
        });
        chart
            .draw_series(bars)
            .map_err(|e| anyhow!("{e:?}"))?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        let values = steps.iter().enumerate().map(|(i, s)| {
            let pos = (clamp(value(s)) * 1.08, row(i) + offset);
            let style = ("sans-serif", 13)
                .into_font()
                .color(&BLACK.mix(0.8))
                .pos(Pos::new(HPos::Left, VPos::Center));
            Text::new(fmt_ms(value(s)), pos, style)
        });
        chart.draw_series(values).map_err(|e| anyhow!("{e:?}"))?;
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;

    root.present()
        .map_err(|e| anyhow!("{e:?}"))
        .with_context(|| format!("writing {}", path.display()))
}

fn fmt_ms(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    // Trim "10.0" to "10" and "0.500" to "0.5" so axis ticks stay short.
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_with_every_step_name() {
        let steps = vec![
            ChartStep {
                name: "reads".into(),
                p50_ms: 0.42,
                p99_ms: 1.9,
            },
            ChartStep {
                name: "writes".into(),
                p50_ms: 3.1,
                p99_ms: 27.0,
            },
            ChartStep {
                name: "ref: read (pgbench)".into(),
                p50_ms: 0.2,
                p99_ms: 0.0,
            },
        ];
        let path =
            std::env::temp_dir().join(format!("confmgr-chart-test-{}.svg", std::process::id()));
        write_latency_chart(&path, "latency per step", &steps).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        for s in &steps {
            assert!(svg.contains(&s.name), "missing {}", s.name);
        }
    }
}
