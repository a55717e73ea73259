#!/usr/bin/env python3
"""Random PyTorch elementwise steps (add, add_relu, mul, mul_relu, cat, batch_norm, batch_norm_relu, hardswish, avg_pool, adaptive_avg_pool) as
qcase directories, to check qmac's emulation of PyTorch's float32 kernels
against PyTorch itself on data nobody chose.

    scripts/torch_eltwise_probe.py OUT_DIR [--seed S] [--count N] [--force]

Each case runs PyTorch's quantized op (torch.ops.quantized, what QFunctional calls) on random quint8 / qint8 tensors with random
scales and zero points, contiguous (NCHW) or channels-last, with sizes that
exercise the vectorized loops and their scalar tails, and is written the way
scripts/export_torch.py writes a model's steps (OUT_DIR/index.json lists
them). Then: qmac layer OUT_DIR/index.json. Needs torch and numpy.
"""

import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torch as ex  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    if os.path.exists(a.out_dir) and os.listdir(a.out_dir):
        if not a.force:
            ex.die(f"{a.out_dir}: not empty (use --force to replace an earlier probe there)")
        try:
            with open(os.path.join(a.out_dir, "index.json")) as f:
                ours = str(json.load(f).get("source", "")).startswith("scripts/torch_eltwise_probe.py")
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            ex.die(f"{a.out_dir}: not empty and not an earlier probe (no index.json of this script); nothing was deleted")
        shutil.rmtree(a.out_dir)
    ex.import_torch()
    torch, np = ex.torch, ex.np
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    index = []
    for k in range(a.count):
        op = ["add", "add_relu", "mul", "mul_relu", "cat", "batch_norm", "batch_norm_relu", "hardswish",
              "avg_pool", "adaptive_avg_pool"][k % 10]
        dt = torch.quint8 if rng.integers(2) == 0 else torch.qint8
        lo, hi = (0, 256) if dt == torch.quint8 else (-128, 128)
        n, h, w = 1 + int(rng.integers(2)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
        c1 = int(rng.integers(1, 90))
        c2 = int(rng.integers(1, 90)) if op == "cat" else c1
        cl = bool(rng.integers(2))

        def tensor(c):
            s = float(np.float32(rng.uniform(0.002, 0.08)))
            z = int(rng.integers(lo, hi))
            q = torch.tensor(rng.integers(lo, hi, size=(n, c, h, w)), dtype=torch.uint8 if dt == torch.quint8 else torch.int8)
            t = torch._make_per_tensor_quantized_tensor(q, s, z)
            return t.contiguous(memory_format=torch.channels_last) if cl else t

        x, y = tensor(c1), tensor(c2)
        scale = float(np.float32(rng.uniform(0.002, 0.15)))
        zp = int(rng.integers(lo, hi))
        if op == "cat" and k % 10 == 4:
            # One input already in the output's quantization: copied.
            scale, zp = x.q_scale(), x.q_zero_point()
        q = torch.ops.quantized
        bn = None
        if op.startswith("batch_norm"):
            bn = torch.nn.BatchNorm2d(c1, eps=float(rng.choice([1e-5, 1e-3])))
            with torch.no_grad():
                bn.weight.copy_(torch.tensor(rng.normal(1, 0.6, c1), dtype=torch.float32))
                bn.bias.copy_(torch.tensor(rng.normal(0, 0.5, c1), dtype=torch.float32))
                bn.running_mean.copy_(torch.tensor(rng.normal(0, 0.5, c1), dtype=torch.float32))
                bn.running_var.copy_(torch.tensor(rng.uniform(0.05, 2.0, c1), dtype=torch.float32))
            f = q.batch_norm2d_relu if op.endswith("_relu") else q.batch_norm2d
            out = f(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps, scale, zp)
        elif op == "avg_pool":
            kh = int(rng.integers(1, h + 1))
            kw = int(rng.integers(1, w + 1))
            bn = torch.nn.AvgPool2d((kh, kw), stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                                    padding=(int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))),
                                    count_include_pad=bool(rng.integers(2)),
                                    divisor_override=None if rng.integers(4) else int(rng.integers(1, 20)))
            out = bn(x)
        elif op == "adaptive_avg_pool":
            # Channels-last only (the kernel qmac emulates); tiling and not.
            x = x.contiguous(memory_format=torch.channels_last)
            bn = torch.nn.AdaptiveAvgPool2d((int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))))
            out = bn(x)
        elif op == "hardswish":
            out = q.hardswish(x, scale, zp)
        elif op == "cat":
            out = q.cat([x, y], 1, scale, zp)
        else:
            out = getattr(q, op)(x, y, scale, zp)
        made, why = ex.elementwise_case(f"probe{k}", op.replace("_relu", ""), op.endswith("_relu"), [x, y], out,
                                        "scripts/torch_eltwise_probe.py", bn)
        if made is None:
            ex.die(f"case {k}: {why}")
        case, arrays = made
        name = f"e{k:02d}_{op}"
        ex.write_case(os.path.join(a.out_dir, name), case, arrays, False)
        index.append({"file": name, "op": case["op"], "rounding": "torch", "outputs": int(arrays["output"].size)})
    with open(os.path.join(a.out_dir, "index.json"), "w") as fh:
        json.dump({"source": f"scripts/torch_eltwise_probe.py --seed {a.seed} --count {a.count} "
                             f"(PyTorch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()})",
                   "cases": index}, fh, indent=1)
        fh.write("\n")
    print(f"{len(index)} elementwise case(s) written to {a.out_dir}; run: qmac layer {a.out_dir}/index.json")


if __name__ == "__main__":
    main()
