//! Writing a [`Case`] as JSON in the docs/qcase.md layout.

use std::path::Path;

use super::Case;

fn json_f64(v: f64) -> String {
    // serde_json prints the shortest representation that reads back exactly.
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

fn json_list<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

impl Case {
    /// The case as pretty JSON in the docs/qcase.md layout and field order, with
    /// every field spelled out (derived multiplier / shift, dtypes, rounding).
    /// Absent scales, `bias_float` and `output` are omitted; a missing bias is
    /// `null`. Each array is on one line.
    pub fn to_json(&self) -> String {
        let mut fields: Vec<(&str, String)> = vec![
            (
                "source",
                serde_json::to_string(&self.source).unwrap_or_else(|_| "\"\"".into()),
            ),
            ("op", format!("\"{}\"", self.op.name())),
            ("input_shape", json_list(&self.input_shape)),
            ("filter_shape", json_list(&self.filter_shape)),
            ("output_shape", json_list(&self.output_shape)),
            ("stride", json_list(&self.stride)),
            ("dilation", json_list(&self.dilation)),
            ("padding", json_list(&self.padding)),
            ("depth_multiplier", self.depth_multiplier.to_string()),
        ];
        if self.groups != 1 {
            fields.push(("groups", self.groups.to_string()));
        }
        fields.extend([
            ("input_zero_point", self.input_zero_point.to_string()),
            ("filter_zero_point", self.filter_zero_point.to_string()),
            ("output_zero_point", self.output_zero_point.to_string()),
        ]);
        if let Some(s) = self.input_scale {
            fields.push(("input_scale", json_f64(s)));
        }
        if let Some(s) = &self.filter_scales {
            let items: Vec<String> = s.iter().map(|&v| json_f64(v)).collect();
            fields.push(("filter_scales", format!("[{}]", items.join(", "))));
        }
        if let Some(s) = self.output_scale {
            fields.push(("output_scale", json_f64(s)));
        }
        fields.extend([
            ("act_min", self.act_min.to_string()),
            ("act_max", self.act_max.to_string()),
            ("multiplier", json_list(&self.multiplier)),
            ("shift", json_list(&self.shift)),
            ("rounding", format!("\"{}\"", self.rounding.name())),
            ("input_dtype", format!("\"{}\"", self.input_dtype.name())),
            ("output_dtype", format!("\"{}\"", self.output_dtype.name())),
            ("input", json_list(&self.input)),
            ("filter", json_list(&self.filter)),
            (
                "bias",
                self.bias
                    .as_deref()
                    .map_or_else(|| "null".into(), json_list),
            ),
        ]);
        if let Some(b) = &self.bias_float {
            let items: Vec<String> = b.iter().map(|&v| json_f64(v)).collect();
            fields.push(("bias_float", format!("[{}]", items.join(", "))));
        }
        if let Some(o) = &self.output {
            fields.push(("output", json_list(o)));
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  \"{k}\": {v}"))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    }

    /// Writes [`Case::to_json`] to `path`. An existing file is only replaced
    /// when `overwrite` is true.
    pub fn write_json(&self, path: &Path, overwrite: bool) -> anyhow::Result<()> {
        use anyhow::Context as _;
        use std::io::Write as _;
        let mut f = crate::formats::create_file(path, overwrite, "--force")?;
        f.write_all(self.to_json().as_bytes())
            .and_then(|()| f.flush())
            .with_context(|| format!("{}: cannot write case file", path.display()))
    }
}
