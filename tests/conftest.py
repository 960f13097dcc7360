import os
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

# Under pytest-xdist (`-n auto`) each worker is one process a core: torch's
# default of a thread a core would run cores x cores threads, many times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

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
