//! The e2e bench's charts, as SVG (no fonts or external files needed to view
//! them): latency vs offered load, and CPU time per post vs offered load.

use plotters::prelude::*;
use serde_json::Value;
use std::path::Path;

/// Draw p50/p99 of the visible lag (redis and history) and of push latency
/// against the offered load.
pub fn latency_vs_load(path: &Path, steps: &[Value]) -> Result<(), Box<dyn std::error::Error>> {
    let series = |proj: &str, q: &str| -> Vec<(f64, f64)> {
        steps
            .iter()
            .map(|s| {
                (
                    s["offered_per_s"].as_f64().unwrap_or(0.0),
                    s[proj][q].as_f64().unwrap_or(0.0).max(0.1),
                )
            })
            .collect()
    };
    let lines = [
        ("redis p50", series("visible_redis", "p50_ms"), BLUE),
        ("redis p99", series("visible_redis", "p99_ms"), RED),
        ("history p50", series("visible_history", "p50_ms"), GREEN),
        ("history p99", series("visible_history", "p99_ms"), MAGENTA),
        ("push p50", series("push", "p50_ms"), CYAN),
        ("push p99", series("push", "p99_ms"), RGBColor(230, 130, 0)),
    ];
    let max_x = steps
        .iter()
        .filter_map(|s| s["offered_per_s"].as_f64())
        .fold(1.0, f64::max);
    let max_y = lines
        .iter()
        .flat_map(|(_, pts, _)| pts.iter().map(|p| p.1))
        .fold(100.0, f64::max)
        * 1.5;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "cotalk: post → visible and post → frame vs offered load (open loop)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_x * 1.05, (0.1..max_y).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("offered load (posts/s)")
        .y_desc("lag (ms, log scale)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, 100.0), (max_x * 1.05, 100.0)],
            BLACK.mix(0.4),
        ))?
        .label("target p99 100 ms")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.4)));
    for (name, pts, color) in lines {
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Draw the CPU µs per post of every process group, and their total without
/// the load generator, against the offered load.
pub fn cpu_vs_load(path: &Path, steps: &[Value]) -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<String> = steps
        .first()
        .and_then(|s| s["cpu"]["groups"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect();
    let x = |s: &Value| s["offered_per_s"].as_f64().unwrap_or(0.0);
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .map(|name| {
            let pts = steps
                .iter()
                .map(|s| (x(s), super::cpu::group_us_per_post(&s["cpu"], name)))
                .collect();
            (name.clone(), pts)
        })
        .collect();
    lines.push((
        "total (without load generator)".into(),
        steps
            .iter()
            .map(|s| (x(s), s["cpu"]["total_us_per_post"].as_f64().unwrap_or(0.0)))
            .collect(),
    ));
    let max_x = steps.iter().map(x).fold(1.0, f64::max);
    let max_y = lines
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold(10.0, f64::max)
        * 1.2;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "cotalk: CPU time per post by process vs offered load",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("offered load (posts/s)")
        .y_desc("CPU µs per post")
        .draw()?;
    for (i, (name, pts)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
