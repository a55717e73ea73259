//! C-ready export of a layer case (`qmac export-c`): every integer the
//! hardware formula needs as its own one-value-per-line `.txt` file (a plain
//! C `fscanf("%d")` loop reads it: no header line), the dimensions and
//! scalars in `LAYER.dims.txt`, a generated C header with the same data as
//! arrays, and the golden model's output to compare with.
//! `sim/c_ref/qmac_ref.c` computes the layer from the `.txt` files:
//!
//! `acc = folded_bias[c] + Σ x·w − zp_w·Σx` (mod 2^32, padded taps read
//! x = zp_x), `y = clamp(zp_out + MBQM(acc, M0[c], e[c]), act_min, act_max)`
//!
//! with the folded bias `bias − zp_x·Σw + K·zp_x·zp_w` of
//! [`crate::arith::mac::folded_bias`] over all K taps of the channel, so
//! hardware with symmetric weights (zp_w = 0) needs no zero-point logic.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::arith::requant::{narrow_multiplier, DatapathRounding};
use crate::formats::qcase::{Case, Op};
use crate::golden::layer::datapath_rounding;

/// The names of `LAYER.dims.txt`'s lines, in order (the `enum dim` of
/// sim/c_ref/qmac_ref.c and the `#define`s of `LAYER.h`).
pub const DIMS: [&str; 25] = [
    "OP",
    "N",
    "H",
    "W",
    "CIN",
    "KH",
    "KW",
    "COUT",
    "OH",
    "OW",
    "STRIDE_H",
    "STRIDE_W",
    "DIL_H",
    "DIL_W",
    "PAD_TOP",
    "PAD_LEFT",
    "DEPTH_MULTIPLIER",
    "ZP_X",
    "ZP_W",
    "ZP_OUT",
    "ACT_MIN",
    "ACT_MAX",
    "ROUNDING",
    "TAPS",
    "GROUPS",
];

/// One layer, ready for C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CLayer {
    /// The values of [`DIMS`], in order.
    pub dims: Vec<i64>,
    /// The C types of the activations and outputs (the case's dtypes:
    /// `int8_t` or `uint8_t`, whatever values this sample holds).
    pub input_type: &'static str,
    pub output_type: &'static str,
    pub input: Vec<i32>,
    pub weights: Vec<i32>,
    pub bias: Vec<i32>,
    pub folded_bias: Vec<i32>,
    pub m0: Vec<i32>,
    pub shift: Vec<i32>,
    /// The golden integer path's output (the datapath's rounding, 32-bit M0), NHWC.
    pub output: Vec<i32>,
}

/// The weights of output channel `c` over all its taps (conv / FC: the
/// filter's row; depthwise: its column in `[KH][KW][Cin·dm]`).
fn channel_weights(case: &Case, c: usize) -> Vec<i32> {
    let [_, kh, kw, fc] = case.filter_shape;
    match case.op {
        Op::Conv2d | Op::FullyConnected => {
            let k = kh * kw * fc;
            case.filter[c * k..(c + 1) * k].to_vec()
        }
        Op::DepthwiseConv2d => (0..kh * kw).map(|t| case.filter[t * fc + c]).collect(),
    }
}

/// The C-ready form of `case` (its input must be present).
pub fn layer(case: &Case) -> Result<CLayer> {
    let g = crate::golden::layer::run(case)?;
    let output = crate::golden::layer::requantize_datapath(case, &g.acc, 32)
        .iter()
        .copied()
        .collect();
    let [n, h, w, cin] = case.input_shape;
    let [_, kh, kw, _] = case.filter_shape;
    let [_, oh, ow, cout] = case.output_shape;
    let taps = match case.op {
        Op::DepthwiseConv2d => kh * kw,
        Op::Conv2d | Op::FullyConnected => kh * kw * (cin / case.groups),
    };
    let rounding = match datapath_rounding(case.rounding, 32) {
        DatapathRounding::Double => 0,
        DatapathRounding::Single => 1,
    };
    let op = match case.op {
        Op::Conv2d => 0,
        Op::DepthwiseConv2d => 1,
        Op::FullyConnected => 2,
    };
    let dims = [
        op,
        n,
        h,
        w,
        cin,
        kh,
        kw,
        cout,
        oh,
        ow,
        case.stride[0],
        case.stride[1],
        case.dilation[0],
        case.dilation[1],
        case.padding[0],
        case.padding[2],
        case.depth_multiplier,
    ]
    .iter()
    .map(|&v| v as i64)
    .chain(
        [
            case.input_zero_point,
            case.filter_zero_point,
            case.output_zero_point,
            case.act_min,
            case.act_max,
            rounding,
            taps as i32,
            case.groups as i32,
        ]
        .iter()
        .map(|&v| v as i64),
    )
    .collect();
    let (mut m0, mut shift) = (Vec::new(), Vec::new());
    for c in 0..cout {
        let (m, e) = case.channel_params(c);
        let (m, e) = narrow_multiplier(m, e, 32);
        m0.push(m);
        shift.push(e);
    }
    let bias: Vec<i32> = (0..cout).map(|c| case.bias_of(c)).collect();
    let folded_bias = (0..cout)
        .map(|c| {
            crate::arith::mac::folded_bias(
                bias[c],
                channel_weights(case, c),
                case.input_zero_point,
                case.filter_zero_point,
            )
        })
        .collect();
    let c_type = |d: crate::arith::DType| match d {
        crate::arith::DType::Int8 => "int8_t",
        crate::arith::DType::Uint8 => "uint8_t",
    };
    Ok(CLayer {
        dims,
        input_type: c_type(case.input_dtype),
        output_type: c_type(case.output_dtype),
        input: case.input.clone(),
        weights: case.filter.clone(),
        bias,
        folded_bias,
        m0,
        shift,
        output,
    })
}

fn lines<T: std::fmt::Display>(v: &[T]) -> String {
    let mut s = String::with_capacity(v.len() * 5);
    for x in v {
        let _ = writeln!(s, "{x}");
    }
    s
}

fn c_array(s: &mut String, ty: &str, name: &str, v: &[i32]) {
    let _ = writeln!(s, "static const {ty} {name}[{}] = {{", v.len().max(1));
    for chunk in v.chunks(16) {
        let row: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        let _ = writeln!(s, "    {},", row.join(", "));
    }
    if v.is_empty() {
        s.push_str("    0,\n");
    }
    s.push_str("};\n");
}

/// The C header of a layer: `#define LAYER_<DIM>` for every dimension and
/// the arrays (`LAYER_input`, `LAYER_weights`, `LAYER_bias`,
/// `LAYER_folded_bias`, `LAYER_m0`, `LAYER_shift`, `LAYER_expected`).
pub fn header(c: &CLayer, ident: &str, source: &str) -> String {
    let mut s = String::new();
    let guard = format!("QMAC_{}_H", ident.to_uppercase());
    let _ = writeln!(
        s,
        "/* Generated by qmac export-c from {source}: do not edit.\n * y = clamp(ZP_OUT + MBQM(folded_bias[c] + sum(x*w) - ZP_W*sum(x), m0[c], shift[c]), ACT_MIN, ACT_MAX);\n * padded taps read x = ZP_X; ROUNDING 0 = double (TFLite's MultiplyByQuantizedMultiplier), 1 = single.\n * _expected is this integer formula's output (qmac's golden integer path); a PyTorch (fbgemm / oneDNN)\n * or float64 case's framework output may differ from it where `qmac layer` reports explained differences.\n * See sim/c_ref/qmac_ref.c. */"
    );
    let _ = writeln!(
        s,
        "#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n"
    );
    for (name, v) in DIMS.iter().zip(&c.dims) {
        let _ = writeln!(s, "#define {}_{name} {v}", ident.to_uppercase());
    }
    s.push('\n');
    c_array(&mut s, c.input_type, &format!("{ident}_input"), &c.input);
    c_array(&mut s, "int8_t", &format!("{ident}_weights"), &c.weights);
    c_array(&mut s, "int32_t", &format!("{ident}_bias"), &c.bias);
    c_array(
        &mut s,
        "int32_t",
        &format!("{ident}_folded_bias"),
        &c.folded_bias,
    );
    c_array(&mut s, "int32_t", &format!("{ident}_m0"), &c.m0);
    c_array(&mut s, "int32_t", &format!("{ident}_shift"), &c.shift);
    c_array(
        &mut s,
        c.output_type,
        &format!("{ident}_expected"),
        &c.output,
    );
    let _ = writeln!(s, "\n#endif /* {guard} */");
    s
}

/// A C identifier from a layer name (`[A-Za-z0-9_]`, not starting with a digit).
pub fn ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'l');
    }
    s
}

/// Write `NAME.{dims,input,weights,bias,folded_bias,m0,shift,output}.txt`
/// and `NAME.h` into `dir`.
pub fn write(c: &CLayer, dir: &Path, name: &str, source: &str) -> Result<()> {
    let files: [(&str, String); 8] = [
        ("dims", lines(&c.dims)),
        ("input", lines(&c.input)),
        ("weights", lines(&c.weights)),
        ("bias", lines(&c.bias)),
        ("folded_bias", lines(&c.folded_bias)),
        ("m0", lines(&c.m0)),
        ("shift", lines(&c.shift)),
        ("output", lines(&c.output)),
    ];
    let put = |path: std::path::PathBuf, text: &str| -> Result<()> {
        use std::io::Write;
        let mut f = crate::formats::create_file(&path, false, "--force")?;
        f.write_all(text.as_bytes())?;
        Ok(())
    };
    for (f, text) in files {
        put(dir.join(format!("{name}.{f}.txt")), &text)?;
    }
    put(
        dir.join(format!("{name}.h")),
        &header(c, &ident(name), source),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid_c() {
        assert_eq!(ident("mbnet_b_op0-dw.json"), "mbnet_b_op0_dw_json");
        assert_eq!(ident("3x3"), "l3x3");
        assert_eq!(ident(""), "l");
    }
}
