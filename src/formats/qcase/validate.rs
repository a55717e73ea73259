//! The rules of docs/qcase.md, checked on a [`Case`] however it was made.

use super::{Case, Op, Rounding, SHIFT_MAX, SHIFT_MIN};
use crate::error::InputError;
use crate::formats::npy::checked_product;

impl Case {
    /// Checks every rule of docs/qcase.md (shapes per op, output size from
    /// padding / stride / dilation, array lengths, element and parameter
    /// ranges). Errors name `self.path` and the field or element.
    pub fn validate(&self) -> Result<(), InputError> {
        let file = &self.path;
        let field = |name: &str, msg: String| InputError::new(file, format!("field `{name}`"), msg);
        let elem = |name: &str, i: usize, msg: String| {
            InputError::new(file, format!("element {i} of `{name}`"), msg)
        };

        // Shapes and scalar geometry.
        let shapes = [
            ("input_shape", self.input_shape),
            ("filter_shape", self.filter_shape),
            ("output_shape", self.output_shape),
        ];
        let mut counts = [0usize; 3];
        for (k, (name, s)) in shapes.iter().enumerate() {
            if s.contains(&0) {
                return Err(field(name, format!("dimensions must be >= 1, got {s:?}")));
            }
            counts[k] = checked_product(s)
                .ok_or_else(|| field(name, format!("element count of {s:?} overflows")))?;
        }
        let [n_input, n_filter, n_output] = counts;
        for (name, v) in [("stride", self.stride), ("dilation", self.dilation)] {
            if v.contains(&0) {
                return Err(field(name, format!("entries must be >= 1, got {v:?}")));
            }
        }
        if self.depth_multiplier == 0 {
            return Err(field("depth_multiplier", "must be >= 1, got 0".into()));
        }

        let [n, h, w, cin] = self.input_shape;
        let [fo, kh, kw, fc] = self.filter_shape;
        let [on, oh, ow, oc] = self.output_shape;
        let (is, fs, os) = (self.input_shape, self.filter_shape, self.output_shape);
        match self.op {
            Op::Conv2d | Op::FullyConnected => {
                if self.depth_multiplier != 1 {
                    return Err(field(
                        "depth_multiplier",
                        format!(
                            "must be 1 for {}, got {}",
                            self.op.name(),
                            self.depth_multiplier
                        ),
                    ));
                }
            }
            Op::DepthwiseConv2d => {}
        }
        if self.groups == 0 {
            return Err(field("groups", "must be >= 1, got 0".into()));
        }
        if self.groups != 1 && self.op != Op::Conv2d {
            return Err(field(
                "groups",
                format!(
                    "only conv2d takes groups, got {} for {} (depthwise_conv2d is grouped by its depth_multiplier)",
                    self.groups,
                    self.op.name()
                ),
            ));
        }
        match self.op {
            Op::Conv2d => {
                let g = self.groups;
                if !cin.is_multiple_of(g) || !oc.is_multiple_of(g) {
                    return Err(field(
                        "groups",
                        format!("groups {g} must divide the input channels {cin} and the output channels {oc}"),
                    ));
                }
                if fc * g != cin {
                    let what = if g == 1 {
                        format!("input_shape {is:?} has {cin}")
                    } else {
                        format!(
                            "input_shape {is:?} has {cin} / groups {g} = {} per group",
                            cin / g
                        )
                    };
                    return Err(field(
                        "filter_shape",
                        format!("conv2d filter {fs:?} has {fc} input channels, {what}"),
                    ));
                }
                if fo != oc {
                    return Err(field(
                        "output_shape",
                        format!("output_shape {os:?} has {oc} channels, filter_shape {fs:?} has {fo} filters"),
                    ));
                }
            }
            Op::DepthwiseConv2d => {
                if fo != 1 {
                    return Err(field(
                        "filter_shape",
                        format!("depthwise filter must be [1, KH, KW, Cin·depth_multiplier], got {fs:?}"),
                    ));
                }
                let want = cin.checked_mul(self.depth_multiplier);
                if want != Some(fc) {
                    return Err(field(
                        "filter_shape",
                        format!(
                            "depthwise filter {fs:?} has {fc} channels, expected input channels {cin} × depth_multiplier {}",
                            self.depth_multiplier
                        ),
                    ));
                }
                if oc != fc {
                    return Err(field(
                        "output_shape",
                        format!("output_shape {os:?} has {oc} channels, depthwise filter {fs:?} has {fc}"),
                    ));
                }
            }
            Op::FullyConnected => {
                if h != 1 || w != 1 {
                    return Err(field(
                        "input_shape",
                        format!("fully_connected input must be [N, 1, 1, K], got {is:?}"),
                    ));
                }
                if kh != 1 || kw != 1 || fc != cin {
                    return Err(field(
                        "filter_shape",
                        format!("fully_connected filter must be [Cout, 1, 1, K] with K = {cin}, got {fs:?}"),
                    ));
                }
                if oh != 1 || ow != 1 || oc != fo {
                    return Err(field(
                        "output_shape",
                        format!("fully_connected output must be [N, 1, 1, Cout] with Cout = {fo}, got {os:?}"),
                    ));
                }
                if self.padding != [0, 0, 0, 0] {
                    return Err(field(
                        "padding",
                        format!("fully_connected takes no padding, got {:?}", self.padding),
                    ));
                }
            }
        }
        if on != n {
            return Err(field(
                "output_shape",
                format!("output batch {on} differs from input batch {n} (input_shape {is:?})"),
            ));
        }
        let [pt, pb, pl, pr] = self.padding;
        let axes = [
            (
                "height",
                h,
                kh,
                pt,
                pb,
                self.stride[0],
                self.dilation[0],
                oh,
            ),
            ("width", w, kw, pl, pr, self.stride[1], self.dilation[1], ow),
        ];
        for (axis, size, k, pa, pz, s, d, out) in axes {
            let extent = d.checked_mul(k - 1).and_then(|x| x.checked_add(1));
            let padded = size.checked_add(pa).and_then(|x| x.checked_add(pz));
            let (Some(extent), Some(padded)) = (extent, padded) else {
                return Err(field(
                    "output_shape",
                    format!("{axis} arithmetic overflows"),
                ));
            };
            if padded < extent {
                return Err(field(
                    "filter_shape",
                    format!(
                        "dilated kernel {axis} {extent} exceeds the padded input {axis} {padded} \
                         ({size} + padding {pa} + {pz}); the output would be empty"
                    ),
                ));
            }
            let want = (padded - extent) / s + 1;
            if out != want {
                return Err(field(
                    "output_shape",
                    format!(
                        "output {axis} {out} does not match floor(({size} + {pa} + {pz} − {d}·({k} − 1) − 1) / {s}) + 1 = {want} \
                         (input {axis}, padding, dilation, kernel, stride)"
                    ),
                ));
            }
        }

        // Array lengths.
        let len_check = |name: &str, len: usize, want: usize, what: &str| {
            if len == want {
                Ok(())
            } else {
                Err(field(
                    name,
                    format!("has {len} elements, expected {want} ({what})"),
                ))
            }
        };
        len_check(
            "input",
            self.input.len(),
            n_input,
            &format!("product of input_shape {is:?}"),
        )?;
        len_check(
            "filter",
            self.filter.len(),
            n_filter,
            &format!("product of filter_shape {fs:?}"),
        )?;
        if let Some(o) = &self.output {
            len_check(
                "output",
                o.len(),
                n_output,
                &format!("product of output_shape {os:?}"),
            )?;
        }
        if let Some(b) = &self.bias {
            len_check("bias", b.len(), oc, "one per output channel")?;
        }
        if let Some(b) = &self.bias_float {
            len_check("bias_float", b.len(), oc, "one per output channel")?;
        }
        let per_channel = |name: &str, len: usize| {
            if len == 1 || len == oc {
                Ok(())
            } else {
                Err(field(
                    name,
                    format!(
                        "has {len} entries, expected 1 (per tensor) or {oc} (per output channel)"
                    ),
                ))
            }
        };
        per_channel("multiplier", self.multiplier.len())?;
        if self.shift.len() != self.multiplier.len() {
            return Err(field(
                "shift",
                format!(
                    "has {} entries but `multiplier` has {}",
                    self.shift.len(),
                    self.multiplier.len()
                ),
            ));
        }
        if let Some(s) = &self.filter_scales {
            per_channel("filter_scales", s.len())?;
        }

        // Element and parameter ranges.
        let range_check = |name: &str, vals: &[i32], (lo, hi): (i32, i32), what: &str| match vals
            .iter()
            .position(|&x| x < lo || x > hi)
        {
            None => Ok(()),
            Some(i) => Err(elem(
                name,
                i,
                format!("value {} is outside the {what} range [{lo}, {hi}]", vals[i]),
            )),
        };
        let (ir, or) = (self.input_dtype.range(), self.output_dtype.range());
        let (iname, oname) = (self.input_dtype.name(), self.output_dtype.name());
        range_check("input", &self.input, ir, iname)?;
        range_check("filter", &self.filter, (-128, 127), "int8")?;
        if let Some(o) = &self.output {
            range_check("output", o, or, oname)?;
        }
        range_check(
            "multiplier",
            &self.multiplier,
            (0, i32::MAX),
            "non-negative int32",
        )?;
        range_check(
            "shift",
            &self.shift,
            (SHIFT_MIN as i32, SHIFT_MAX as i32),
            "shift",
        )?;
        let scalar = |name: &str, v: i32, (lo, hi): (i32, i32), what: &str| {
            if v < lo || v > hi {
                Err(field(
                    name,
                    format!("value {v} is outside the {what} range [{lo}, {hi}]"),
                ))
            } else {
                Ok(())
            }
        };
        scalar("input_zero_point", self.input_zero_point, ir, iname)?;
        scalar(
            "filter_zero_point",
            self.filter_zero_point,
            (-128, 127),
            "int8",
        )?;
        scalar("output_zero_point", self.output_zero_point, or, oname)?;
        scalar("act_min", self.act_min, or, oname)?;
        scalar("act_max", self.act_max, or, oname)?;
        if self.act_min > self.act_max {
            return Err(field(
                "act_min",
                format!(
                    "act_min {} is greater than act_max {}",
                    self.act_min, self.act_max
                ),
            ));
        }

        // Float parameters.
        for (name, v) in [
            ("input_scale", self.input_scale),
            ("output_scale", self.output_scale),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(field(name, format!("scale {v} must be finite and > 0")));
                }
            }
        }
        if let Some(s) = &self.filter_scales {
            if let Some(i) = s.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(elem(
                    "filter_scales",
                    i,
                    format!("scale {} must be finite and >= 0", s[i]),
                ));
            }
        }
        if let Some(b) = &self.bias_float {
            if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                return Err(elem(
                    "bias_float",
                    i,
                    format!("value {} is not finite", b[i]),
                ));
            }
        }
        if !self.rounding.is_integer() {
            let r = self.rounding.name();
            let need = format!("required with rounding \"{r}\" (the float requantization uses it)");
            if self.input_scale.is_none() {
                return Err(field("input_scale", need));
            }
            if self.filter_scales.is_none() {
                return Err(field("filter_scales", need));
            }
            if self.output_scale.is_none() {
                return Err(field("output_scale", need));
            }
        }
        if matches!(self.rounding, Rounding::Fbgemm | Rounding::Onednn)
            && self.bias.is_some()
            && self.bias_float.is_none()
        {
            return Err(field(
                "bias_float",
                format!(
                    "missing: rounding \"{}\" with a bias needs the float bias (one per output channel)",
                    self.rounding.name()
                ),
            ));
        }
        Ok(())
    }
}
