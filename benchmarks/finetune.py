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
    python benchmarks/finetune.py --sizes 224 --labels 100,250 --semi-supervised \
        --precision auto,float32 --threads 8      # on a GPU: bf16 against float32
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
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
    parser.add_argument("--labels", default="100",
                        help="labeled-set sizes, comma-separated")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--semi-supervised", action="store_true",
                        help="add the fine-tuned + FixMatch arm")
    parser.add_argument("--ssl-steps", type=int, default=1000)
    parser.add_argument("--precision", default="auto",
                        help="PretrainedClassifier precisions, comma-separated "
                             "(auto,float32: bf16 against float32 on a GPU)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds after which the remaining fits are skipped")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(n) for n in args.labels.split(",")]
    with np.load(CIFAR) as data:
        images, y = data["x"], data["y"].astype(np.int64)
    X = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255
    pool, test = train_test_split(np.arange(len(y)), test_size=400, stratify=y,
                                  random_state=0)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"# CIFAR-10 subset, {args.labels} random labels, 400 test images, torch "
          f"{torch.__version__}, {device}, {args.threads} thread(s), "
          f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    emb = standardized(ImageEmbedder("efficientnet_lite0", progress=False,
                                     data_format="channels_first").fit_transform(X))
    names = ["frozen logreg (160 px features)", "frozen MLP (160 px features)"]
    precisions = args.precision.split(",")
    for size in args.sizes.split(","):
        for precision in precisions:
            # the precision is named only when the run compares several
            tail = f" {precision}" if len(precisions) > 1 else ""
            names.append(f"fine-tuned {size} px{tail}")
            if args.semi_supervised:
                names.append(f"fine-tuned {size} px{tail} + fixmatch")
    results = {(n, name): [] for n in sizes for name in names}
    for seed in seeds:
        for n in sizes:
            order = np.random.RandomState(seed).permutation(len(pool))
            rows, rest = pool[order[:n]], pool[order[n:]]
            for name in names:
                if args.deadline and time.perf_counter() - start > args.deadline:
                    print(f"seed {seed} {n} {name}: skipped (deadline)", flush=True)
                    continue
                wall, cpu = time.perf_counter(), time.process_time()
                if name.startswith("frozen logreg"):
                    clf = LogisticRegression(max_iter=2000).fit(emb[rows], y[rows])
                    acc = clf.score(emb[test], y[test])
                elif name.startswith("frozen"):
                    clf = MixupNetClassifier(random_state=seed).fit(emb[rows], y[rows])
                    acc = clf.score(emb[test], y[test])
                else:
                    size = int(name.split()[1])
                    ssl = name.endswith("fixmatch")
                    precision = next((p for p in precisions
                                      if f"px {p}" in name), precisions[0])
                    clf = MixupNetClassifier(
                        module=PretrainedClassifier, module__n_classes=10,
                        module__input_size=size, module__precision=precision,
                        lr=1e-3,
                        optimizer__param_groups=[
                            ("backbone.*", {"lr": args.backbone_lr})],
                        min_steps=args.ssl_steps if ssl else args.steps,
                        batch_size=args.batch_size,
                        semi_supervised="fixmatch" if ssl else None,
                        random_state=seed)
                    clf.fit(X[rows], y[rows], X_unlabeled=X[rest] if ssl else None)
                    acc = clf.score(X[test], y[test])
                seconds = (time.perf_counter() - wall, time.process_time() - cpu)
                results[n, name].append((acc, seconds[0]))
                print(f"seed {seed} {n:>4} labels  {name:<38} {acc:.3f}  "
                      f"{seconds[0]:6.0f} s wall, {seconds[1]:6.0f} CPU s", flush=True)
    print(f"# steps {args.steps} (fixmatch {args.ssl_steps}) x batch "
          f"{args.batch_size}, backbone lr {args.backbone_lr:g}, head lr 1e-3")
    for (n, name), runs in results.items():
        if runs:
            wall = np.mean([w for _, w in runs])
            print(f"{n:>4} labels  {name:<38} {_summary([a for a, _ in runs])}  "
                  f"{wall:.0f} s a fit")


if __name__ == "__main__":
    main()
