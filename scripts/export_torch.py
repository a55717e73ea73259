#!/usr/bin/env python3
"""Export every quantized Conv2d / ConvReLU2d / Linear / LinearReLU layer of a
converted eager-mode PyTorch model as a qcase directory (docs/qcase.md).

    scripts/export_torch.py MODEL OUT_DIR [--input SAMPLE.npy ...] [--state-dict SD.pt]
                            [--engine fbgemm|x86] [--txt] [--force] [--verbose]

MODEL is either
  * FILE.py:FUNCTION - FUNCTION() (no arguments) returns the converted model
    (e.g. float model -> fuse -> prepare_qat -> convert); with --state-dict the
    saved state dict of the converted model is loaded into it. This is the
    robust form: a state dict does not pickle classes.
  * FILE.pt - a whole converted model saved with torch.save(model); its classes
    must be importable (FILE's directory and the current directory are put on
    sys.path). PyTorch 2.15 does not restore converted quantized modules from
    such a pickle (they come back without their Module state); the exporter
    then says so and the state-dict form is the one to use.
TorchScript (torch.jit) models are not accepted: scripted modules do not run
Python forward hooks, which is how the layers' quantized inputs and outputs
are captured.

SAMPLE.npy is a float32 array the model's forward takes (e.g. N x C x H x W);
--input may repeat (one forward pass per sample). Without --input, MODEL's
FILE.py must define example_inputs() (a list of samples) or example_input().
--state-dict loads trained weights into FUNCTION()'s model, so an export
never re-trains: save `model.state_dict()` once after convert().

The model is loaded on the --engine (default fbgemm) quantized engine; the
engine is fixed when the weights are prepacked, which happens on loading.
With fbgemm every layer runs fbgemm (rounding "fbgemm"). With x86, Linear
runs fbgemm and Conv2d runs oneDNN on CPUs with AVX512-VNNI (rounding
"onednn"; qmac's golden model emulates both), fbgemm otherwise. The engine
written into each case is the one that ran the layer: the exporter recomputes
every captured call with weights prepacked on the engine current at call time
(and on the others if that differs) and records the one that reproduces
PyTorch's output bit for bit, so a model whose code switches the engine
itself is labelled by what ran.

For each call of each layer, OUT_DIR/NAME/ gets case.toml and .npy arrays
(seed-style one-value-per-line .txt with --txt): the int input, weights in the
qcase layouts (conv [Cout,KH,KW,Cin], depthwise [1,KH,KW,Cout], FC
[Cout,1,1,K]), the int32 bias round_half_away(bias_f / (S_x * S_w[c])), the
float bias (fbgemm adds the float one), the scales and zero points, the
activation bounds of a fused ReLU, M0 / shift from TFLite's QuantizeMultiplier
of double(S_x)*double(S_w[c])/double(S_y), and PyTorch's own output as
`output`. OUT_DIR/index.json lists the cases: run them with
`qmac layer OUT_DIR/index.json`.

Quantized modules that ran and are not exported (add / cat / mul of
FloatFunctional / QFunctional, BatchNorm2d, ReLU6, Hardswish, pooling, ...)
are listed on stderr with the reason. A dynamically quantized model is
refused by name. OUT_DIR is written all-or-nothing: into a temporary sibling
directory renamed at the end, so a failure leaves no partial export.

Exit codes: 0 written, 2 bad input or an unsupported model (one line on
stderr; an exception raised inside the user's code names its type and the
user's file:line, the full traceback with --verbose).
"""

import argparse
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import traceback
import warnings

PROG = "export_torch.py"


def first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


VERBOSE = False
USER_FILES = set()  # absolute paths of the user's model files (for user_error)


def die(msg):
    """Bad input or an unsupported model: one line on stderr, exit 2."""
    msg = " ".join(str(msg).split("\n"))
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(2)


def earlier_export(d):
    """Whether directory `d` holds an export this script wrote (its
    index.json names the script): the only directory --force replaces."""
    try:
        with open(os.path.join(d, "index.json")) as f:
            return str(json.load(f).get("source", "")).startswith("scripts/export_torch.py")
    except (OSError, ValueError, AttributeError):
        return False


def warn(msg):
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def user_error(what, e):
    """An exception raised while running the user's code: one line naming the
    exception and the innermost frame in the user's file (the traceback's
    last frame if none is), exit 2; the whole traceback first with --verbose."""
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename) in USER_FILES]
    where = (mine or frames or [None])[-1]
    at = f" at {where.filename}:{where.lineno}" if where is not None else ""
    if VERBOSE:
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    hint = "" if VERBOSE else " (--verbose for the traceback)"
    die(f"{what}: {type(e).__name__}: {first_line(e)}{at}{hint}")


np = torch = nnq = nniq = None  # imported by import_torch(), after the arguments are checked
LAYERS = {}
BATCH_NORMS = {}  # quantized BatchNorm2d type -> fused ReLU


def import_torch():
    global np, torch, nnq, nniq
    try:
        import numpy as np
        import torch
    except ImportError as e:
        die(f"needs torch and numpy ({e}); install them with: pip install torch numpy")
    # PyTorch 2.10+ warns that torch.ao.quantization is deprecated; the converted
    # eager models users have still run, so keep the output readable.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao")
    warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
    warnings.filterwarnings("ignore", message=r".*quantized tensor creation.*")
    warnings.filterwarnings("ignore", message=r".*TypedStorage is deprecated.*")
    import torch.ao.nn.quantized as nnq
    import torch.ao.nn.intrinsic.quantized as nniq

    LAYERS.update({
        nnq.Conv2d: ("conv", False),
        nniq.ConvReLU2d: ("conv", True),
        nnq.Linear: ("linear", False),
        nniq.LinearReLU: ("linear", True),
    })
    BATCH_NORMS.update({nnq.BatchNorm2d: False, nniq.BNReLU2d: True})


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(real):
    """TFLite QuantizeMultiplier (double rounding), as src/requant.rs: frexp,
    round half away from zero, the 2^31 carry, flush below 2^-31."""
    if real == 0.0:
        return 0, 0
    q, e = math.frexp(real)  # exact, q in [0.5, 1)
    t = q * 2.0**31  # exact (power-of-two scaling)
    m0 = int(math.floor(t)) + (1 if t - math.floor(t) >= 0.5 else 0)
    if m0 == 2**31:
        m0 //= 2
        e += 1
    if e < -31:
        return 0, 0
    return m0, e


def round_half_away(v):
    a = abs(v)
    r = int(math.floor(a)) + (1 if a - math.floor(a) >= 0.5 else 0)
    return r if v >= 0 else -r


def has_vnni():
    try:
        with open("/proc/cpuinfo") as f:
            return any("avx512_vnni" in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def load_model(spec, state_dict, engine):
    torch.backends.quantized.engine = engine
    module_file = None
    if ":" in spec and spec.rsplit(":", 1)[0].endswith(".py"):
        path, fn = spec.rsplit(":", 1)
        if not os.path.isfile(path):
            die(f"{path}: no such file")
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        name = os.path.splitext(os.path.basename(path))[0]
        s = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(s)
        sys.modules[name] = mod
        USER_FILES.add(os.path.abspath(path))
        try:
            s.loader.exec_module(mod)
        except Exception as e:
            user_error(f"{path}: importing it failed", e)
        if not hasattr(mod, fn):
            die(f"{path}: defines no function `{fn}`")
        try:
            model = getattr(mod, fn)()
        except Exception as e:
            user_error(f"{path}: {fn}() failed", e)
        module_file = mod
        if state_dict:
            try:
                sd = torch.load(state_dict, map_location="cpu", weights_only=True)
            except Exception as e:
                die(f"{state_dict}: cannot load state dict: {first_line(e)}")
            try:
                model.load_state_dict(sd)
            except Exception as e:
                die(f"{state_dict}: does not fit {spec}: {first_line(e)}")
    else:
        if spec.endswith(".py"):
            die(f"{spec}: a Python file needs the function that returns the converted model: "
                f"MODEL is FILE.py:FUNCTION (e.g. {spec}:build)")
        if state_dict:
            die("--state-dict needs MODEL in the form FILE.py:FUNCTION")
        if not os.path.isfile(spec):
            die(f"{spec}: no such file")
        sys.path.insert(0, os.path.dirname(os.path.abspath(spec)))
        sys.path.insert(0, os.getcwd())
        try:
            model = torch.load(spec, map_location="cpu", weights_only=False)
        except Exception as e:
            die(f"{spec}: cannot load a saved model: {first_line(e)}")
        if isinstance(model, torch.jit.ScriptModule):
            die(f"{spec}: a TorchScript model; export the eager model (state dict + FILE.py:FUNCTION)")
        if isinstance(model, dict):
            die(f"{spec}: a state dict; give MODEL as FILE.py:FUNCTION with --state-dict {spec}")
    if not isinstance(model, torch.nn.Module):
        die(f"{spec}: did not give a torch.nn.Module (got {type(model).__name__})")
    try:
        model.eval()
    except Exception as e:
        # PyTorch 2.15 unpickles converted quantized modules without their
        # Module state (AttributeError: ... no attribute '_modules').
        die(
            f"{spec}: the loaded model is unusable in PyTorch {torch.__version__} ({first_line(e)}); "
            "save its state_dict() and give MODEL as FILE.py:FUNCTION with --state-dict"
        )
    dynamic = [f"{n} ({type(m).__name__})" for n, m in model.named_modules()
               if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")]
    if dynamic:
        die(f"{spec}: dynamic quantization ({', '.join(dynamic[:3])}{', ...' if len(dynamic) > 3 else ''}): "
            "float activations, quantized on the fly; qmac needs static int8 activations "
            "(prepare / calibrate or QAT, then convert)")
    return model, module_file


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def kernel_of(kind, groups, cin, cout, k, stride, dilation, padding, engine, w_sym):
    """Which kernel PyTorch runs and the qcase rounding that reproduces it (docs/contract.md §5)."""
    if kind == "linear":
        return "fbgemm GEMM", "fbgemm"
    if engine == "x86" and has_vnni() and groups <= 100 and w_sym:
        return "oneDNN (x86 engine, AVX512-VNNI)", "onednn"
    dw_fast = (
        groups == cin
        and cout in (cin, 2 * cin)
        and cin % 8 == 0
        and k[0] == k[1]
        and k[0] in (3, 5, 7)
        and stride[0] == stride[1]
        and stride[0] in (1, 2)
        and tuple(dilation) == (1, 1)
        and tuple(padding) == ((k[0] - 1) // 2,) * 2
    )
    if dw_fast:
        return "fbgemm depthwise fast path", "fbgemm"
    if k == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0) and groups == 1:
        return "fbgemm GEMM (pointwise)", "fbgemm"
    if groups > 1:
        c_per_g, k_per_g = cin // groups, cout // groups
        gconv = (
            c_per_g == k_per_g
            and c_per_g in (2, 4, 8, 16)
            and k == (3, 3)
            and tuple(padding) == (1, 1)
            and tuple(dilation) == (1, 1)
            and stride[0] == stride[1]
            and stride[0] in (1, 2)
        )
        # fbgemmOptimizedGConv's conditions (its groupwise kernel), im2col otherwise.
        return ("fbgemm groupwise conv" if gconv else "fbgemm GEMM (im2col, grouped)"), "fbgemm"
    return "fbgemm GEMM (im2col)", "fbgemm"


def layer_case(name, mod, kind, relu, x, y, engine, model_spec):
    if not (x.is_quantized and y.is_quantized):
        die(f"layer {name}: input/output is not a quantized tensor")
    dt = {torch.quint8: ("uint8", 0, 255), torch.qint8: ("int8", -128, 127)}
    if x.dtype not in dt or y.dtype not in dt:
        die(f"layer {name}: activation dtype {x.dtype} -> {y.dtype} (expected quint8 or qint8)")
    in_dtype, _, _ = dt[x.dtype]
    out_dtype, qmin, qmax = dt[y.dtype]
    w = mod.weight()
    b = mod.bias()
    if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        if w.q_per_channel_axis() != 0:
            die(f"layer {name}: per-channel weight axis {w.q_per_channel_axis()} (expected 0)")
        sw = [float(s) for s in w.q_per_channel_scales().tolist()]
        zw = [int(z) for z in w.q_per_channel_zero_points().tolist()]
    else:
        sw = [float(w.q_scale())]
        zw = [int(w.q_zero_point())]
    if any(z != 0 for z in zw):
        die(f"layer {name}: weight zero points {sorted(set(zw))[:4]}: qmac's PyTorch cases take symmetric "
            "weights only (zero point 0, PyTorch's default weight observers); asymmetric weights ran in "
            "PyTorch but qcase's fbgemm / oneDNN emulation does not model them")
    sx, zx = float(x.q_scale()), int(x.q_zero_point())
    sy, zy = float(mod.scale), int(mod.zero_point)
    if float(y.q_scale()) != sy or int(y.q_zero_point()) != zy:
        die(f"layer {name}: output qparams differ from the module's scale / zero_point")
    wi = w.int_repr().to(torch.int64)
    xi = x.int_repr().to(torch.int64)
    yi = y.int_repr().to(torch.int64)
    cout = wi.shape[0]
    case = {}
    if kind == "conv":
        n, cin, h, wd = xi.shape
        g = int(mod.groups)
        kh, kw = int(wi.shape[2]), int(wi.shape[3])
        stride = [int(s) for s in mod.stride]
        dil = [int(d) for d in mod.dilation]
        ph, pw = (int(p) for p in mod.padding)
        if g == cin and cout % cin == 0 and g > 1:
            op, filt, dm, groups = "depthwise_conv2d", wi.permute(1, 2, 3, 0), cout // cin, 1
        else:
            # groups = 1, or a grouped conv: filter [Cout, KH, KW, Cin/groups].
            op, filt, dm, groups = "conv2d", wi.permute(0, 2, 3, 1), 1, g
        kernel, rounding = kernel_of(kind, g, cin, cout, (kh, kw), stride, dil, (ph, pw), engine, True)
        xin, yout = nhwc(xi), nhwc(yi)
        case.update(
            op=op,
            input_shape=list(xin.shape),
            filter_shape=list(filt.shape),
            output_shape=list(yout.shape),
            stride=stride,
            dilation=dil,
            padding=[ph, ph, pw, pw],
            depth_multiplier=dm,
        )
        if groups != 1:
            case["groups"] = groups
    else:
        k = int(wi.shape[1])
        xin = xi.reshape(-1, 1, 1, k)
        yout = yi.reshape(-1, 1, 1, cout)
        filt = wi.reshape(cout, 1, 1, k)
        kernel, rounding = kernel_of(kind, 1, k, cout, (1, 1), (1, 1), (1, 1), (0, 0), engine, True)
        case.update(
            op="fully_connected",
            input_shape=list(xin.shape),
            filter_shape=list(filt.shape),
            output_shape=list(yout.shape),
        )
    mult, shift = [], []
    for c, s in enumerate(sw):
        m0, e = quantize_multiplier(sx * s / sy)
        if e > 30:
            die(f"layer {name}: channel {c}: multiplier S_x*S_w/S_y = {sx * s / sy} needs shift {e} > 30")
        mult.append(m0)
        shift.append(e)
    bias_f = None if b is None else b.detach().to(torch.float32)
    if bias_f is not None and bias_f.numel() > 0 and bool((bias_f == 0).all()):
        warn(
            f"layer {name}: its bias is all zeros (an untrained or freshly initialised model?): "
            "the case then does not test the bias path; export a trained model"
        )
    bias_i = None
    if bias_f is not None:
        bias_i = []
        for c, v in enumerate(bias_f.tolist()):
            q = round_half_away(v / (sx * sw[c if len(sw) > 1 else 0]))
            if not INT32_MIN <= q <= INT32_MAX:
                die(f"layer {name}: channel {c}: int32 bias {q} out of range")
            bias_i.append(q)
    case.update(
        source=(
            f"PyTorch {torch.__version__} {type(mod).__name__} '{name}' of {model_spec}, "
            f"engine {engine}, kernel {kernel}"
        ),
        input_zero_point=zx,
        filter_zero_point=0,
        output_zero_point=zy,
        input_scale=sx,
        filter_scales=sw,
        output_scale=sy,
        act_min=max(qmin, zy) if relu else qmin,
        act_max=qmax,
        multiplier=mult,
        shift=shift,
        rounding=rounding,
        input_dtype=in_dtype,
        output_dtype=out_dtype,
    )
    arrays = {
        "input": xin.numpy().astype(np.uint8 if in_dtype == "uint8" else np.int8),
        "filter": filt.contiguous().numpy().astype(np.int8),
        "output": yout.numpy().astype(np.uint8 if out_dtype == "uint8" else np.int8),
    }
    if bias_i is not None:
        arrays["bias"] = np.array(bias_i, dtype=np.int32)
        arrays["bias_float"] = bias_f.numpy().astype(np.float32)
    return case, arrays, kernel


def torch_vector_bytes():
    """The vector width PyTorch's ATen kernels run with on this CPU."""
    cap = torch.backends.cpu.get_cpu_capability()
    widths = {"AVX512": 64, "AVX2": 32}
    if cap not in widths:
        die(f"ATen CPU capability {cap}: qmac emulates PyTorch's AVX512 and AVX2 elementwise kernels only")
    return widths[cap]


def channels_last(t):
    """Laid out channels-last and not also contiguous (the memory order an
    elementwise kernel walks; when both hold, the two orders coincide)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def nhwc_kernel(t):
    """PyTorch's cat and pooling take their channels-last kernels when the
    input is channels-last contiguous, whether or not it is also NCHW
    contiguous (a tensor of one channel or one pixel is both)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)


def elementwise_case(name, op, relu, xs, y, model_spec, bn=None):
    """An elementwise step (add / add_relu / mul / cat of two inputs along
    channels, or a batch_norm of one with the BatchNorm2d module `bn`) as a
    qcase (docs/qcase.md section 4), or (None, reason)."""
    dt = {torch.quint8: ("uint8", 0, 255), torch.qint8: ("int8", -128, 127)}
    if op == "batch_norm":
        return batch_norm_case(name, relu, xs[0], y, bn, model_spec)
    if op == "hardswish":
        return hardswish_case(name, xs[0], y, model_spec)
    if op in ("avg_pool", "adaptive_avg_pool"):
        return pool_case(name, op, xs[0], y, bn, model_spec)
    if len(xs) != 2:
        return None, f"{op} of {len(xs)} inputs (qcase's {op} takes two)"
    a, b = xs
    for t in (a, b, y):
        if not (isinstance(t, torch.Tensor) and t.is_quantized and t.qscheme() == torch.per_tensor_affine):
            return None, f"{op} of a tensor that is not per-tensor quantized"
        if t.dim() != 4:
            return None, f"{op} of {t.dim()}-D tensors (qcase's elementwise cases are 4-D NCHW)"
    if not (a.dtype == b.dtype == y.dtype) or a.dtype not in dt:
        return None, f"{op} of {a.dtype}, {b.dtype} -> {y.dtype} (one dtype, quint8 or qint8)"
    dtype, qmin, qmax = dt[a.dtype]
    if op == "cat":
        if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
            return None, "cat along a dimension other than channels"
        layout = "nhwc" if nhwc_kernel(a) and nhwc_kernel(b) else "nchw"
    else:
        if a.shape != b.shape:
            return None, f"{op} with broadcasting ({list(a.shape)} and {list(b.shape)}; qcase takes equal shapes)"
        if channels_last(a) != channels_last(b):
            return None, f"{op} of one channels-last and one contiguous tensor"
        layout = "nhwc" if channels_last(a) else "nchw"
    zo = int(y.q_zero_point())
    case = dict(
        source=f"PyTorch {torch.__version__} QFunctional.{op}{'_relu' if relu else ''} '{name}' of {model_spec}, "
               f"ATen {torch.backends.cpu.get_cpu_capability()} kernel, {layout}",
        op=op,
        input_shape=list(nhwc(a).shape),
        input2_shape=list(nhwc(b).shape),
        output_shape=list(nhwc(y).shape),
        input_zero_point=int(a.q_zero_point()),
        input2_zero_point=int(b.q_zero_point()),
        output_zero_point=zo,
        input_scale=float(np.float32(a.q_scale())),
        input2_scale=float(np.float32(b.q_scale())),
        output_scale=float(np.float32(y.q_scale())),
        act_min=max(qmin, zo) if relu else qmin,
        act_max=qmax,
        rounding="torch",
        input_dtype=dtype,
        output_dtype=dtype,
        torch_vector_bytes=torch_vector_bytes(),
        torch_layout=layout,
    )
    for t in (a, b, y):
        if float(np.float32(t.q_scale())) != float(t.q_scale()):
            return None, f"{op}: scale {t.q_scale()!r} is not a float32 value"
    npdt = np.uint8 if dtype == "uint8" else np.int8
    arrays = {
        "input": nhwc(a.int_repr()).numpy().astype(npdt),
        "input2": nhwc(b.int_repr()).numpy().astype(npdt),
        "output": nhwc(y.int_repr()).numpy().astype(npdt),
    }
    return (case, arrays), None


def pair(v):
    return [int(v), int(v)] if isinstance(v, int) else [int(t) for t in v]


def unary_case(name, op, x, y, model_spec, kernel, layout, relu=False, fields=None, params=None):
    """A one-input elementwise step (hardswish, batch_norm, pooling) as a
    qcase: the checks and fields they share, then `fields` and the float
    `params` arrays of the op. (case, arrays) or (None, reason)."""
    dt = {torch.quint8: ("uint8", 0, 255), torch.qint8: ("int8", -128, 127)}
    for t in (x, y):
        if not (isinstance(t, torch.Tensor) and t.is_quantized and t.qscheme() == torch.per_tensor_affine):
            return None, f"{op} of a tensor that is not per-tensor quantized"
        if float(np.float32(t.q_scale())) != float(t.q_scale()):
            return None, f"{op}: scale {t.q_scale()!r} is not a float32 value"
    if x.dim() != 4 or x.dtype != y.dtype or x.dtype not in dt:
        return None, f"{op} of a {x.dim()}-D {x.dtype} tensor (4-D quint8 / qint8 only)"
    dtype, qmin, qmax = dt[x.dtype]
    zo = int(y.q_zero_point())
    case = dict(
        source=f"PyTorch {torch.__version__} {kernel} '{name}' of {model_spec}, "
               f"ATen {torch.backends.cpu.get_cpu_capability()} kernel, {layout}",
        op=op,
        input_shape=list(nhwc(x).shape),
        output_shape=list(nhwc(y).shape),
        input_zero_point=int(x.q_zero_point()),
        output_zero_point=zo,
        input_scale=float(np.float32(x.q_scale())),
        output_scale=float(np.float32(y.q_scale())),
        act_min=max(qmin, zo) if relu else qmin,
        act_max=qmax,
        rounding="torch",
        input_dtype=dtype,
        output_dtype=dtype,
        torch_vector_bytes=torch_vector_bytes(),
        torch_layout=layout,
        **(fields or {}),
    )
    npdt = np.uint8 if dtype == "uint8" else np.int8
    arrays = {
        "input": nhwc(x.int_repr()).numpy().astype(npdt),
        **(params or {}),
        "output": nhwc(y.int_repr()).numpy().astype(npdt),
    }
    return (case, arrays), None


def pool_case(name, op, x, y, mod, model_spec):
    """An AvgPool2d / AdaptiveAvgPool2d on a quantized tensor as a pool qcase."""
    layout = "nhwc" if nhwc_kernel(x) else "nchw"
    fields = {}
    if op == "adaptive_avg_pool":
        if layout == "nchw":
            return None, "adaptive average pooling of a contiguous (NCHW) tensor (qmac emulates PyTorch's channels-last kernel)"
    else:
        if getattr(mod, "ceil_mode", False):
            return None, "avg_pool with ceil_mode=True (qcase's avg_pool takes floor windows)"
        fields = dict(
            pool_kernel=pair(mod.kernel_size),
            pool_stride=pair(mod.stride if mod.stride is not None else mod.kernel_size),
            pool_padding=pair(mod.padding),
            count_include_pad=bool(mod.count_include_pad),
        )
        if mod.divisor_override is not None:
            fields["divisor_override"] = int(mod.divisor_override)
    return unary_case(name, op, x, y, model_spec, type(mod).__name__, layout, fields=fields)


def hardswish_case(name, x, y, model_spec):
    """A quantized Hardswish call as a hardswish qcase."""
    layout = "nhwc" if channels_last(x) else "nchw"
    return unary_case(name, "hardswish", x, y, model_spec, "Hardswish", layout)


def batch_norm_case(name, relu, x, y, bn, model_spec):
    """A quantized BatchNorm2d (BNReLU2d) call as a batch_norm qcase."""
    params = {}
    for field, t in (("bn_weight", bn.weight), ("bn_bias", bn.bias), ("bn_mean", bn.running_mean),
                     ("bn_var", bn.running_var)):
        if t is None:
            return None, f"batch_norm without {field[3:]} (qcase needs weight, bias and running statistics)"
        params[field] = t.detach().to(torch.float32).numpy().astype(np.float32)
    return unary_case(name, "batch_norm", x, y, model_spec, type(bn).__name__, "nhwc", relu=relu,
                      fields=dict(bn_eps=float(bn.eps)), params=params)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            die(f"non-finite value {v}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


ORDER = [
    "source", "op", "input_shape", "input2_shape", "filter_shape", "output_shape", "stride", "dilation",
    "padding", "depth_multiplier", "groups", "input_zero_point", "input2_zero_point", "filter_zero_point",
    "output_zero_point", "input_scale", "input2_scale", "filter_scales", "output_scale", "act_min",
    "act_max", "multiplier", "shift", "rounding", "input_dtype", "output_dtype", "torch_vector_bytes",
    "torch_layout", "bn_eps", "pool_kernel", "pool_stride", "pool_padding", "count_include_pad",
    "divisor_override",
]


def write_case(d, case, arrays, txt):
    os.makedirs(d)
    lines = [f"{k} = {toml_value(case[k])}" for k in ORDER if k in case]
    for field, arr in arrays.items():
        fname = f"{field}.txt" if txt else f"{field}.npy"
        path = os.path.join(d, fname)
        if txt:
            flat = arr.reshape(-1)
            if arr.dtype.kind == "f":
                body = "\n".join(repr(float(v)) for v in flat)
            else:
                body = "\n".join(str(int(v)) for v in flat)
            # One value per line and nothing else (a C fscanf("%d") loop
            # reads it); the shape is in case.toml.
            with open(path, "w") as f:
                f.write(f"{body}\n")
            lines.append(f"# {fname}: shape {list(arr.shape)}, row-major, one value per line")
        else:
            np.save(path, arr)
        lines.append(f"{field} = {json.dumps(fname)}")
    if "filter" in arrays and "bias" not in arrays:
        lines.append("# no bias")
    with open(os.path.join(d, "case.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def rerun(kind, relu, mod, x, engine):
    """The layer recomputed with its weights prepacked on `engine`."""
    prev = torch.backends.quantized.engine
    try:
        torch.backends.quantized.engine = engine
        w, b = mod.weight(), mod.bias()
        q = torch.ops.quantized
        if kind == "conv":
            packed = q.conv2d_prepack(w, b, list(mod.stride), list(mod.padding), list(mod.dilation), int(mod.groups))
            return (q.conv2d_relu if relu else q.conv2d)(x, packed, float(mod.scale), int(mod.zero_point))
        packed = q.linear_prepack(w, b)
        return (q.linear_relu if relu else q.linear)(x, packed, float(mod.scale), int(mod.zero_point))
    finally:
        torch.backends.quantized.engine = prev


def check_supported(name, kind, mod):
    """What qcase cannot describe, refused before anything is recomputed."""
    if kind == "conv":
        if mod.padding_mode != "zeros":
            die(f"layer {name}: padding_mode {mod.padding_mode!r} (only zero padding)")
        if isinstance(mod.padding, str):
            die(f"layer {name}: string padding {mod.padding!r}")


def engine_that_ran(name, kind, relu, mod, x, y, call_engine):
    """The quantized engine whose kernel reproduces the captured output bit
    for bit: the engine current at call time first, then the others. The
    engine is fixed when the weights were prepacked, which a model's own
    code may have done on another engine than --engine."""
    supported = torch.backends.quantized.supported_engines
    order = [call_engine] + [e for e in ("fbgemm", "x86", "onednn", "qnnpack") if e != call_engine]
    for e in order:
        if e not in supported:
            continue
        try:
            again = rerun(kind, relu, mod, x, e)
        except Exception:
            continue
        if torch.equal(again.int_repr(), y.int_repr()):
            if e not in ("fbgemm", "x86"):
                die(f"layer {name}: ran on the {e} engine, whose requantization qmac does not emulate "
                    "(load the model on fbgemm or x86: --engine)")
            return e
    die(f"layer {name}: no quantized engine reproduces its captured output (call-time engine {call_engine})")


# Why a quantized module that ran is not exported (by class name); the
# default is NOT_EXPORTED.
NOT_EXPORTED = "no qcase op for it"
REASONS = {
    "Quantize": "the model input's float -> int quantization, not a layer",
    "DeQuantize": "int -> float at the model output, not a layer",
    "ReLU6": "quantized ReLU6 (a clamp, no qcase op; fuse a ReLU into the conv instead)",
    "ReLU": "ReLU on a quantized tensor (a clamp at the zero point; fuse it into the conv)",
    "MaxPool2d": "max pooling (no requantization, no qcase op)",
    "Flatten": "a shape op (no arithmetic)",
}
# Leaf modules that do nothing at inference (a fused ReLU's placeholder,
# dropout in eval): not listed.
SILENT = {"Identity", "Dropout"}


def functional_reason(op):
    return f"FloatFunctional / QFunctional {op} (a requantizing step; qcase has no {op} op)"


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Export the quantized conv / linear layers of a converted PyTorch model as qcase directories.",
    )
    ap.add_argument("model", help="FILE.py:FUNCTION (returns the converted model) or FILE.pt (torch.save of it)")
    ap.add_argument("out_dir")
    ap.add_argument("--input", action="append",
                    help="float32 .npy sample input; repeat for several (default: FILE.py's "
                         "example_inputs() or example_input())")
    ap.add_argument("--state-dict", help="converted model's state dict to load (with FILE.py:FUNCTION)")
    ap.add_argument("--engine", choices=["fbgemm", "x86"], default="fbgemm",
                    help="quantized engine to load (prepack) the model on (default fbgemm)")
    ap.add_argument("--txt", action="store_true", help="seed-style one-value-per-line .txt arrays instead of .npy")
    ap.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    ap.add_argument("--verbose", action="store_true", help="print the traceback of an error in the model's code")
    a = ap.parse_args()
    VERBOSE = a.verbose

    # Cheap checks first: importing torch takes seconds.
    if a.model.endswith(".py"):
        die(f"{a.model}: a Python file needs the function that returns the converted model: "
            f"MODEL is FILE.py:FUNCTION (e.g. {a.model}:build)")
    model_file = a.model.rsplit(":", 1)[0] if a.model.rsplit(":", 1)[0].endswith(".py") else a.model
    for f in (model_file, a.state_dict, *(a.input or [])):
        if f is not None and not os.path.isfile(f):
            die(f"{f}: no such file")
    out_dir = os.path.normpath(a.out_dir)
    out_abs = os.path.realpath(out_dir)
    cwd = os.path.realpath(os.getcwd())
    if cwd == out_abs or cwd.startswith(out_abs + os.sep):
        die(f"{out_dir}: is the current directory or holds it; give a new directory for the export")
    for f in (model_file, a.state_dict, *(a.input or [])):
        if f is not None and os.path.realpath(f).startswith(out_abs + os.sep):
            die(f"{out_dir}: holds the input {f}; give another directory for the export")
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            die(f"{out_dir}: exists and is not a directory")
        if os.listdir(out_dir):
            if not a.force:
                die(f"{out_dir}: not empty (use --force to replace an earlier export there)")
            if not earlier_export(out_dir):
                die(f"{out_dir}: not empty and not an export of {PROG} (no index.json of it); "
                    "--force replaces only an earlier export, so nothing was deleted")
    import_torch()
    if a.engine not in torch.backends.quantized.supported_engines:
        die(f"engine {a.engine} is not supported by this PyTorch build")
    model, module_file = load_model(a.model, a.state_dict, a.engine)

    samples = []
    if a.input:
        for f in a.input:
            try:
                sample = np.load(f, allow_pickle=False)
            except Exception as e:
                die(f"{f}: cannot read .npy: {first_line(e)}")
            if sample.dtype.kind != "f":
                die(f"{f}: dtype {sample.dtype}; the sample input must be float")
            samples.append((f, torch.from_numpy(sample.astype(np.float32))))
    elif module_file is not None and hasattr(module_file, "example_inputs"):
        try:
            got = list(module_file.example_inputs())
        except Exception as e:
            user_error(f"{model_file}: example_inputs() failed", e)
        if not got:
            die(f"{model_file}: example_inputs() returned no sample")
        samples = [(f"example_inputs()[{k}]", x) for k, x in enumerate(got)]
    elif module_file is not None and hasattr(module_file, "example_input"):
        try:
            samples = [("example_input()", module_file.example_input())]
        except Exception as e:
            user_error(f"{model_file}: example_input() failed", e)
    else:
        die("no sample input: give --input SAMPLE.npy")

    captured = []
    captured_elt = []  # (name, op, relu, inputs, output, BatchNorm2d or None): add / mul / cat / batch_norm
    ran_not_exported = {}  # name -> reason, in first-run order
    hooks = []
    for name, mod in model.named_modules():
        if type(mod) in LAYERS:
            kind, relu = LAYERS[type(mod)]

            def hook(m, inp, out, name=name, kind=kind, relu=relu):
                captured.append((name, m, kind, relu, inp[0].detach(), out.detach(),
                                 torch.backends.quantized.engine))

            hooks.append(mod.register_forward_hook(hook))
        elif type(mod) in (torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d):
            op_name = "avg_pool" if type(mod) is torch.nn.AvgPool2d else "adaptive_avg_pool"

            def pool_hook(m, inp, out, name=name, op_name=op_name):
                if inp and isinstance(inp[0], torch.Tensor) and inp[0].is_quantized:
                    captured_elt.append((name, op_name, False, [inp[0].detach()], out.detach(), m))

            hooks.append(mod.register_forward_hook(pool_hook))
        elif type(mod) is nnq.Hardswish:
            def hs_hook(m, inp, out, name=name):
                captured_elt.append((name, "hardswish", False, [inp[0].detach()], out.detach(), m))

            hooks.append(mod.register_forward_hook(hs_hook))
        elif type(mod) in BATCH_NORMS:
            def bn_hook(m, inp, out, name=name, relu=BATCH_NORMS[type(mod)]):
                captured_elt.append((name, "batch_norm", relu, [inp[0].detach()], out.detach(), m))

            hooks.append(mod.register_forward_hook(bn_hook))
        elif isinstance(mod, torch.ao.nn.quantized.QFunctional):
            for op in ("add", "add_relu", "add_scalar", "mul", "mul_relu", "mul_scalar", "cat", "matmul"):
                orig = getattr(mod, op, None)
                if orig is None:
                    continue

                def wrapped(*args, _orig=orig, _name=name, _op=op, **kw):
                    y = _orig(*args, **kw)
                    if _op in ("add", "add_relu", "mul", "mul_relu"):
                        xs = [args[0], args[1]] if len(args) >= 2 else [kw.get("x"), kw.get("y")]
                        captured_elt.append((_name, _op.replace("_relu", ""), _op.endswith("_relu"),
                                             [t.detach() for t in xs], y.detach(), None))
                    elif _op == "cat":
                        xs = list(args[0] if args else kw.get("x"))
                        dim = args[1] if len(args) > 1 else kw.get("dim", 0)
                        if dim not in (1, -3) or any(t.dim() != 4 for t in xs):
                            ran_not_exported.setdefault(f"{_name}.cat", f"cat along dim {dim} (qcase's cat joins the channels of 4-D tensors)")
                        else:
                            captured_elt.append((_name, "cat", False, [t.detach() for t in xs], y.detach(), None))
                    else:
                        ran_not_exported.setdefault(f"{_name}.{_op}", functional_reason(_op))
                    return y

                setattr(mod, op, wrapped)
        elif not list(mod.children()):
            def seen(m, inp, out, name=name):
                if type(m).__name__ in SILENT:
                    return
                if inp and isinstance(inp[0], torch.Tensor) and inp[0].is_quantized or (
                        isinstance(out, torch.Tensor) and out.is_quantized):
                    ran_not_exported.setdefault(name, REASONS.get(type(m).__name__, NOT_EXPORTED)
                                                + f" [{type(m).__name__}]")

            hooks.append(mod.register_forward_hook(seen))
    runs = []
    # One thread: ATen's elementwise kernels then walk each tensor in one
    # piece (the vectorized loop and its scalar tail are where the case says).
    torch.set_num_threads(1)
    for label, sample in samples:
        start, start_elt = len(captured), len(captured_elt)
        try:
            with torch.no_grad():
                model(sample)
        except Exception as e:
            user_error(f"running the model on {label} failed", e)
        runs.append((label, captured[start:], captured_elt[start_elt:]))
    for h in hooks:
        h.remove()
    if not captured:
        die(f"{a.model}: no quantized Conv2d / ConvReLU2d / Linear / LinearReLU layer ran (is the model converted?)")

    # All or nothing: build the export in a temporary sibling, rename at the end.
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.partial-", dir=parent)
    # mkdtemp makes it private (0700); the export gets the usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        index = []
        for k, (label, calls_of_run, elt_of_run) in enumerate(runs):
            calls = {}
            for name, mod, kind, relu, x, y, call_engine in calls_of_run:
                calls[name] = calls.get(name, 0) + 1
                dname = name.replace(".", "_") + ("" if calls[name] == 1 else f"_call{calls[name]}")
                if len(runs) > 1:
                    dname += f"_s{k}"
                check_supported(name, kind, mod)
                engine = engine_that_ran(name, kind, relu, mod, x, y, call_engine)
                case, arrays, kernel = layer_case(name, mod, kind, relu, x, y, engine, a.model)
                if engine != a.engine:
                    warn(f"layer {name} ran on the {engine} engine (its weights were prepacked there), "
                         f"not --engine {a.engine}: its case says engine {engine}, kernel {kernel}, "
                         f"rounding {case['rounding']}")
                write_case(os.path.join(tmp, dname), case, arrays, a.txt)
                index.append({"file": dname, "layer": name, "op": case["op"], "kernel": kernel,
                              "engine": engine, "rounding": case["rounding"], "sample": label,
                              "outputs": int(arrays["output"].size)})
                print(f"{dname:<24} {case['op']:<17} {kernel:<34} outputs {arrays['output'].size}")
            for name, op, relu, xs, y, bn in elt_of_run:
                key = f"{name}.{op}" if bn is None else name
                calls[key] = calls.get(key, 0) + 1
                dname = (name.replace(".", "_") + ("" if bn is not None else f"_{op}")
                         + ("" if calls[key] == 1 else f"_call{calls[key]}"))
                if len(runs) > 1:
                    dname += f"_s{k}"
                made, why = elementwise_case(name, op, relu, xs, y, a.model, bn)
                if made is None:
                    ran_not_exported.setdefault(key, why)
                    continue
                case, arrays = made
                write_case(os.path.join(tmp, dname), case, arrays, a.txt)
                kernel = f"ATen {op}{'_relu' if relu else ''} ({case['torch_layout']})"
                index.append({"file": dname, "layer": name, "op": op, "kernel": kernel,
                              "rounding": "torch", "sample": label, "outputs": int(arrays["output"].size)})
                print(f"{dname:<24} {op:<17} {kernel:<34} outputs {arrays['output'].size}")
        with open(os.path.join(tmp, "index.json"), "w") as f:
            json.dump({"source": f"scripts/export_torch.py {a.model} (PyTorch {torch.__version__}, engine {a.engine})",
                       "cases": index}, f, indent=1)
            f.write("\n")
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for name, reason in ran_not_exported.items():
        print(f"note: not exported: {name}: {reason}", file=sys.stderr)
    n_elt = sum(1 for e in index if e["rounding"] == "torch")
    print(f"{len(index) - n_elt} layer case(s) and {n_elt} elementwise case(s) written to {out_dir}; run: qmac layer {os.path.join(out_dir, 'index.json')}")


if __name__ == "__main__":
    main()
