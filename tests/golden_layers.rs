//! The golden layer model on the real TFLite cases: the case's own rounding
//! reproduces TFLite's output exactly, the folded-bias form (per-position
//! folding at padded borders) equals the direct form, and narrowing the
//! multiplier to 16/18 bits is a measurable, different design point.
use std::path::PathBuf;

use qmac::formats::qcase::{Case, Rounding};
use qmac::golden::layer;

fn cases() -> Vec<Case> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tflite"
    ));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.extend(
        std::fs::read_dir(root.join("fc_float64"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    paths.retain(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json"));
    paths.sort();
    assert_eq!(paths.len(), 23);
    paths.iter().map(|p| Case::read(p).unwrap()).collect()
}

#[test]
fn golden_matches_tflite_on_every_case() {
    for c in cases() {
        let r = layer::run(&c).unwrap();
        assert_eq!(
            r.output.as_slice().unwrap(),
            c.output.as_deref().unwrap(),
            "{}",
            c.path.display()
        );
    }
}

#[test]
fn folded_bias_form_equals_direct_form() {
    let mut padded = 0;
    for c in cases() {
        let (direct, _) = layer::accumulate(&c);
        assert_eq!(layer::accumulate_folded(&c), direct, "{}", c.path.display());
        padded += usize::from(c.padding.iter().any(|&p| p > 0));
    }
    assert!(padded >= 5, "the fixtures must exercise padded borders");
    // With zp_x ≠ 0, folding the whole window's Σw into one bias per channel
    // is wrong at the borders: the per-position folding is what makes it exact.
    let c = cases()
        .into_iter()
        .find(|c| {
            c.op == qmac::formats::qcase::Op::Conv2d && c.padding[0] > 0 && c.input_zero_point != 0
        })
        .unwrap();
    let (direct, _) = layer::accumulate(&c);
    let [_, kh, kw, cin] = c.filter_shape;
    let k = kh * kw * cin;
    let sum_w_full: i32 = c.filter[..k].iter().sum();
    let naive_bias = c
        .bias_of(0)
        .wrapping_sub(c.input_zero_point.wrapping_mul(sum_w_full));
    let mut wrong = 0;
    for ow in 0..c.output_shape[2] {
        let win = layer::window(&c, 0, ow);
        let mut acc = naive_bias;
        for (kh_i, kw_i, ih, iw) in win {
            for ic in 0..cin {
                let x = c.input[(ih * c.input_shape[2] + iw) * cin + ic];
                acc = acc.wrapping_add(x * c.filter[(kh_i * kw + kw_i) * cin + ic]);
            }
        }
        wrong += usize::from(acc != direct[[0, 0, ow, 0]]);
    }
    assert!(
        wrong > 0,
        "{}: a channel-wide folded bias should be wrong on the top border",
        c.path.display()
    );
}

#[test]
fn float64_cases_differ_from_the_integer_path_but_golden_float64_matches() {
    for c in cases()
        .into_iter()
        .filter(|c| c.rounding == Rounding::Float64)
    {
        let (acc, _) = layer::accumulate(&c);
        let f = layer::requantize_float64(&c, &acc).unwrap();
        assert_eq!(f.as_slice().unwrap(), c.output.as_deref().unwrap());
        let int = layer::requantize(&c, &acc, qmac::arith::requant::DatapathRounding::Double, 32);
        let differ = int.iter().zip(f.iter()).filter(|(a, b)| a != b).count();
        assert!(
            differ > 0,
            "{}: the probe case must separate the two paths",
            c.path.display()
        );
    }
}

#[test]
fn narrow_multipliers_disagree_on_a_small_fraction() {
    let (mut total, mut d16, mut d18) = (0usize, 0usize, 0usize);
    for c in cases()
        .into_iter()
        .filter(|c| c.rounding == Rounding::Double)
    {
        let (acc, _) = layer::accumulate(&c);
        let full = layer::requantize(&c, &acc, qmac::arith::requant::DatapathRounding::Single, 32);
        for (w, d) in [(16, &mut d16), (18, &mut d18)] {
            let n = layer::requantize(&c, &acc, qmac::arith::requant::DatapathRounding::Single, w);
            *d += n.iter().zip(full.iter()).filter(|(a, b)| a != b).count();
        }
        total += acc.len();
    }
    eprintln!(
        "narrow multipliers vs 32-bit single rounding: W=16 {d16}/{total}, W=18 {d18}/{total}"
    );
    assert!(
        d16 > 0 && d16 < total / 20,
        "W=16 differs on {d16} of {total}"
    );
    assert!(
        d18 <= d16,
        "a wider multiplier cannot disagree more often ({d18} > {d16})"
    );
}
