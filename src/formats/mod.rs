//! File formats, each read with errors that name the file and the position.
//!
//! * [`qcase`]: the qcase layer-case format (docs/qcase.md).
//! * [`npy`]: int8 tensors in `.npy` files and `.npz` archives.
//! * [`textarray`]: seed-style one-integer-per-line text arrays.
//! * [`hex`]: `$readmemh` words of FPGA vector bundles.
//! * [`tflite`]: the TFLite FlatBuffer model reader.
pub mod hex;
pub mod npy;
pub mod qcase;
pub mod textarray;
pub mod tflite;
