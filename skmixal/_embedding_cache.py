"""Embeddings of a data set by a pretrained backbone, computed once and cached.

``skmixal run --backbone`` and ``skmixal init --backbone`` train and query on
the frozen features of a backbone (:class:`skmixal.ImageEmbedder`) instead of
the pixels. Embedding is the slow part (a minute for 2,000 small images on a
CPU), so it happens once per data set: the features are saved in the output or
state folder, in one ``.npz`` file per backbone and input size, next to what
they came from (the fingerprint of the images, the backbone, the input size,
the skmixal version). A cache that does not match the data in hand, is damaged
or was written by another skmixal version is recomputed and replaced, with a
message saying why; it is never reused silently.
"""

import json
import re

import numpy as np

from skmixal._io import UserError, fingerprint, os_message, salvage_npz, write_npz

__all__ = ["backbone_features", "cached_embeddings", "embed", "images_of",
           "save_embeddings", "standardized"]


def _quiet(message):
    pass


def cache_path(folder, backbone, input_size, flip_average=False):
    """The cache file of ``backbone`` at ``input_size`` in ``folder``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", backbone)
    flip = "_flip" if flip_average else ""
    return folder / f"embeddings_{safe}_{input_size}px{flip}.npz"


def _why_stale(path, meta_expected, n):
    """(None, embeddings) when ``path`` holds those described, else (why, None)."""
    arrays, problems = salvage_npz(path)
    if problems or not {"embeddings", "meta"} <= set(arrays):
        return "damaged", None
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError:
        return "damaged", None
    emb = arrays["embeddings"]
    meta.setdefault("flip_average", False)  # caches written before the option
    for key, what in (("data", "the data changed"),
                      ("backbone", "another backbone"),
                      ("input_size", "another input size"),
                      ("flip_average", "another --flip-average"),
                      ("skmixal", "written by another skmixal version")):
        if meta.get(key) != meta_expected[key]:
            return what, None
    if (emb.ndim != 2 or emb.shape[0] != n
            or emb.dtype != np.float32 or not np.isfinite(emb).all()):
        return "damaged", None
    return None, emb


def embed(X, backbone, *, input_size=None, flip_average=False):
    """Embeddings of the images ``X`` and the description the cache keeps.

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W)
        Images as :func:`skmixal.datasets.load_dataset` gives them.
    backbone : str
        A registered backbone name (:data:`skmixal.backbones.BACKBONES`).
    input_size : int or None, default=None
        Side the images are resized to; None: the backbone's own.
    flip_average : bool, default=False
        Average each image's embedding with its mirror image's
        (:class:`skmixal.ImageEmbedder`'s ``flip_average``).

    Returns
    -------
    embeddings : ndarray of shape (N, dim), float32
    meta : dict
        What they came from: the data's fingerprint, the backbone, the input
        size, whether mirror images were averaged in, the skmixal version.
    """
    meta = _meta(X, backbone, input_size, flip_average)
    return _embed(X, meta), meta


def _embed(X, meta):
    """Embeddings of ``X`` as ``meta`` (from :func:`_meta`) describes them."""
    from skmixal import ImageEmbedder

    backbone = meta["backbone"]
    try:
        embedder = ImageEmbedder(backbone, input_size=meta["input_size"],
                                 data_format="channels_first",
                                 flip_average=meta["flip_average"]).fit(X)
    except ImportError as exc:
        raise UserError(f"--backbone {backbone}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise UserError(f"--backbone {backbone} cannot embed this data: {exc}") \
            from None
    return embedder.transform(X)


def _meta(X, backbone, input_size, flip_average=False):
    """The cache's description of ``X`` embedded by ``backbone``; checks both."""
    from skmixal import __version__
    from skmixal.backbones import get_backbone

    if X.ndim != 4:
        raise UserError(
            f"--backbone {backbone} embeds images, but this data set holds "
            f"feature vectors (shape {X.shape}); drop --backbone.")
    try:
        size = int(input_size or get_backbone(backbone).input_size)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--backbone: {exc}") from None
    return {"data": fingerprint(X), "backbone": backbone, "input_size": size,
            "flip_average": bool(flip_average), "skmixal": __version__}


def save_embeddings(folder, embeddings, meta, *, log=_quiet):
    """Write the cache file; a folder that cannot be written is only logged."""
    path = cache_path(folder, meta["backbone"], meta["input_size"],
                      meta["flip_average"])
    try:
        write_npz(path, embeddings=embeddings, meta=np.array(json.dumps(meta)))
    except OSError as exc:
        log(f"Could not save the embeddings to {path} ({os_message(exc)}); the "
            "next command computes them again.")


def cached_embeddings(X, backbone, folder, *, input_size=None, flip_average=False,
                      log=_quiet):
    """Embeddings of the images ``X``, read from ``folder`` or computed there.

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W)
        Images as :func:`skmixal.datasets.load_dataset` gives them.
    backbone : str
        A registered backbone name (:data:`skmixal.backbones.BACKBONES`).
    folder : pathlib.Path
        Where the cache file lives (created if missing).
    input_size : int or None, default=None
        Side the images are resized to; None: the backbone's own.
    flip_average : bool, default=False
        Average each image's embedding with its mirror image's; a separate
        cache file.
    log : callable, default=no-op
        Receives one message when the embeddings are computed, and why.

    Returns
    -------
    embeddings : ndarray of shape (N, dim), float32
    """
    meta = _meta(X, backbone, input_size, flip_average)
    path = cache_path(folder, backbone, meta["input_size"], flip_average)
    reason = "no cache yet"
    if path.exists():
        reason, emb = _why_stale(path, meta, len(X))
        if reason is None:
            return emb
    mirrored = " and their mirror images" if flip_average else ""
    log(f"Embedding {len(X)} images{mirrored} with {backbone} at "
        f"{meta['input_size']} px ({reason}; saved to {path} for later commands)...")
    emb = _embed(X, meta)  # meta already holds the data's fingerprint
    save_embeddings(folder, emb, meta, log=log)
    return emb


def standardized(emb, like=None):
    """Features with mean 0 and standard deviation 1 over all rows of ``emb``.

    The statistics come from every image of the data set and no label, as in
    a labeling campaign where the whole pool is at hand; constant features
    stay 0.

    Parameters
    ----------
    emb : ndarray of shape (n, dim)
    like : ndarray of shape (m, dim) or None, default=None
        Embeddings whose statistics to use instead of ``emb``'s: new images
        scaled as the model's training features were.

    Returns
    -------
    ndarray of shape (n, dim), float32
    """
    ref = emb if like is None else like
    mean = ref.mean(axis=0, dtype=np.float64)
    std = ref.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return ((emb - mean) / std).astype(np.float32)


def images_of(data):
    """The images of a loaded data set; scikit-learn's digits, which load as 64
    features, as the 8x8 images they are."""
    if data.name == "digits" and data.X.shape[1:] == (64,):
        return data.X.reshape(-1, 1, 8, 8)
    return data.X


def backbone_features(data, backbone, folder, *, input_size=None, flip_average=False,
                      log=_quiet):
    """What a model trains on under ``--backbone``: cached embeddings, standardised.

    Parameters
    ----------
    data : skmixal.datasets.LoadedData
        The data set (its images as :func:`images_of` gives them).
    backbone, folder, input_size, flip_average, log
        As for :func:`cached_embeddings`.

    Returns
    -------
    features : ndarray of shape (N, dim), float32
    """
    return standardized(cached_embeddings(images_of(data), backbone, folder,
                                          input_size=input_size,
                                          flip_average=flip_average, log=log))
