"""Time one fixed training job through autonn's core and, side by side, through its peers.

Job: 4,000 x 40 inputs, 10 classes, MLP 40-64-64-10 and 40-256-256-10 (ReLU), Adam (lr 1e-3),
batch 128, 20 epochs. Peers: a plain PyTorch DataLoader loop, skorch, scikit-learn's MLPClassifier.
autonn's core also scores a 1,000-row validation split every epoch; the peers do not.

    python benchmarks/train_core.py [--repeats 3] [--device cpu] [--write benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from common import emit  # benchmarks/ is on the path when run as a script
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from torch import nn

from autonn.data.split import Splits
from autonn.data.tensors import to_device
from autonn.metrics import METRICS
from autonn.training.loop import train_params

N, F, K, EPOCHS, BATCH, LR = 4000, 40, 10, 20, 128, 1e-3
NETS = {"small": [64, 64], "large": [256, 256]}


def make_data(seed: int = 0):
    X, y = make_classification(n_samples=N + 1000, n_features=F, n_informative=20, n_classes=K,
                               random_state=seed)
    X = ((X - X[:N].mean(0)) / X[:N].std(0)).astype(np.float32)
    return X[:N], y[:N].astype(np.int64), X[N:], y[N:].astype(np.int64)


def torch_mlp(widths: list[int]) -> nn.Sequential:
    layers, d = [], F
    for w in widths:
        layers += [nn.Linear(d, w), nn.ReLU()]
        d = w
    return nn.Sequential(*layers, nn.Linear(d, K))


def run_autonn(widths, data, device):
    Xtr, ytr, Xva, yva = data
    dd = to_device(Splits(Xtr, ytr, Xva, yva, Xva, yva), "multiclass", device, K)
    params = {"n_layers": len(widths), **{f"width_{i}": w for i, w in enumerate(widths)},
              "activation": "relu", "init": "he_uniform", "norm": "none", "dropout": 0.0,
              "loss": "cross_entropy", "optimizer": "adam", "lr": LR, "weight_decay": 0.0,
              "batch_size": BATCH, "epochs": EPOCHS}
    train_params(params, dd, METRICS["accuracy"], seed=0)
    _sync(device)


def run_dataloader(widths, data, device):
    Xtr, ytr, _, _ = data
    torch.manual_seed(0)
    model = torch_mlp(widths).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(Xtr), torch.from_numpy(ytr))
    loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    _sync(device)


def run_skorch(widths, data, device):
    from skorch import NeuralNetClassifier

    Xtr, ytr, _, _ = data
    torch.manual_seed(0)
    net = NeuralNetClassifier(torch_mlp(widths), criterion=nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=LR, max_epochs=EPOCHS,
                              batch_size=BATCH, train_split=None, verbose=0, device=str(device))
    net.fit(Xtr, ytr)
    _sync(device)


def run_sklearn(widths, data, device):
    Xtr, ytr, _, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=tuple(widths), solver="adam", learning_rate_init=LR,
                      batch_size=BATCH, max_iter=EPOCHS, tol=0, n_iter_no_change=EPOCHS + 1,
                      random_state=0).fit(Xtr, ytr)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


RUNNERS = {"autonn core": run_autonn, "PyTorch DataLoader loop": run_dataloader,
           "skorch": run_skorch, "scikit-learn MLPClassifier": run_sklearn}


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def train_flops(widths: list[int]) -> float:
    """Multiply-adds x 2 of forward, plus twice that for backward, over the whole job."""
    dims = [F, *widths, K]
    forward = sum(2 * a * b for a, b in zip(dims, dims[1:]))
    return 3 * forward * N * EPOCHS


def matmul_gflops(device, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    device = torch.device(args.device)
    data = make_data()
    lines = [f"### Training core: one job, {N}x{F}, {K} classes, Adam, batch {BATCH}, {EPOCHS} epochs "
             f"({device}, {torch.get_num_threads()} threads, torch {torch.__version__})", "",
             "| network | runner | seconds (best of %d) | time vs fastest peer |" % args.repeats,
             "|---|---|---|---|"]
    for net, widths in NETS.items():
        times = {name: best_time(lambda: fn(widths, data, device), args.repeats)
                 for name, fn in RUNNERS.items() if not (name.startswith("scikit") and device.type != "cpu")}
        fastest_peer = min(t for name, t in times.items() if name != "autonn core")
        for name, t in times.items():
            lines.append(f"| {'-'.join(map(str, [F, *widths, K]))} | {name} | {t:.3f} | {t / fastest_peer:.2f}x |")
        if net == "large":
            achieved = train_flops(widths) / times["autonn core"] / 1e9
            peak = matmul_gflops(device)
            lines.append("")
            lines.append(f"Large network through autonn's core: {achieved:.1f} GFLOP/s; a 2048x2048 "
                         f"matrix product in the same run: {peak:.1f} GFLOP/s ({achieved / peak:.0%}).")
    table = "\n".join(lines)
    emit(table, args.write)


if __name__ == "__main__":
    main()
