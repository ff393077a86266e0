"""How far autonn's test score lies from HistGradientBoosting's default, seed by seed.

One seed of ``search_quality.py`` says whether a table meets "at least HistGradientBoosting
minus one test row"; this says whether it meets it on most seeds, quiet and beside burners.
Per table and seed, on autonn's own seeded split (the same rows; HistGradientBoosting keeps the
near-constant columns autonn drops, as in ``search_quality``): HistGradientBoosting (defaults,
quiet) fits the training + validation rows, autonn searches ``--budget`` seconds
(``search_quality``'s library path), and both score the test rows. Rows are appended to a JSON lines file as they
arrive (a rerun into the same file appends); the report counts test rows ahead (+) or behind
(-) per seed. Classification tables only: it compares accuracy.

    python benchmarks/seed_spread.py --datasets cars,cells,grants --seeds 0,1,2,3 --out F
    python benchmarks/seed_spread.py ... --busy 2 --out F     # beside 2 CPU-burning processes
    python benchmarks/seed_spread.py --report F
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import optuna
from common import append_row, burning, emit, read_rows
from search_quality import autonn_run, fit_and_score, peer_split
from tables import load

from autonn.tasks import REGRESSION


def hgb_score(name: str, seed: int) -> float:
    """HistGradientBoosting's default on ``name``'s seeded split, scored on its test rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    dataset = load(name)
    return fit_and_score(HistGradientBoostingClassifier(random_state=seed),
                         peer_split(dataset, seed), dataset.task)


def run(names: list[str], seeds: list[int], budget: float, busy: int, out: Path) -> None:
    for name in names:  # before any search: test rows ahead are counted on accuracy
        if load(name).task == REGRESSION:
            raise SystemExit(f"{name} is a regression table; seed_spread compares accuracy")
    for seed in seeds:
        for name in names:
            hgb = hgb_score(name, seed)  # quiet: the burners start with the search
            with burning(busy):
                result = autonn_run(name, budget, seed)
            append_row(out, {"dataset": name, "seed": seed, "budget": budget, "busy": busy,
                             "hgb": hgb, **result})


def report(path: Path) -> str:
    """Per table and load: test rows autonn is ahead of HistGradientBoosting, seed by seed."""
    rows = read_rows(path)
    lines = ["| dataset | budget s | load | seeds | autonn (mean) | HistGradientBoosting (mean) | "
             "test rows ahead, per seed | seeds at HGB minus one row or better | wall s (max) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["dataset"], r["busy"], r["budget"]) for r in rows):
        mine = sorted((r for r in rows if (r["dataset"], r["busy"], r["budget"]) == key),
                      key=lambda r: r["seed"])
        ahead = [round((r["score"] - r["hgb"]) * r["test_rows"]) for r in mine]
        lines.append(
            f"| {key[0]} | {key[2]:.0f} | {'quiet' if not key[1] else f'{key[1]} burners'} | "
            f"{','.join(str(r['seed']) for r in mine)} | "
            f"{statistics.fmean(r['score'] for r in mine):.4f} | "
            f"{statistics.fmean(r['hgb'] for r in mine):.4f} | "
            f"{' '.join(f'{a:+d}' for a in ahead)} | {sum(a >= -1 for a in ahead)} of "
            f"{len(ahead)} | {max(r['seconds'] for r in mine):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cars,cells,grants")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--busy", type=int, default=0, help="CPU-burning processes beside autonn")
    parser.add_argument("--out", default="seed_spread.jsonl")
    parser.add_argument("--report", help="only render this results file")
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if not args.report:
        run(args.datasets.split(","), [int(s) for s in args.seeds.split(",")], args.budget,
            args.busy, Path(args.out))
    emit(report(Path(args.report or args.out)), args.write)


if __name__ == "__main__":
    main()
