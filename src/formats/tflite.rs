//! A TFLite model (.tflite FlatBuffer) reader.
//!
//! Walks the tables of TensorFlow Lite's `schema.fbs` by field id on the
//! `flatbuffers` crate, the way `flatc`-generated code does, for the subset a
//! quantized CNN needs: Model, OperatorCode, SubGraph, Tensor,
//! QuantizationParameters, Operator, Buffer and the builtin option tables of
//! the ops qmac runs. The whole buffer is first checked by the crate's
//! verifier (every offset, vector and string in bounds) against the same
//! field types the accessors read, so a truncated or corrupted file is an
//! [`InputError`], never a panic or an out-of-bounds read.
//!
//! The result is plain data ([`Model`]): tensors with shapes, types,
//! quantization and their constant bytes, and operators with their decoded
//! options. What the ops mean is `crate::model`'s business.

use std::path::{Path, PathBuf};

use flatbuffers::{
    Follow, ForwardsUOffset, InvalidFlatbuffer, Table, Vector, Verifiable, Verifier,
};

use crate::error::InputError;

/// TFLite `TensorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    Float32,
    Float16,
    Int32,
    Uint8,
    Int64,
    String,
    Bool,
    Int16,
    Int8,
    Float64,
    Other(i8),
}

impl TensorType {
    fn from_code(c: i8) -> TensorType {
        match c {
            0 => TensorType::Float32,
            1 => TensorType::Float16,
            2 => TensorType::Int32,
            3 => TensorType::Uint8,
            4 => TensorType::Int64,
            5 => TensorType::String,
            6 => TensorType::Bool,
            7 => TensorType::Int16,
            9 => TensorType::Int8,
            10 => TensorType::Float64,
            c => TensorType::Other(c),
        }
    }
    pub fn name(self) -> String {
        match self {
            TensorType::Float32 => "FLOAT32".into(),
            TensorType::Float16 => "FLOAT16".into(),
            TensorType::Int32 => "INT32".into(),
            TensorType::Uint8 => "UINT8".into(),
            TensorType::Int64 => "INT64".into(),
            TensorType::String => "STRING".into(),
            TensorType::Bool => "BOOL".into(),
            TensorType::Int16 => "INT16".into(),
            TensorType::Int8 => "INT8".into(),
            TensorType::Float64 => "FLOAT64".into(),
            TensorType::Other(c) => format!("type {c}"),
        }
    }
}

/// A tensor's quantization parameters (`QuantizationParameters`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

/// One tensor of the (first) subgraph.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub index: usize,
    pub name: String,
    pub shape: Vec<i32>,
    pub dtype: TensorType,
    pub buffer: usize,
    pub quantization: Option<Quantization>,
    /// The constant bytes (weights, bias, shape operands), if the buffer has any.
    pub data: Option<Vec<u8>>,
}

/// TFLite `Padding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

/// TFLite `ActivationFunctionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedActivation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
    SignBit,
    Other(i8),
}

impl FusedActivation {
    fn from_code(c: i8) -> FusedActivation {
        match c {
            0 => FusedActivation::None,
            1 => FusedActivation::Relu,
            2 => FusedActivation::ReluN1To1,
            3 => FusedActivation::Relu6,
            4 => FusedActivation::Tanh,
            5 => FusedActivation::SignBit,
            c => FusedActivation::Other(c),
        }
    }
    pub fn name(self) -> String {
        match self {
            FusedActivation::None => "NONE".into(),
            FusedActivation::Relu => "RELU".into(),
            FusedActivation::ReluN1To1 => "RELU_N1_TO_1".into(),
            FusedActivation::Relu6 => "RELU6".into(),
            FusedActivation::Tanh => "TANH".into(),
            FusedActivation::SignBit => "SIGN_BIT".into(),
            FusedActivation::Other(c) => format!("activation {c}"),
        }
    }
}

/// The decoded builtin options of an operator (only the ops qmac runs have
/// their tables decoded; every other op keeps [`Options::None`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Options {
    None,
    Conv2d {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        activation: FusedActivation,
        dilation_w: i32,
        dilation_h: i32,
    },
    DepthwiseConv2d {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        depth_multiplier: i32,
        activation: FusedActivation,
        dilation_w: i32,
        dilation_h: i32,
    },
    FullyConnected {
        activation: FusedActivation,
        weights_format: i8,
        keep_num_dims: bool,
    },
    Pool2d {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        filter_width: i32,
        filter_height: i32,
        activation: FusedActivation,
    },
    Add {
        activation: FusedActivation,
    },
    Softmax {
        beta: f32,
    },
    LeakyRelu {
        alpha: f32,
    },
    Mul {
        activation: FusedActivation,
    },
    Sub {
        activation: FusedActivation,
    },
    Concatenation {
        axis: i32,
        activation: FusedActivation,
    },
    Reducer {
        keep_dims: bool,
    },
    Reshape {
        new_shape: Option<Vec<i32>>,
    },
    TransposeConv {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        activation: FusedActivation,
    },
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
        ellipsis_mask: i32,
        new_axis_mask: i32,
        shrink_axis_mask: i32,
        offset: bool,
    },
    /// RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR.
    Resize {
        align_corners: bool,
        half_pixel_centers: bool,
    },
}

/// One operator, in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub index: usize,
    /// The builtin operator code (`max(deprecated_builtin_code, builtin_code)`).
    pub code: i32,
    pub version: i32,
    /// Tensor indices; −1 marks an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
}

impl Operator {
    /// The schema name of the op, e.g. `CONV_2D`.
    pub fn name(&self) -> String {
        op_name(self.code)
    }
}

/// A model's first subgraph, with every constant buffer resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub path: PathBuf,
    pub version: u32,
    pub description: String,
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

// Builtin operator codes qmac runs.
pub const ADD: i32 = 0;
pub const AVERAGE_POOL_2D: i32 = 1;
pub const CONCATENATION: i32 = 2;
pub const CONV_2D: i32 = 3;
pub const DEPTHWISE_CONV_2D: i32 = 4;
pub const FULLY_CONNECTED: i32 = 9;
pub const MAX_POOL_2D: i32 = 17;
pub const RESHAPE: i32 = 22;
pub const SOFTMAX: i32 = 25;
pub const PAD: i32 = 34;
pub const MEAN: i32 = 40;
pub const PADV2: i32 = 60;
pub const QUANTIZE: i32 = 114;
pub const DEQUANTIZE: i32 = 6;
pub const MUL: i32 = 18;
pub const RELU: i32 = 19;
pub const RELU6: i32 = 21;
pub const MAXIMUM: i32 = 55;
pub const MINIMUM: i32 = 57;
pub const LEAKY_RELU: i32 = 98;
pub const HARD_SWISH: i32 = 117;
pub const SUB: i32 = 41;
pub const LOGISTIC: i32 = 14;
pub const TANH: i32 = 28;
pub const PRELU: i32 = 54;
pub const RESIZE_BILINEAR: i32 = 23;
pub const RESIZE_NEAREST_NEIGHBOR: i32 = 97;
pub const TRANSPOSE: i32 = 39;
pub const SPACE_TO_DEPTH: i32 = 26;
pub const STRIDED_SLICE: i32 = 45;
pub const TRANSPOSE_CONV: i32 = 67;
pub const SPLIT: i32 = 49;
pub const SPLIT_V: i32 = 102;
pub const DEPTH_TO_SPACE: i32 = 5;

/// schema.fbs `BuiltinOperator` names, by code.
const OP_NAMES: [&str; 163] = [
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    "CONV_3D",
    "IMAG",
    "REAL",
    "COMPLEX_ABS",
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "COMPLEX",
    "SIGN",
    "BITCAST",
    "BITWISE_XOR",
    "RIGHT_SHIFT",
];

/// The schema name of a builtin operator code (`BUILTIN_<n>` past the known list).
pub fn op_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|c| OP_NAMES.get(c))
        .map_or_else(|| format!("BUILTIN_{code}"), |s| (*s).to_string())
}

// BuiltinOptions union discriminators of the tables decoded here.
const OPT_CONV2D: u8 = 1;
const OPT_DEPTHWISE: u8 = 2;
const OPT_POOL2D: u8 = 5;
const OPT_FULLY_CONNECTED: u8 = 8;
const OPT_SOFTMAX: u8 = 9;
const OPT_CONCATENATION: u8 = 10;
const OPT_ADD: u8 = 11;
const OPT_RESHAPE: u8 = 17;
const OPT_REDUCER: u8 = 27;
const OPT_LEAKY_RELU: u8 = 75;
const OPT_MUL: u8 = 21;
const OPT_SUB: u8 = 28;
const OPT_RESIZE_BILINEAR: u8 = 15;
const OPT_RESIZE_NEAREST: u8 = 74;
const OPT_STRIDED_SLICE: u8 = 32;
const OPT_TRANSPOSE_CONV: u8 = 49;

/// vtable offset of schema field `id`.
const fn vt(id: u16) -> u16 {
    4 + 2 * id
}

macro_rules! fb_table {
    ($name:ident) => {
        #[derive(Clone, Copy)]
        struct $name<'a>(Table<'a>);
        impl<'a> Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: forwarded from the caller (a verified position).
                $name(unsafe { Table::new(buf, loc) })
            }
        }
    };
}

fb_table!(FbModel);
fb_table!(FbOperatorCode);
fb_table!(FbSubGraph);
fb_table!(FbTensor);
fb_table!(FbQuant);
fb_table!(FbOperator);
fb_table!(FbBuffer);

type Offsets<'a, T> = ForwardsUOffset<Vector<'a, ForwardsUOffset<T>>>;
type Scalars<'a, T> = ForwardsUOffset<Vector<'a, T>>;

/// Read field `id` of a table. The field type must be the one the table's
/// `Verifiable` impl checks for that id (each accessor below sits next to it).
fn get<'a, T: Follow<'a> + 'a>(t: &Table<'a>, id: u16) -> Option<T::Inner> {
    // SAFETY: `read` verified the whole buffer with `flatbuffers::root`, whose
    // verifier visited this field with type `T` (see the Verifiable impls).
    unsafe { t.get::<T>(vt(id), None) }
}

fn get_or<'a, T: Follow<'a> + 'a>(t: &Table<'a>, id: u16, default: T::Inner) -> T::Inner
where
    T::Inner: Copy,
{
    get::<T>(t, id).unwrap_or(default)
}

type VResult = Result<(), InvalidFlatbuffer>;

impl Verifiable for FbModel<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<u32>("version", vt(0), false)?
            .visit_field::<Offsets<FbOperatorCode>>("operator_codes", vt(1), false)?
            .visit_field::<Offsets<FbSubGraph>>("subgraphs", vt(2), false)?
            .visit_field::<ForwardsUOffset<&str>>("description", vt(3), false)?
            .visit_field::<Offsets<FbBuffer>>("buffers", vt(4), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for FbOperatorCode<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<i8>("deprecated_builtin_code", vt(0), false)?
            .visit_field::<ForwardsUOffset<&str>>("custom_code", vt(1), false)?
            .visit_field::<i32>("version", vt(2), false)?
            .visit_field::<i32>("builtin_code", vt(3), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for FbSubGraph<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Offsets<FbTensor>>("tensors", vt(0), false)?
            .visit_field::<Scalars<i32>>("inputs", vt(1), false)?
            .visit_field::<Scalars<i32>>("outputs", vt(2), false)?
            .visit_field::<Offsets<FbOperator>>("operators", vt(3), false)?
            .visit_field::<ForwardsUOffset<&str>>("name", vt(4), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for FbTensor<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Scalars<i32>>("shape", vt(0), false)?
            .visit_field::<i8>("type", vt(1), false)?
            .visit_field::<u32>("buffer", vt(2), false)?
            .visit_field::<ForwardsUOffset<&str>>("name", vt(3), false)?
            .visit_field::<ForwardsUOffset<FbQuant>>("quantization", vt(4), false)?
            .visit_field::<bool>("is_variable", vt(5), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for FbQuant<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Scalars<f32>>("min", vt(0), false)?
            .visit_field::<Scalars<f32>>("max", vt(1), false)?
            .visit_field::<Scalars<f32>>("scale", vt(2), false)?
            .visit_field::<Scalars<i64>>("zero_point", vt(3), false)?
            .visit_field::<u8>("details_type", vt(4), false)?
            .visit_field::<i32>("quantized_dimension", vt(6), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for FbOperator<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<u32>("opcode_index", vt(0), false)?
            .visit_field::<Scalars<i32>>("inputs", vt(1), false)?
            .visit_field::<Scalars<i32>>("outputs", vt(2), false)?
            .visit_union::<u8, _>(
                "builtin_options_type",
                vt(3),
                "builtin_options",
                vt(4),
                false,
                |key, v, pos| match key {
                    OPT_CONV2D => v.verify_union_variant::<ForwardsUOffset<FbConv2dOptions>>(
                        "Conv2DOptions",
                        pos,
                    ),
                    OPT_DEPTHWISE => v.verify_union_variant::<ForwardsUOffset<FbDepthwiseOptions>>(
                        "DepthwiseConv2DOptions",
                        pos,
                    ),
                    OPT_POOL2D => v.verify_union_variant::<ForwardsUOffset<FbPool2dOptions>>(
                        "Pool2DOptions",
                        pos,
                    ),
                    OPT_FULLY_CONNECTED => v
                        .verify_union_variant::<ForwardsUOffset<FbFullyConnectedOptions>>(
                            "FullyConnectedOptions",
                            pos,
                        ),
                    OPT_SOFTMAX => v.verify_union_variant::<ForwardsUOffset<FbSoftmaxOptions>>(
                        "SoftmaxOptions",
                        pos,
                    ),
                    OPT_SUB => {
                        v.verify_union_variant::<ForwardsUOffset<FbSubOptions>>("SubOptions", pos)
                    }
                    OPT_MUL => {
                        v.verify_union_variant::<ForwardsUOffset<FbMulOptions>>("MulOptions", pos)
                    }
                    OPT_LEAKY_RELU => v
                        .verify_union_variant::<ForwardsUOffset<FbLeakyReluOptions>>(
                            "LeakyReluOptions",
                            pos,
                        ),
                    OPT_CONCATENATION => v
                        .verify_union_variant::<ForwardsUOffset<FbConcatenationOptions>>(
                            "ConcatenationOptions",
                            pos,
                        ),
                    OPT_ADD => {
                        v.verify_union_variant::<ForwardsUOffset<FbAddOptions>>("AddOptions", pos)
                    }
                    OPT_RESHAPE => v.verify_union_variant::<ForwardsUOffset<FbReshapeOptions>>(
                        "ReshapeOptions",
                        pos,
                    ),
                    OPT_REDUCER => v.verify_union_variant::<ForwardsUOffset<FbReducerOptions>>(
                        "ReducerOptions",
                        pos,
                    ),
                    OPT_RESIZE_BILINEAR => v
                        .verify_union_variant::<ForwardsUOffset<FbResizeBilinearOptions>>(
                            "ResizeBilinearOptions",
                            pos,
                        ),
                    OPT_TRANSPOSE_CONV => v
                        .verify_union_variant::<ForwardsUOffset<FbTransposeConvOptions>>(
                            "TransposeConvOptions",
                            pos,
                        ),
                    OPT_STRIDED_SLICE => v
                        .verify_union_variant::<ForwardsUOffset<FbStridedSliceOptions>>(
                            "StridedSliceOptions",
                            pos,
                        ),
                    OPT_RESIZE_NEAREST => v
                        .verify_union_variant::<ForwardsUOffset<FbResizeNearestOptions>>(
                            "ResizeNearestNeighborOptions",
                            pos,
                        ),
                    // Any other options table is never read.
                    _ => Ok(()),
                },
            )?
            .finish();
        Ok(())
    }
}

/// An options table: its schema fields (id: type), verified and read as such.
macro_rules! fb_options {
    ($name:ident { $($id:literal : $ty:ty),* $(,)? }) => {
        fb_table!($name);
        impl Verifiable for $name<'_> {
            fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
                let t = v.visit_table(pos)?;
                $( let t = t.visit_field::<$ty>(stringify!($name), vt($id), false)?; )*
                t.finish();
                Ok(())
            }
        }
    };
}

// schema.fbs: padding:Padding(byte), stride_w:int, stride_h:int,
// fused_activation_function:byte, dilation_w_factor:int = 1, dilation_h_factor:int = 1.
fb_options!(FbConv2dOptions {
    0: i8,
    1: i32,
    2: i32,
    3: i8,
    4: i32,
    5: i32
});
// padding, stride_w, stride_h, depth_multiplier:int, fused_activation_function, dilation_w, dilation_h.
fb_options!(FbDepthwiseOptions {
    0: i8,
    1: i32,
    2: i32,
    3: i32,
    4: i8,
    5: i32,
    6: i32
});
// padding, stride_w, stride_h, filter_width:int, filter_height:int, fused_activation_function.
fb_options!(FbPool2dOptions {
    0: i8,
    1: i32,
    2: i32,
    3: i32,
    4: i32,
    5: i8
});
// fused_activation_function, weights_format:byte, keep_num_dims:bool, asymmetric_quantize_inputs:bool.
fb_options!(FbFullyConnectedOptions {
    0: i8,
    1: i8,
    2: bool,
    3: bool
});
// beta:float.
fb_options!(FbSoftmaxOptions { 0: f32 });
// alpha:float.
fb_options!(FbLeakyReluOptions { 0: f32 });
// new_height:int (deprecated), new_width:int (deprecated), align_corners:bool, half_pixel_centers:bool.
fb_options!(FbResizeBilinearOptions {
    0: i32,
    1: i32,
    2: bool,
    3: bool
});
// align_corners:bool, half_pixel_centers:bool.
fb_options!(FbResizeNearestOptions { 0: bool, 1: bool });
// padding:Padding(byte), stride_w:int, stride_h:int, fused_activation_function:byte,
// quantized_bias_type:TensorType(byte).
fb_options!(FbTransposeConvOptions {
    0: i8,
    1: i32,
    2: i32,
    3: i8,
    4: i8
});
// begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask: int; offset: bool.
fb_options!(FbStridedSliceOptions {
    0: i32,
    1: i32,
    2: i32,
    3: i32,
    4: i32,
    5: bool
});
// fused_activation_function.
fb_options!(FbMulOptions { 0: i8 });
// fused_activation_function, pot_scale_int16:bool.
fb_options!(FbSubOptions { 0: i8, 1: bool });
// axis:int, fused_activation_function.
fb_options!(FbConcatenationOptions { 0: i32, 1: i8 });
// fused_activation_function, pot_scale_int16:bool.
fb_options!(FbAddOptions { 0: i8, 1: bool });
// new_shape:[int].
fb_options!(FbReshapeOptions { 0: Scalars<i32> });
// keep_dims:bool.
fb_options!(FbReducerOptions { 0: bool });

impl Verifiable for FbBuffer<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> VResult {
        v.visit_table(pos)?
            .visit_field::<Scalars<u8>>("data", vt(0), false)?
            .visit_field::<u64>("offset", vt(1), false)?
            .visit_field::<u64>("size", vt(2), false)?
            .finish();
        Ok(())
    }
}

fn vec_i32(v: Option<Vector<'_, i32>>) -> Vec<i32> {
    v.map(|v| v.iter().collect()).unwrap_or_default()
}

impl Model {
    /// Read and decode a .tflite file.
    pub fn read(path: &Path) -> Result<Model, InputError> {
        let bytes = std::fs::read(path)
            .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
        Model::parse(path, &bytes)
    }

    /// Decode a .tflite image (`path` names it in messages).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Model, InputError> {
        let err = |pos: String, msg: String| InputError::new(path, pos, msg);
        if bytes.len() < 8 {
            return Err(err(
                "byte 0".into(),
                format!("{} bytes is too short for a TFLite FlatBuffer", bytes.len()),
            ));
        }
        if !flatbuffers::buffer_has_identifier(bytes, "TFL3", false) {
            return Err(err(
                "byte 4".into(),
                "file identifier is not `TFL3`: not a TFLite model".into(),
            ));
        }
        let opts = flatbuffers::VerifierOptions {
            // The defaults (1 M tables, 2 GiB) are fine; depth 64 suffices.
            ..Default::default()
        };
        let model = flatbuffers::root_with_opts::<FbModel>(&opts, bytes).map_err(|e| {
            err(
                "flatbuffer".into(),
                format!(
                    "corrupted or truncated TFLite FlatBuffer ({} bytes): {}",
                    bytes.len(),
                    e.to_string().lines().next().unwrap_or("invalid")
                ),
            )
        })?;
        let t = &model.0;
        let version = get_or::<u32>(t, 0, 0);
        let description = get::<ForwardsUOffset<&str>>(t, 3).unwrap_or("").to_string();

        // Operator codes.
        let mut codes = Vec::new();
        for (i, oc) in get::<Offsets<FbOperatorCode>>(t, 1)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let dep = get_or::<i8>(&oc.0, 0, 0) as i32;
            let code = get_or::<i32>(&oc.0, 3, 0);
            let version = get_or::<i32>(&oc.0, 2, 1);
            let custom = get::<ForwardsUOffset<&str>>(&oc.0, 1).map(str::to_string);
            codes.push((dep.max(code), version, custom, i));
        }

        // Buffers.
        let mut buffers: Vec<Option<Vec<u8>>> = Vec::new();
        for (i, b) in get::<Offsets<FbBuffer>>(t, 4)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let data = get::<Scalars<u8>>(&b.0, 0).map(|d| d.bytes().to_vec());
            let offset = get_or::<u64>(&b.0, 1, 0);
            let size = get_or::<u64>(&b.0, 2, 0);
            let data = match data {
                Some(d) if !d.is_empty() => Some(d),
                _ if offset > 1 => {
                    let end = offset.checked_add(size);
                    match end {
                        Some(end) if end <= bytes.len() as u64 => {
                            Some(bytes[offset as usize..end as usize].to_vec())
                        }
                        _ => {
                            return Err(err(
                                format!("buffer {i}"),
                                format!(
                                    "external data at offset {offset} size {size} lies outside the {}-byte file",
                                    bytes.len()
                                ),
                            ))
                        }
                    }
                }
                _ => None,
            };
            buffers.push(data);
        }

        let subgraphs = get::<Offsets<FbSubGraph>>(t, 2);
        let sg = match subgraphs {
            Some(s) if !s.is_empty() => s.get(0),
            _ => return Err(err("subgraphs".into(), "the model has no subgraph".into())),
        };

        // Tensors.
        let mut tensors = Vec::new();
        for (index, ft) in get::<Offsets<FbTensor>>(&sg.0, 0)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = get::<ForwardsUOffset<&str>>(&ft.0, 3)
                .unwrap_or("")
                .to_string();
            let buffer = get_or::<u32>(&ft.0, 2, 0) as usize;
            if buffer >= buffers.len().max(1) {
                return Err(err(
                    format!("tensor {index} (`{name}`)"),
                    format!(
                        "buffer index {buffer} but the model has {} buffers",
                        buffers.len()
                    ),
                ));
            }
            let quantization = get::<ForwardsUOffset<FbQuant>>(&ft.0, 4).and_then(|q| {
                let scale: Vec<f32> = get::<Scalars<f32>>(&q.0, 2)
                    .map(|v| v.iter().collect())
                    .unwrap_or_default();
                let zero_point: Vec<i64> = get::<Scalars<i64>>(&q.0, 3)
                    .map(|v| v.iter().collect())
                    .unwrap_or_default();
                if scale.is_empty() && zero_point.is_empty() {
                    return None;
                }
                Some(Quantization {
                    scale,
                    zero_point,
                    quantized_dimension: get_or::<i32>(&q.0, 6, 0),
                })
            });
            tensors.push(Tensor {
                index,
                name,
                shape: vec_i32(get::<Scalars<i32>>(&ft.0, 0)),
                dtype: TensorType::from_code(get_or::<i8>(&ft.0, 1, 0)),
                buffer,
                quantization,
                data: buffers.get(buffer).cloned().flatten(),
            });
        }
        let n_tensors = tensors.len();
        let tensor_ref =
            |what: &str, list: Vec<i32>, optional: bool| -> Result<Vec<i32>, InputError> {
                for &ti in &list {
                    let ok = (ti >= 0 && (ti as usize) < n_tensors) || (optional && ti == -1);
                    if !ok {
                        return Err(err(
                            what.to_string(),
                            format!(
                            "tensor index {ti} out of range (the subgraph has {n_tensors} tensors)"
                        ),
                        ));
                    }
                }
                Ok(list)
            };
        let to_usize = |v: Vec<i32>| v.into_iter().map(|i| i as usize).collect::<Vec<_>>();
        let inputs = to_usize(tensor_ref(
            "subgraph inputs",
            vec_i32(get::<Scalars<i32>>(&sg.0, 1)),
            false,
        )?);
        let outputs = to_usize(tensor_ref(
            "subgraph outputs",
            vec_i32(get::<Scalars<i32>>(&sg.0, 2)),
            false,
        )?);

        // Operators.
        let mut operators = Vec::new();
        for (index, fo) in get::<Offsets<FbOperator>>(&sg.0, 3)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let opcode_index = get_or::<u32>(&fo.0, 0, 0) as usize;
            let Some((code, version, custom, _)) = codes.get(opcode_index).cloned() else {
                return Err(err(
                    format!("op {index}"),
                    format!(
                        "opcode_index {opcode_index} but the model has {} operator codes",
                        codes.len()
                    ),
                ));
            };
            let here = format!(
                "op {index} ({})",
                custom
                    .as_deref()
                    .map_or_else(|| op_name(code), |c| format!("CUSTOM `{c}`"))
            );
            let op_inputs = tensor_ref(&here, vec_i32(get::<Scalars<i32>>(&fo.0, 1)), true)?;
            let op_outputs = tensor_ref(&here, vec_i32(get::<Scalars<i32>>(&fo.0, 2)), false)?;
            let options = decode_options(&fo, code).map_err(|m| err(here.clone(), m))?;
            operators.push(Operator {
                index,
                code,
                version,
                inputs: op_inputs,
                outputs: op_outputs,
                options,
            });
        }
        Ok(Model {
            path: path.to_path_buf(),
            version,
            description,
            tensors,
            operators,
            inputs,
            outputs,
        })
    }
}

fn padding(c: i8) -> Result<Padding, String> {
    match c {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        c => Err(format!("unknown padding type {c}")),
    }
}

/// Decode the builtin options of the ops qmac runs; the options table must
/// be the one the schema pairs with the op.
fn decode_options(op: &FbOperator<'_>, code: i32) -> Result<Options, String> {
    let t = &op.0;
    let kind = get_or::<u8>(t, 3, 0);
    let expect = |want: u8, name: &str| -> Result<(), String> {
        if kind == want {
            Ok(())
        } else {
            Err(format!(
                "builtin options type {kind}, expected {want} ({name}) for this op"
            ))
        }
    };
    let act = |c: i8| FusedActivation::from_code(c);
    Ok(match code {
        CONV_2D => {
            expect(OPT_CONV2D, "Conv2DOptions")?;
            let o = get::<ForwardsUOffset<FbConv2dOptions>>(t, 4).ok_or("missing Conv2DOptions")?;
            Options::Conv2d {
                padding: padding(get_or::<i8>(&o.0, 0, 0))?,
                stride_w: get_or::<i32>(&o.0, 1, 0),
                stride_h: get_or::<i32>(&o.0, 2, 0),
                activation: act(get_or::<i8>(&o.0, 3, 0)),
                dilation_w: get_or::<i32>(&o.0, 4, 1),
                dilation_h: get_or::<i32>(&o.0, 5, 1),
            }
        }
        DEPTHWISE_CONV_2D => {
            expect(OPT_DEPTHWISE, "DepthwiseConv2DOptions")?;
            let o = get::<ForwardsUOffset<FbDepthwiseOptions>>(t, 4)
                .ok_or("missing DepthwiseConv2DOptions")?;
            Options::DepthwiseConv2d {
                padding: padding(get_or::<i8>(&o.0, 0, 0))?,
                stride_w: get_or::<i32>(&o.0, 1, 0),
                stride_h: get_or::<i32>(&o.0, 2, 0),
                depth_multiplier: get_or::<i32>(&o.0, 3, 0),
                activation: act(get_or::<i8>(&o.0, 4, 0)),
                dilation_w: get_or::<i32>(&o.0, 5, 1),
                dilation_h: get_or::<i32>(&o.0, 6, 1),
            }
        }
        FULLY_CONNECTED => {
            expect(OPT_FULLY_CONNECTED, "FullyConnectedOptions")?;
            let o = get::<ForwardsUOffset<FbFullyConnectedOptions>>(t, 4)
                .ok_or("missing FullyConnectedOptions")?;
            Options::FullyConnected {
                activation: act(get_or::<i8>(&o.0, 0, 0)),
                weights_format: get_or::<i8>(&o.0, 1, 0),
                keep_num_dims: get_or::<bool>(&o.0, 2, false),
            }
        }
        AVERAGE_POOL_2D | MAX_POOL_2D => {
            expect(OPT_POOL2D, "Pool2DOptions")?;
            let o = get::<ForwardsUOffset<FbPool2dOptions>>(t, 4).ok_or("missing Pool2DOptions")?;
            Options::Pool2d {
                padding: padding(get_or::<i8>(&o.0, 0, 0))?,
                stride_w: get_or::<i32>(&o.0, 1, 0),
                stride_h: get_or::<i32>(&o.0, 2, 0),
                filter_width: get_or::<i32>(&o.0, 3, 0),
                filter_height: get_or::<i32>(&o.0, 4, 0),
                activation: act(get_or::<i8>(&o.0, 5, 0)),
            }
        }
        ADD => match kind {
            0 => Options::Add {
                activation: FusedActivation::None,
            },
            _ => {
                expect(OPT_ADD, "AddOptions")?;
                let o = get::<ForwardsUOffset<FbAddOptions>>(t, 4).ok_or("missing AddOptions")?;
                Options::Add {
                    activation: act(get_or::<i8>(&o.0, 0, 0)),
                }
            }
        },
        SOFTMAX => {
            expect(OPT_SOFTMAX, "SoftmaxOptions")?;
            let o =
                get::<ForwardsUOffset<FbSoftmaxOptions>>(t, 4).ok_or("missing SoftmaxOptions")?;
            Options::Softmax {
                beta: get_or::<f32>(&o.0, 0, 0.0),
            }
        }
        CONCATENATION => {
            expect(OPT_CONCATENATION, "ConcatenationOptions")?;
            let o = get::<ForwardsUOffset<FbConcatenationOptions>>(t, 4)
                .ok_or("missing ConcatenationOptions")?;
            Options::Concatenation {
                axis: get_or::<i32>(&o.0, 0, 0),
                activation: act(get_or::<i8>(&o.0, 1, 0)),
            }
        }
        SUB => {
            expect(OPT_SUB, "SubOptions")?;
            let o = get::<ForwardsUOffset<FbSubOptions>>(t, 4).ok_or("missing SubOptions")?;
            Options::Sub {
                activation: act(get_or::<i8>(&o.0, 0, 0)),
            }
        }
        MUL => {
            expect(OPT_MUL, "MulOptions")?;
            let o = get::<ForwardsUOffset<FbMulOptions>>(t, 4).ok_or("missing MulOptions")?;
            Options::Mul {
                activation: act(get_or::<i8>(&o.0, 0, 0)),
            }
        }
        LEAKY_RELU => {
            expect(OPT_LEAKY_RELU, "LeakyReluOptions")?;
            let o = get::<ForwardsUOffset<FbLeakyReluOptions>>(t, 4)
                .ok_or("missing LeakyReluOptions")?;
            Options::LeakyRelu {
                alpha: get_or::<f32>(&o.0, 0, 0.0),
            }
        }
        MEAN => {
            expect(OPT_REDUCER, "ReducerOptions")?;
            let o =
                get::<ForwardsUOffset<FbReducerOptions>>(t, 4).ok_or("missing ReducerOptions")?;
            Options::Reducer {
                keep_dims: get_or::<bool>(&o.0, 0, false),
            }
        }
        RESHAPE => match kind {
            0 => Options::Reshape { new_shape: None },
            _ => {
                expect(OPT_RESHAPE, "ReshapeOptions")?;
                let o = get::<ForwardsUOffset<FbReshapeOptions>>(t, 4);
                Options::Reshape {
                    new_shape: o
                        .and_then(|o| get::<Scalars<i32>>(&o.0, 0))
                        .map(|v| v.iter().collect()),
                }
            }
        },
        RESIZE_BILINEAR => match kind {
            0 => Options::Resize {
                align_corners: false,
                half_pixel_centers: false,
            },
            _ => {
                expect(OPT_RESIZE_BILINEAR, "ResizeBilinearOptions")?;
                let o = get::<ForwardsUOffset<FbResizeBilinearOptions>>(t, 4)
                    .ok_or("missing ResizeBilinearOptions")?;
                Options::Resize {
                    align_corners: get_or::<bool>(&o.0, 2, false),
                    half_pixel_centers: get_or::<bool>(&o.0, 3, false),
                }
            }
        },
        TRANSPOSE_CONV => {
            expect(OPT_TRANSPOSE_CONV, "TransposeConvOptions")?;
            let o = get::<ForwardsUOffset<FbTransposeConvOptions>>(t, 4)
                .ok_or("missing TransposeConvOptions")?;
            Options::TransposeConv {
                padding: padding(get_or::<i8>(&o.0, 0, 0))?,
                stride_w: get_or::<i32>(&o.0, 1, 0),
                stride_h: get_or::<i32>(&o.0, 2, 0),
                activation: act(get_or::<i8>(&o.0, 3, 0)),
            }
        }
        STRIDED_SLICE => match kind {
            0 => Options::StridedSlice {
                begin_mask: 0,
                end_mask: 0,
                ellipsis_mask: 0,
                new_axis_mask: 0,
                shrink_axis_mask: 0,
                offset: false,
            },
            _ => {
                expect(OPT_STRIDED_SLICE, "StridedSliceOptions")?;
                let o = get::<ForwardsUOffset<FbStridedSliceOptions>>(t, 4)
                    .ok_or("missing StridedSliceOptions")?;
                Options::StridedSlice {
                    begin_mask: get_or::<i32>(&o.0, 0, 0),
                    end_mask: get_or::<i32>(&o.0, 1, 0),
                    ellipsis_mask: get_or::<i32>(&o.0, 2, 0),
                    new_axis_mask: get_or::<i32>(&o.0, 3, 0),
                    shrink_axis_mask: get_or::<i32>(&o.0, 4, 0),
                    offset: get_or::<bool>(&o.0, 5, false),
                }
            }
        },
        RESIZE_NEAREST_NEIGHBOR => match kind {
            0 => Options::Resize {
                align_corners: false,
                half_pixel_centers: false,
            },
            _ => {
                expect(OPT_RESIZE_NEAREST, "ResizeNearestNeighborOptions")?;
                let o = get::<ForwardsUOffset<FbResizeNearestOptions>>(t, 4)
                    .ok_or("missing ResizeNearestNeighborOptions")?;
                Options::Resize {
                    align_corners: get_or::<bool>(&o.0, 0, false),
                    half_pixel_centers: get_or::<bool>(&o.0, 1, false),
                }
            }
        },
        _ => Options::None,
    })
}
