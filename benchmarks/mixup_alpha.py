"""How test accuracy depends on mixup_alpha, from few labels to many.

The measurement behind MixupNetClassifier's ``mixup_alpha='auto'``. For each
data set (scikit-learn's digits; MNIST's test set split into pool and test when it
is present), each layout (``vector``: flat features, default MLP; ``image``:
(N, H, W), default CNN), each number of labels and each alpha, fits the default
network on a stratified random labeled subset and scores on a held-out test set;
mean ± std over seeds.

    python benchmarks/mixup_alpha.py --seeds 2
"""

import argparse
import gzip
import time
from itertools import product
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skmixal import MixupNetClassifier

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def datasets():
    X, y = load_digits(return_X_y=True)
    yield "digits", (X / 16.0).astype(np.float32), y, (8, 8)
    images = MNIST / "t10k-images-idx3-ubyte.gz"
    if images.exists():
        X = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16)
        y = np.frombuffer(gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz").read(),
                          np.uint8, offset=8)
        yield "mnist", (X.reshape(-1, 784) / 255.0).astype(np.float32), y, (28, 28)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+",
                        default=[0.0, 0.1, 0.2, 0.4, 1.0])
    parser.add_argument("--labels", type=int, nargs="+", default=[20, 100, 300])
    parser.add_argument("--layouts", nargs="+", default=["vector", "image"])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()

    for (name, X, y, image_shape), layout in product(datasets(), args.layouts):
        if layout == "image":
            X = X.reshape(-1, *image_shape)
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=min(2000, len(X) // 3), stratify=y, random_state=0)
        print(f"\n{name} ({layout}): pool {len(X_pool)}, test {len(X_test)}")
        print(f"{'labels':>7}" + "".join(f"{'a=' + str(a):>16}" for a in args.alphas))
        for n_labels in args.labels:
            row = f"{n_labels:>7}"
            for alpha in args.alphas:
                scores = []
                for seed in range(args.seeds):
                    X_lab, _, y_lab, _ = train_test_split(
                        X_pool, y_pool, train_size=n_labels, stratify=y_pool,
                        random_state=seed)
                    net = MixupNetClassifier(mixup_alpha=alpha, random_state=seed)
                    scores.append(net.fit(X_lab, y_lab).score(X_test, y_test))
                row += f"{np.mean(scores):>10.3f}±{np.std(scores):.3f}"
            print(row, flush=True)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n{time.perf_counter() - start:.0f} s")
