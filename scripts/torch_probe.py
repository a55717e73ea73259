#!/usr/bin/env python3
"""A post-training-quantized PyTorch probe model for the fbgemm paths a
reduce_range QAT model does not reach (tests/fixtures/torch/probe).

    scripts/export_torch.py scripts/torch_probe.py:build_probe OUT_DIR

build_probe() builds and converts (on the current quantized engine) ProbeNet:
QuantStub -> depthwise 3x3 8->8 + ReLU, per-tensor weights -> depthwise 3x3
8->16 (depth multiplier 2) stride 2, per-channel weights -> 1x1 conv 16->8,
per-tensor weights -> Linear 128->6, per-tensor weights -> DeQuantStub, on
1x8x8x8 inputs. Activations are quint8 over the full [0, 255] range (no
reduce_range), so the depthwise fast path's int16 pair saturation happens, and
per-tensor weights take fbgemm's reciprocal bias forms (fused multiply-add on
GEMM, separate product on the depthwise fast path). Weights and inputs are
seeded, calibration is one batch, so the model is the same on every run.
example_input() is the exported sample (one seeded input, not the calibration batch).
"""

import warnings

import torch
import torch.nn as nn
import torch.ao.quantization as tq

warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao")
warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
warnings.filterwarnings("ignore", message=r".*quantized tensor creation.*")

FULL_RANGE = tq.HistogramObserver.with_args(reduce_range=False)
PER_TENSOR = tq.QConfig(activation=FULL_RANGE, weight=tq.default_weight_observer)
PER_CHANNEL = tq.QConfig(activation=FULL_RANGE, weight=tq.default_per_channel_weight_observer)


class ProbeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.dw1 = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.relu1 = nn.ReLU()
        self.dw2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
        self.pw = nn.Conv2d(16, 8, 1)
        self.fc = nn.Linear(8 * 4 * 4, 6)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.relu1(self.dw1(x))
        x = self.dw2(x)
        x = self.pw(x)
        x = self.fc(torch.flatten(x, 1))
        return self.dequant(x)


def _inputs(seed, n):
    g = torch.Generator().manual_seed(seed)
    # Mostly large positive activations, so quint8 values above 127 are common.
    return torch.rand(n, 8, 8, 8, generator=g) * 4.0 - 0.5


def build_probe():
    torch.manual_seed(7)
    m = ProbeNet()
    with torch.no_grad():
        for mod in (m.dw1, m.dw2, m.pw, m.fc):
            mod.weight.uniform_(-1.0, 1.0)
            mod.bias.uniform_(-2.0, 2.0)
    m.eval()
    m = tq.fuse_modules(m, [["dw1", "relu1"]])
    m.qconfig = PER_TENSOR
    m.dw2.qconfig = PER_CHANNEL
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        m(_inputs(1, 16))
    return tq.convert(m)


def example_input():
    return _inputs(2, 1)
