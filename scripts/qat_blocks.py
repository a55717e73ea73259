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
from tiny_qat import QUADRANTS, batch, train_cli  # noqa: E402  (the same task and training)


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
    # One thread: the training is then the same on every machine.
    train_cli("qat_blocks.py", __doc__, prepared, example_input, "qat_blocks.pt", "blocks_sample.npy",
              default_seed=3, threads=1)


if __name__ == "__main__":
    main()
