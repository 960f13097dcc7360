"""Fine-tuning EfficientNet-Lite0 on the CIFAR-10 subset against its frozen features.

Issue 15 asks what fine-tuning (backbone + new head, a smaller learning rate
for the backbone) adds over the frozen features on a CPU, at a reduced input
size. Same split as ``embedding_speed.py`` (``train_test_split(...,
test_size=400, stratify=y, random_state=0)``; labeled rows
``RandomState(seed).permutation(1600)[:n]``), per seed:

* ``frozen MLP``: the MLP head on standardised EfficientNet-Lite0 features at
  160 px (what ``skmixal run --backbone efficientnet_lite0`` trains);
* ``fine-tuned <size> px``: ``MixupNetClassifier(module=PretrainedClassifier,
  module__input_size=size, lr=1e-3, optimizer__param_groups=[("backbone.*",
  {"lr": backbone_lr})])`` with the estimator's defaults otherwise (Mixup at
  alpha 0.1 for images), ``--steps`` optimizer steps of ``--batch-size``.

Prints accuracy per seed, mean ± std (worst seed), and the seconds of each fit
(wall, and this process's CPU time: other jobs may share the cores).

    python benchmarks/finetune.py --sizes 96 --steps 400 --seeds 0,1,2
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skmixal import ImageEmbedder, MixupNetClassifier
from skmixal._embedding_cache import standardized
from skmixal.finetune import PretrainedClassifier

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CIFAR = DATA / "cifar10" / "cifar10-test-subset2000-jpeg75.npz"


def _summary(accs):
    return (f"{np.mean(accs):.3f} ± {np.std(accs):.3f} (worst {min(accs):.3f}) "
            f"[{' '.join(f'{a:.3f}' for a in accs)}]")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="96")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backbone-lr", type=float, default=1e-4)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    with np.load(CIFAR) as data:
        images, y = data["x"], data["y"].astype(np.int64)
    X = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255
    pool, test = train_test_split(np.arange(len(y)), test_size=400, stratify=y,
                                  random_state=0)
    print(f"# CIFAR-10 subset, {args.labels} random labels, 400 test images, torch "
          f"{torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}")
    emb = standardized(ImageEmbedder("efficientnet_lite0", progress=False,
                                     data_format="channels_first").fit_transform(X))
    arms = {"frozen MLP (160 px features)": []}
    arms.update({f"fine-tuned {s} px": [] for s in args.sizes.split(",")})
    seconds = {name: [] for name in arms}
    for seed in seeds:
        rows = pool[np.random.RandomState(seed).permutation(len(pool))[:args.labels]]
        for name in arms:
            wall, cpu = time.perf_counter(), time.process_time()
            if name.startswith("frozen"):
                clf = MixupNetClassifier(random_state=seed).fit(emb[rows], y[rows])
                acc = clf.score(emb[test], y[test])
            else:
                size = int(name.split()[1])
                clf = MixupNetClassifier(
                    module=PretrainedClassifier, module__n_classes=10,
                    module__input_size=size, lr=1e-3,
                    optimizer__param_groups=[("backbone.*", {"lr": args.backbone_lr})],
                    min_steps=args.steps, batch_size=args.batch_size,
                    random_state=seed)
                acc = clf.fit(X[rows], y[rows]).score(X[test], y[test])
            arms[name].append(acc)
            seconds[name].append((time.perf_counter() - wall,
                                  time.process_time() - cpu))
            print(f"seed {seed} {name:<30} {acc:.3f}  {seconds[name][-1][0]:6.0f} s "
                  f"wall, {seconds[name][-1][1]:6.0f} CPU s", flush=True)
    print(f"# steps {args.steps} x batch {args.batch_size}, backbone lr "
          f"{args.backbone_lr:g}, head lr 1e-3")
    for name, accs in arms.items():
        wall = np.mean([w for w, _ in seconds[name]])
        print(f"{name:<30} {_summary(accs)}  {wall:.0f} s a fit")


if __name__ == "__main__":
    main()
