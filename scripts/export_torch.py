#!/usr/bin/env python3
"""Export every quantized Conv2d / ConvReLU2d / Linear / LinearReLU layer of a
converted eager-mode PyTorch model as a qcase directory (docs/qcase.md).

    scripts/export_torch.py MODEL OUT_DIR [--input SAMPLE.npy] [--state-dict SD.pt]
                            [--engine fbgemm|x86] [--txt] [--force]

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

SAMPLE.npy is a float32 array the model's forward takes (e.g. N x C x H x W).
Without --input, MODEL's FILE.py must define example_input().

The model is loaded on the --engine (default fbgemm) quantized engine; the
engine is fixed when the weights are prepacked, which happens on loading.
With fbgemm every layer runs fbgemm (rounding "fbgemm"). With x86, Linear
runs fbgemm and Conv2d runs oneDNN on CPUs with AVX512-VNNI (rounding
"onednn", which the golden model does not emulate), fbgemm otherwise.

For each call of each layer, OUT_DIR/NAME/ gets case.toml and .npy arrays
(seed-style one-value-per-line .txt with --txt): the int input, weights in the
qcase layouts (conv [Cout,KH,KW,Cin], depthwise [1,KH,KW,Cout], FC
[Cout,1,1,K]), the int32 bias round_half_away(bias_f / (S_x * S_w[c])), the
float bias (fbgemm adds the float one), the scales and zero points, the
activation bounds of a fused ReLU, M0 / shift from TFLite's QuantizeMultiplier
of double(S_x)*double(S_w[c])/double(S_y), and PyTorch's own output as
`output`. OUT_DIR/index.json lists the cases: run them with
`qmac layer OUT_DIR/index.json`.

Exit codes: 0 written, 2 bad input or an unsupported model (one line on stderr).
"""

import argparse
import importlib.util
import json
import math
import os
import shutil
import sys
import warnings

PROG = "export_torch.py"


def first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def die(msg):
    """Bad input or an unsupported model: one line on stderr, exit 2."""
    msg = " ".join(str(msg).split("\n"))
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(2)


np = torch = nnq = nniq = None  # imported by import_torch(), after the arguments are checked
LAYERS = {}


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
        s.loader.exec_module(mod)
        if not hasattr(mod, fn):
            die(f"{path}: defines no function `{fn}`")
        model = getattr(mod, fn)()
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
        die(f"layer {name}: weight zero points {sorted(set(zw))}; qcase and fbgemm need symmetric weights (0)")
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
        if mod.padding_mode != "zeros":
            die(f"layer {name}: padding_mode {mod.padding_mode!r} (only zero padding)")
        if isinstance(mod.padding, str):
            die(f"layer {name}: string padding {mod.padding!r}")
        n, cin, h, wd = xi.shape
        g = int(mod.groups)
        kh, kw = int(wi.shape[2]), int(wi.shape[3])
        stride = [int(s) for s in mod.stride]
        dil = [int(d) for d in mod.dilation]
        ph, pw = (int(p) for p in mod.padding)
        if g == 1:
            op, filt, dm = "conv2d", wi.permute(0, 2, 3, 1), 1
        elif g == cin and cout % cin == 0:
            op, filt, dm = "depthwise_conv2d", wi.permute(1, 2, 3, 0), cout // cin
        else:
            die(f"layer {name}: grouped conv with groups={g} (qcase has conv2d and depthwise only)")
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
    "source", "op", "input_shape", "filter_shape", "output_shape", "stride", "dilation",
    "padding", "depth_multiplier", "input_zero_point", "filter_zero_point",
    "output_zero_point", "input_scale", "filter_scales", "output_scale", "act_min",
    "act_max", "multiplier", "shift", "rounding", "input_dtype", "output_dtype",
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
    if "bias" not in arrays:
        lines.append("# no bias")
    with open(os.path.join(d, "case.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Export the quantized conv / linear layers of a converted PyTorch model as qcase directories.",
    )
    ap.add_argument("model", help="FILE.py:FUNCTION (returns the converted model) or FILE.pt (torch.save of it)")
    ap.add_argument("out_dir")
    ap.add_argument("--input", help="float32 .npy sample input (default: FILE.py's example_input())")
    ap.add_argument("--state-dict", help="converted model's state dict to load (with FILE.py:FUNCTION)")
    ap.add_argument("--engine", choices=["fbgemm", "x86"], default="fbgemm",
                    help="quantized engine to load (prepack) the model on (default fbgemm)")
    ap.add_argument("--txt", action="store_true", help="seed-style one-value-per-line .txt arrays instead of .npy")
    ap.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    a = ap.parse_args()

    # Cheap checks first: importing torch takes seconds.
    model_file = a.model.rsplit(":", 1)[0] if a.model.rsplit(":", 1)[0].endswith(".py") else a.model
    for f in (model_file, a.state_dict, a.input):
        if f is not None and not os.path.isfile(f):
            die(f"{f}: no such file")
    if os.path.exists(a.out_dir):
        if not os.path.isdir(a.out_dir):
            die(f"{a.out_dir}: exists and is not a directory")
        if os.listdir(a.out_dir) and not a.force:
            die(f"{a.out_dir}: not empty (use --force to replace its contents)")
    import_torch()
    if a.engine not in torch.backends.quantized.supported_engines:
        die(f"engine {a.engine} is not supported by this PyTorch build")
    model, module_file = load_model(a.model, a.state_dict, a.engine)
    if os.path.isdir(a.out_dir) and os.listdir(a.out_dir):
        shutil.rmtree(a.out_dir)

    if a.input:
        try:
            sample = np.load(a.input, allow_pickle=False)
        except Exception as e:
            die(f"{a.input}: cannot read .npy: {first_line(e)}")
        if sample.dtype.kind != "f":
            die(f"{a.input}: dtype {sample.dtype}; the sample input must be float")
        sample = torch.from_numpy(sample.astype(np.float32))
    elif module_file is not None and hasattr(module_file, "example_input"):
        sample = module_file.example_input()
    else:
        die("no sample input: give --input SAMPLE.npy")

    captured = []
    skipped = []
    hooks = []
    for name, mod in model.named_modules():
        if type(mod) in LAYERS:
            kind, relu = LAYERS[type(mod)]

            def hook(m, inp, out, name=name, kind=kind, relu=relu):
                captured.append((name, m, kind, relu, inp[0].detach(), out.detach()))

            hooks.append(mod.register_forward_hook(hook))
        elif type(mod).__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")) and callable(
            getattr(mod, "weight", None)
        ):
            skipped.append(f"{name} ({type(mod).__name__})")
    try:
        with torch.no_grad():
            model(sample)
    except Exception as e:
        die(f"running the model on the sample input failed: {first_line(e)}")
    for h in hooks:
        h.remove()
    if not captured:
        die(f"{a.model}: no quantized Conv2d / ConvReLU2d / Linear / LinearReLU layer ran (is the model converted?)")

    os.makedirs(a.out_dir, exist_ok=True)
    index = []
    calls = {}
    for name, mod, kind, relu, x, y in captured:
        calls[name] = calls.get(name, 0) + 1
        dname = name.replace(".", "_") + ("" if calls[name] == 1 else f"_call{calls[name]}")
        case, arrays, kernel = layer_case(name, mod, kind, relu, x, y, a.engine, a.model)
        write_case(os.path.join(a.out_dir, dname), case, arrays, a.txt)
        index.append({"file": dname, "layer": name, "op": case["op"], "kernel": kernel,
                      "rounding": case["rounding"], "outputs": int(arrays["output"].size)})
        print(f"{dname:<24} {case['op']:<17} {kernel:<34} outputs {arrays['output'].size}")
    with open(os.path.join(a.out_dir, "index.json"), "w") as f:
        json.dump({"source": f"scripts/export_torch.py {a.model} (PyTorch {torch.__version__}, engine {a.engine})",
                   "cases": index}, f, indent=1)
        f.write("\n")
    for s in skipped:
        print(f"note: not exported (no qcase op): {s}", file=sys.stderr)
    print(f"{len(index)} layer case(s) written to {a.out_dir}; run: qmac layer {os.path.join(a.out_dir, 'index.json')}")


if __name__ == "__main__":
    main()
