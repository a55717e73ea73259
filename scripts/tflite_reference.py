#!/usr/bin/env python3
"""Reference tensors of an int8 TFLite model, for `qmac model --expect/--tensors`.

    scripts/tflite_reference.py MODEL.tflite INPUT.npy|INPUT.npz OUT_PREFIX [--force] [--resolver reference|builtin]

Runs MODEL on INPUT (int8 .npy of the model input's shape; for a model of
several inputs an .npz with one member t<index>_... per model input, the
keying of the tensors file, which `qmac model --input` reads too) with TFLite's
*reference* kernels (OpResolverType.BUILTIN_REF: the oracle qmac matches; the
default XNNPACK/optimized kernels differ from it by ±1 here and there) and
`experimental_preserve_all_tensors=True`, then writes

    OUT_PREFIX.output.npy   the model's final output (int8, or float32 after a DEQUANTIZE)
    OUT_PREFIX.tensors.npz  the model inputs and every op's output tensor,
                            keyed t<index>_<name> (name: [^A-Za-z0-9_] -> _)

`--resolver builtin` uses TFLite's builtin kernels without the default
(XNNPACK) delegate instead: only for models of pure data-movement ops the
reference resolver cannot load (TFLite 2.21's BUILTIN_REF has no int8
DEPTH_TO_SPACE), where every kernel copies the same values.

Needs TensorFlow (`pip install tensorflow-cpu`). Existing files are never
replaced without --force. Exit 2 on bad input.
"""
import argparse
import os
import re
import sys


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("out_prefix")
    ap.add_argument("--force", action="store_true", help="replace existing output files")
    ap.add_argument("--resolver", choices=["reference", "builtin"], default="reference",
                    help="reference kernels (default), or builtin kernels without delegates (data-movement-only models)")
    a = ap.parse_args()
    try:
        import numpy as np
        import tensorflow as tf
    except ImportError as e:
        fail(f"scripts/tflite_reference.py needs TensorFlow and numpy ({e}): pip install tensorflow-cpu")

    outputs = [a.out_prefix + ".output.npy", a.out_prefix + ".tensors.npz"]
    for p in outputs:
        if os.path.exists(p) and not a.force:
            fail(f"{p}: file: exists; pass --force to overwrite it")
    try:
        x = np.load(a.input)
    except Exception as e:  # numpy raises several types for malformed files
        fail(f"{a.input}: file: not a valid .npy / .npz file: {e}")
    try:
        interp = tf.lite.Interpreter(
            model_path=a.model,
            experimental_op_resolver_type=(
                tf.lite.experimental.OpResolverType.BUILTIN_REF if a.resolver == "reference"
                else tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
            experimental_preserve_all_tensors=True,
        )
        interp.allocate_tensors()
    except Exception as e:
        fail(f"{a.model}: file: TFLite cannot load it: {str(e).splitlines()[0] if str(e) else e}")
    ins = interp.get_input_details()
    outs = interp.get_output_details()
    if not ins or not outs:
        fail(f"{a.model}: subgraph: {len(ins)} inputs and {len(outs)} outputs; at least one of each is needed")
    if isinstance(x, np.ndarray):
        if len(ins) != 1:
            fail(f"{a.input}: file: the model has {len(ins)} inputs; give an .npz with a member t<index>_... for each")
        arrays = [(a.input + ": array", x)]
    else:
        arrays = []
        for d in ins:
            keys = [k for k in x.files if k.startswith(f"t{d['index']}_")]
            if not keys:
                fail(f"{a.input}: member t{d['index']}_*: missing (model input tensor {d['index']} `{d['name']}`)")
            arrays.append((f"{a.input}: member {keys[0]}", x[keys[0]]))
    for d, (label, v) in zip(ins, arrays):
        want = tuple(d["shape"])
        if d["dtype"] != np.int8:
            fail(f"{a.model}: model input: dtype {d['dtype'].__name__}, an int8 model is needed")
        if v.dtype != np.int8:
            fail(f"{label}: dtype {v.dtype}, int8 is needed")
        if v.size != int(np.prod(want)):
            fail(f"{label}: shape {list(v.shape)} does not match the model's {[int(n) for n in want]}")
        interp.set_tensor(d["index"], v.reshape(want))
    interp.invoke()

    names = {d["index"]: d["name"] for d in interp.get_tensor_details()}
    produced = [d["index"] for d in ins]
    for op in interp._get_ops_details():  # every op's outputs, in execution order
        produced.extend(int(i) for i in op["outputs"] if i >= 0)
    tensors = {}
    for i in produced:
        # The name part is cut at 80 characters, as in tests/fixtures/models
        # (qmac matches a tensor by its `t<index>_` prefix only).
        key = f"t{i}_" + re.sub(r"[^A-Za-z0-9_]", "_", names.get(i, ""))[:80]
        tensors[key] = interp.get_tensor(i)
    np.save(outputs[0], interp.get_tensor(outs[0]["index"]))
    np.savez_compressed(outputs[1], **tensors)
    shape = [int(d) for d in outs[0]["shape"]]
    more = f" (output 0 of {len(outs)}; every output is in the tensors)" if len(outs) > 1 else ""
    print(f"{outputs[0]}: output {shape}{more}; {outputs[1]}: {len(tensors)} tensors "
          f"(TensorFlow {tf.__version__}, "
          f"{'BUILTIN_REF' if a.resolver == 'reference' else 'BUILTIN_WITHOUT_DEFAULT_DELEGATES'} kernels)")


if __name__ == "__main__":
    main()
