"""Speed against accuracy of MixMatch on MNIST: the defaults and a faster setting.

One 100-label MNIST fit with the other 7,900 pool images unlabeled, alone on 2
torch threads (the setting of issue 7's 2-minute target), for each seed:

* ``default``: the estimator's defaults (K=4 views, 2,000 steps);
* ``fast``: ``n_augmentations=2, min_steps=1000`` (half the views, half the steps).

Same splits as ``semi_supervised.py`` (whose helpers it uses).

    python benchmarks/ssl_speed.py --seeds 0,1,2
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from semi_supervised import _labeled, load  # noqa: E402

SETTINGS = {"default": {}, "fast": dict(n_augmentations=2, min_steps=1000)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--settings", default="fast,default")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from skmixal import MixupNetClassifier

    Xp, Xt, yp, yt = load("mnist")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"MNIST, 100 random labels, {len(Xp) - 100:,} unlabeled, 2 torch threads, "
          f"torch {torch.__version__}")
    for name in args.settings.split(","):
        acc, sec = [], []
        for seed in seeds:
            lab, unl = _labeled(len(Xp), 100, seed)
            clf = MixupNetClassifier(random_state=seed, **SETTINGS[name])
            start = time.perf_counter()
            clf.fit(Xp[lab], yp[lab], X_unlabeled=Xp[unl])
            sec.append(time.perf_counter() - start)
            acc.append(clf.score(Xt, yt))
            print(f"  {name:>8} seed {seed}: {acc[-1]:.4f} in {sec[-1]:.0f} s",
                  flush=True)
        print(f"{name:>10} {SETTINGS[name] or '(defaults)'}: {np.mean(acc):.4f} ± "
              f"{np.std(acc):.4f}, {np.mean(sec):.0f} s per fit")


if __name__ == "__main__":
    main()
