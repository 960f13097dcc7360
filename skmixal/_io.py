"""Crash-safe file helpers: atomic writes, JSON and NPZ state, user errors.

Every write goes to a temporary file in the destination's folder, is flushed to
disk, and then renamed over the destination with :func:`os.replace`, which is
atomic on POSIX and Windows. A crash or Ctrl-C at any point leaves either the
old file or the new one, never a truncated mix. Nothing here unpickles: NPZ
files are read with ``allow_pickle=False``.
"""

import contextlib
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import signal
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = [
    "InterruptGuard",
    "UserError",
    "atomic_path",
    "atomic_write_text",
    "fingerprint",
    "package_versions",
    "read_json",
    "read_npz",
    "write_csv",
    "write_json",
    "write_npz",
]


class UserError(Exception):
    """A problem with the user's input or files, reported without a traceback."""


class InterruptGuard:
    """Notices SIGINT even where skorch swallows the KeyboardInterrupt.

    skorch's ``partial_fit`` ends training quietly on KeyboardInterrupt; a round
    trained that way must not be saved. The handler records the signal, then
    defers to the previous handler; :meth:`check` re-raises after the fit.
    Outside the main thread (Dask threads) signals cannot be caught and the
    guard does nothing.
    """

    def __enter__(self):
        self.hit, self._prev = False, None
        if threading.current_thread() is threading.main_thread():
            self._prev = signal.getsignal(signal.SIGINT)
            if self._prev is not signal.SIG_IGN:
                signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        self.hit = True
        if callable(self._prev):
            self._prev(signum, frame)
        raise KeyboardInterrupt

    def check(self):
        """Raise KeyboardInterrupt if SIGINT arrived inside the block."""
        if self.hit:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._prev is not None and self._prev is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self._prev)
        return False


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The caller writes the temporary file by name (e.g. ``savefig`` or skorch's
    ``save_params``). If the block raises, the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        Final destination.

    Yields
    ------
    tmp : pathlib.Path
        Temporary file in the same folder, ending with the same suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the real suffix last, so writers that infer the format from it still work
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
    text : str
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _jsonable(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_json(path, obj):
    """Write ``obj`` as indented JSON atomically (NumPy scalars and arrays allowed).

    Parameters
    ----------
    path : str or path-like
    obj : dict or list
    """
    atomic_write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def read_json(path):
    """Read a JSON file, turning a corrupt or missing file into a clear error.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    obj : object

    Raises
    ------
    UserError
        If the file is missing or is not valid JSON.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} does not exist.") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{path} is corrupt (not valid JSON: {exc}). Restore it from a "
            "backup or start a new directory.") from None


def write_npz(path, **arrays):
    """Save arrays to an uncompressed ``.npz`` file atomically.

    Parameters
    ----------
    path : str or path-like
    **arrays : array-like
        Must not be object arrays (they would need pickle to load).
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"Array {key!r} has dtype object; it cannot be saved "
                            "without pickle.")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def read_npz(path):
    """Load every array of an ``.npz`` file into a dict, without unpickling.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    arrays : dict of str to ndarray

    Raises
    ------
    UserError
        If the file is missing, unreadable or holds pickled objects.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise UserError(f"{path} does not exist.") from None
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path} is corrupt or not an .npz file ({exc}).") from None


def fingerprint(*arrays):
    """Short SHA-256 hex digest of the shapes, dtypes and bytes of arrays.

    Parameters
    ----------
    *arrays : ndarray

    Returns
    -------
    digest : str
        16 hex characters.
    """
    digest = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.shape}{arr.dtype.str}".encode())
        if arr.dtype.kind in "US":
            digest.update("\x1f".join(map(str, arr.ravel())).encode())
        else:
            digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


def write_csv(path, rows, columns):
    """Write dicts as CSV rows atomically; keys not in ``columns`` are dropped.

    Parameters
    ----------
    path : str or path-like
    rows : iterable of dict
    columns : sequence of str
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def package_versions():
    """Versions of Python and of the packages that shape results.

    Returns
    -------
    versions : dict of str to str or None
    """
    out = {"python": platform.python_version()}
    for dist in ("skmixal", "torch", "skorch", "scikit-learn", "numpy",
                 "modAL-python"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out
