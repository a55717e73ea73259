//! The arithmetic contract (docs/contract.md) in code: no I/O, no simulator.
//!
//! * [`mac`]: 32-bit wrapping multiply-accumulate with a sticky overflow flag,
//!   and the folded-bias form.
//! * [`requant`]: requantization of an accumulator to an 8-bit output
//!   (TFLite double rounding, single rounding, W-bit multipliers, the float64
//!   and PyTorch float32 references) and QuantizeMultiplier.
//! * [`DType`]: the 8-bit element types (int8, uint8) and their ranges.
pub mod mac;
pub mod requant;

/// Activation element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DType {
    #[default]
    Int8,
    Uint8,
}

impl DType {
    pub fn range(self) -> (i32, i32) {
        match self {
            DType::Int8 => (-128, 127),
            DType::Uint8 => (0, 255),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::Uint8 => "uint8",
        }
    }
}
