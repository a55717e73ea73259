//! qmac: co-simulation testbench for an int8 MAC / requantization datapath.
//!
//! * [`requant`]: bit-exact requantization (double / single rounding, float
//!   references, narrow multipliers) and TFLite's QuantizeMultiplier.
//! * [`mac`]: 32-bit wrapping multiply-accumulate and the folded-bias form.
//! * [`layer`]: conv2d / depthwise_conv2d / fully_connected golden model.
//! * [`case`]: the qcase layer-case format (read JSON / TOML+npy/txt, write JSON).
pub mod bench;
pub mod case;
pub mod cmd;
pub mod cosim;
pub mod coverage;
pub mod dut;
pub mod error;
pub mod fuzz;
pub mod hex;
pub mod layer;
pub mod lower;
pub mod mac;
pub mod model;
pub mod mutants;
pub mod ops;
pub mod pytorch;
pub mod regress;
pub mod requant;
pub mod stimulus;
pub mod tensor;
pub mod tensorfile;
pub mod textarray;
pub mod tflite;
pub mod vectors;
pub mod verdict;
