"""Mean/std or median/IQR scaling before the soft clip: one fixed MLP, seed by seed.

autonn scales each feature by its training mean and standard deviation, then soft-clips at +-3
(``data.tensors.Standardizer``). RealMLP centres on the median and divides by the interquartile
range (half the range where the quartiles meet) before the same clip. This fits scikit-learn's
MLP (defaults but 300 iterations) after each, on the training + validation rows of autonn's
seeded split, and scores the test rows' accuracy (classification tables only). Either scaling
is fitted on the training rows alone, as autonn fits it, and keeps 0/1 columns as they are.

    python benchmarks/robust_scaling.py --datasets cells,grants,titanic,cars,affairs --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from tables import load

from autonn.data.split import split


def standard(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation (F,), (F,)."""
    return X.mean(axis=0), X.std(axis=0)


def robust(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's median and interquartile range, half its range where the quartiles meet."""
    low, median, high = np.quantile(X, [0.25, 0.5, 0.75], axis=0)
    return median, np.where(high > low, high - low, (X.max(axis=0) - X.min(axis=0)) / 2)


def scaled(fit, X_fit: np.ndarray, *parts: np.ndarray, clip: float = 3.0) -> list[np.ndarray]:
    """``parts`` centred and scaled by ``fit`` on ``X_fit``, then soft-clipped, as autonn does
    (0/1 and constant columns keep their values)."""
    center, scale = fit(X_fit)
    keep = np.all((X_fit == 0) | (X_fit == 1), axis=0) | (scale <= 1e-12)
    center, scale = np.where(keep, 0.0, center), np.where(keep, 1.0, scale)
    out = []
    for X in parts:
        z = (X - center) / scale
        out.append(z / np.sqrt(1 + (z / clip) ** 2))
    return out


def main() -> None:
    from sklearn.neural_network import MLPClassifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cells,grants,titanic,cars,affairs")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    print("| dataset | seed | mean/std + clip | median/IQR + clip |\n|---|---|---|---|")
    for name in args.datasets.split(","):
        dataset = load(name)
        for seed in (int(s) for s in args.seeds.split(",")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # near-constant columns, convergence notices
                s = split(dataset, 0.2, 0.2, seed, near_constant_rows=0)
                X, y = np.concatenate([s.X_train, s.X_val]), np.concatenate([s.y_train, s.y_val])
                scores = []
                for fit in (standard, robust):
                    train, test = scaled(fit, s.X_train, X, s.X_test)
                    model = MLPClassifier(random_state=seed, max_iter=300).fit(train, y)
                    scores.append(float((model.predict(test) == s.y_test).mean()))
            print(f"| {name} | {seed} | {scores[0]:.4f} | {scores[1]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
