//! .tflite models: `tflite::Model::parse`, then `model::Plan::new` and a
//! golden-model run of whatever still plans (zero input). Seeds: the three
//! fixture models. Only panics, hangs and memory blow-ups count as findings.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use qmac::model::{self, ModelRunOptions, Plan};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = qmac::formats::tflite::Model::parse(Path::new("fuzz.tflite"), data) else {
        return;
    };
    let Ok(plan) = Plan::new(&m) else { return };
    let n: usize = plan.input_shape.iter().product();
    if n > 1 << 20 || plan.macs() > 50_000_000 {
        return; // a valid but large model: slow, not a finding
    }
    let input = qmac::formats::npy::Int8Array {
        shape: plan.input_shape.clone(),
        data: vec![1; n],
    };
    let opt = ModelRunOptions::plain();
    let _ = model::run(&plan, Path::new("fuzz.npy"), &input, &mut model::GoldenEngine, &opt);
});
