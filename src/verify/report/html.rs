//! `qmac report`: one self-contained HTML page over `--json` reports of
//! `regress`, `layer`, `model` and `fuzz`. Markup by `maud` (every value
//! escaped), charts inline SVG ([`super::charts`]), no external resource
//! (a Content-Security-Policy forbids any), a few lines of JavaScript that
//! sort tables (the page works without them). Every chart's numbers are in a
//! table too.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::charts;
use super::schema::{
    Body, CoverageSummary, FuzzRun, LayerRecord, LayerRun, ModelRun, Regress, Report,
};

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1300px;color:#222;padding:0 1em}
.wide{overflow-x:auto} td{white-space:nowrap}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em}
.PASS{color:#fff;background:rgb(46,125,50);padding:0 .4em;border-radius:3px}
.FAIL{color:#fff;background:rgb(198,40,40);padding:0 .4em;border-radius:3px}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3;cursor:pointer} td.l,th.l{text-align:left}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dl.meta dt{font-weight:600} dl.meta dd{margin:0;font-family:monospace}
.bar{display:inline-block;height:.8em;background:rgb(30,100,170);vertical-align:middle;margin-right:4px}
code,pre{background:#f6f6f6;padding:1px 4px} pre{padding:6px;overflow-x:auto}
figure{margin:1em 0} figcaption{font-size:.85em;color:#555}
.compared{font-weight:600}
";

const SORT_JS: &str = "document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';\
var rows=Array.prototype.slice.call(b.rows);rows.sort(function(x,y){var a=x.cells[i].dataset.v||x.cells[i].textContent,\
c=y.cells[i].dataset.v||y.cells[i].textContent,na=parseFloat(a),nc=parseFloat(c),r=(!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c);\
return asc?r:-r});rows.forEach(function(r){b.appendChild(r)})})});";

/// `1234567` as `1 234 567`.
fn int(n: impl Into<u128>) -> String {
    let s = n.into().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(ch);
    }
    out
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn verdict(v: &str) -> Markup {
    html! { span class=(v) { (v) } }
}

/// A table cell with a bar of `frac` (0..=1) and its text.
fn bar_cell(frac: f64, text: String) -> Markup {
    let f = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    html! { td data-v=(format!("{f:.6}")) { span class="bar" style=(format!("width:{:.1}px", 80.0 * f)) {} (text) } }
}

/// A chart with its text alternative and caption.
fn figure(svg: anyhow::Result<String>, alt: &str, caption: &str) -> anyhow::Result<Markup> {
    let svg = svg?;
    Ok(html! {
        figure {
            div role="img" aria-label=(alt) { (PreEscaped(svg)) }
            figcaption { (caption) }
        }
    })
}

fn meta_block(r: &Report, compared: &str) -> Markup {
    let m = &r.meta;
    html! {
        p class="compared" { (verdict(&m.verdict)) " " (compared) }
        dl class="meta" {
            dt { "report" } dd { (r.source) }
            dt { "seed" } dd { (m.seed) }
            dt { "LANES" } dd { (m.lanes) }
            dt { "MULT_W" } dd { (m.mult_w) }
            dt { "RTL" } dd { (m.rtl_dir) " (sha256 " (m.rtl_sha256) ")" }
            dt { "qmac" } dd { (m.version) }
            dt { "run" } dd { (m.timestamp) " UTC on " (m.hostname) }
        }
    }
}

fn replays(cmds: &[(String, String)]) -> Markup {
    html! {
        @if !cmds.is_empty() {
            h3 { "Replay every failure" }
            table {
                thead { tr { th class="l" { "failure" } th class="l" { "command" } } }
                tbody {
                    @for (what, cmd) in cmds {
                        tr { td class="l" { (what) } td class="l" { code { (cmd) } } }
                    }
                }
            }
        }
    }
}

fn coverage(c: &CoverageSummary, iterations: Option<u64>) -> anyhow::Result<Markup> {
    // In the bins' own order (coverage table order), then any unknown name.
    let order = |k: &str| {
        crate::cosim::coverage::Bin::ALL
            .iter()
            .position(|b| b.name() == k)
            .unwrap_or(usize::MAX)
    };
    let mut bins: Vec<(String, u64)> = c.counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
    bins.sort_by_key(|(k, _)| order(k));
    let bars = figure(
        charts::coverage_bars(&bins),
        &format!("coverage: {} of {} bins hit", c.hit, c.bins),
        &format!(
            "Coverage: {} of {} bins hit{}. Red: never hit.",
            c.hit,
            c.bins,
            if c.missing.is_empty() {
                String::new()
            } else {
                format!(" ({} missing: {})", c.missing.len(), c.missing.join(", "))
            }
        ),
    )?;
    let growth = match iterations {
        Some(n) if !c.first_hit.is_empty() => {
            let firsts: Vec<u64> = c.first_hit.values().copied().collect();
            Some(figure(
                charts::coverage_growth(&firsts, n, c.bins),
                "coverage against iterations",
                &format!(
                    "Coverage against iterations: bins hit by the first i iterations (each bin at the first iteration that hit it), of {} iterations.",
                    int(n)
                ),
            )?)
        }
        _ => None,
    };
    Ok(html! {
        h3 { "Coverage" }
        (bars)
        @if let Some(g) = growth { (g) }
        details {
            summary { "Coverage bins (table)" }
            table class="sortable" {
                thead { tr { th class="l" { "bin" } th { "hits" } th { "first iteration" } } }
                tbody {
                    @for (k, v) in &bins {
                        tr {
                            td class="l" { (k) }
                            td data-v=(v) { @if *v == 0 { "not hit" } @else { (int(*v)) } }
                            td { @if let Some(i) = c.first_hit.get(k) { (i) } @else { "–" } }
                        }
                    }
                }
            }
        }
    })
}

fn regress(r: &Report, g: &Regress) -> anyhow::Result<Markup> {
    let beats: u128 = g.results.iter().map(|t| t.beats as u128).sum();
    let compared = format!(
        "{} tests ({} passed, {} failed): {} lane results and {} beats checked against the golden model, in {}",
        g.tests,
        g.passed,
        g.failed,
        int(g.lane_checks),
        int(beats),
        secs(g.wall_s)
    );
    let max_cycles = g.results.iter().map(|t| t.cycles).max().unwrap_or(1).max(1) as f64;
    let fails: Vec<(String, String)> = g
        .results
        .iter()
        .filter(|t| t.verdict != "PASS")
        .map(|t| (format!("{}/{}", t.suite, t.name), t.replay.clone()))
        .collect();
    Ok(html! {
        (meta_block(r, &compared))
        (replays(&fails))
        h3 { "Tests" }
        table class="sortable" {
            thead { tr {
                th class="l" { "suite" } th class="l" { "test" } th { "verdict" } th { "dot products" }
                th { "beats" } th { "cycles" } th { "lane checks" } th { "time" }
            } }
            tbody {
                @for t in &g.results {
                    tr {
                        td class="l" { (t.suite) } td class="l" { (t.name) } td { (verdict(&t.verdict)) }
                        td data-v=(t.dots) { (int(t.dots)) } td data-v=(t.beats) { (int(t.beats)) }
                        (bar_cell(t.cycles as f64 / max_cycles, int(t.cycles)))
                        td data-v=(t.lane_checks) { (int(t.lane_checks)) }
                        td data-v=(t.wall_s) { (secs(t.wall_s)) }
                    }
                }
            }
        }
        @for t in g.results.iter().filter(|t| t.verdict != "PASS") {
            h4 { (t.suite) "/" (t.name) ": " (t.failure_count) " failure(s)" }
            pre { @for m in &t.failures { (m) "\n" } }
            @if let Some(w) = &t.waveform { p { "waveform: " code { (w) } } }
        }
        (coverage(&g.coverage, None)?)
    })
}

fn case_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(path)
}

fn shape(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// Lane use of an RTL run: outputs / (dot products × LANES), the share of
/// the lanes of each result beat that carried a real output.
fn lane_use(outputs: usize, dots: u64, lanes: usize) -> Option<f64> {
    (dots > 0).then(|| outputs as f64 / (dots as f64 * lanes as f64))
}

fn layer_detail(l: &LayerRecord, anchor: &str) -> anyhow::Result<Markup> {
    let name = case_name(&l.case);
    let heat = match &l.diff_map {
        Some(m) => Some(figure(
            charts::heatmap(m),
            &format!("{name}: |diff| over output position and channel, {} differing outputs", m.total),
            &format!(
                "Where {name}'s outputs differ: |diff| (the largest of RTL vs golden, golden vs the case, integer path vs the case) over output position × channel, output shape {}; colour from orange (|diff| 1) to dark red (max |diff| {}, log scale), opacity the share of the cell's outputs that differ; {} differing output(s), every one drawn.",
                shape(&m.shape),
                m.cells.iter().map(|c| c[2]).max().unwrap_or(0),
                int(m.total as u64),
            ),
        )?),
        None => None,
    };
    let hist = if l.framework_diffs.is_empty() {
        None
    } else {
        Some(figure(
            charts::diff_histogram(&l.framework_diffs),
            &format!("{name}: integer minus framework differences by cause"),
            "Integer path − framework output, by the verified cause that explains each difference (red: unexplained, which fails the layer).",
        )?)
    };
    let width = if l.width_sweep.is_empty() {
        None
    } else {
        Some(figure(
            charts::width_sweep(&l.width_sweep, l.mult_bits),
            &format!("{name}: share of outputs a narrow multiplier changes, by width"),
            &format!(
                "A W-bit multiplier against the 32-bit result, every width (red: this run's {} bits).",
                l.mult_bits
            ),
        )?)
    };
    Ok(html! {
        h3 id=(anchor) { (name) " " (verdict(&l.verdict)) }
        @if !l.details.is_empty() {
            p { "First differing outputs ([n, h, w, c]: the case's output, golden, accumulator, RTL):" }
            pre { @for d in &l.details { (d) "\n" } }
        }
        @if !l.beat_failure_messages.is_empty() {
            p { "First beat-level failures of the RTL run (each with the dot product's inputs):" }
            pre { @for m in &l.beat_failure_messages { (m) "\n" } }
        }
        @if let Some(h) = heat { (h) }
        @if let Some(h) = hist {
            (h)
            table {
                thead { tr { th { "integer − framework" } th class="l" { "cause" } th { "outputs" } } }
                tbody { @for t in &l.framework_diffs {
                    tr { td { (format!("{:+}", t.diff)) } td class="l" { @if t.explained { "explained: " } @else { "UNEXPLAINED " } (t.cause) } td { (int(t.count as u64)) } }
                } }
            }
        }
        @if let Some(w) = width {
            (w)
            table {
                thead { tr { th { "bits" } th { "outputs ≠ 32-bit" } th { "of" } th { "max |diff|" } } }
                tbody { @for p in &l.width_sweep {
                    tr { td { (p.bits) } td { (int(p.mismatches as u64)) } td { (int(p.compared as u64)) } td { (p.max_abs) } }
                } }
            }
        }
        p { "replay: " code { (l.replay) } }
    })
}

/// The id of layer `i` of report `k`: unique on a page of several reports.
fn layer_anchor(k: usize, i: usize) -> String {
    format!("r{k}-layer{i}")
}

fn layer(r: &Report, g: &LayerRun, k: usize) -> anyhow::Result<Markup> {
    let outputs: u128 = g.results.iter().map(|l| l.outputs as u128).sum();
    let ref_compared: u128 = g
        .results
        .iter()
        .filter_map(|l| l.reference.as_ref())
        .map(|x| x.compared as u128)
        .sum();
    let rtl_layers = g.results.iter().filter(|l| l.rtl.is_some()).count();
    let narrow: Vec<u32> = {
        let mut b: Vec<u32> = g
            .results
            .iter()
            .filter(|l| !l.width_sweep.is_empty())
            .map(|l| l.mult_bits)
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    };
    let compared = format!(
        "{} layer(s) ({} passed, {} failed), backend {}: {} outputs; {} compared with the case's reference output, {} layer(s) run on the RTL with every output and accumulator compared with the golden model",
        g.results.len(),
        g.passed,
        g.failed,
        g.backend,
        int(outputs),
        int(ref_compared),
        rtl_layers
    ) + &if narrow.is_empty() {
        String::new()
    } else {
        format!(
            "; a {}-bit multiplier reported (not judged) against the 32-bit result",
            narrow.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(" / ")
        )
    };
    let fails: Vec<(String, String)> = g
        .results
        .iter()
        .filter(|l| l.verdict != "PASS")
        .map(|l| (case_name(&l.case).to_string(), l.replay.clone()))
        .collect();
    let max_cycles = g
        .results
        .iter()
        .filter_map(|l| l.rtl.as_ref())
        .map(|x| x.cycles)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let detailed = |l: &LayerRecord| {
        l.verdict != "PASS"
            || l.diff_map.is_some()
            || !l.framework_diffs.is_empty()
            || !l.width_sweep.is_empty()
    };
    let mut details = Vec::new();
    for (i, l) in g.results.iter().enumerate().filter(|(_, l)| detailed(l)) {
        details.push(layer_detail(l, &layer_anchor(k, i))?);
    }
    Ok(html! {
        (meta_block(r, &compared))
        (replays(&fails))
        h3 { "Layers" }
        p { "lane use: outputs / (dot products × LANES), the share of each result beat's lanes that carried an output." }
        div class="wide" { table class="sortable" {
            thead { tr {
                th class="l" { "case" } th { "verdict" } th class="l" { "op" } th class="l" { "input → output" } th { "MACs" } th { "outputs" }
                th { "reference diffs" } th { "RTL mismatches" } th { "beats" } th { "cycles" } th { "lane use" } th { "time" }
            } }
            tbody {
                @for (i, l) in g.results.iter().enumerate() {
                    @let name = case_name(&l.case);
                    tr {
                        td class="l" { @if detailed(l) { a href=(format!("#{}", layer_anchor(k, i))) { (name) } } @else { (name) } }
                        td { (verdict(&l.verdict)) }
                        td class="l" { (l.op) }
                        td class="l" { (shape(&l.input_shape)) " → " (shape(&l.output_shape)) }
                        td data-v=(l.macs) { (int(l.macs)) }
                        td data-v=(l.outputs) { (int(l.outputs as u64)) }
                        td { @match &l.reference {
                            None => "–",
                            Some(x) => {
                                @let d = x.mismatches.or(x.integer_differing).or(x.differing).unwrap_or(0);
                                (d) " of " (int(x.compared as u64))
                                @if let Some(e) = x.explained { " (" (e) " explained)" }
                            }
                        } }
                        td { @match &l.rtl { None => "–", Some(x) => { (x.output_mismatches) " out / " (x.acc_mismatches) " acc / " (x.beat_failures) " beat" } } }
                        @match &l.rtl {
                            Some(x) => {
                                td data-v=(x.beats) { (int(x.beats)) }
                                (bar_cell(x.cycles as f64 / max_cycles, int(x.cycles)))
                                @let u = lane_use(l.outputs, x.dots, r.meta.lanes).unwrap_or(0.0);
                                (bar_cell(u, format!("{:.0} %", 100.0 * u)))
                            }
                            None => { td { "–" } td { "–" } td { "–" } }
                        }
                        td data-v=(l.wall_s) { (secs(l.wall_s)) }
                    }
                }
            }
        } }
        @for d in details { (d) }
    })
}

fn model(r: &Report, g: &ModelRun) -> anyhow::Result<Markup> {
    let compared_elems: u128 = g.results.iter().map(|i| i.values_compared as u128).sum();
    let rtl_ops = g
        .results
        .iter()
        .flat_map(|i| &i.ops)
        .filter(|o| o.rtl_vs_golden_mismatches.is_some())
        .count();
    let compared = format!(
        "{}: {} input(s) ({} passed, {} failed), backend {}: {} reference values compared (tensors and final outputs), {} op run(s) on the RTL compared with the golden model",
        g.model,
        g.results.len(),
        g.passed,
        g.failed,
        g.backend,
        int(compared_elems),
        rtl_ops
    );
    let fails: Vec<(String, String)> = g
        .results
        .iter()
        .filter(|i| i.verdict != "PASS")
        .map(|i| (i.input.clone(), i.replay.clone()))
        .collect();
    let mut parts = Vec::new();
    for input in &g.results {
        let spans: Vec<charts::Span> = input
            .ops
            .iter()
            .map(|o| charts::Span {
                label: &o.op,
                beats: o.beats,
                seconds: o.wall_s,
            })
            .collect();
        let (macs, beats, cycles): (u128, u128, u128) =
            input.ops.iter().fold((0, 0, 0), |(m, b, c), o| {
                (
                    m + o.macs as u128,
                    b + o.beats as u128,
                    c + o.cycles as u128,
                )
            });
        let op_time: f64 = input.ops.iter().map(|o| o.wall_s).sum::<f64>().max(1e-12);
        let tl = figure(
            charts::timeline(&spans),
            &format!("timeline of {}: beats and wall time per op", input.input),
            &format!(
                "Where {}'s run went: {} ops, {} MACs, {} beats, {} cycles, {}; each op a segment in order, coloured by op type (top: beats on the RTL, bottom: wall time).",
                input.input,
                input.ops.len(),
                int(macs),
                int(beats),
                int(cycles),
                secs(input.wall_s)
            ),
        )?;
        parts.push(html! {
            h3 { (input.input) " " (verdict(&input.verdict)) }
            (tl)
            p { @match &input.expect {
                None => "final output: no --expect given",
                Some(e) => {
                    "final output vs --expect: " (e.mismatches) " of " (int(e.compared as u64)) " differ"
                    @if e.mismatches > 0 { " (max |diff| " (e.max_abs_diff) ")" }
                    @if let Some(c) = &e.explained_by { ", explained: " (c) }
                }
            } }
            @if let Some(o) = input.first_diverging_op { p { "first diverging op: " (o) } }
            @if !input.failures.is_empty() { pre { @for m in &input.failures { (m) "\n" } } }
            @if !input.notes.is_empty() { ul { @for n in &input.notes { li { (n) } } } }
            table class="sortable" {
                thead { tr {
                    th { "op" } th class="l" { "type" } th { "verdict" } th class="l" { "output" } th { "MACs" } th class="l" { "backend" }
                    th { "beats" } th { "cycles" } th { "lane use" } th { "time" } th class="l" { "vs reference" }
                } }
                tbody {
                    @for o in &input.ops {
                        tr {
                            td { (o.index) } td class="l" { (o.op) } td { (verdict(if o.ok { "PASS" } else { "FAIL" })) }
                            td class="l" { (shape(&o.output_shape)) }
                            td data-v=(o.macs) { (int(o.macs)) } td class="l" { (o.backend) }
                            td data-v=(o.beats) { (int(o.beats)) } td data-v=(o.cycles) { (int(o.cycles)) }
                            @match lane_use(o.output_shape.iter().product(), o.dots, r.meta.lanes) {
                                Some(u) => (bar_cell(u, format!("{:.0} %", 100.0 * u))),
                                None => td data-v="-1" { "–" },
                            }
                            (bar_cell(o.wall_s / op_time, secs(o.wall_s)))
                            td class="l" { @match &o.reference {
                                None => "no reference",
                                Some(x) => {
                                    (x.mismatches) " of " (int(x.compared as u64)) " differ"
                                    @if x.explained > 0 { ", " (x.explained) " explained (" (x.cause.as_deref().unwrap_or("?")) ")" }
                                    @if x.on_reference_inputs { "; judged on the reference's inputs" }
                                }
                            } }
                        }
                    }
                }
            }
            p { "replay: " code { (input.replay) } }
        });
    }
    Ok(html! {
        (meta_block(r, &compared))
        (replays(&fails))
        @for p in parts { (p) }
    })
}

fn fuzz(r: &Report, g: &FuzzRun) -> anyhow::Result<Markup> {
    let compared = format!(
        "{} iterations{}: {} dot products, {} beats, {} cycles checked against the golden model in {} ({:.0} beats/s)",
        int(g.iterations),
        g.shard.as_ref().map_or(String::new(), |s| format!(" (shard {s})")),
        int(g.dot_products),
        int(g.beats),
        int(g.cycles),
        secs(g.wall_s),
        g.beats as f64 / g.wall_s.max(1e-9)
    );
    let fails: Vec<(String, String)> = g
        .failure
        .iter()
        .map(|f| (format!("iteration {}", f.iteration), f.replay.clone()))
        .collect();
    Ok(html! {
        (meta_block(r, &compared))
        (replays(&fails))
        @if let Some(f) = &g.failure {
            h3 { "Failure" }
            p { "iteration " (f.iteration) ": " (f.message) }
            p { "shrunk to " (f.shrunk.dots) " dot product(s), " (f.shrunk.taps) " tap(s) in " (f.shrunk.runs) " runs; repro " code { (f.repro) } ", waveform " code { (f.waveform) } }
            @if !f.replay_failures.is_empty() { pre { @for m in &f.replay_failures { (m) "\n" } } }
        }
        (coverage(&g.coverage, Some(g.iterations))?)
    })
}

/// The page over `reports` (in the order given).
pub fn render(reports: &[Report]) -> anyhow::Result<String> {
    let all_pass = !reports.is_empty() && reports.iter().all(|r| r.meta.verdict == "PASS");
    let overall = if all_pass { "PASS" } else { "FAIL" };
    let mut sections = Vec::new();
    for (k, r) in reports.iter().enumerate() {
        let body = match &r.body {
            Body::Regress(g) => regress(r, g)?,
            Body::Layer(g) => layer(r, g, k)?,
            Body::Model(g) => model(r, g)?,
            Body::Fuzz(g) => fuzz(r, g)?,
        };
        sections.push(html! {
            section id=(format!("report-{k}")) {
                h2 { "qmac " (r.meta.qmac) ": " (r.source) " " (verdict(&r.meta.verdict)) }
                (body)
            }
        });
    }
    let csp =
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "qmac report: " (overall) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "qmac report " (verdict(overall)) }
                p { (reports.len()) " report(s), made by qmac " (env!("CARGO_PKG_VERSION")) ". Tables sort by a click on their heading." }
                nav { ul {
                    @for (k, r) in reports.iter().enumerate() {
                        li { a href=(format!("#report-{k}")) { "qmac " (r.meta.qmac) ": " (r.source) } " " (verdict(&r.meta.verdict)) }
                    }
                } }
                @for s in sections { (s) }
                script { (PreEscaped(SORT_JS)) }
            }
        }
    };
    Ok(page.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(int(7u64), "7");
        assert_eq!(int(1234567u64), "1\u{202f}234\u{202f}567");
        assert_eq!(int(100u64), "100");
    }
}
