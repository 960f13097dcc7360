"""Fit MixupNetClassifier on scikit-learn's digits, with and without mixup.

    python examples/quickstart.py

Few labels is where mixup helps most: this trains the default CNN on 100
labeled 8x8 digit images (10 per class) and scores on the rest, for three seeds,
with mixup off and with the default ``mixup_alpha='auto'`` (0.2 for images).
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skmixal import MixupNetClassifier


def main():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)  # pixel values 0..16 -> [0, 1], as images
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=100, stratify=y, random_state=0)
    for alpha in (0.0, "auto"):
        scores = [
            MixupNetClassifier(mixup_alpha=alpha, random_state=seed)
            .fit(X_train, y_train)
            .score(X_test, y_test)
            for seed in range(3)
        ]
        label = "mixup off" if alpha == 0 else "mixup_alpha='auto'"
        print(f"{label:<18} accuracy on {len(y_test)} test digits: "
              f"{np.mean(scores):.3f} +- {np.std(scores):.3f}")


if __name__ == "__main__":
    main()
