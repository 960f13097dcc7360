"""Crash-safe file helpers: atomic writes, JSON and NPZ state, user errors.

Every write goes to a temporary file in the destination's folder, is flushed to
disk, and then renamed over the destination with :func:`os.replace`, which is
atomic on POSIX and Windows. A crash or Ctrl-C at any point leaves either the
old file or the new one, never a truncated mix. Files get the mode the user's
umask gives (not the 0600 of a temporary file), so a colleague can read them.
Nothing here unpickles: NPZ files are read with ``allow_pickle=False``.
"""

import contextlib
import csv
import errno
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import re
import signal
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "InterruptGuard",
    "UserError",
    "atomic_path",
    "atomic_write_text",
    "fingerprint",
    "is_zip",
    "load_data",
    "name_flags",
    "os_message",
    "package_versions",
    "read_json",
    "salvage_npz",
    "tag_os_error",
    "write_csv",
    "write_json",
    "write_npz",
]


class UserError(Exception):
    """A problem with the user's input or files, reported without a traceback."""


_UMASK = None


def _file_mode():
    """0o666 less the process umask: the mode ``open`` would have given."""
    global _UMASK
    if _UMASK is None:
        # os.umask can only be read by setting it; do it once, not per write
        # (setting it is process-wide and racy with threads)
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the real suffix last, so writers that infer the format from it work
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.",
                                   suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:
        tag_os_error(exc, "writing")
        raise
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file what a plain open() would: the
        # permission bits and group of the file it replaces (a private 0600
        # file stays private, a group's file the group's), else 0666 less the
        # umask
        try:
            old = os.stat(path)
        except OSError:
            old = None
        with contextlib.suppress(OSError):
            os.chmod(tmp, _file_mode() if old is None else old.st_mode & 0o777)
        if old is not None:
            with contextlib.suppress(OSError):  # only to a group of the user's
                os.chown(tmp, -1, old.st_gid)
        os.replace(tmp, path)
    except OSError as exc:
        # the block only writes the temporary file: whatever failed, failed
        # writing (so a message does not guess, see os_message)
        tag_os_error(exc, "writing")
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def tag_os_error(exc, action):
    """Record on an OSError whether it happened ``"reading"`` or ``"writing"``.

    An OSError does not say which; :func:`os_message` words its message by
    this tag. An inner tag is kept.

    Parameters
    ----------
    exc : OSError
    action : {"reading", "writing"}

    Returns
    -------
    exc : OSError
        The same exception.
    """
    if getattr(exc, "skmixal_action", None) is None:
        exc.skmixal_action = action
    return exc


def os_message(exc, action=None):
    """One sentence a user can act on for an OSError (full disk, permissions).

    Parameters
    ----------
    exc : OSError
    action : {"reading", "writing"} or None, default=None
        What failed; None takes the exception's tag (:func:`tag_os_error`),
        and an untagged error names the file without guessing.

    Returns
    -------
    message : str
    """
    action = action or getattr(exc, "skmixal_action", None)
    if action is None and exc.errno in (errno.ENOSPC, errno.EROFS):
        action = "writing"  # only a write can fail so
    name = getattr(exc, "filename", None)
    where = " ".join(str(p) for p in (action, name) if p)
    where = f" ({where})" if where else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full{where}."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = ("read-only file system" if exc.errno == errno.EROFS
                  else "permission denied")
        if action == "reading":
            return f"{reason}{where}; make the file readable to you."
        if action == "writing":
            return f"{reason}{where}; choose a folder you can write to."
        return f"{reason}{where}."
    return f"{exc.strerror or exc}{where}."


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


def read_json(path, *, advice=None):
    """Read a JSON file, turning a corrupt or missing file into a clear error.

    Parameters
    ----------
    path : str or path-like
    advice : str or None, default=None
        What the user should do if the file is corrupt; by default, restore
        it from a backup or start a new directory.

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
    except OSError as exc:
        raise UserError(f"Cannot read {path.name}: "
                        f"{os_message(exc, 'reading')}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        advice = advice or "Restore it from a backup or start a new directory."
        raise UserError(f"{path} is corrupt (not valid JSON: {exc}). {advice}") \
            from None


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


def is_zip(path):
    """Whether a file starts like a zip archive (what ``.npz`` files are).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool
    """
    with open(path, "rb") as fh:
        return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def salvage_npz(path):
    """Read every array of an ``.npz`` file that can still be read.

    A truncated or bit-flipped archive fails as a whole in ``np.load`` or
    member by member ("Bad CRC-32"); this keeps the members that check out.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    arrays : dict of str to ndarray
        The members read intact.
    problems : list of str
        One line per member (or for the whole file) that could not be read;
        empty when the file is sound.
    """
    # zipfile.BadZipFile is neither an OSError nor a ValueError
    errors = (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError)
    arrays, problems = {}, []
    try:
        zipped = is_zip(path)
    except OSError as exc:
        # unreadable is not corrupt: a caller must not rebuild or replace it
        raise UserError(f"Cannot read {Path(path).name}: "
                        f"{os_message(exc, 'reading')}") from None
    if not zipped:
        # np.load would try it as a pickle and suggest allow_pickle, which is
        # the wrong advice for a file that is simply not an archive
        return arrays, ["not a zip archive, which an .npz file is: truncated at "
                        "the start, or not an .npz file"]
    try:
        archive = np.load(path, allow_pickle=False)
    except errors as exc:
        return arrays, [f"not a readable .npz archive: {exc}"]
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a lone .npy array
        return arrays, ["not an .npz archive"]
    with archive:
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except errors as exc:
                problems.append(f"array {key!r}: {exc}")
    return arrays, problems


def load_data(spec, *, flag="--data"):
    """Load a dataset spec for the command line, as a :class:`UserError` if it fails.

    The one place where the commands (``run``, ``init`` and the labeling
    state) turn loader errors into a message without a traceback.

    Parameters
    ----------
    spec : str or path-like
        As for :func:`skmixal.datasets.load_dataset`.
    flag : str, default="--data"
        The option the spec came from, named in the message.

    Returns
    -------
    data : skmixal.datasets.LoadedData
    """
    from skmixal.datasets import load_dataset

    try:
        return load_dataset(spec)
    except (ValueError, OSError, ImportError) as exc:
        # the part of the message a command-line user can act on, when the
        # loader gave one apart from its Python-only hints
        text = getattr(exc, "cli_message", None) or str(exc)
        raise UserError(f"Cannot load dataset {str(spec)!r} ({flag}): {text}") \
            from None


# Python parameter -> command-line flag, so that messages name what users typed
FLAGS = {"n_initial": "--initial", "test_size": "--test-size",
         "query_size": "--query-size", "max_epochs": "--max-epochs",
         "min_steps": "--min-steps", "batch_size": "--batch-size", "lr": "--lr",
         "mixup_alpha": "--mixup-alpha", "budget": "--budget",
         "torch_threads": "--torch-threads", "seeds": "--seeds",
         "module": "--module", "semi_supervised": "--semi-supervised"}


def name_flags(message):
    """Put the command-line flag in place of each Python parameter a message names.

    Parameters
    ----------
    message : str

    Returns
    -------
    message : str
    """
    for param, flag in FLAGS.items():
        message = re.sub(rf"(?<![\w-]){param}(?!\w)", flag, message)
    return message


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
