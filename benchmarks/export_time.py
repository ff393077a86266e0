"""Export time: seconds of ``export_model`` per format after a small search, imports excluded.

Each code version runs in its own process and folder: a search of ``--trials`` trials (tracking
off), then every format's export of the study's model, each timed in-process. ``--also
LABEL=DIR`` runs an older checkout the same way (before 0.2 an export replayed the trial's whole
training; now it writes the model the search saved).

    git worktree add /tmp/autonn-before 4f62306
    python benchmarks/export_time.py --also "before (4f62306)=/tmp/autonn-before"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import emit

PROBE = """
import json, time, warnings
warnings.simplefilter("ignore")
from autonn import make_config
try:
    from autonn.search.problem import prepare
    from autonn.search.run import run_search
    from autonn.search.exporting import export_model
    from autonn.export.formats import FORMATS
    formats = list(FORMATS)
except ImportError:  # the flat layout before 0.2
    from autonn.search import prepare, run_search
    from autonn.export import export_model
    from autonn.formats import FORMATS
    formats = list(FORMATS)
run_search(prepare(make_config(dataset={dataset!r}, n_trials={trials}, seed=0, study="s")))
times = {{}}
for fmt in formats:
    start = time.perf_counter()
    export_model(fmt, "model-" + fmt + (".d" if fmt == "mlflow" else ""), study="s")
    times[fmt] = time.perf_counter() - start
print(json.dumps(times))
"""


def measure(dataset: str, trials: int, source: str | None) -> dict[str, float]:
    env = dict(os.environ, **({"PYTHONPATH": str(Path(source).resolve())} if source else {}))
    with tempfile.TemporaryDirectory() as work:
        env["AUTONN_HOME"] = work
        proc = subprocess.run([sys.executable, "-c", PROBE.format(dataset=dataset, trials=trials)],
                              cwd=work, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--write")
    args = parser.parse_args()
    sources = [("this checkout", None)] + [tuple(a.split("=", 1)) for a in args.also]
    lines = [f"### Export time: seconds per export after a {args.trials}-trial search, imports "
             "excluded", "", "| dataset | code | " + " | ".join(
                 ["state_dict", "onnx", "torchscript", "exported_program", "mlflow"]) + " |",
             "|---|---|---|---|---|---|---|"]
    for dataset in ("iris", "digits"):
        for label, source in sources:
            times = measure(dataset, args.trials, source)
            cells = [f"{times[f]:.2f}" if f in times else "-" for f in
                     ("state_dict", "onnx", "torchscript", "exported_program", "mlflow")]
            lines.append(f"| {dataset} | {label} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    emit("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
