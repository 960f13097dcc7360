"""Helpers of the labeling-loop tests (test_labeling.py, test_cli_faults.py).

Not a test module: pytest collects ``test_*.py`` only.
"""

import csv

import numpy as np

from skmixal.datasets import load_dataset

FAST = ["--max-epochs", "2", "--min-steps", "10"]


def ids_of(path):
    """The ids of a query CSV, in order."""
    with open(path, newline="") as fh:
        return [int(row["id"]) for row in csv.DictReader(fh)]


def fill(path, labels, *, rows=None, only=None, header=("id", "label")):
    """The scripted expert: write the true labels of a query's ids.

    Parameters
    ----------
    path : path-like
        The query CSV, rewritten in place.
    labels : ndarray
        The true label of every sample id.
    rows : list of (id, label) or None, default=None
        Rows to write instead (for malformed files).
    only : int or None, default=None
        Label only the first ``only`` rows; the others are left empty.
    header : tuple of str, default=("id", "label")
        The first row, as a spreadsheet may have rewritten it.
    """
    if rows is None:
        rows = [(i, labels[i] if only is None or k < only else "")
                for k, i in enumerate(ids_of(path))]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def snapshot(folder):
    """Every file of a folder, name -> bytes: to assert nothing changed."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def digits_npz(path, n=300, **extra):
    """The first ``n`` digits as 8x8 images in an npz file."""
    data = load_dataset("digits")
    np.savez(path, X=data.X[:n].reshape(-1, 8, 8), y=data.y[:n], **extra)
    return path
