"""Serving footprint: each export format's size, cold load time and per-row latency in the runtime
it is meant for, and the size of the environment an MLflow export's requirements.txt builds.

A small search on a bundled dataset, then every format exported. Each (format, runtime) runs in a
fresh process with one thread: import time, load time, then the median seconds per row of batches
of 1 and 256 rows. Runtimes: ``autonn.load`` (every format), ``mlflow.pyfunc.load_model`` (mlflow)
and onnxruntime alone (onnx: the encoded matrix, which for a numeric dataset is the raw columns;
onnx_raw: one input per raw column).
The environment: a fresh virtualenv with the local CPU torch wheel and requirements.txt, `du -s`.

    taskset -c 1 env OMP_NUM_THREADS=1 python benchmarks/serving.py --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from common import emit

SEARCH = """
import warnings; warnings.simplefilter("ignore")
from autonn import make_config
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.search.exporting import export_model
from autonn.export.formats import FORMATS
run_search(prepare(make_config(dataset={dataset!r}, n_trials={trials}, seed=0, study="s")))
for name, fmt in FORMATS.items():
    export_model(name, "model" + fmt.suffix, study="s")
"""

PROBE = """
import json, statistics, sys, time, warnings; warnings.simplefilter("ignore")
start = time.perf_counter()
{imports}
imported = time.perf_counter()
{load}
loaded = time.perf_counter()
from autonn.data.datasets import load_dataset
import numpy as np, pandas as pd
ds = load_dataset({dataset!r})
frame = pd.DataFrame(np.asarray(ds.X[:256], dtype=np.float64), columns=list(ds.feature_names))
out = {{"import_s": imported - start, "load_s": loaded - imported}}
for n in (1, 256):
    rows = frame[:n]
    predict(rows)  # warm-up
    times = []
    for _ in range({repeats}):
        t = time.perf_counter(); predict(rows); times.append(time.perf_counter() - t)
    out[f"row_ms_{{n}}"] = 1000 * statistics.median(times) / n
print(json.dumps(out))
"""

RUNTIMES = {  # name -> (its imports, the load that defines ``predict(rows)``)
    "autonn.load": ("import torch; torch.set_num_threads(1); import autonn",
                    "model = autonn.load({path!r}, trust_model=True); predict = model.predict"),
    "mlflow.pyfunc": ("import torch; torch.set_num_threads(1); import mlflow.pyfunc",
                      "model = mlflow.pyfunc.load_model({path!r}); predict = model.predict"),
    "onnxruntime": ("import onnxruntime as ort; import numpy as np",
                    "options = ort.SessionOptions(); options.intra_op_num_threads = 1\n"
                    "session = ort.InferenceSession({path!r}, options, "
                    "providers=['CPUExecutionProvider'])\n"
                    "predict = lambda rows: session.run(None, "
                    "{{'features': rows.to_numpy(np.float32)}})[0]"),
    "onnxruntime, raw columns": (
        "import onnxruntime as ort; import numpy as np",
        "options = ort.SessionOptions(); options.intra_op_num_threads = 1\n"
        "session = ort.InferenceSession({path!r}, options, providers=['CPUExecutionProvider'])\n"
        "inputs = [(i.name, i.type == 'tensor(string)') for i in session.get_inputs()]\n"
        "predict = lambda rows: session.run(None, {{name: rows[[name]].fillna('').astype(str).to_numpy() "
        "if text else rows[[name]].to_numpy(np.float32) for name, text in inputs}})[0]"),
}
PLAN = [("state_dict", "autonn.load"), ("onnx", "autonn.load"), ("onnx", "onnxruntime"),
        ("onnx_raw", "onnxruntime, raw columns"),
        ("torchscript", "autonn.load"), ("exported_program", "autonn.load"),
        ("mlflow", "autonn.load"), ("mlflow", "mlflow.pyfunc")]
SUFFIX = {"state_dict": ".safetensors", "onnx": ".onnx", "onnx_raw": ".raw.onnx", "torchscript": ".pt",
          "exported_program": ".pt2", "mlflow": ".mlflow"}


def run(code: str, cwd: Path) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", AUTONN_HOME=str(cwd))
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"probe failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def size_kb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1024


def env_size_mb(requirements: Path, work: Path) -> float:
    """A fresh virtualenv: the local CPU torch wheel, then ``requirements``; its size."""
    env = work / "env"
    venv.create(env, with_pip=True)
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "torch==2.13.0",
                    "-r", str(requirements)], check=True, capture_output=True)
    used = subprocess.run(["du", "-sk", str(env)], check=True, capture_output=True, text=True)
    return int(used.stdout.split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="iris")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--no-env", action="store_true", help="skip the virtualenv's size")
    parser.add_argument("--write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run(SEARCH.format(dataset=args.dataset, trials=args.trials), work)
        lines = [f"### Serving footprint: {args.dataset}, {args.trials}-trial search, 1 thread, "
                 f"median of {args.repeats} calls", "",
                 "| format | runtime | size (KiB) | import (s) | load (s) | ms/row, batch 1 | "
                 "ms/row, batch 256 |", "|---|---|---|---|---|---|---|"]
        for fmt, runtime in PLAN:
            path = work / f"model{SUFFIX[fmt]}"
            imports, load = RUNTIMES[runtime]
            got = json.loads(run(PROBE.format(imports=imports, load=load.format(path=str(path)),
                                              dataset=args.dataset, repeats=args.repeats), work))
            lines.append(f"| {fmt} | {runtime} | {size_kb(path):.0f} | {got['import_s']:.2f} | "
                         f"{got['load_s']:.3f} | {got['row_ms_1']:.3f} | "
                         f"{got['row_ms_256']:.4f} |")
            print(lines[-1], flush=True)
        requirements = work / "model.mlflow" / "requirements.txt"
        note = "requirements.txt: " + ", ".join(f"`{r}`" for r in requirements.read_text().split())
        if not args.no_env:
            note += (f"; the virtualenv it builds (local CPU torch wheel first): "
                     f"{env_size_mb(requirements, work):.0f} MiB (`du -s`)")
        lines += ["", note + "."]
    emit("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
