"""Learning-curve plots and image grids, written with matplotlib's Agg backend.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: no global figure state, no GUI backend, safe in worker processes.
Files are written atomically.
"""

import math

import numpy as np

from skmixal._io import atomic_path

__all__ = ["format_table", "image_grid", "plot_learning_curves"]


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curves(curves, path, *, metric="accuracy", title=None,
                         target=None):
    """Plot one mean learning curve per arm with a ± std band, and save a PNG.

    Parameters
    ----------
    curves : dict of str to tuple of (n_labeled, mean, std)
        Per arm, three 1-D arrays of equal length: the number of labels after
        each round, and the mean and standard deviation of ``metric`` over
        seeds.
    path : str or path-like
        Where to write the PNG.
    metric : str, default="accuracy"
        Name of the metric, for the y-axis label.
    title : str or None, default=None
        Figure title; a generic one if None.
    target : float or None, default=None
        Draws a dotted horizontal line at this value when given.

    Returns
    -------
    path : str or path-like
        ``path``, for chaining.
    """
    fig = _figure((7, 4.5))
    ax = fig.subplots()
    for arm, (n_labeled, mean, std) in curves.items():
        n_labeled, mean, std = map(np.asarray, (n_labeled, mean, std))
        (line,) = ax.plot(n_labeled, mean, marker="o", markersize=3, label=arm)
        ax.fill_between(n_labeled, mean - std, mean + std, alpha=0.2,
                        color=line.get_color(), linewidth=0)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1,
                   label=f"target {target:g}")
    ax.set_xlabel("number of labeled samples")
    ax.set_ylabel(f"test {metric.replace('_', ' ')}")
    ax.set_title(title or "Learning curves (mean ± std over seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path


def format_table(curves, *, title="", reach=None, target=None):
    """Render learning curves as a text table: one row per label count.

    Parameters
    ----------
    curves : dict of str to tuple of (n_labeled, mean, std)
        As for :func:`plot_learning_curves`.
    title : str, default=""
        First line.
    reach : dict of str to int or None, or None, default=None
        Labels each arm needed to reach ``target``; adds a last row.
    target : float or None, default=None

    Returns
    -------
    table : str
    """
    arms = list(curves)
    ns = sorted({int(n) for n_labeled, _, _ in curves.values() for n in n_labeled})
    cells = {}
    for arm, (n_labeled, mean, std) in curves.items():
        for n, m, s in zip(n_labeled, mean, std):
            cells[arm, int(n)] = f"{m:.3f} ± {s:.3f}"
    rows = [[str(n)] + [cells.get((arm, n), "-") for arm in arms] for n in ns]
    if reach is not None:
        rows.append([f"to reach {target:g}"] + [
            "not reached" if reach[arm] is None else str(reach[arm]) for arm in arms])
    header = ["labels"] + arms
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title] if title else []
    for i, row in enumerate([header, *rows]):
        lines.append("  ".join(cell.rjust(w) if j else cell.ljust(w)
                               for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0 or (reach is not None and i == len(rows) - 1):
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def image_grid(images, captions, path, *, ncols=10, title=None):
    """Save a grid of grayscale or RGB thumbnails with a caption above each.

    Parameters
    ----------
    images : ndarray of shape (n, C, H, W) or (n, H, W)
        Pixel values; each image is scaled to its own min-max range.
    captions : sequence of str
        One caption per image (e.g. the sample id).
    path : str or path-like
        Where to write the PNG.
    ncols : int, default=10
        Images per row.
    title : str or None, default=None
        A line above the grid (e.g. the class names to choose from).

    Returns
    -------
    path : str or path-like
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or len(images) != len(captions):
        raise ValueError(
            "images must be (n, C, H, W) or (n, H, W) with one caption each; got "
            f"shape {images.shape} and {len(captions)} captions.")
    # one mosaic in one axes: far faster than an axes per image
    n, channels, height, width = images.shape
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    lo = images.min(axis=(1, 2, 3), keepdims=True)
    span = images.max(axis=(1, 2, 3), keepdims=True) - lo
    images = (images - lo) / np.where(span > 0, span, 1)
    pad, cap = max(1, width // 8), max(3, height // 3)  # cap: room for captions
    cell_h, cell_w = height + cap, width + pad
    mosaic = np.ones((nrows * cell_h, ncols * cell_w + pad, 3), np.float32)
    for k, img in enumerate(images):
        top, left = cap + (k // ncols) * cell_h, pad + (k % ncols) * cell_w
        rgb = np.repeat(1 - img, 3, axis=0) if channels == 1 else img[:3]
        mosaic[top:top + height, left:left + width] = np.moveaxis(rgb, 0, -1)
    fig = _figure((1.1 * ncols, 1.25 * nrows))
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=7, wrap=True)
    for k, caption in enumerate(captions):
        ax.text(pad + (k % ncols) * cell_w + width / 2,
                cap - 0.5 + (k // ncols) * cell_h, str(caption), ha="center",
                va="bottom", fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    return path
