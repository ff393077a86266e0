"""autonn's CPU dropout (``autonn.blocks.Dropout``) against torch's ``nn.Dropout``, side by side.

Job: the built-in 3 x 256 start's body (10 inputs, SiLU, dropout 0.15, one output), MSE, fused
AdamW, one batch of B rows per step: forward, backward, step. Both networks train in one process,
alternated in rounds of 100 steps (this machine's speed drifts more within minutes than the
difference), the first two rounds dropped; each cell is the median of the rest.

    python benchmarks/dropout.py [--rows 16,160,256,1024] [--threads 1,2] [--write RESULTS.md]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import emit  # benchmarks/ is on the path when run as a script
from torch import nn

from autonn.blocks import Dropout

ROUNDS, STEPS, WARM = 12, 100, 2


def network(dropout: type[nn.Module]) -> nn.Sequential:
    layers, width_in = [], 10
    for _ in range(3):
        layers += [nn.Linear(width_in, 256), nn.SiLU(), dropout(0.15)]
        width_in = 256
    return nn.Sequential(*layers, nn.Linear(width_in, 1))


def step_ms(rows: int) -> dict[str, float]:
    """Median milliseconds per training step of each network on ``rows`` rows."""
    x, y = torch.randn(rows, 10), torch.randn(rows, 1)
    nets = {"torch": network(nn.Dropout), "autonn": network(Dropout)}
    optimizers = {k: torch.optim.AdamW(m.parameters(), 1e-3, fused=True) for k, m in nets.items()}
    times: dict[str, list[float]] = {k: [] for k in nets}
    for round_ in range(ROUNDS):
        for name, net in nets.items():
            start = time.perf_counter()
            for _ in range(STEPS):
                loss = nn.functional.mse_loss(net(x), y)
                optimizers[name].zero_grad()
                loss.backward()
                optimizers[name].step()
            if round_ >= WARM:
                times[name].append((time.perf_counter() - start) / STEPS * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="16,160,256,1024")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for n in (int(r) for r in args.rows.split(",")):
            ms = step_ms(n)
            rows.append(f"| {threads} | {n} | {ms['torch']:.3f} | {ms['autonn']:.3f} | "
                        f"{ms['autonn'] / ms['torch']:.2f} |")
            print(rows[-1], flush=True)
    emit("\n".join(["| threads | rows per batch | nn.Dropout ms/step | autonn Dropout ms/step | "
                    "ratio |", "|---|---|---|---|---|", *rows]), args.write)


if __name__ == "__main__":
    main()
