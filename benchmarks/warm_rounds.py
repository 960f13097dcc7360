"""Warm rounds: a refit that continues from the last round's model against one
from scratch, in an active-learning loop (issue 14: accuracy within 0.5 point
of the cold fit, a warm round at most 1/3 of a cold one's time).

Each seed starts from ``--initial`` labels per class of the pool (the splits of
``semi_supervised.py``, whose helpers it uses), fits once from scratch, then
runs ``--rounds`` rounds of ``--query`` more labels chosen by margin sampling
on the current model. In each round the same labels are fitted twice, with the
rest of the pool unlabeled: ``cold``, a new estimator from scratch; ``warm``,
the previous warm model continued with ``warm_start=True`` (``min_steps='auto'``
then takes a quarter of the method's steps). The queries follow the warm chain,
so both fits of a round see the same labels. ``--noise`` adds ``cold2``, a
second fit from scratch with another ``random_state``: how far two cold fits
of the same labels are apart, the yardstick for the warm - cold gap.
``--warm-params`` sets parameters of the warm fits only (a JSON object).

    python benchmarks/warm_rounds.py --data digits --seeds 0,1,2 --noise
    python benchmarks/warm_rounds.py --data mnist --seeds 0,1,2 --initial 5 --query 20
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from semi_supervised import labeled_rows, load  # noqa: E402


def _fit(clf, X, y, U):
    start = time.process_time()
    clf.fit(X, y, X_unlabeled=U)
    return time.process_time() - start


def run_seed(data, seed, args):
    from skmixal import MixupNetClassifier
    from skmixal.strategies import margin_sampling

    Xp, Xt, yp, yt = data
    lab, _ = labeled_rows(yp, seed, per_class=args.initial)
    labeled = np.zeros(len(yp), bool)
    labeled[lab] = True
    params = dict(random_state=seed, classes=np.unique(yp))
    if args.method:
        params["semi_supervised"] = args.method
    warm = MixupNetClassifier(**params)
    _fit(warm, Xp[labeled], yp[labeled], Xp[~labeled])
    rows = []
    for round_ in range(1, args.rounds + 1):
        pool = np.flatnonzero(~labeled)
        idx, _ = margin_sampling(warm, Xp[pool], n_instances=args.query,
                                 return_scores=True)
        labeled[pool[idx]] = True
        X, y, U = Xp[labeled], yp[labeled], Xp[~labeled]
        cold = MixupNetClassifier(**params)
        cold_s = _fit(cold, X, y, U)
        warm = copy.deepcopy(warm).set_params(warm_start=True, **args.warm_params)
        warm_s = _fit(warm, X, y, U)
        rows.append(dict(seed=seed, round=round_, labels=int(labeled.sum()),
                         cold=cold.score(Xt, yt), warm=warm.score(Xt, yt),
                         cold_s=cold_s, warm_s=warm_s,
                         steps=(cold.min_steps_, warm.min_steps_)))
        r = rows[-1]
        noise = ""
        if args.noise:
            other = MixupNetClassifier(**dict(params, random_state=seed + 1000))
            _fit(other, X, y, U)
            r["cold2"] = other.score(Xt, yt)
            noise = f", cold2 {r['cold2']:.4f}"
        print(f"  seed {seed} round {round_} ({r['labels']} labels): cold "
              f"{r['cold']:.4f} in {cold_s:.0f} CPU s, warm {r['warm']:.4f} in "
              f"{warm_s:.0f} CPU s (steps {r['steps'][0]} / {r['steps'][1]})"
              f"{noise}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", choices=["digits", "mnist",
                                                             "cifar10"])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--initial", type=int, default=5, help="labels per class")
    parser.add_argument("--query", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--method", help="semi_supervised= (default: the "
                                         "estimator's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--noise", action="store_true",
                        help="also a second cold fit with another random_state")
    parser.add_argument("--warm-params", type=json.loads, default={},
                        help="JSON object of parameters of the warm fits only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load(args.data)
    print(f"{args.data}, {args.initial} labels per class + {args.rounds} rounds of "
          f"{args.query} by margin sampling, {args.threads} torch threads, torch "
          f"{torch.__version__}; times are CPU seconds of this process"
          + (f"; warm fits with {args.warm_params}" if args.warm_params else ""))
    rows = [r for seed in args.seeds.split(",") for r in run_seed(data, int(seed),
                                                                   args)]
    gap = np.array([r["warm"] - r["cold"] for r in rows])
    ratio = np.array([r["warm_s"] / r["cold_s"] for r in rows])
    cold, warm = (np.array([r[k] for r in rows]) for k in ("cold", "warm"))
    print(f"cold {cold.mean():.4f} ± {cold.std():.4f}, warm {warm.mean():.4f} ± "
          f"{warm.std():.4f}; warm - cold: mean {gap.mean():+.4f}, worst "
          f"{gap.min():+.4f}; warm time / cold time: mean {ratio.mean():.2f}, worst "
          f"{ratio.max():.2f} ({len(rows)} rounds)")
    if args.noise:
        noise = np.array([r["cold2"] - r["cold"] for r in rows])
        print(f"two cold fits (cold2 - cold): mean {noise.mean():+.4f}, worst "
              f"{noise.min():+.4f}, largest |gap| {np.abs(noise).max():.4f}")


if __name__ == "__main__":
    main()
