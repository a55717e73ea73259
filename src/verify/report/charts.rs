//! The report's charts, drawn as inline SVG with `plotters` (its SVG
//! backend: text as `<text>`, no font files, nothing fetched). Each function
//! returns one `<svg>` element; the numbers behind every chart are also in a
//! table of the report.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{DiffMap, DiffTally, WidthPoint};

/// A failed drawing (plotters' errors carry the backend's error type).
fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

const FONT: &str = "sans-serif";
const PASS: RGBColor = RGBColor(46, 125, 50);
const FAIL: RGBColor = RGBColor(198, 40, 40);
const BAR: RGBColor = RGBColor(30, 100, 170);

/// A fixed palette: the same key gets the same colour in every chart.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(174, 199, 232),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draw into a fresh SVG string of `w`×`h` pixels.
fn svg(
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// Coverage: one horizontal bar per bin (hits, log scale); a bin never hit
/// is a red "not hit" mark.
pub fn coverage_bars(bins: &[(String, u64)]) -> anyhow::Result<String> {
    let n = bins.len().max(1);
    // Row r from the top is bin r: plotters' y axis grows upwards.
    let row = |i: usize| n - 1 - i;
    let max = bins.iter().map(|b| b.1).max().unwrap_or(1).max(10) as f64;
    svg(760, 40 + 15 * n as u32, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(170)
            .build_cartesian_2d((0.5f64..max * 2.0).log_scale(), (0..n - 1).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(r) if *r < n => {
                    bins.get(row(*r)).map_or(String::new(), |b| b.0.clone())
                }
                _ => String::new(),
            })
            .x_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("hits (log scale)")
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bins.iter().enumerate().map(|(i, (_, c))| {
                let (right, style) = if *c == 0 {
                    (max * 2.0, FAIL.mix(0.15).filled())
                } else {
                    (*c as f64, BAR.filled())
                };
                Rectangle::new(
                    [
                        (0.5, SegmentValue::Exact(row(i))),
                        (right, SegmentValue::Exact(row(i) + 1)),
                    ],
                    style,
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(
                bins.iter()
                    .enumerate()
                    .filter(|(_, b)| b.1 == 0)
                    .map(|(i, _)| {
                        Text::new(
                            "not hit",
                            (0.7, SegmentValue::Exact(row(i) + 1)),
                            (FONT, 11).into_font().color(&FAIL),
                        )
                    }),
            )
            .map_err(err)?;
        Ok(())
    })
}

/// Coverage against fuzz iterations: bins hit by iterations `0..=i`, from
/// the first iteration that hit each bin.
pub fn coverage_growth(first_hit: &[u64], iterations: u64, bins: usize) -> anyhow::Result<String> {
    let mut firsts = first_hit.to_vec();
    firsts.sort_unstable();
    let xmax = iterations.max(1) as f64;
    let mut points = vec![(0.0, 0.0)];
    for (k, &i) in firsts.iter().enumerate() {
        points.push((i as f64, k as f64));
        points.push((i as f64, (k + 1) as f64));
    }
    points.push((xmax, firsts.len() as f64));
    svg(760, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..xmax, 0f64..(bins as f64 + 2.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("iterations")
            .y_desc("bins hit")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, bins as f64), (xmax, bins as f64)],
                FAIL.mix(0.6).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("all {bins} bins"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], FAIL));
        chart
            .draw_series(LineSeries::new(points, BAR.stroke_width(2)))
            .map_err(err)?
            .label("bins hit")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BAR));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 11))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Heatmap of |diff| over output position (rows) × channel (columns), in
/// the map's cells: colour by the largest |diff| in the cell (log scale),
/// opacity by the share of its outputs that differ.
pub fn heatmap(map: &DiffMap) -> anyhow::Result<String> {
    let (rows, cols) = map.dims();
    let (rows, cols) = (rows.max(1), cols.max(1));
    let (rb, cb) = (map.rows_per_cell.max(1), map.channels_per_cell.max(1));
    let nr = rows.div_ceil(rb);
    let dmax = map.cells.iter().map(|c| c[2]).max().unwrap_or(1).max(1) as f64;
    let shade = |d: u64, share: f64| {
        // Orange (|diff| 1) to dark red (the largest), on a log scale.
        let t = if dmax <= 1.0 {
            0.0
        } else {
            (d as f64).ln() / dmax.ln()
        };
        let lerp = |a: f64, b: f64| (a + (b - a) * t) as u8;
        RGBColor(lerp(244.0, 150.0), lerp(140.0, 0.0), lerp(40.0, 30.0))
            .mix(0.3 + 0.7 * share.clamp(0.0, 1.0))
    };
    let h = (nr as u32 * 3).clamp(160, 480);
    svg(760, h + 70, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..cols as f64, rows as f64..0f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(if cb > 1 {
                format!("output channel ({cb} per cell)")
            } else {
                "output channel".into()
            })
            .y_desc(if rb > 1 {
                format!("output position ({rb} per cell)")
            } else {
                "output position (n·H·W + h·W + w)".into()
            })
            .x_labels(cols.min(16) + 1)
            .y_labels(rows.min(10) + 1)
            .x_label_formatter(&|v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(map.cells.iter().map(|&[r, c, d, k]| {
                let (r, c) = (r as usize, c as usize);
                let share = k as f64 / map.cell_size(r as u64, c as u64).max(1) as f64;
                Rectangle::new(
                    [
                        ((c * cb) as f64, (r * rb) as f64),
                        (
                            ((c + 1) * cb).min(cols) as f64,
                            ((r + 1) * rb).min(rows) as f64,
                        ),
                    ],
                    shade(d, share).filled(),
                )
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// Integer-vs-framework differences: one stacked bar per difference value,
/// one colour per verified cause, "unexplained" in red.
pub fn diff_histogram(tallies: &[DiffTally]) -> anyhow::Result<String> {
    let mut diffs: Vec<i64> = tallies.iter().map(|t| t.diff).collect();
    diffs.sort_unstable();
    diffs.dedup();
    let mut causes: Vec<(&str, bool)> = tallies
        .iter()
        .map(|t| (t.cause.as_str(), t.explained))
        .collect();
    causes.sort_unstable();
    causes.dedup();
    let total = |d: i64| {
        tallies
            .iter()
            .filter(|t| t.diff == d)
            .map(|t| t.count)
            .sum::<usize>()
    };
    let ymax = diffs.iter().map(|&d| total(d)).max().unwrap_or(1).max(1) as f64 * 1.15;
    let n = diffs.len().max(1);
    svg(760, 320, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.6f64..n as f64 - 0.4, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n + 2)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() > 1e-9 || i < 0.0 {
                    return String::new();
                }
                diffs
                    .get(i as usize)
                    .map_or(String::new(), |d| format!("{d:+}"))
            })
            .x_desc("integer − framework (LSB)")
            .y_desc("outputs")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        let mut base = vec![0f64; n];
        for (k, (cause, explained)) in causes.iter().enumerate() {
            let c = if *explained { colour(k) } else { FAIL };
            let mut rects = Vec::new();
            for (i, &d) in diffs.iter().enumerate() {
                let count: usize = tallies
                    .iter()
                    .filter(|t| t.diff == d && t.cause == *cause && t.explained == *explained)
                    .map(|t| t.count)
                    .sum();
                if count > 0 {
                    rects.push(Rectangle::new(
                        [
                            (i as f64 - 0.35, base[i]),
                            (i as f64 + 0.35, base[i] + count as f64),
                        ],
                        c.filled(),
                    ));
                    base[i] += count as f64;
                }
            }
            let label = if *explained {
                format!("explained: {cause}")
            } else {
                (*cause).to_string()
            };
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 11))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// One op of a whole-model timeline.
pub struct Span<'a> {
    pub label: &'a str,
    pub beats: u64,
    pub seconds: f64,
}

/// Whole-model timeline: the ops in order, as a bar of beats and a bar of
/// wall time, each op a segment coloured by op type.
pub fn timeline(ops: &[Span]) -> anyhow::Result<String> {
    let mut kinds: Vec<&str> = ops.iter().map(|o| o.label).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let kind_colour = |l: &str| colour(kinds.iter().position(|k| *k == l).unwrap_or(0));
    let beats: u64 = ops.iter().map(|o| o.beats).sum();
    let secs: f64 = ops.iter().map(|o| o.seconds).sum();
    let legend_rows = kinds.len().div_ceil(4) as u32;
    svg(760, 210 + 18 * legend_rows, |root| {
        let (bars, legend) = root.split_vertically(180);
        let (top, bottom) = bars.split_vertically(90);
        for (area, total, unit, of) in [
            (&top, beats.max(1) as f64, "beats", 0usize),
            (&bottom, secs.max(1e-9), "wall time (s)", 1),
        ] {
            let mut chart = ChartBuilder::on(area)
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(10)
                .build_cartesian_2d(0f64..total, 0f64..1f64)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_desc(unit)
                .x_label_formatter(&|v| {
                    if of == 0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.3}")
                    }
                })
                .label_style((FONT, 11))
                .draw()
                .map_err(err)?;
            let mut x = 0f64;
            let mut rects = Vec::new();
            for o in ops {
                let w = if of == 0 { o.beats as f64 } else { o.seconds };
                if w > 0.0 {
                    rects.push(Rectangle::new(
                        [(x, 0.1), (x + w, 0.9)],
                        kind_colour(o.label).filled(),
                    ));
                    rects.push(Rectangle::new(
                        [(x, 0.1), (x + w, 0.9)],
                        WHITE.stroke_width(1),
                    ));
                }
                x += w;
            }
            chart.draw_series(rects).map_err(err)?;
        }
        for (k, l) in kinds.iter().enumerate() {
            let (x, y) = (12 + 185 * (k % 4) as i32, 6 + 18 * (k / 4) as i32);
            legend
                .draw(&Rectangle::new(
                    [(x, y), (x + 12, y + 12)],
                    kind_colour(l).filled(),
                ))
                .map_err(err)?;
            legend
                .draw(&Text::new(l.to_string(), (x + 17, y), (FONT, 12)))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// A narrow multiplier against the 32-bit result: the share of outputs that
/// differ, per multiplier width.
pub fn width_sweep(points: &[WidthPoint], chosen: u32) -> anyhow::Result<String> {
    let pct = |p: &WidthPoint| 100.0 * p.mismatches as f64 / p.compared.max(1) as f64;
    let ymax = points.iter().map(pct).fold(1.0f64, f64::max) * 1.1;
    let (lo, hi) = (
        points.iter().map(|p| p.bits).min().unwrap_or(2),
        points.iter().map(|p| p.bits).max().unwrap_or(32),
    );
    svg(760, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(lo as f64 - 0.5..hi as f64 + 0.5, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("multiplier width (bits)")
            .x_label_formatter(&|v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_desc("outputs ≠ 32-bit result (%)")
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.bits as f64, pct(p))),
                BAR.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|p| {
                let c = if p.bits == chosen { FAIL } else { BAR };
                Circle::new(
                    (p.bits as f64, pct(p)),
                    if p.bits == chosen { 5 } else { 3 },
                    c.filled(),
                )
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// The colour of a verdict in tables and bars.
pub fn verdict_colour(pass: bool) -> String {
    let c = if pass { PASS } else { FAIL };
    format!("rgb({},{},{})", c.0, c.1, c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_svg(s: &str) -> bool {
        s.starts_with("<svg") && s.trim_end().ends_with("</svg>")
    }

    #[test]
    fn every_chart_is_one_svg_element_with_its_labels() {
        let bars = coverage_bars(&[("a_bin".into(), 5), ("b_bin".into(), 0)]).unwrap();
        assert!(is_svg(&bars) && bars.contains("a_bin") && bars.contains("not hit"));
        let g = coverage_growth(&[0, 3, 3, 9], 20, 5).unwrap();
        assert!(is_svg(&g) && g.contains("all 5 bins"));
        let m = DiffMap::collect([1, 4, 4, 3], [(0, 1), (47, 9)].into_iter()).unwrap();
        let h = heatmap(&m).unwrap();
        assert!(is_svg(&h) && h.contains("output channel"));
        let t =
            super::super::data::tally([(1, "tie", true), (-2, "unexplained", false)].into_iter());
        let hist = diff_histogram(&t).unwrap();
        assert!(is_svg(&hist) && hist.contains("explained: tie") && hist.contains("+1"));
        let tl = timeline(&[
            Span {
                label: "CONV_2D",
                beats: 10,
                seconds: 0.5,
            },
            Span {
                label: "SOFTMAX",
                beats: 0,
                seconds: 0.1,
            },
        ])
        .unwrap();
        assert!(is_svg(&tl) && tl.contains("SOFTMAX"));
        let w = width_sweep(
            &[
                WidthPoint {
                    bits: 8,
                    compared: 10,
                    mismatches: 4,
                    max_abs: 2,
                },
                WidthPoint {
                    bits: 32,
                    compared: 10,
                    mismatches: 0,
                    max_abs: 0,
                },
            ],
            8,
        )
        .unwrap();
        assert!(is_svg(&w));
    }

    #[test]
    fn heatmap_bins_large_maps() {
        // 112·112 positions × 64 channels: binned to at most 160 × 128 cells.
        let m = DiffMap::collect(
            [1, 112, 112, 64],
            (0..112 * 112 * 64).step_by(97).map(|i| (i, 1)),
        )
        .unwrap();
        let h = heatmap(&m).unwrap();
        assert!(h.matches("<rect").count() <= 160 * 128 + 10);
        assert!(h.contains("per cell"));
        // Every differing output is in a drawn cell, down to the last position.
        assert_eq!(m.cells.iter().map(|c| c[3]).sum::<u64>() as usize, m.total);
        assert_eq!(m.cells.last().unwrap()[0], 158);
    }
}
