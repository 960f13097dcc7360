"""Accuracy after N queries on digits, mean +- std over seeds, per strategy.

Pool-based simulation with modAL's ActiveLearner and a MixupNetClassifier:
start from ``--initial`` random labels, run ``--rounds`` queries of
``--batch`` points, report test accuracy (held-out third of digits).

Usage::

    python benchmarks/compare_strategies.py --seeds 0 1 2
"""

import argparse
import time
import warnings
from functools import partial

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import skmixal  # noqa: F401 -- makes modAL work on current sklearn
from skmixal import MixupNetClassifier
from skmixal.strategies import STRATEGIES

DEFAULT = ["random", "entropy", "margin", "bald", "coreset", "badge", "typiclust",
           "alfamix", "mixup_consistency"]


def run(name, seed, args):
    from modAL.models import ActiveLearner

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y, test_size=1 / 3, random_state=seed, stratify=y)
    rng = np.random.RandomState(seed)
    start = rng.choice(len(X_pool), args.initial, replace=False)
    net = MixupNetClassifier(random_state=seed, classes=list(range(10)))
    learner = ActiveLearner(
        estimator=net, X_training=X_pool[start], y_training=y_pool[start],
        query_strategy=partial(STRATEGIES[name], random_state=seed))
    remaining = np.setdiff1d(np.arange(len(X_pool)), start)
    for _ in range(args.rounds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            idx = np.asarray(learner.query(X_pool[remaining],
                                           n_instances=args.batch)[0])
        chosen = remaining[idx]
        learner.teach(X_pool[chosen], y_pool[chosen])
        remaining = np.setdiff1d(remaining, chosen)
    return learner.score(X_test, y_test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="*", default=DEFAULT)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args(argv)
    n_labels = args.initial + args.rounds * args.batch
    print(f"digits, {args.initial} random labels + {args.rounds} x {args.batch} "
          f"queries = {n_labels} labels; seeds {args.seeds}")
    for name in args.strategies:
        t = time.perf_counter()
        acc = [run(name, seed, args) for seed in args.seeds]
        print(f"{name:<18s} {np.mean(acc):.3f} +- {np.std(acc):.3f}   "
              f"({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
