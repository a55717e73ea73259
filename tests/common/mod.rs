//! Helpers shared by the integration tests that drive the `qmac` binary.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `qmac ARGS` in the crate root: (exit code, stdout, stderr).
pub fn qmac_split(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Run `qmac ARGS` in the crate root: (exit code, stdout followed by stderr).
pub fn qmac_joined(args: &[&str]) -> (i32, String) {
    let (code, out, err) = qmac_split(args);
    (code, out + &err)
}

/// Run any command: (exit code, stdout followed by stderr).
pub fn run_joined(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A fresh (removed if present) scratch path unique to this process.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qmac-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Copy of an npz with `delta` added to element `index` of the member whose
/// name starts with `key_prefix`.
pub fn tampered_npz(src: &str, key_prefix: &str, index: usize, delta: i8, dst: &Path) {
    use ndarray_npy::{NpzReader, NpzWriter};
    let mut r = NpzReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let names = r.names().unwrap();
    let mut w = NpzWriter::new(std::fs::File::create(dst).unwrap());
    let mut hit = false;
    for n in names {
        let mut a: ndarray::ArrayD<i8> = r.by_name(&n).unwrap();
        if n.starts_with(key_prefix) {
            let v = a.as_slice_mut().unwrap();
            v[index] = v[index].wrapping_add(delta);
            hit = true;
        }
        w.add_array(n.trim_end_matches(".npy"), &a).unwrap();
    }
    w.finish().unwrap();
    assert!(hit, "{key_prefix} not in {src}");
}

/// `xmllint --schema` of a JUnit file against the Ant JUnit schema
/// (tests/fixtures/junit/JUnit.xsd): the report must validate.
pub fn validate_junit(path: &Path) {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/junit/JUnit.xsd"
        ))
        .arg(path)
        .output()
        .expect("xmllint (libxml2-utils, installed by scripts/setup)");
    assert!(
        out.status.success(),
        "{} does not validate: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Headless Chromium (Debian's `chromium`, installed by scripts/setup), or
/// `None` where it is not installed (the browser checks then say skipped).
pub fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// What Chromium made of a page: its DOM after the scripts ran, the URLs the
/// page itself asked the network for (from Chromium's net log: requests
/// whose network isolation key is the file:// page, not Chromium's own
/// background traffic), and a screenshot of it.
pub struct Rendered {
    pub dom: String,
    pub page_requests: Vec<String>,
    pub screenshot: PathBuf,
}

/// Open `page` in headless Chromium `chrome`: dump the DOM with a net log,
/// then take a 1300-pixel-wide screenshot next to the page.
pub fn render_in_chromium(chrome: &Path, page: &Path) -> Rendered {
    let dir = page.with_extension("chromium");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("file://{}", std::fs::canonicalize(page).unwrap().display());
    let base = |profile: &str| {
        let mut c = Command::new(chrome);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join(profile).display()));
        c
    };
    let netlog = dir.join("netlog.json");
    let out = base("dom")
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(["--virtual-time-budget=2000", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let log: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&netlog).unwrap())
        .unwrap_or_else(|e| {
            panic!("{}: {e}", netlog.display());
        });
    let mut page_requests: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p = &e["params"];
            let key = p["network_isolation_key"].as_str()?;
            let url = p["url"].as_str()?;
            (key.starts_with("file://") && !url.starts_with("file:") && !url.starts_with("data:"))
                .then(|| url.to_string())
        })
        .collect();
    page_requests.sort();
    page_requests.dedup();
    let screenshot = dir.join("screenshot.png");
    let out = base("shot")
        .arg(format!("--screenshot={}", screenshot.display()))
        .args(["--window-size=1300,2400"])
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Rendered {
        dom,
        page_requests,
        screenshot,
    }
}

/// Check `page` in Chromium: every `needle` in the DOM, `figures` SVG
/// charts at least, a screenshot, no network request.
pub fn check_report_page(page: &Path, needles: &[&str], figures: usize) {
    let html = std::fs::read_to_string(page).unwrap();
    // Self-contained: no external resource referenced at all.
    for bad in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "@import",
        "url(http",
    ] {
        assert!(
            !html.contains(bad),
            "{}: references `{bad}`",
            page.display()
        );
    }
    assert!(
        html.contains("Content-Security-Policy") && html.contains("default-src 'none'"),
        "{}: no CSP",
        page.display()
    );
    let Some(chrome) = chromium() else {
        eprintln!("skipped: the browser check of {} (chromium is not installed; scripts/setup installs it)", page.display());
        for n in needles {
            assert!(html.contains(n), "{}: no `{n}`", page.display());
        }
        return;
    };
    let r = render_in_chromium(&chrome, page);
    for n in needles {
        assert!(
            r.dom.contains(n),
            "{}: the DOM has no `{n}`",
            page.display()
        );
    }
    let svgs = r.dom.matches("<svg").count();
    assert!(
        svgs >= figures,
        "{}: {svgs} charts, expected ≥ {figures}",
        page.display()
    );
    // Every chart has a text alternative.
    assert_eq!(
        r.dom.matches("role=\"img\" aria-label=").count(),
        svgs,
        "{}: a chart without a text alternative",
        page.display()
    );
    assert!(
        r.page_requests.is_empty(),
        "{}: the page asked the network for {:?}",
        page.display(),
        r.page_requests
    );
    let png = std::fs::metadata(&r.screenshot).unwrap().len();
    assert!(
        png > 20_000,
        "{}: screenshot of {png} bytes",
        page.display()
    );
}
