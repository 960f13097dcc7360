"""Fit MixupNetClassifier on scikit-learn's digits: mixup off, on, and with the pool.

    python examples/quickstart.py

Few labels is where mixup helps most: this trains the default CNN on 100
labeled 8x8 digit images (10 per class) and scores on 697 held-out ones, for
three seeds, with mixup off, with the default ``mixup_alpha='auto'`` (0.1 for
images), and with 1,000 more images given without their labels
(``X_unlabeled=``: semi-supervised Mixup, MixMatch).
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skmixal import MixupNetClassifier


def main():
    # one thread: small networks run as fast, and a shared machine stays usable
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)  # pixel values 0..16 -> [0, 1], as images
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=100, stratify=y, random_state=0)
    X_pool, X_test, _, y_test = train_test_split(
        X_rest, y_rest, train_size=1000, stratify=y_rest, random_state=0)
    arms = {"mixup off": (dict(mixup_alpha=0.0), None),
            "mixup_alpha='auto'": ({}, None),
            "+ 1,000 unlabeled": ({}, X_pool)}
    for label, (params, pool) in arms.items():
        scores = [
            MixupNetClassifier(random_state=seed, **params)
            .fit(X_train, y_train, X_unlabeled=pool)
            .score(X_test, y_test)
            for seed in range(3)
        ]
        print(f"{label:<18} accuracy on {len(y_test)} test digits: "
              f"{np.mean(scores):.3f} +- {np.std(scores):.3f}")


if __name__ == "__main__":
    main()
