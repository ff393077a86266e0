"""Shared fixtures: tiny data on the test device, and a working directory whose ./mlruns is private.

AUTONN_TEST_DEVICE=cuda runs the data-level tests (training core, populations) on a GPU.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
import torch

from autonn.data.datasets import load_dataset
from autonn.data.split import Splits, split
from autonn.data.tensors import to_device

TEST_DEVICE = torch.device(os.environ.get("AUTONN_TEST_DEVICE", "cpu"))


@pytest.fixture(scope="session", autouse=True)
def _private_autonn_home(tmp_path_factory):
    """autonn's record of its own exports lives in a directory of the test session's own."""
    os.environ["AUTONN_HOME"] = str(tmp_path_factory.mktemp("autonn-home"))


@pytest.fixture(autouse=True)
def _private_cwd(tmp_path, monkeypatch):
    """Each test runs in its own directory, so the default ./mlruns store is never shared."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def iris_data():
    ds = load_dataset("iris")
    return to_device(split(ds, 0.2, 0.2, seed=0), ds.task, TEST_DEVICE, len(ds.classes))


def tiny(task: str, n: int = 64, features: int = 5, seed: int = 0, binary: int = 0):
    """A small separable/learnable problem of the given task, as DeviceData on TEST_DEVICE; its
    last ``binary`` features are 0/1 columns (one-hot levels, say)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    X[:, features - binary:] = X[:, features - binary:] > 0
    if task == "regression":
        y = (X @ rng.normal(size=features)).astype(np.float32)
    else:
        k = 2 if task == "binary" else 3
        y = (np.digitize(X[:, 0], np.quantile(X[:, 0], np.linspace(0, 1, k + 1)[1:-1]))).astype(np.int64)
    third = n // 3
    s = Splits(X[:third], y[:third], X[third:2 * third], y[third:2 * third], X[2 * third:], y[2 * third:])
    return to_device(s, task, TEST_DEVICE, 0 if task == "regression" else int(y.max()) + 1)


@contextlib.contextmanager
def working_dir(path):
    """Run a block in ``path`` (module-scoped fixtures, which the per-test cwd does not cover)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def iris_exports(root, formats):
    """A two-trial iris study (3 epochs) searched in ``root``, its model exported in each of
    ``formats`` as ``root/iris.<format>``: {format: path}."""
    from autonn.config import make_config
    from autonn.search.exporting import export_model
    from autonn.search.problem import prepare
    from autonn.search.run import run_search

    with working_dir(root):
        run_search(prepare(make_config(dataset="iris", n_trials=2, study="iris",
                                       space={"epochs": 3})))
        return {fmt: export_model(fmt, root / f"iris.{fmt}", study="iris").path
                for fmt in formats}
