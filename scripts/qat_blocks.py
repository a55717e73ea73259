#!/usr/bin/env python3
"""Train a small quantization-aware (QAT) PyTorch model with the blocks of
real networks and convert it.

    scripts/qat_blocks.py OUT_DIR [--seed S] [--steps N] [--batch B] [--force]

The model (BlockNet) is the one behind tests/fixtures/torch/qat_blocks:
QuantStub -> Conv2d 3->16 3x3 + ReLU -> a ResNeXt-style residual block
(grouped Conv2d 16->16 3x3, groups 4, + ReLU; Conv2d 1x1; add_relu with the
block's input) -> cat with a 1x1 ReLU branch (24 channels) -> a gate: the
cat multiplied (mul) by a 1x1 Conv2d of itself, then add-ed back to it ->
grouped Conv2d 24->16 3x3 stride 2, groups 8 -> AdaptiveAvgPool2d(2) ->
Linear 64->4 -> DeQuantStub, on 1x3x8x8 inputs. The add / add_relu / mul /
cat are FloatFunctional modules (QFunctional once converted), the way eager
PyTorch models quantize them. Trained with PyTorch's default fbgemm QAT
qconfig (per-channel symmetric qint8 weights, quint8 activations with
reduce_range) on the synthetic task of scripts/tiny_qat.py (which quadrant
holds a bright patch), converted on the fbgemm engine.

Writes OUT_DIR/qat_blocks.pt (the converted model's state dict) and
OUT_DIR/blocks_sample.npy (a float32 batch of 2 inputs). Export its layers
and elementwise steps with:

    scripts/export_torch.py scripts/qat_blocks.py:build_quantized OUT \\
        --state-dict OUT_DIR/qat_blocks.pt --input OUT_DIR/blocks_sample.npy

Needs torch and numpy (pip install torch numpy).
"""

import argparse
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.ao.quantization as tq

warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao")
warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
warnings.filterwarnings("ignore", message=r".*quantized tensor creation.*")
warnings.filterwarnings("ignore", message=r".*TypedStorage is deprecated.*")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_qat import QUADRANTS, batch  # noqa: E402  (the same synthetic task)


class BlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.stem_relu = nn.ReLU()
        self.gconv = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.gconv_relu = nn.ReLU()
        self.proj = nn.Conv2d(16, 16, 1)
        self.res = nn.quantized.FloatFunctional()
        self.branch = nn.Conv2d(16, 8, 1)
        self.branch_relu = nn.ReLU()
        self.join = nn.quantized.FloatFunctional()
        self.gate = nn.Conv2d(24, 24, 1)
        self.scale = nn.quantized.FloatFunctional()
        self.skip = nn.quantized.FloatFunctional()
        self.down = nn.Conv2d(24, 16, 3, stride=2, padding=1, groups=8)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, QUADRANTS)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.stem_relu(self.stem(x))
        r = self.proj(self.gconv_relu(self.gconv(x)))
        x = self.res.add_relu(x, r)
        x = self.join.cat([x, self.branch_relu(self.branch(x))], dim=1)
        g = self.scale.mul(x, self.gate(x))
        x = self.skip.add(x, g)
        x = self.pool(self.down(x))
        x = torch.flatten(x, 1)
        return self.dequant(self.fc(x))


FUSE = [["stem", "stem_relu"], ["gconv", "gconv_relu"], ["branch", "branch_relu"]]


def prepared(engine="fbgemm"):
    m = BlockNet()
    m.train()
    m = tq.fuse_modules_qat(m, FUSE)
    m.qconfig = tq.get_default_qat_qconfig(engine)
    tq.prepare_qat(m, inplace=True)
    return m


def build_quantized():
    """The converted (quantized) BlockNet structure, to load a state dict into."""
    m = prepared(torch.backends.quantized.engine)
    m.eval()
    with torch.no_grad():
        m(torch.zeros(1, 3, 8, 8))
    return tq.convert(m)


def example_input():
    gen = torch.Generator().manual_seed(54321)
    return batch(gen, 2)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--force", action="store_true", help="replace existing files")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    model_path = os.path.join(a.out_dir, "qat_blocks.pt")
    sample_path = os.path.join(a.out_dir, "blocks_sample.npy")
    for p in (model_path, sample_path):
        if os.path.exists(p) and not a.force:
            print(f"qat_blocks.py: {p}: exists (use --force to replace it)", file=sys.stderr)
            sys.exit(2)
    torch.backends.quantized.engine = "fbgemm"
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(a.seed)
    m = prepared("fbgemm")
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(a.steps):
        x, y = batch(gen, a.batch)
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        opt.step()
        if step == a.steps * 3 // 4:
            m.apply(tq.disable_observer)
            m.apply(torch.ao.nn.intrinsic.qat.freeze_bn_stats)
    m.eval()
    q = tq.convert(m)
    xt, yt = batch(gen, 256)
    with torch.no_grad():
        acc = (q(xt).argmax(1) == yt).float().mean().item()
    torch.save(q.state_dict(), model_path)
    np.save(sample_path, example_input().numpy().astype(np.float32))
    print(
        f"qat_blocks.py: {a.steps} QAT steps, quantized accuracy {acc:.3f} on 256 held-out inputs; "
        f"wrote {model_path} and {sample_path}"
    )


if __name__ == "__main__":
    main()
