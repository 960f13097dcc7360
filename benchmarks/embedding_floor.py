"""Issue 15's per-seed floor on frozen features: label draws against fit noise.

The floor asks every arm on a backbone's features to stay within 2 points of
scikit-learn's ``LogisticRegression`` trained on the same random labels, on
every seed. On the CIFAR-10 subset a seed's test split has 400 images (one
image is 0.25 points), and a seed fixes both the labels and the network's
initialisation, so a per-seed gap mixes two things: how the head does on that
label set, and how one network initialisation happened to do. This separates
them. For each label seed (the campaign's split, ``random`` labels drawn here,
the first 100 inside the 250) every head is fitted with ``--fit-seeds``
different ``random_state`` values on the same labels, and it prints

* mean ± std over every (label seed, fit seed) cell, and the worst cell;
* the paired gap to logistic regression on the same labels: its mean, the
  worst cell, and how many cells are more than 2 points below;
* the fit noise: the standard deviation over fit seeds on the same labels,
  averaged over label seeds;
* the worst label seed's gap averaged over its fit seeds (a loss on a label set
  that every initialisation repeats is the head's, not noise).

Heads: logistic regression (the floor), the MLP head the backbone arms train
(``MixupNetClassifier`` defaults, no Mixup), the same with dropout 0.5, and
FixMatch on the rest of the training pool with both, with a confidence
threshold of 0.8 or without distribution alignment, and FixMatch evaluated with an
exponential moving average of the head's weights (what FixMatch's reference code
evaluates; a callback here, not an estimator option: it did not earn one).
Features: EfficientNet-Lite0 (``--backbone``: another registered name) at 160
px, standardised, plain and mirror-averaged (``--flip-average``), read from (or
written to) ``label_efficiency.py``'s cache::

    python benchmarks/embedding_floor.py --jobs 2 \\
        > benchmarks/results/embedding_floor.txt
    # some heads on one kind of features (each head's cells are the same
    # whichever others run beside it)
    python benchmarks/embedding_floor.py --jobs 2 --features plain \\
        --heads "MLP + fixmatch" "MLP + fixmatch, EMA 0.99"
    python benchmarks/embedding_floor.py --jobs 2 --backbone efficientnet_lite2 \\
        --heads MLP "MLP + fixmatch"
"""

import argparse
import platform
import time

import numpy as np
import torch
from joblib import Parallel, delayed

# the sibling script (python puts this folder first on sys.path)
from label_efficiency import CIFAR, HERE
from sklearn.linear_model import LogisticRegression
from skorch.callbacks import Callback
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from skmixal import MixupNetClassifier
from skmixal._embedding_cache import backbone_features
from skmixal.backbones import BACKBONES
from skmixal.datasets import load_dataset
from skmixal.experiment import _split, derive_seed  # the campaign's own split

CACHE = HERE / "results" / "label_efficiency" / "embeddings" / "cifar10"
SIZES = (100, 250)
FLOOR = 0.02
HEADS = {
    "MLP": {},
    "MLP, dropout 0.5": {"module__dropout": 0.5},
    "MLP + fixmatch": {"semi_supervised": "fixmatch"},
    "MLP + fixmatch, dropout 0.5": {"semi_supervised": "fixmatch",
                                    "module__dropout": 0.5},
    "MLP + fixmatch, threshold 0.8": {"semi_supervised": "fixmatch",
                                      "confidence_threshold": 0.8},
    "MLP + fixmatch, no alignment": {"semi_supervised": "fixmatch",
                                     "distribution_alignment": None},
    "MLP + fixmatch, EMA 0.99": {"semi_supervised": "fixmatch", "ema": 0.99},
}


class WeightAverage(Callback):
    """Ends the fit with an exponential moving average of the module's weights.

    Updated after every training step (torch's ``AveragedModel``); a decay of
    0.99 averages about the last 100 of a FixMatch fit's 1,000 steps, so the
    untrained network's weights do not linger in it (at 0.999 they would still
    weigh 37 % at the end).
    """

    def __init__(self, decay):
        self.decay = decay

    def on_train_begin(self, net, **kwargs):
        self.average_ = AveragedModel(
            net.module_, multi_avg_fn=get_ema_multi_avg_fn(self.decay),
            use_buffers=True)

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.average_.update_parameters(net.module_)

    def on_train_end(self, net, **kwargs):
        net.module_.load_state_dict(self.average_.module.state_dict())


def label_sets(y, seed):
    """The seed's split and nested random labeled sets (indices into y)."""
    train, test = _split(y, 0.2, seed)
    order = np.random.default_rng(derive_seed(seed, "floor labels")).permutation(train)
    return train, test, {n: order[:n] for n in SIZES}


def fit_score(X, y, head, seed, n, fit_seed):
    """Test accuracy of one head on one label set; logreg ignores fit_seed."""
    torch.set_num_threads(1)
    train, test, sets = label_sets(y, seed)
    labeled = sets[n]
    if head == "logreg":
        model = LogisticRegression(max_iter=3000).fit(X[labeled], y[labeled])
        return model.score(X[test], y[test])
    params = dict(HEADS[head])
    if "ema" in params:
        params["callbacks"] = [("weight_average", WeightAverage(params.pop("ema")))]
    model = MixupNetClassifier(mixup_alpha=0.0, collapse_guard=None,
                               random_state=derive_seed(seed, "floor fit", fit_seed),
                               **params)
    # the rest of the training split is the unlabeled pool (never the test split)
    unlabeled = ({"X_unlabeled": X[np.setdiff1d(train, labeled)]}
                 if "semi_supervised" in HEADS[head] else {})
    model.fit(X[labeled], y[labeled], **unlabeled)
    return model.score(X[test], y[test])


def report(name, scores, base, seeds, fit_seeds):
    cells = np.array([[scores[s, f] for f in range(fit_seeds)] for s in seeds])
    gaps = cells - np.array([[base[s]] for s in seeds])
    noise = cells.std(axis=1).mean()
    worst_seed = gaps.mean(axis=1).min()
    print(f"  {name:30s} {cells.mean():.3f} ± {cells.std():.3f} ({cells.min():.3f})  "
          f"gap {gaps.mean():+.3f}, worst {gaps.min():+.3f}, "
          f"{(gaps < -FLOOR).sum():2d} of {gaps.size} cells below -{FLOOR:.2f}; "
          f"fit noise {noise:.3f}; worst label seed {worst_seed:+.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="label seeds 0..N-1")
    parser.add_argument("--fit-seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--heads", nargs="+", choices=list(HEADS), default=list(HEADS),
                        metavar="HEAD",
                        help="heads to fit beside logistic regression (default: all)")
    parser.add_argument("--features", choices=("plain", "mirror-averaged", "both"),
                        default="both")
    parser.add_argument("--backbone", choices=[n for n in BACKBONES if ":" not in n],
                        default="efficientnet_lite0")
    args = parser.parse_args()
    data = load_dataset(f"npz:{CIFAR}")
    seeds = list(range(args.seeds))
    print(f"CIFAR-10 subset {data.X.shape}; label seeds {seeds}, {args.fit_seeds} fit "
          f"seeds each; {args.jobs} jobs x 1 torch thread on {platform.machine()}, "
          f"torch {torch.__version__}")
    flips = {"plain": (False,), "mirror-averaged": (True,), "both": (False, True)}
    for flip in flips[args.features]:
        X = backbone_features(data, args.backbone, CACHE, flip_average=flip,
                              log=lambda *a: None)
        tasks = [(head, s, n, f) for head in ["logreg", *args.heads] for s in seeds
                 for n in SIZES
                 for f in range(1 if head == "logreg" else args.fit_seeds)]
        started = time.time()
        results = Parallel(n_jobs=args.jobs)(
            delayed(fit_score)(X, data.y, *task) for task in tasks)
        scores = dict(zip(tasks, results))
        kind = "mirror-averaged" if flip else "plain"
        print(f"\n{args.backbone} features, {kind} ({time.time() - started:.0f} "
              "s); accuracy mean ± std (worst cell), paired gap to logreg on the "
              "same labels")
        for n in SIZES:
            base = {s: scores["logreg", s, n, 0] for s in seeds}
            print(f" {n} random labels; logreg {np.mean(list(base.values())):.3f} "
                  f"(worst {min(base.values()):.3f})")
            for head in args.heads:
                cells = {(s, f): scores[head, s, n, f] for s in seeds
                         for f in range(args.fit_seeds)}
                report(head, cells, base, seeds, args.fit_seeds)


if __name__ == "__main__":
    main()
