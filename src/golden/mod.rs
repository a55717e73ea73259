//! The golden model, bit-exact with the frameworks.
//!
//! * [`layer`]: conv2d / depthwise_conv2d / fully_connected over NHWC
//!   tensors, and their dot products (the datapath's unit of work).
//! * [`ops`]: TFLite 2.21's reference integer kernels of the non-MAC ops.
//! * [`tensor`]: quantized int8 tensors of whole-model runs.
//! * [`pytorch`]: the integer path against PyTorch's output, each difference
//!   explained by a verified cause or not.
//! * [`eltwise`]: PyTorch's add / mul / cat: integer path, float32 kernel
//!   emulation, explained differences.
pub mod eltwise;
pub mod layer;
pub mod ops;
pub mod pytorch;
pub mod tensor;
