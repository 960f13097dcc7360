"""Data loaders for the active-learning runner.

Every loader returns a :class:`LoadedData`. Images are float32 ``(N, C, H, W)``
arrays in ``[0, 1]``, tabular data float32 ``(N, F)``; integer labels come out as
int64 and string labels as ``str``. Files are read in place and never written.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"
# Both MNIST idx files hold uint8 data: type byte 0x08.
_IDX_UINT8 = 0x08
_CHANNELS = (1, 3, 4)
# Specs that name a dataset, never a path: a folder called "digits" in the
# current directory does not change what "digits" means.
BUILTIN_DATASETS = frozenset({"digits"})
_SPEC_FORMS = (
    "'digits', 'mnist:<folder>', 'npz:<path>', 'torchvision:<name>:<root>' "
    "(name: mnist, fashion-mnist, cifar10), a path ending in .npz, or a folder "
    "holding MNIST idx files"
)


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are missing and could not be downloaded.

    ``str(exc)`` is the whole message, for Python callers. ``cli_message`` is
    the part a command-line user can act on: which files to place where,
    without the Python-only hints (``download=True``), as the command line
    has no way to download.
    """

    def __init__(self, message, python_hint=None):
        super().__init__(f"{message} {python_hint}" if python_hint else message)
        self.cli_message = message


# eq=False: dataclass equality would compare arrays element-wise and fail.
@dataclass(frozen=True, eq=False)
class LoadedData:
    """A loaded dataset.

    Attributes
    ----------
    X : ndarray of float32
        ``(N, C, H, W)`` images in ``[0, 1]`` or ``(N, F)`` tabular features.
    y : ndarray of shape (N,) or None
        Labels: int64 for integer labels, ``str`` for string labels; None for
        an unlabeled pool (an ``.npz`` without labels).
    name : str
        Short name of the source, for logs and result files.
    label_names : tuple of str or None
        Human-readable name of each class index, when the source has them.
    image_shape : tuple of (int, int, int) or None
        ``(C, H, W)`` for images, None for tabular data.
    """

    X: np.ndarray
    y: np.ndarray
    name: str
    label_names: tuple[str, ...] | None = None
    image_shape: tuple[int, int, int] | None = None


def _labels(y, source):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{source}: labels must be 1-D, got shape {y.shape}.")
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind in "US":
        return y.astype(str)
    # Some tools save class indices as floats; accept them only when lossless.
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    raise ValueError(
        f"{source}: labels must be integers or strings, got dtype {y.dtype}."
    )


def _to_unit_float(x, source):
    # Wider integer types holding 8-bit pixels are as unambiguous as uint8.
    if x.dtype.kind in "iu" and (x.size == 0 or (x.min() >= 0 and x.max() <= 255)):
        return x.astype(np.float32) / np.float32(255)
    # NaN fails both comparisons, so non-finite pixels are rejected too.
    if x.dtype.kind == "f" and np.all((x >= 0) & (x <= 1)):
        return x.astype(np.float32)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        found = f"with {int(np.sum(~np.isfinite(x)))} NaN or infinite value(s)"
    elif x.size and x.dtype.kind in "iuf":
        found = f"values in [{x.min()}, {x.max()}]"
    else:
        found = ""
    raise ValueError(
        f"{source}: images must be integers in 0..255 or floats in [0, 1]; got "
        f"dtype {x.dtype} {found}. Rescale them before loading."
    )


def _images(x, source, layout=None):
    """Convert (N,H,W), (N,H,W,C) or (N,C,H,W) images to float32 NCHW."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if layout is None:
            first, last = x.shape[1] in _CHANNELS, x.shape[3] in _CHANNELS
            if first == last:
                raise ValueError(
                    f"{source}: cannot tell the channel axis of images with shape "
                    f"{x.shape}; pass layout='NCHW' or layout='NHWC'."
                )
            layout = "NCHW" if first else "NHWC"
        if layout == "NHWC":
            x = x.transpose(0, 3, 1, 2)
        elif layout != "NCHW":
            raise ValueError(f"layout must be 'NCHW', 'NHWC' or None, got {layout!r}.")
    else:
        raise ValueError(
            f"{source}: images must be 3-D (N, H, W) or 4-D (N, H, W, C) / "
            f"(N, C, H, W), got shape {x.shape}."
        )
    # Contiguous so that torch.from_numpy downstream needs no extra copy.
    return np.ascontiguousarray(_to_unit_float(x, source))


def _bundle(X, y, name, label_names=None, source=None):
    y = None if y is None else _labels(y, source or name)
    if y is not None and len(X) != len(y):
        raise ValueError(f"{source or name}: {len(X)} samples but {len(y)} labels.")
    if label_names is not None:  # bytes come from S-dtype arrays and old pickles
        label_names = tuple(
            n.decode() if isinstance(n, bytes) else str(n) for n in label_names
        )
    shape = tuple(int(d) for d in X.shape[1:]) if X.ndim == 4 else None
    return LoadedData(X=X, y=y, name=name, label_names=label_names, image_shape=shape)


def load_digits_data(as_images=False):
    """Load scikit-learn's bundled 8x8 digits (1797 samples, 10 classes).

    Parameters
    ----------
    as_images : bool, default=False
        Return ``(N, 1, 8, 8)`` images instead of ``(N, 64)`` features.

    Returns
    -------
    data : LoadedData
        Pixel values divided by 16, so in ``[0, 1]``, as float32.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    if as_images:
        X = X.reshape(-1, 1, 8, 8)
    return _bundle(X, bunch.target, "digits", bunch.target_names)


def _read_idx(path):
    path = Path(path)
    raw = path.read_bytes()
    # Detect compression from the content: downloads are often renamed.
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: corrupt gzip data ({exc}).") from exc
    if len(raw) < 4 or raw[:3] != bytes([0, 0, _IDX_UINT8]):
        raise ValueError(
            f"{path}: not a uint8 idx file (magic bytes {raw[:4].hex()!r}; "
            "expected 000008 and the number of dimensions, e.g. 00000803)."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: idx header truncated or has 0 dimensions.")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: header declares dims {dims} ({expected} data bytes) but the "
            f"file holds {len(raw) - header} data bytes."
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def load_idx(images_path, labels_path):
    """Load an MNIST-format pair of idx files, gzipped or raw.

    Parameters
    ----------
    images_path : str or path-like
        idx file of ``(N, H, W)`` images (magic ``0x00000803`` for uint8).
    labels_path : str or path-like
        idx file of ``(N,)`` labels (magic ``0x00000801`` for uint8).

    Returns
    -------
    data : LoadedData
        ``(N, 1, H, W)`` float32 images in ``[0, 1]`` and int64 labels, named
        after the images' folder.

    Raises
    ------
    ValueError
        If a file is not idx, has the wrong dimensions, or the counts differ.
    """
    images, labels = _read_idx(images_path), _read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(
            f"{images_path}: expected 3-D (N, H, W) images, got dims {images.shape}."
        )
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected 1-D labels, got {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels."
        )
    name = Path(images_path).resolve().parent.name or "idx"
    return _bundle(_images(images, str(images_path)), labels, name)


def load_mnist_folder(folder, split="test"):
    """Load MNIST-format idx files from a folder by their standard names.

    Parameters
    ----------
    folder : str or path-like
        Folder holding e.g. ``t10k-images-idx3-ubyte.gz`` and
        ``t10k-labels-idx1-ubyte.gz`` (raw or gzipped).
    split : {"test", "train"}, default="test"
        Which pair of files to read.

    Returns
    -------
    data : LoadedData
        See :func:`load_idx`.

    Raises
    ------
    FileNotFoundError
        If either file is missing; the message lists the names looked for.
    """
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}.")
    folder, prefix = Path(folder), "t10k" if split == "test" else "train"
    found = {}
    for kind, n in (("images", 3), ("labels", 1)):
        # The dotted spelling is the one some mirrors and archives use.
        names = [
            f"{prefix}-{kind}{sep}idx{n}-ubyte{gz}"
            for sep in "-."
            for gz in ("", ".gz")
        ]
        hits = [folder / f for f in names if (folder / f).is_file()]
        if not hits:
            raise FileNotFoundError(
                f"No MNIST {split} {kind} file in {folder}; looked for: "
                f"{', '.join(names)}."
            )
        found[kind] = hits[0]
    return load_idx(found["images"], found["labels"])


def load_npz(path, x_key="X", y_key="y", layout=None):
    """Load user data from an ``.npz`` archive (never unpickles objects).

    Parameters
    ----------
    path : str or path-like
        Archive with a feature array, a label array (optional: a pool nobody
        has labeled yet, for the labeling loop) and optionally a
        ``label_names`` array of class names.
    x_key, y_key : str, default="X", "y"
        Keys of the two arrays; with the defaults, lowercase ``x`` and
        uppercase ``Y`` are accepted too. An archive holding only the
        features (and ``label_names``) loads with ``y=None``.
    layout : {"NCHW", "NHWC"} or None, default=None
        Channel layout of 4-D images. None infers it from which axis has 1, 3
        or 4 entries and raises if both or neither do.

    Returns
    -------
    data : LoadedData
        Named after the file. 2-D features become float32 ``(N, F)``, unscaled.
        3-D ``(N, H, W)`` and 4-D arrays become float32 NCHW images in
        ``[0, 1]``: integer pixels in 0..255 (uint8) are divided by 255, floats
        within ``[0, 1]`` are kept, anything else raises ``ValueError``.
    """
    path = Path(path)
    with open(path, "rb") as fh:  # FileNotFoundError names the path
        magic = fh.read(4)
    # np.load treats a non-zip file as a pickle and suggests allow_pickle, which
    # is the wrong advice: say what the file is not
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(
            f"{path} is not an .npz archive (it does not start like a zip file): "
            "it is truncated or was saved another way. Save it again with "
            "numpy.savez(path, X=..., y=...)."
        )
    try:
        return _read_npz(path, x_key, y_key, layout)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(
            f"{path} is corrupt ({type(exc).__name__}: {exc}); it was probably "
            "truncated while copying. Copy or save it again."
        ) from None


def _read_npz(path, x_key, y_key, layout):
    with np.load(path, allow_pickle=False) as archive:
        keys = set(archive.files)

        def pick(key, alias, required=True):
            if key in keys:
                return archive[key]
            if alias is not None and alias in keys:
                return archive[alias]
            if not required:
                return None
            raise ValueError(
                f"{path}: no array named {key!r}; the file holds {sorted(keys)}."
            )

        X = pick(x_key, "x" if x_key == "X" else None)
        # a file of images alone is a pool nobody has labeled yet; with any
        # other array (or another y_key) a missing y is a misnamed one
        alone = keys <= {x_key, "x", "label_names"} and y_key == "y"
        y = pick(y_key, "Y" if y_key == "y" else None, required=not alone)
        label_names = archive["label_names"] if "label_names" in keys else None
    if X.ndim == 2:
        if X.dtype.kind not in "iufb":
            raise ValueError(f"{path}: features must be numeric, got {X.dtype}.")
        X = np.ascontiguousarray(X, dtype=np.float32)
    else:
        X = _images(X, str(path), layout)
    return _bundle(X, y, path.stem, label_names, source=str(path))


# Names accepted by load_torchvision -> torchvision.datasets class names.
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def _torchvision_class(name):
    if str(name).lower() not in _TORCHVISION:
        raise ValueError(
            f"Unknown torchvision dataset {name!r}; use mnist, fashion-mnist or "
            "cifar10."
        )
    try:
        import torchvision.datasets as tvd
    except ImportError as exc:
        raise ImportError(
            "load_torchvision needs torchvision: pip install skmixal[vision]"
        ) from exc
    return getattr(tvd, _TORCHVISION[str(name).lower()])


# Read file lists from the class so the advice follows the torchvision version.
def _where_to_put(cls, root):
    if hasattr(cls, "base_folder"):  # CIFAR-10: pickled batches, MD5-checked
        names = [f for f, _ in (*cls.train_list, *cls.test_list)]
        names.append(cls.meta["filename"])
        return (
            f"Place the files of the official python-version archive in "
            f"{Path(root) / cls.base_folder}: {', '.join(names)} (torchvision "
            f"checks their MD5), or put {cls.filename} in {root} and extract it "
            f"there: tar xzf {cls.filename} -C {root}."
        )
    # MNIST family: <root>/<ClassName>/raw/, all four files whatever the split.
    names = [os.path.basename(url).removesuffix(".gz") for url, _ in cls.resources]
    return (
        f"Place the uncompressed idx files in {Path(root) / cls.__name__ / 'raw'}: "
        f"{', '.join(names)} (torchvision needs all of them for either split), or "
        "the original .gz files there and gunzip them. Without torchvision, one "
        "split reads with --data mnist:<folder>."
    )


def load_torchvision(name, root, train=True, download=False):
    """Load MNIST, Fashion-MNIST or CIFAR-10 through ``torchvision.datasets``.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "cifar10"}
        Which dataset.
    root : str or path-like
        The torchvision ``root`` folder.
    train : bool, default=True
        Training split if True, test split otherwise.
    download : bool, default=False
        Passed to torchvision: fetch the files when they are missing.

    Returns
    -------
    data : LoadedData
        float32 NCHW images in ``[0, 1]``, int64 labels and class names. The
        dataset's ``data``/``targets`` arrays are converted in one go rather
        than item by item through PIL.

    Raises
    ------
    ImportError
        If torchvision is not installed.
    DatasetNotFoundError
        If the files are missing or corrupt and could not be downloaded; the
        message names the folder and files to place by hand.
    """
    cls = _torchvision_class(name)
    try:
        ds = cls(root=str(root), train=train, download=download)
    # torchvision reports missing files as RuntimeError and offline downloads as
    # URLError (an OSError) or RuntimeError once every mirror failed.
    except (RuntimeError, OSError) as exc:
        found = f"{cls.__name__} data not found or invalid under {root}"
        place = _where_to_put(cls, root)
        if download:
            raise DatasetNotFoundError(
                f"{found}, and the download failed ({exc}). {place}"
            ) from exc
        # torchvision's own text ("You can use download=True") is Python-only
        raise DatasetNotFoundError(
            f"{found} (nothing is downloaded). {place}",
            python_hint="In Python, load_torchvision(..., download=True) fetches "
            "the files, or extracts an archive already in place without the "
            "network; load_mnist_folder reads one MNIST split without "
            f"torchvision. torchvision said: {exc}",
        ) from exc
    # MNIST data is (N, H, W); CIFAR-10 data is (N, H, W, 3).
    X = _images(np.asarray(ds.data), f"torchvision {cls.__name__}", layout="NHWC")
    split = "train" if train else "test"
    return _bundle(X, np.asarray(ds.targets), f"{name.lower()}-{split}", ds.classes)


def load_dataset(spec="digits", **kwargs):
    """Load a dataset from a one-string specification, as the CLI gives it.

    Parameters
    ----------
    spec : str or path-like, default="digits"
        ``"digits"``, ``"mnist:<folder>"``, ``"npz:<path>"``,
        ``"torchvision:<name>:<root>"``, a path ending in ``.npz``, or a folder
        with MNIST idx files.
    **kwargs
        Passed to the loader (e.g. ``as_images``, ``split``, ``train``,
        ``download``, ``x_key``).

    Returns
    -------
    data : LoadedData
        What the chosen loader returns.
    """
    text = str(spec)
    kind, _, rest = text.partition(":")
    if text in BUILTIN_DATASETS:
        return load_digits_data(**kwargs)
    if kind == "mnist" and rest:
        return load_mnist_folder(rest, **kwargs)
    if kind == "npz" and rest:
        return load_npz(rest, **kwargs)
    if kind == "torchvision":
        # Split once only: the root path may itself contain ':'.
        tv_name, _, root = rest.partition(":")
        if tv_name and root:
            return load_torchvision(tv_name, root, **kwargs)
    elif text.lower().endswith(".npz"):
        return load_npz(text, **kwargs)
    elif Path(text).is_dir():
        return load_mnist_folder(text, **kwargs)
    raise ValueError(f"Unrecognised dataset {text!r}; valid forms: {_SPEC_FORMS}.")
