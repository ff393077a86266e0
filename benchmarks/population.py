"""Populations: trials per minute of batched training against one trial at a time and workers.

Part 1, studies: the default space (tracking off), the same number of trials, from a fresh
journal each: ``--population N`` (default auto: 64 on CUDA, one at a time on a CPU) vs
``--population 1`` vs ``--workers 2`` (one at a time in each, and populations in each), on
digits and a generated 4000 x 40, 10-class table (a CSV, so that workers load it). Reports
trials per minute, the best validation score reached, and the best of the first N trials (N the
smallest trial count of the runs: equal trial count).

Part 2, steps: K members of 40-64-64-10 (Adam, batch 128) trained together for one epoch of
4000 rows against K networks trained one after another through the one-network core, and the
share of the machine's matrix-product rate each reaches.

    python benchmarks/population.py --trials 48 --epochs 20 --population 8 --members 1,4,8,16
    python benchmarks/population.py --device cuda --trials 256 --epochs 20   # the GPU run
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import emit
from sklearn.datasets import make_classification

from autonn.config import make_config
from autonn.data.datasets import load_data
from autonn.data.split import Splits
from autonn.data.tensors import to_device
from autonn.metrics import METRICS
from autonn.search.problem import make_problem
from autonn.search.run import run_search
from autonn.tasks import MULTICLASS
from autonn.training.loop import Trainee, train_params
from autonn.training.population.fit import fit_population

STEP_NET = {"family": "mlp", "n_layers": 2, "width_0": 64, "width_1": 64, "activation": "relu",
            "init": "he_uniform", "norm": "none", "dropout": 0.0, "loss": "cross_entropy",
            "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "epochs": 1}


def generated(root: Path) -> dict:
    """A 4000 x 40, 10-class table (plus 1000 rows each for validation and test), written as a
    CSV so that worker processes load it as the main process does: the config's data source."""
    X, y = make_classification(n_samples=6000, n_features=40, n_informative=20, n_classes=10,
                               random_state=0)
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"x{i}" for i in range(40)])
    frame["y"] = y
    frame.to_csv(root / "generated.csv", index=False)
    return {"data": str(root / "generated.csv"), "target": "y",
            "training": {"val_fraction": 1000 / 6000, "test_fraction": 1000 / 6000}}


def study_run(name: str, source: dict, trials: int, seconds: float | None, epochs: int | None,
              population, workers: int, device: str, root: Path) -> dict:
    """One study from a fresh journal: ``trials`` trials, or as many as ``seconds`` allows
    (a population claimed before the deadline still trains to its end)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    try:
        return _study(name, source, trials, seconds, epochs, population, workers, device, root)
    finally:
        torch.set_num_threads(threads)  # part 2 times steps with every thread


def _study(name: str, source: dict, trials: int, seconds: float | None, epochs: int | None,
           population, workers: int, device: str, root: Path) -> dict:
    space = {"epochs": epochs} if epochs else {}
    config = make_config(study=f"{name}-{population}-{workers}", space=space, **source,
                         n_trials=1_000_000 if seconds else trials, timeout=seconds, seed=0,
                         population=population, device=device, refit=False, ensemble=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CSV's encoding notices
        problem = make_problem(config, load_data(config), name)
    study, _ = run_search(problem, storage=str(root / f"{config.study}.journal"), workers=workers)
    seconds = time.perf_counter() - start
    values = [t.value if t.state.name == "COMPLETE" else None for t in study.trials]
    return {"trials/min": len(study.trials) / seconds * 60, "best": study.best_value,
            "seconds": seconds, "values": values}


def best_of_first(values: list[float | None], n: int) -> float:
    """The best validation accuracy among the first ``n`` trials (by number)."""
    return max((v for v in values[:n] if v is not None), default=float("nan"))


def steps(K: int, device: torch.device) -> tuple[float, float]:
    """Seconds for one epoch of K members trained together, and of K trained one by one."""
    X, y = make_classification(n_samples=4200, n_features=40, n_informative=20, n_classes=10,
                               random_state=0)
    data = to_device(Splits(X[:4000].astype(np.float32), y[:4000], X[4000:].astype(np.float32),
                            y[4000:], X[4000:].astype(np.float32), y[4000:]), MULTICLASS,
                     device, 10)
    metric = METRICS["accuracy"]
    fit_population([Trainee(STEP_NET, seed=i) for i in range(K)], data, metric)  # warm-up
    start = time.perf_counter()
    fit_population([Trainee(STEP_NET, seed=i) for i in range(K)], data, metric)
    together = _synced(start, device)
    start = time.perf_counter()
    for i in range(K):
        train_params(STEP_NET, data, metric, seed=i)
    return together, _synced(start, device)


def _synced(start: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def matmul_gflops(device: torch.device, n: int = 2048) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    return 2 * n ** 3 * 10 / _synced(start, device) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--seconds", type=float, help="a time budget per study instead of --trials")
    parser.add_argument("--epochs", type=int, help="fix every trial's epochs (default: sampled)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--members", default="1,4,8,16,32,64", help="population sizes, part 2")
    parser.add_argument("--population", default="auto",
                        help="part 1's population size (auto: one at a time on a CPU)")
    parser.add_argument("--write")
    args = parser.parse_args()
    device = torch.device(args.device)
    size = f"{args.seconds:g} s each" if args.seconds else f"{args.trials} trials"
    space = f"default space, {args.epochs} epochs" if args.epochs else "default space"
    lines = [f"### Populations, studies: {size}, {space}, tracking off "
             f"({device}, {os.cpu_count()} cores)", "",
             "| dataset | run | trials | trials per minute | vs one at a time | best validation "
             "accuracy | best of the first N trials |", "|---|---|---|---|---|---|---|"]
    chosen = args.population if args.population == "auto" else int(args.population)
    runs = {f"population {chosen}": (chosen, 1), "population 1": (1, 1)}
    if device.type == "cpu":  # two processes of one thread each: small products use one well
        runs["workers 2 (one at a time each)"] = (1, 2)
        if chosen != "auto" and chosen > 1:  # auto is one at a time on a CPU: the run above
            runs[f"workers 2 (population {chosen} each)"] = (chosen, 2)
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in (("digits", {"dataset": "digits"}), ("generated", generated(Path(tmp)))):
            results = {label: study_run(name, source, args.trials, args.seconds, args.epochs, pop,
                                        workers, args.device, Path(tmp))
                       for label, (pop, workers) in runs.items()}
            base = results["population 1"]["trials/min"]
            n = min(len(r["values"]) for r in results.values())  # equal trial count
            for label, r in results.items():
                lines.append(f"| {name} | {label} | {len(r['values'])} | "
                             f"{r['trials/min']:.1f} | {r['trials/min'] / base:.2f}x | "
                             f"{r['best']:.4f} | {best_of_first(r['values'], n):.4f} (N={n}) |")
                print(lines[-1], flush=True)
    lines += ["", f"### Populations, steps: one epoch of 4000 rows, 40-64-64-10, Adam, batch 128 "
              f"({device}, {torch.get_num_threads()} threads)", "",
              "| members K | together (s) | one after another (s) | networks per second, "
              "speed-up | matrix-product rate reached |", "|---|---|---|---|---|"]
    flops_per_net = 3 * 2 * (40 * 64 + 64 * 64 + 64 * 10) * 4000  # forward + backward
    peak = matmul_gflops(device)
    for K in map(int, args.members.split(",")):
        together, alone = steps(K, device)
        lines.append(f"| {K} | {together:.3f} | {alone:.3f} | {alone / together:.2f}x | "
                     f"{K * flops_per_net / together / 1e9 / peak:.1%} |")
        print(lines[-1], flush=True)
    emit("\n".join(lines + ["", f"Matrix-product rate: {peak:.1f} GFLOP/s (2048 x 2048)."]),
         args.write)


if __name__ == "__main__":
    main()
