"""Near-constant columns: one network trained with them and without them, side by side.

On each table and seed: the search's split (validation and test 20% each, by the seed) encoded
twice, with every column and with near-constant columns dropped (``autonn.data.tables``); the first two
built-in starts (3 x 256 swish MLPs, one with periodic embeddings of the continuous columns)
trained on each with early stopping as a search trains a trial. Reports the encoded columns,
the best validation score, its epoch and the seconds of training. One thread per process, so run
two at once on two cores at most.

    python benchmarks/near_constant.py --datasets grants --seeds 0,1
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from common import emit, start_for
from tables import load

from autonn.config import make_config
from autonn.search.problem import make_problem
from autonn.search.warmstart import BUILTIN
from autonn.training.callbacks import EarlyStopping
from autonn.training.loop import train_params

STARTS = {"mlp 3x256 + plr": BUILTIN[1], "mlp 3x256": BUILTIN[2]}


def one(name: str, seed: int, every: bool, start: str) -> dict:
    """One built-in start trained on ``name``'s split, every column kept or not."""
    dataset = load(name)
    # one split either way: a narrower table could otherwise fall under the cross-validation limit
    training = {"cv_folds": 1, **({"near_constant_rows": 0} if every else {})}
    config = make_config(study="near-constant", seed=seed, training=training)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = make_problem(config, dataset, name)
    params = start_for(STARTS[start], problem)
    started = time.perf_counter()
    _, _, history = train_params(params, problem.data, problem.metric, seed=seed,
                                 callbacks=[EarlyStopping(
                                     problem.config.training.patience_for(params["epochs"]))])
    return {"columns": problem.data.x_train.shape[1], "value": history.best_value,
            "epoch": history.best_epoch, "seconds": time.perf_counter() - started,
            "metric": problem.metric_name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="grants")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = ["### Near-constant columns: one network, best validation score (1 thread)", "",
            "| dataset | network | seed | columns | validation | best epoch | seconds |",
            "|---|---|---|---|---|---|---|"]
    for name in args.datasets.split(","):
        for start in STARTS:
            for seed in (int(s) for s in args.seeds.split(",")):
                for every in (True, False):
                    r = one(name, seed, every, start)
                    kept = "every column" if every else "near-constant dropped"
                    rows.append(f"| {name} | {start} | {seed} | {r['columns']} ({kept}) | "
                                f"{r['value']:.4f} {r['metric']} | {r['epoch']} | "
                                f"{r['seconds']:.0f} |")
                    print(rows[-1], flush=True)
    emit("\n".join(rows), args.write)


if __name__ == "__main__":
    main()
