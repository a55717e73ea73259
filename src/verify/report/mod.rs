//! Reports for machines, CI and people: the run's metadata and the one
//! `--json` header, JUnit XML in the Ant JUnit schema
//! (tests/fixtures/junit/JUnit.xsd, what Jenkins and GitLab read) shared by
//! `regress`, `layer` and `model`, and the HTML page of `qmac report`:
//!
//! * [`data`]: the figures' data a `--json` report carries (diff map,
//!   differences by cause, narrow-multiplier sweep), written and read back.
//! * [`schema`]: a `--json` report read back as types.
//! * [`charts`]: the SVG charts.
//! * [`html`]: the self-contained page.

pub mod charts;
pub mod data;
pub mod html;
pub mod schema;

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a report says about the run as a whole.
pub struct RunMeta {
    pub seed: u64,
    pub lanes: usize,
    pub mult_w: u32,
    pub rtl_dir: String,
    pub rtl_sha256: String,
    pub version: String,
    /// Start of the run, UTC, `YYYY-MM-DDTHH:MM:SS`.
    pub timestamp: String,
    pub hostname: String,
}

impl RunMeta {
    /// The run's metadata now, on this machine.
    pub fn now(seed: u64, lanes: usize, mult_w: u32) -> RunMeta {
        RunMeta {
            seed,
            lanes,
            mult_w,
            rtl_dir: crate::cosim::dut::RTL_DIR.into(),
            rtl_sha256: crate::cosim::dut::RTL_SHA256.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            timestamp: utc_timestamp(std::time::SystemTime::now()),
            hostname: hostname(),
        }
    }
}

impl RunMeta {
    /// A `--json` report of `tool`: the run's metadata (version, timestamp,
    /// host, seed, LANES, MULT_W, RTL), then the command's own `fields` (an
    /// object). One header for regress, layer, model and fuzz.
    pub fn json_report(&self, tool: &str, fields: serde_json::Value) -> serde_json::Value {
        let mut report = serde_json::json!({
            "qmac": tool,
            "version": self.version,
            "timestamp": self.timestamp,
            "hostname": self.hostname,
            "seed": self.seed,
            "lanes": self.lanes,
            "mult_w": self.mult_w,
            "rtl_dir": self.rtl_dir,
            "rtl_sha256": self.rtl_sha256,
        });
        if let (Some(r), serde_json::Value::Object(f)) = (report.as_object_mut(), fields) {
            r.extend(f);
        }
        report
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a time (civil-from-days, H. Hinnant).
pub fn utc_timestamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// This machine's host name (`localhost` if unknown, as JUnit asks).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// One `<testcase>`: a failure is (type, message, text).
pub struct JunitCase {
    pub classname: String,
    pub name: String,
    pub time: f64,
    pub failure: Option<(String, String, String)>,
}

/// One `<testsuite>` and the text of its `<system-out>`.
pub struct JunitSuite {
    pub name: String,
    pub cases: Vec<JunitCase>,
    pub system_out: String,
}

/// JUnit XML of `suites`: the run's seed, LANES, MULT_W, RTL and version as
/// properties of every suite, its timestamp and host.
pub fn junit_xml(suites: &[JunitSuite], meta: &RunMeta) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (id, s) in suites.iter().enumerate() {
        let failures = s.cases.iter().filter(|c| c.failure.is_some()).count();
        let time: f64 = s.cases.iter().map(|c| c.time).sum();
        x += &format!(
            "  <testsuite name=\"{}\" package=\"qmac.lanes{}\" id=\"{id}\" timestamp=\"{}\" hostname=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n    <properties>\n",
            xml_escape(&s.name),
            meta.lanes,
            meta.timestamp,
            xml_escape(&meta.hostname),
            s.cases.len()
        );
        for (k, v) in [
            ("seed", meta.seed.to_string()),
            ("lanes", meta.lanes.to_string()),
            ("mult_w", meta.mult_w.to_string()),
            ("rtl_dir", meta.rtl_dir.clone()),
            ("rtl_sha256", meta.rtl_sha256.clone()),
            ("qmac_version", meta.version.clone()),
        ] {
            x += &format!(
                "      <property name=\"{k}\" value=\"{}\"/>\n",
                xml_escape(&v)
            );
        }
        x += "    </properties>\n";
        for c in &s.cases {
            x += &format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml_escape(&c.classname),
                xml_escape(&c.name),
                c.time
            );
            match &c.failure {
                None => x += "</testcase>\n",
                Some((kind, message, text)) => {
                    x += &format!(
                    "\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(kind),
                    xml_escape(message),
                    xml_escape(text)
                )
                }
            }
        }
        x += &format!(
            "    <system-out>{}</system-out>\n    <system-err></system-err>\n  </testsuite>\n",
            xml_escape(&s.system_out)
        );
    }
    x += "</testsuites>\n";
    x
}
