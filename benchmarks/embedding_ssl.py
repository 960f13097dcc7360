"""Semi-supervised learning on frozen backbone features, against supervised heads.

Issue 15 asks whether the unlabeled pool helps once the images are embedded by
a pretrained backbone. This reads the labels that ``label_efficiency.py`` drew
on the CIFAR-10 subset (``cifar10+efficientnet_lite0``: random labels, and
``+typiclust-start``: the first 100 chosen by TypiClust), with the same splits
and the same cached EfficientNet-Lite0 features, and trains on them:

* ``logreg``: scikit-learn's ``LogisticRegression`` on the labels (the floor);
* ``MLP``: the MLP head the backbone arms use (``MixupNetClassifier``);
* ``label spreading``: scikit-learn's ``LabelSpreading`` (k-nearest-neighbour
  graph on the L2-normalised features, which its Euclidean graph needs: on the
  standardised features it stays under 0.5) over the training pool, labeled
  rows and the rest;
* ``logreg on spread labels``: logistic regression on the whole pool with the
  labels spread to it (weighted by their spread confidence);
* ``MLP + fixmatch`` and ``MLP + mixmatch``: the MLP head trained with the
  rest of the training pool as ``X_unlabeled`` (never the test split).

Run ``label_efficiency.py --only cifar10+efficientnet_lite0
cifar10+efficientnet_lite0+typiclust-start`` first (its results and cached
features are read), then::

    python benchmarks/embedding_ssl.py > benchmarks/results/embedding_ssl.txt
"""

import argparse
import json
import time
import warnings

import numpy as np
import torch

# the sibling script (python puts this folder first on sys.path)
from label_efficiency import CIFAR, HERE
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.semi_supervised import LabelSpreading

from skmixal import MixupNetClassifier
from skmixal._embedding_cache import backbone_features
from skmixal.datasets import load_dataset
from skmixal.experiment import _split, derive_seed  # the campaign's own split

RESULTS = HERE / "results" / "label_efficiency"
RUNS = {"random labels": "cifar10+efficientnet_lite0",
        "TypiClust start": "cifar10+efficientnet_lite0+typiclust-start"}
NEIGHBOURS = 10


def labeled_sets(folder):
    """seed -> the labeled pool indices after each round of the random arm."""
    records = json.loads((RESULTS / folder / "results.json").read_text())["records"]
    rounds = {}
    for rec in records:
        if rec["arm"] == "random":
            rounds.setdefault(rec["seed"], {})[rec["round"]] = rec["queried"]
    return {seed: [np.concatenate([np.asarray(by_round[r]) for r in range(k + 1)])
                   for k in range(len(by_round))]
            for seed, by_round in rounds.items()}


def arms(X, X_l2, y, labeled, train, test, seed):
    pool = np.setdiff1d(train, labeled)
    fit_seed = derive_seed(seed, "fit", 0)
    scores = {}
    scores["logreg"] = LogisticRegression(max_iter=2000).fit(
        X[labeled], y[labeled]).score(X[test], y[test])
    partial = np.full(len(y), -1)
    partial[labeled] = y[labeled]
    spread = LabelSpreading(kernel="knn", n_neighbors=NEIGHBOURS, alpha=0.8,
                            max_iter=1000).fit(X_l2[train], partial[train])
    scores["label spreading"] = spread.score(X_l2[test], y[test])
    weight = np.where(partial[train] >= 0, 1.0, spread.label_distributions_.max(1))
    scores["logreg on spread labels"] = LogisticRegression(max_iter=2000).fit(
        X[train], spread.transduction_, sample_weight=weight).score(X[test], y[test])
    for method in (None, "fixmatch", "mixmatch"):
        net = MixupNetClassifier(mixup_alpha=0.0, random_state=fit_seed,
                                 semi_supervised=method, collapse_guard=None)
        if method is None:
            net.fit(X[labeled], y[labeled])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net.fit(X[labeled], y[labeled], X_unlabeled=X[pool])
        name = "MLP" if method is None else f"MLP + {method}"
        scores[name] = net.score(X[test], y[test])
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plan = json.loads((RESULTS / RUNS["random labels"] / "summary.json").read_text())
    data = load_dataset(f"npz:{CIFAR}")
    X = backbone_features(data, plan["backbone"], RESULTS / "embeddings" / "cifar10",
                          log=lambda *a: None)
    X_l2 = normalize(X)
    y = data.y
    print(f"CIFAR-10 subset {X.shape}, {plan['backbone']} features; "
          f"{args.threads} torch thread(s)")
    for start, folder in RUNS.items():
        table = {}
        for seed, sets in sorted(labeled_sets(folder).items()):
            train, test = _split(y, 0.2, seed)
            for labeled in sets:
                started = time.time()
                scores = arms(X, X_l2, y, labeled, train, test, seed)
                print(f"  {start}, seed {seed}, {len(labeled)} labels: "
                      + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
                      + f" ({time.time() - started:.0f} s)", flush=True)
                for name, score in scores.items():
                    table.setdefault(len(labeled), {}).setdefault(name, []).append(
                        (seed, score))
        for n, by_arm in table.items():
            print(f"\n{start}, {n} labels: mean ± std (worst seed; worst paired "
                  "gap to logreg)")
            base = dict(by_arm["logreg"])
            for name, rows in by_arm.items():
                v = np.array([s for _, s in rows])
                gap = min(s - base[seed] for seed, s in rows)
                print(f"  {name:26s} {v.mean():.3f} ± {v.std():.3f} "
                      f"({v.min():.3f}; {gap:+.3f})")
        print()


if __name__ == "__main__":
    main()
