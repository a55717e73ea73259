#!/usr/bin/env python3
"""Train a tiny quantization-aware (QAT) PyTorch model and convert it.

    scripts/tiny_qat.py OUT_DIR [--seed S] [--steps N] [--batch B] [--force]

The model (TinyNet) is the one behind tests/fixtures/torch: QuantStub ->
Conv2d 3->8 3x3 + ReLU -> depthwise Conv2d 8->8 3x3 + ReLU -> Conv2d 8->16
3x3 stride 2 -> Linear 256->32 + ReLU -> Linear 32->4 -> DeQuantStub, on
1x3x8x8 inputs, trained with PyTorch's default x86/fbgemm QAT qconfig
(per-channel symmetric qint8 weights, quint8 activations with reduce_range)
on a synthetic task (which quadrant of the image holds a bright patch), then
converted with torch.ao.quantization.convert on the fbgemm engine.

Writes OUT_DIR/tiny_qat.pt (the converted model's state dict) and
OUT_DIR/sample.npy (a float32 batch of 2 inputs). Load the model with
build_quantized() from this file, the form scripts/export_torch.py takes:

    scripts/export_torch.py scripts/tiny_qat.py:build_quantized OUT \
        --state-dict OUT_DIR/tiny_qat.pt --input OUT_DIR/sample.npy

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

# PyTorch 2.10+ deprecates torch.ao.quantization (eager QAT still works).
warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao")
warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
warnings.filterwarnings("ignore", message=r".*quantized tensor creation.*")
warnings.filterwarnings("ignore", message=r".*TypedStorage is deprecated.*")

QUADRANTS = 4


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(32, QUADRANTS)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.dw(x))
        x = self.conv3(x)
        x = torch.flatten(x, 1)
        x = self.relu3(self.fc1(x))
        x = self.fc2(x)
        return self.dequant(x)


FUSE = [["conv1", "relu1"], ["dw", "relu2"], ["fc1", "relu3"]]


def prepared(engine="fbgemm"):
    """TinyNet fused and prepared for QAT with the engine's default qconfig."""
    m = TinyNet()
    m.train()
    m = tq.fuse_modules_qat(m, FUSE)
    m.qconfig = tq.get_default_qat_qconfig(engine)
    tq.prepare_qat(m, inplace=True)
    return m


def build_quantized():
    """The converted (quantized) TinyNet structure, to load a state dict into."""
    m = prepared(torch.backends.quantized.engine)
    m.eval()
    # One forward pass so every observer has a range before convert.
    with torch.no_grad():
        m(torch.zeros(1, 3, 8, 8))
    return tq.convert(m)


def batch(gen, n):
    """Noise images with a bright 4x4 patch in one quadrant; label = quadrant."""
    x = torch.randn(n, 3, 8, 8, generator=gen) * 0.5
    y = torch.randint(0, QUADRANTS, (n,), generator=gen)
    for i in range(n):
        r, c = divmod(int(y[i]), 2)
        x[i, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 1.5
    return x, y


def example_input():
    gen = torch.Generator().manual_seed(12345)
    return batch(gen, 2)[0]


def train_cli(prog, doc, prepared_fn, example_input_fn, model_file, sample_file, default_seed, threads=None):
    """The command line of a QAT fixture script (this one and
    scripts/qat_blocks.py): train `prepared_fn("fbgemm")` on the quadrant
    task, convert it, and write its state dict and a sample input batch.
    `threads` pins torch's thread count (a model whose training would
    otherwise depend on it)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=default_seed)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--force", action="store_true", help="replace existing files")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    model_path = os.path.join(a.out_dir, model_file)
    sample_path = os.path.join(a.out_dir, sample_file)
    for p in (model_path, sample_path):
        if os.path.exists(p) and not a.force:
            print(f"{prog}: {p}: exists (use --force to replace it)", file=sys.stderr)
            sys.exit(2)

    torch.backends.quantized.engine = "fbgemm"
    torch.manual_seed(a.seed)
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(a.seed)
    m = prepared_fn("fbgemm")
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
    np.save(sample_path, example_input_fn().numpy().astype(np.float32))
    print(
        f"{prog}: {a.steps} QAT steps, quantized accuracy {acc:.3f} on 256 held-out inputs; "
        f"wrote {model_path} and {sample_path}"
    )


def main():
    train_cli("tiny_qat.py", __doc__, prepared, example_input, "tiny_qat.pt", "sample.npy", default_seed=1)


if __name__ == "__main__":
    main()
