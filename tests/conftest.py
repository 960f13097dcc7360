from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1]: (1797, 64) float64 and int labels."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def digits_small(digits):
    X, y = digits
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))
    return X[idx[:300]], y[idx[:300]], X[idx[300:600]], y[idx[300:600]]
