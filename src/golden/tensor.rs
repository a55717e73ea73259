//! Quantized int8 activation tensors as they flow between the ops of a
//! whole model (`qmac model`): a shape, row-major (NHWC for 4-D) int8 data and
//! the tensor's per-tensor quantization (activations are always per-tensor).

/// Per-tensor affine quantization: real = scale · (q − zero_point).
/// `scale` is the float32 the .tflite stores; kernels widen it to f64 exactly
/// where TFLite does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    pub scale: f32,
    pub zero_point: i32,
}

/// An int8 tensor: `data.len() == shape.iter().product()`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct QTensor {
    pub shape: Vec<usize>,
    pub data: Vec<i8>,
    pub quant: Quant,
}

impl QTensor {
    /// A tensor; panics if `data` does not fill `shape` (a programming error:
    /// every caller derives both from validated input).
    pub fn new(shape: Vec<usize>, data: Vec<i8>, quant: Quant) -> QTensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "QTensor data does not fill its shape {shape:?}"
        );
        QTensor { shape, data, quant }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a tensor with a zero-sized axis.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
