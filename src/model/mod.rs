//! Whole int8 TFLite models (`qmac model`).
//!
//! [`Plan::new`] checks a [`tflite::Model`] and derives what TFLite's `Prepare`
//! derives for every op: for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED a
//! qcase [`Case`] (explicit padding from SAME/VALID, per-channel M0/shift by
//! QuantizeMultiplier of the model's float32 scales, activation bounds), for
//! the other ops the parameters of their [`crate::golden::ops`] kernel. [`run`] then
//! executes the ops in order: the MAC ops on the Verilated datapath through the
//! same lowering as `qmac layer` (every output beat checked against the golden
//! model) and/or on the golden model, the others on the golden kernels, and
//! compares every tensor with the reference tensors when given.

//!
//! * `plan`: the [`Plan`] (TFLite's Prepare per op).
//! * `run`: the [`run`] of one input, its [`ModelRun`] report.
mod plan;
mod run;

pub use plan::{ModelInput, Plan, Step, StepKind, SUPPORTED_OPS};
#[cfg(feature = "rtl")]
pub use run::RtlEngine;
pub use run::{
    check_inputs, check_reference_input, check_reference_tensors, parse_inputs, read_inputs,
    reference_for, run, ExpectCheck, Expected, GoldenEngine, MacEngine, ModelRun, ModelRunOptions,
    OpReport,
};
