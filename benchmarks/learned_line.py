"""Where a supervised fit's "did not learn its labels" line falls.

Fits the estimator on digits in settings that learn, learn little, or fail,
and prints the class-balanced accuracy each fit reaches on its own labeled
rows (``fit_report_["labeled_accuracy"]``) against the line of
:func:`skmixal.training.guard.learned` (a quarter of the way from chance to
every label). The line must be under every fit that trained, noisy labels
included, and above the fits a too large rate broke.

    python benchmarks/learned_line.py --seeds 0,1,2

Optionally ``--cifar N``: a default supervised CNN fit on N labels of the
CIFAR-10 subset (../shared/data), the hardest images the defaults were chosen
on.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from skmixal import MixupNetClassifier
from skmixal.datasets import load_dataset
from skmixal.training.guard import MIN_LEARNED_SHARE

CIFAR = (Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
         / "cifar10-test-subset2000-jpeg75.npz")


def _settings(X, y, rng):
    order = rng.permutation(len(X))
    few, mid = order[:50], order[:200]
    noisy = np.where(rng.random(len(y)) < 0.4, rng.integers(0, 10, len(y)), y)
    return [
        ("default, 50 labels", X[few], y[few], {}),
        ("default, 200 labels", X[mid], y[mid], {}),
        ("default, 1,797 labels", X, y, {}),
        ("40 % of labels random, 1,797", X, noisy, {}),
        ("labels all random, 200", X[mid], rng.integers(0, 10, 200), {}),
        ("2 classes at random, 500", X[order[:500]], rng.integers(0, 2, 500), {}),
        ("1 epoch (4 steps), 200 labels", X[mid], y[mid],
         {"max_epochs": 1, "min_steps": 0}),
        ("3 epochs (12 steps), 200 labels", X[mid], y[mid],
         {"max_epochs": 3, "min_steps": 0}),
        ("lr=1, 200 labels", X[mid], y[mid], {"lr": 1.0}),
        ("lr=10, 200 labels", X[mid], y[mid], {"lr": 10.0}),
    ]


def _fit(X, y, seed, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = MixupNetClassifier(random_state=seed, **params).fit(X, y).fit_report_
    return report["labeled_accuracy"], report["learned"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cifar", type=int, default=0,
                        help="also a default CNN fit on this many CIFAR labels")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(2)
    digits = load_dataset("digits")
    X, y = digits.X.astype(np.float32), digits.y
    print(f"line: chance + {MIN_LEARNED_SHARE} x (1 - chance), class-balanced; "
          f"seeds {seeds}; class-balanced accuracy on the fit's own labels")
    print(f"{'setting':34s} {'line':>6s}  per seed (learned?)")
    for name, Xs, ys, params in _settings(X, y, np.random.default_rng(0)):
        chance = 1 / len(np.unique(ys))
        cells = []
        for seed in seeds:
            acc, ok = _fit(Xs, ys, seed, params)
            cells.append(f"{acc:.3f}{'' if ok else ' (no)'}")
        print(f"{name:34s} {chance + MIN_LEARNED_SHARE * (1 - chance):6.3f}  "
              + "  ".join(cells), flush=True)
    if args.cifar:
        data = load_dataset(f"npz:{CIFAR}")
        for seed in seeds:
            idx = np.random.default_rng(seed).permutation(len(data.X))[:args.cifar]
            start = time.perf_counter()
            acc, ok = _fit(data.X[idx], data.y[idx], seed, {})
            print(f"CIFAR-10 subset, {args.cifar} labels, seed {seed}: {acc:.3f} "
                  f"learned={ok} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
