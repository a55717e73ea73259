//! qmac: co-simulation testbench for an int8 MAC / requantization datapath.
//!
//! The crate is layered; each layer uses only the ones listed before it:
//!
//! * [`error`]: the two error kinds that decide the exit code.
//! * [`arith`]: the arithmetic contract in code (docs/contract.md): the
//!   32-bit wrapping MAC, requantization (double / single rounding, narrow
//!   multipliers, the float references), QuantizeMultiplier, the data types.
//! * [`formats`]: every file format qmac reads or writes: qcase layer cases,
//!   `.npy`/`.npz`, seed-style text arrays, `$readmemh` hex words, `.tflite`.
//! * [`golden`]: the golden model: conv2d / depthwise / FC layers, TFLite's
//!   non-MAC kernels, quantized tensors, and the PyTorch kernel emulation.
//! * [`cosim`]: the co-simulation: the Verilated DUT behind its FFI
//!   ([`cosim::dut`]), transactions, the driver and scoreboard
//!   ([`cosim::run`]), functional coverage, and a layer lowered onto LANES lanes.
//! * [`model`]: whole TFLite models: TFLite's Prepare per op, and the run.
//! * [`verdict`]: the verdict rules, each written once.
//! * [`verify`]: the verification campaigns: stimulus corners, regression
//!   suites, fuzzing, mutation testing, FPGA vectors, benchmarks, reports
//!   (JSON, JUnit, HTML).
//!
//! The `qmac` binary (`src/main.rs`, `src/cmd/`) is a thin command line over
//! these: it parses arguments, calls the library and prints.
pub mod arith;
pub mod cosim;
pub mod error;
pub mod formats;
pub mod golden;
pub mod model;
pub mod verdict;
#[cfg(feature = "rtl")]
pub mod verify;
