"""Real labeling with a human expert, through a state directory of plain files.

The loop: :func:`init_state` (data, classes, first labels) -> :func:`query_state`
(writes ``query_XXXX.csv`` with an empty ``label`` column, plus thumbnails for
images) -> the expert fills in the labels -> :func:`teach_state` (validates,
saves the labels, refits) -> repeat; :func:`relabel_state` corrects labels
taught, :func:`state_status` reports progress, and :func:`predict_state`
writes the model's label for every sample (what the campaign is for).

The state directory holds:

``state.json``
    Format version, dataset spec and fingerprint, classes, settings, and the
    list of queries issued (the last is pending until taught).
``labels.npz``
    Labeled ids, their class codes, the names of the queries taught, and the
    ids the expert skipped (``skip`` instead of a label: never queried again,
    never trained on).
``labels.csv``
    The same labels as plain text (``id,label,query``; a skipped id has the
    label ``skip``), written just before ``labels.npz``: if that is ever
    damaged, it is rebuilt from this file, checked against the queries
    ``state.json`` records as taught. Hand edits there are applied only by
    :func:`relabel_state` given that file; every other command refuses it
    while it disagrees with ``labels.npz``.
``test.npz`` (optional)
    A held-out labeled set for status.
``model.pt``, ``model.json``
    Weights from skorch's ``save_params`` and the labels they were fitted on.
    A cache: when missing, stale or unreadable, the model is refitted.
``predictions.csv`` (optional)
    What :func:`predict_state` writes by default, replaced by the next one.

Every file is written atomically, and labels are saved before the (slow) refit:
a crash or Ctrl-C at any point loses no label already taught, and a stale model
is simply refitted by the next command. Nothing is ever unpickled.

The data is referenced by a path relative to the state directory, so the two
can move together; ``--data`` on a later command points the state at data that
moved on its own (checked by fingerprint).

Fits use torch's process-wide thread count: each function takes
``torch_threads`` to set it for the call, restored after it. None leaves it
as the caller set it (``torch.set_num_threads``); torch's own default is every
core, which is many times slower when other programs share them. The
``skmixal`` commands pass 1.

The module reads top-down: where the data is, the model settings, the CSVs
the expert edits (one reader for ``teach`` and ``query --force``), the journal
``labels.csv``, the state itself (:class:`_State`), writing a query, and the
public functions.
"""

import contextlib
import csv
import math
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np

from skmixal._embedding_cache import (
    cached_embeddings,
    embed,
    images_of,
    save_embeddings,
    standardized,
)
from skmixal._fitting import (
    MAX_FOLDS,
    MAX_LABELS,
    check_fit_settings,
    check_int,
    check_step_settings,
    check_threads,
    int_range,
    thread_guard,
)
from skmixal._io import (
    InterruptGuard,
    UserError,
    atomic_path,
    fingerprint,
    load_data,
    name_flags,
    os_message,
    read_json,
    salvage_npz,
    tag_os_error,
    write_csv,
    write_json,
    write_npz,
)
from skmixal.exceptions import TrainingDivergedError

__all__ = ["SKIP", "RefitInterrupted", "check_model_settings", "init_state",
           "model_params", "predict_state", "query_state", "relabel_state",
           "state_status", "teach_state"]

STATE_FORMAT = "skmixal-labeling-state"
STATE_VERSION = 1
_MAX_ERRORS = 10
# what the expert types for a sample they cannot label (any case); a class of
# that name, if a data set has one, takes precedence and the state cannot skip
SKIP = "skip"
# the code _read_labels_csv gives a skipped row; split off by its callers
_SKIPPED = -1


class RefitInterrupted(KeyboardInterrupt):
    """Ctrl-C during a refit, after the labels were saved."""

    def __init__(self, n_labels):
        super().__init__(n_labels)
        self.n_labels = n_labels


def _quiet(message):
    pass


def _user_check(check, *args):
    """Run a check of the shared settings, its error being the user's."""
    try:
        return check(*args)
    except (ValueError, TypeError) as exc:
        raise UserError(name_flags(str(exc))) from None


def _threads(n):
    """The thread guard shared with the runner, a bad count being a UserError."""
    return thread_guard(_user_check(check_threads, n))


# --- where the data is -------------------------------------------------------

def _split_spec(spec, base="."):
    """(prefix, path) of a spec that names a file or folder, else (spec, None).

    A plain spec (no ``kind:`` prefix) is a folder when ``base / spec`` is one:
    ``base`` is the current directory for a spec the user typed, and the state
    directory for a stored spec, whose path is relative to it. A built-in name
    (``digits``) is never a path, whatever folders happen to exist.
    """
    from skmixal.datasets import BUILTIN_DATASETS

    text = str(spec)
    if text in BUILTIN_DATASETS:
        return text, None
    kind, sep, rest = text.partition(":")
    if sep and kind in ("npz", "mnist") and rest:
        return f"{kind}:", rest
    if sep and kind == "torchvision":
        name, sep2, root = rest.partition(":")
        if sep2 and root:
            return f"torchvision:{name}:", root
    if not sep and text.lower().endswith(".npz"):
        return "", text
    if not sep and (Path(base) / text).is_dir():
        # stored as mnist:<folder>, which stays a folder spec even when the
        # folder has moved (a plain name would then read as an unknown dataset)
        return "mnist:", text
    return text, None


def _stored_spec(spec, state_dir):
    """The spec with its path relative to the state, so both can move together."""
    prefix, path = _split_spec(spec)
    if path is None:
        return prefix
    absolute = Path(path).resolve()
    try:
        return prefix + os.path.relpath(absolute, Path(state_dir).resolve())
    except ValueError:  # another drive on Windows: no relative path exists
        return prefix + str(absolute)


def _resolved_spec(spec, state_dir):
    """A stored spec with its path made usable from the current directory."""
    prefix, path = _split_spec(spec, base=state_dir)
    if path is None or Path(path).is_absolute():
        return str(spec) if path is None else prefix + path
    return prefix + str(Path(state_dir) / path)


# --- the model settings ------------------------------------------------------

def model_params(stored, X, classes):
    """Estimator parameters from stored settings: the ``module`` name resolved.

    Parameters
    ----------
    stored : dict
        Settings as stored in ``state.json`` (``module`` by name, and
        ``module_kwargs``), plus other ``MixupNetClassifier`` parameters.
    X : ndarray
        The data, for the network's input channels.
    classes : ndarray

    Returns
    -------
    params : dict
    """
    from skmixal.experiment import resolve_module

    params = dict(stored)
    module, kwargs = params.pop("module", None), params.pop("module_kwargs", None)
    if module is None and not kwargs:
        return params
    try:
        return {**params, **resolve_module(module, kwargs, input_shape=X.shape[1:],
                                           n_classes=len(classes))}
    except ValueError as exc:
        raise UserError(f"--module: {exc}") from None


def check_model_settings(params, X, classes, *, semi_supervised=False):
    """Build the estimator with ``params`` and train it one step on two rows.

    Every setting is checked as a fit would check it (ranges, unknown
    parameters, the optimizer's own checks such as a negative ``lr``), so a
    labeling state never stores settings that fail after the expert labeled.

    Parameters
    ----------
    params : dict
        ``MixupNetClassifier`` parameters.
    X : ndarray
        The data; its first rows are used, labeled with the first classes.
    classes : ndarray
        Every class.
    semi_supervised : bool, default=False
        Also pass two rows as ``X_unlabeled``.

    Raises
    ------
    UserError
        Naming the flag of the bad setting.
    """
    try:
        check_fit_settings(params, X[:2], np.asarray(classes)[:2],
                           X_unlabeled=X[2:4] if semi_supervised else None)
    except (ValueError, TypeError, RuntimeError) as exc:
        # RuntimeError: torch's, e.g. a --module that does not fit the data
        raise UserError(f"Invalid model setting: {name_flags(str(exc))}") from None


# --- the CSVs the expert edits -----------------------------------------------

class _NoColumns(ValueError):
    """A CSV whose first row lacks a column it needs."""

    def __init__(self, message, *, blank):
        super().__init__(message)
        self.blank = blank  # True when the file holds no text at all


def _read_csv(path, columns):
    """The one reader of skmixal's CSVs: (line, {column: text}) per non-blank row.

    Column names are matched whatever their case and surrounding spaces (a
    spreadsheet may save ``ID,Label``), a UTF-8 byte-order mark is skipped,
    cells are stripped, and a short row reads as empty cells. ``teach`` (which
    validates the labels), ``query --force`` (which counts the labels typed
    into a query before replacing it) and the rebuild from ``labels.csv`` all
    read through here, so they never disagree about what a file holds.

    Parameters
    ----------
    path : path-like
    columns : sequence of str
        Lower-case names of the columns to return.

    Returns
    -------
    rows : list of (int, dict of str to str)
        The line number (the header is line 1) and the named cells.

    Raises
    ------
    _NoColumns
        If the header lacks one of ``columns``.
    OSError, UnicodeDecodeError, csv.Error
        As reading raises them; each caller words its own message.
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if not set(columns) <= set(header):
        blank = not any(cell.strip() for row in rows for cell in row)
        raise _NoColumns(f"{path}: the first row must be the header "
                         f"`{','.join(columns)}`; got "
                         f"{rows[0] if rows else 'an empty file'}.", blank=blank)
    where = {name: header.index(name) for name in columns}
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        out.append((line, {name: cells[k].strip() for name, k in where.items()}))
    return out


_WHOLE_NUMBER = re.compile(r"(-?\d+)\.0+")


def _parse_class(text, classes, names=None):
    """Class code of a label typed as the class or (when known) its name."""
    lookup = {str(c): i for i, c in enumerate(classes.tolist())}
    if text in lookup:
        return lookup[text]
    # cells are read trimmed; a class stored with spaces around it ('dog ')
    # is then matched by its trimmed name, when no other class shares it
    trimmed = [i for i, c in enumerate(classes.tolist()) if str(c).strip() == text]
    if len(trimmed) == 1:
        return trimmed[0]
    if names:
        by_name = {n.lower(): i for i, n in enumerate(names)}
        if text.lower() in by_name:
            return by_name[text.lower()]
    # a spreadsheet writes the integer class 3 back as 3.0
    whole = _WHOLE_NUMBER.fullmatch(text)
    return lookup.get(whole.group(1)) if whole else None


def _describe_classes(classes, names=None):
    def shown(c):  # quoted when spaces around it would not show
        return repr(c) if isinstance(c, str) and c != c.strip() else str(c)

    if names:
        return ", ".join(f"{shown(c)} ({n})" for c, n in zip(classes.tolist(), names))
    return ", ".join(map(shown, classes.tolist()))


def _label_names(data, classes):
    """Class names from the data set, when its classes are the codes 0..k-1."""
    names = data.label_names
    if (names is None or len(names) != len(classes) or classes.dtype.kind not in "iu"
            or not np.array_equal(classes, np.arange(len(classes)))
            or [str(n) for n in names] == [str(c) for c in classes.tolist()]):
        return None  # none, or no more than the codes (digits: "0".."9")
    return list(names)


def _row_error(sample, label, code, seen, *, expected, n_samples, known):
    """What is wrong with one row of an id,label CSV, or None."""
    if sample in seen:
        return f"id {sample} appears more than once"
    if expected is not None and sample not in expected:
        return f"id {sample} was not in the last query"
    if n_samples is not None and not 0 <= sample < n_samples:
        return f"id {sample} is outside 0..{n_samples - 1}"
    if not label:
        return f"id {sample} has an empty label"
    if code is None:
        return f"id {sample} has unknown class {label!r} (known classes: {known})"
    return None


def _read_labels_csv(path, classes, *, expected=None, n_samples=None, names=None,
                     allow_skip=False, refused="nothing was taught"):
    """Parse and validate an id,label CSV; return (ids, codes) or raise UserError.

    With ``allow_skip``, a row labeled ``skip`` gets the code ``_SKIPPED``
    (see :func:`_split_skipped`).
    """
    path = Path(path)
    try:
        rows = _read_csv(path, ("id", "label"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist.") from None
    except _NoColumns as exc:
        raise UserError(str(exc)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"Cannot read {path}: {exc}") from None
    errors, ids, codes, seen = [], [], [], set()
    known = _describe_classes(classes, names) + (
        f"; or {SKIP} to leave the sample out"
        if allow_skip and _can_skip(classes, names) else "")
    for line, row in rows:
        try:
            sample = int(row["id"])
        except ValueError:
            errors.append(f"line {line}: id {row['id']!r} is not an integer")
            continue
        code = _label_code(row["label"], classes, names, allow_skip=allow_skip)
        problem = _row_error(sample, row["label"], code, seen, expected=expected,
                             n_samples=n_samples, known=known)
        if problem is not None:
            errors.append(f"line {line}: {problem}")
        seen.add(sample)
        ids.append(sample)
        codes.append(code)
    if expected is not None and (missing := sorted(set(expected) - seen)):
        errors.append(f"{len(missing)} queried id(s) missing: "
                      f"{', '.join(map(str, missing[:10]))}"
                      f"{' ...' if len(missing) > 10 else ''}")
    if not ids and not errors:
        errors.append("no labeled rows")
    if errors:
        _raise_row_errors(f"{path}: {refused}; fix these and retry", errors)
    return np.asarray(ids, np.int64), np.asarray(codes, np.int64)


def _raise_row_errors(headline, errors):
    """A UserError: ``headline``, then the first ``_MAX_ERRORS`` problems."""
    more = len(errors) - _MAX_ERRORS
    listed = "\n  ".join(errors[:_MAX_ERRORS])
    raise UserError(f"{headline}:\n  {listed}"
                    + (f"\n  ... and {more} more" if more > 0 else ""))


def _can_skip(classes, names=None):
    """Whether ``skip`` is free: no class or class name reads as it, in any
    case (a class ``Skip`` must not be dropped as a skipped sample)."""
    texts = [str(c).strip() for c in classes.tolist()] + list(names or [])
    return all(t.lower() != SKIP for t in texts)


def _label_code(text, classes, names=None, *, allow_skip=False):
    """The code of a typed label: a class, its name, or (``allow_skip``)
    ``skip`` in any case as ``_SKIPPED`` where no class reads so; else None."""
    code = _parse_class(text, classes, names)
    if (code is None and allow_skip and text.lower() == SKIP
            and _can_skip(classes, names)):
        return _SKIPPED
    return code


def _journal_code(label, state):
    """The code of a labels.csv cell (``_SKIPPED`` for skip), or None."""
    return _label_code(label, state.classes, state.names, allow_skip=True)


def _split_skipped(ids, codes):
    """(labeled ids, their codes, skipped ids) of :func:`_read_labels_csv`'s
    output."""
    ids, codes = np.asarray(ids, np.int64), np.asarray(codes, np.int64)
    kept = codes != _SKIPPED
    return ids[kept], codes[kept], ids[~kept]


def _filled_labels(path):
    """How many rows of a query CSV have a label typed in.

    Read as ``teach`` reads it (:func:`_read_csv`). None when the file cannot
    be read as an id,label CSV: it may still hold typed labels, so it is kept
    like a filled one.
    """
    try:
        rows = _read_csv(path, ("id", "label"))
    except FileNotFoundError:
        return 0
    except _NoColumns as exc:
        return 0 if exc.blank else None
    except (UnicodeDecodeError, csv.Error):
        return None
    except OSError as exc:
        raise UserError(f"Cannot check {path} for typed labels before replacing "
                        f"it: {os_message(exc, 'reading')} Nothing was changed.") \
            from None
    return sum(1 for _, row in rows if row["label"])


def _free_name(path):
    """``path`` with ``-1``, ``-2``, ... appended until no file has that name."""
    k = 1
    while True:
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
        if not candidate.exists():
            return candidate
        k += 1


# --- labels.csv: the journal labels.npz is rebuilt from ----------------------

def write_labels_journal(state_dir, ids, labels, queries):
    """Write ``labels.csv``: the labels as plain text (``skip`` for a skipped
    id), rebuilt from if need be."""
    rows = [{"id": int(i), "label": label, "query": q}
            for i, label, q in zip(ids, labels, queries)]
    write_csv(Path(state_dir) / "labels.csv", rows, ["id", "label", "query"])


def _write_label_files(state_dir, classes, ids, codes, taught, skipped, queries):
    """Write labels.csv (unless ``queries`` is None), then labels.npz.

    ``queries``: the query of each labeled id, then of each skipped one. The
    journal first: a crash between the two writes leaves it ahead of
    labels.npz (which still says the query is pending, so teaching it again
    is right), never behind it with labels only in the npz.
    """
    ids, codes = np.asarray(ids, np.int64), np.asarray(codes, np.int64)
    skipped = np.asarray(skipped, np.int64)
    if queries is not None:
        write_labels_journal(
            state_dir, np.concatenate([ids, skipped]),
            [str(classes[c]) for c in codes] + [SKIP] * len(skipped), queries)
    write_npz(Path(state_dir) / "labels.npz", ids=ids, codes=codes,
              taught=np.asarray(taught, dtype=str), skipped=skipped)


def _rebuild_labels(state, npz, problems):
    """ids, codes, taught of a damaged labels.npz, rebuilt from labels.csv.

    The damaged file is kept aside and the rebuilt one written in its place;
    ``state.log`` says what was recovered or is missing.
    """
    journal = state.dir / "labels.csv"
    rows = _read_journal(state, journal, npz, problems)
    ids, codes, taught, report = _check_journal(state, rows)
    ids, codes, skipped = _split_skipped(ids, codes)
    backup = _free_name(npz.with_name("labels.npz.corrupt"))
    os.replace(npz, backup)
    state.write_labels(ids, codes, taught, skipped, journal=False)
    shown = f", {len(skipped)} skipped" if len(skipped) else ""
    state.log(f"{npz} was corrupt ({'; '.join(problems)}); rebuilt it from "
              f"{journal.name} ({len(ids)} labels{shown}, {report}). The damaged "
              f"file is kept as {backup.name}.")
    return ids, codes, taught, skipped


def _refuse_journal_edits(state, journal, ids, codes, skipped, relabeled=None):
    """A UserError if labels.csv gives a labeled (or skipped) id another label
    than labels.npz: a hand edit there would be overwritten by the next teach.

    ``relabeled`` ({id: code}, ``_SKIPPED`` for skip) are the labels a relabel
    is about to write: a difference they explain is an edit being applied
    (``relabel`` given labels.csv itself) or a relabel interrupted between
    its two writes, being finished.
    """
    if not journal.exists():
        return
    try:
        rows = _read_csv(journal, ("id", "label", "query"))
    except (OSError, ValueError, csv.Error):
        return  # only read back when labels.npz is damaged, and checked then
    # the journal's label as write_labels_journal wrote it, read back trimmed
    held = {i: str(state.classes[c]).strip() for i, c in zip(ids.tolist(),
                                                             codes.tolist())}
    held.update((i, SKIP) for i in skipped.tolist())
    relabeled = relabeled or {}
    edited = []
    for _, row in rows:
        sample = int(row["id"]) if row["id"].lstrip("-").isdigit() else None
        if sample not in held or row["label"] == held[sample]:
            continue
        if sample in relabeled and _journal_code(row["label"], state) == relabeled[
                sample]:
            continue
        edited.append(f"id {sample}: {row['label']!r} in labels.csv, "
                      f"{held[sample]!r} in labels.npz")
    if edited:
        shown = "; ".join(edited[:5]) + ("; ..." if len(edited) > 5 else "")
        raise UserError(
            f"{journal} disagrees with labels.npz, which holds the labels skmixal "
            f"uses ({len(edited)} label(s): {shown}). labels.csv is the copy "
            "skmixal writes and rebuilds labels.npz from if that is damaged; edits "
            "there are not read by other commands, and the next teach would "
            f"overwrite them. To apply them, run `skmixal relabel --state "
            f"{state.dir} {journal}` (this also finishes a relabel that was "
            "interrupted); to discard them, delete labels.csv (the next teach "
            "or relabel writes it again). Nothing was changed.")


def _read_journal(state, journal, npz, problems):
    """(id, code, query) rows of labels.csv, or a UserError."""
    try:
        rows = _read_csv(journal, ("id", "label", "query"))
        out = []
        for _, r in rows:
            # cells are read trimmed: a class 'dog ' is matched as teach does
            code = _journal_code(r["label"], state)
            if code is None:
                raise KeyError(r["label"])
            out.append((int(r["id"]), code, r["query"]))
        return out
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        raise UserError(
            f"{npz} is corrupt ({'; '.join(problems)}), and so is "
            f"{journal} ({type(exc).__name__}: {exc}). Nothing was changed. "
            "Restore them from a backup; the labels are also in the query "
            "CSVs you filled in.") from None


def _check_journal(state, rows):
    """ids, codes (``_SKIPPED`` for a skipped id), taught and a report,
    checked against state.json.

    The journal is written before labels.npz, so it never lags behind it;
    but it may come from an older skmixal (which wrote it second) or a
    backup. Every query but the last was taught (a new query needs the
    last one taught or replaced), so each must be in the journal in full;
    what is not is read back from its filled-in query CSV if that still
    parses, and otherwise reported missing, never claimed complete.
    """
    groups = {}
    for sample, code, query in rows:
        groups.setdefault(query, []).append((sample, code))
    ids, codes, taught, recovered, missing = [], [], [], [], []

    def take(name, pairs):
        taught.append(name)
        ids.extend(p[0] for p in pairs)
        codes.extend(p[1] for p in pairs)

    initial = groups.pop("initial", [])
    expected = state.meta.get("initial_labels")  # absent in older states
    if expected is not None and len(initial) < expected:
        missing.append(f"{expected - len(initial)} of the {expected} "
                       "--initial-labels")
    if initial:
        take("initial", initial)
    queries = state.meta["queries"]
    for k, query in enumerate(queries):
        name, want = query["file"], set(query["ids"])
        pairs = groups.pop(name, [])
        if pairs and {p[0] for p in pairs} == want and len(pairs) == len(want):
            take(name, pairs)
        elif k == len(queries) - 1:
            pass  # the last query: not in the journal means not taught yet
        elif (typed := _labels_of_query(state, query)) is not None:
            take(name, list(zip(*typed)))
            recovered.append(f"{len(want)} from {name}")
        else:
            missing.append(f"the {len(want)} labels of {name}")
    report = _journal_report(recovered, missing,
                             sum(len(p) for p in groups.values()))
    return np.asarray(ids, np.int64), np.asarray(codes, np.int64), taught, report


def _journal_report(recovered, missing, left):
    report = []
    if recovered:
        report.append(f"recovered {', '.join(recovered)}, which labels.csv lacked")
    if missing:
        report.append(f"MISSING: {'; '.join(missing)}: labels.csv lacks them "
                      "and no filled-in query CSV holds them, so those "
                      "samples are unlabeled again and may be queried anew")
    if left:
        report.append(f"{left} row(s) of labels.csv belong to no query "
                      "state.json records as taught and were left out")
    return "; ".join(report) or "none lost"


def _labels_of_query(state, query):
    """(ids, codes) typed into a query CSV, if it is complete; else None."""
    path = state.dir / query["file"]
    if not path.exists():
        return None
    try:
        return _read_labels_csv(path, state.classes, expected=set(query["ids"]),
                                allow_skip=True,
                                names=state.names)
    except UserError:
        return None


# --- the state directory -----------------------------------------------------

def _why_unreadable(exc):
    """What is wrong with a model.pt that does not load, in the user's terms.

    Never torch's own advice: for a file that holds more than tensors it is to
    load it with ``weights_only=False``, which would run whatever code the
    file holds; skmixal only ever loads weights.
    """
    text = str(exc)
    if "weights_only" in text or "Weights only" in text:
        return ("it holds Python objects besides weights, which skmixal never "
                "loads: it was not written by skmixal")
    if "size mismatch" in text or "state_dict" in text:
        return "its weights do not fit this state's network"
    first = text.strip().splitlines()[0][:160] if text.strip() else ""
    return f"damaged: {type(exc).__name__}{': ' + first if first else ''}"


class _State:
    """The state directory, loaded and checked; holds the data once loaded."""

    def __init__(self, state_dir, *, data=None, log=_quiet, check_journal=True):
        self.dir = Path(state_dir)
        self.log = log
        if self.dir.is_file():
            raise UserError(f"--state {self.dir} is a file; it must name the state "
                            "directory made by `skmixal init`.")
        if not (self.dir / "state.json").exists():
            raise UserError(f"{self.dir} is not a skmixal state directory (no "
                            "state.json); create one with `skmixal init`.")
        self.meta = read_json(self.dir / "state.json")
        fmt = self.meta.get("format") if isinstance(self.meta, dict) else None
        if fmt != STATE_FORMAT or self.meta.get("version") != STATE_VERSION:
            raise UserError(
                f"{self.dir}/state.json is not a skmixal labeling state of version "
                f"{STATE_VERSION} (format={fmt!r}, version="
                f"{self.meta.get('version') if fmt else None!r}); it was written by "
                "another tool or skmixal version.")
        self.classes = np.asarray(self.meta["classes"])
        self.names = self.meta.get("label_names")
        self.ids, self.codes, self.taught, self.skipped = self._read_labels(
            check_journal)
        test = self._read_test()
        self.test_ids, self.test_codes = test["ids"], test["codes"]
        self._data = None
        self._features = self._embeddings = None
        self._data_override = data

    def check_writable(self, command):
        """Refuse, before any work, a command that must write to a read-only state."""
        if not self.writable():
            raise UserError(
                f"--state {self.dir} is not writable, and `skmixal {command}` "
                "saves its work there. Nothing was changed; make the folder "
                "writable (or copy it somewhere you can write) and rerun.")

    def writable(self):
        # as the atomic writes need it: a file created in the folder, then
        # renamed (a read-only mount answers False too)
        return os.access(self.dir, os.W_OK | os.X_OK)

    def _read_test(self):
        path = self.dir / "test.npz"
        if not path.exists():
            return {"ids": np.zeros(0, np.int64), "codes": np.zeros(0, np.int64)}
        arrays, problems = salvage_npz(path)
        if problems or not {"ids", "codes"} <= set(arrays):
            raise UserError(
                f"{path} (the held-out test labels) is corrupt "
                f"({'; '.join(problems) or 'arrays missing'}). Nothing was changed. "
                "Restore it from a backup, or delete it to go on without a "
                "held-out set (status then cross-validates).")
        return arrays

    def _read_labels(self, check_journal=True):
        """ids, codes, taught, skipped from labels.npz, or rebuilt from
        labels.csv (checked against it unless ``check_journal`` is False:
        relabel checks it with the labels it is given)."""
        path, journal = self.dir / "labels.npz", self.dir / "labels.csv"
        none = np.zeros(0, np.int64)
        if not path.exists():
            return none, none, [], none
        arrays, problems = salvage_npz(path)
        if not problems and {"ids", "codes", "taught"} <= set(arrays):
            ids = arrays["ids"].astype(np.int64)
            codes = arrays["codes"].astype(np.int64)
            # states written before skipping existed have no such array
            skipped = arrays.get("skipped", none).astype(np.int64)
            if check_journal:
                _refuse_journal_edits(self, journal, ids, codes, skipped)
            return ids, codes, [str(t) for t in arrays["taught"]], skipped
        problems = problems or ["arrays missing"]
        if journal.exists():
            return _rebuild_labels(self, path, problems)
        readable = ", ".join(f"{k} ({len(v)} values)" for k, v in arrays.items())
        raise UserError(
            f"{path} is corrupt ({'; '.join(problems)}) and there is no "
            f"{journal.name} to rebuild it from. Nothing was changed. Readable: "
            f"{readable or 'nothing'}. Restore labels.npz from a backup; the labels "
            "are also in the query CSVs you filled in "
            f"({', '.join(q['file'] for q in self.meta['queries']) or 'none'}).")

    @property
    def data(self):
        if self._data is None:
            self._data = self._load_data()
        return self._data

    def _load_data(self):
        info, override = self.meta["data"], self._data_override
        spec = (override if override is not None
                else _resolved_spec(info["spec"], self.dir))
        try:
            data = load_data(spec)
        except UserError as exc:
            if override is not None:
                raise
            raise UserError(
                f"{exc} This state refers to its data as {info['spec']!r}, "
                f"relative to {self.dir}; if the data moved, pass --data with its "
                "new place.") from None
        if fingerprint(data.X) != info["fingerprint"]:
            raise UserError(
                f"The dataset {spec!r} no longer matches this state "
                f"directory (it was {info['name']!r} with shape {info['shape']}); "
                "was it replaced? Use the original data (--data points to it "
                "if it moved) or a new state directory.")
        stored = None if override is None else _stored_spec(override, self.dir)
        if stored is not None and stored != info["spec"]:
            # the data moved: remember where, so later commands find it
            if not self.writable():
                self.log(f"{self.dir} is not writable: it still points at "
                         f"{info['spec']}; pass --data {override} again.")
            else:
                self.meta["data"]["spec"] = stored
                write_json(self.dir / "state.json", self.meta)
                self.log(f"The state now points at {override}.")
        return data

    @property
    def features(self):
        """What the model trains and queries on: the images, or under
        ``--backbone`` their embeddings standardised (:attr:`embeddings`)."""
        if self._features is None:
            self._features = (self.data.X if self.backbone is None
                              else standardized(self.embeddings))
        return self._features

    @property
    def backbone(self):
        """``--backbone``'s settings (name, input_size, flip_average) or None."""
        return self.meta["config"].get("backbone")

    @property
    def embeddings(self):
        """A ``--backbone`` state's raw embeddings of its images, read once
        from the cache in the state folder (computed there when missing)."""
        if self._embeddings is None:
            self._embeddings = cached_embeddings(
                images_of(self.data), self.backbone["name"], self.dir / "embeddings",
                input_size=self.backbone["input_size"],
                # states made before the option have no key: plain features
                flip_average=self.backbone.get("flip_average", False), log=self.log)
        return self._embeddings

    @property
    def pending(self):
        """The last query if it was not taught yet, else None."""
        queries = self.meta["queries"]
        if queries and queries[-1]["file"] not in self.taught:
            return queries[-1]
        return None

    def labels_key(self):
        """What the saved model must have been fitted on to be reused."""
        if self.meta["config"].get("semi_supervised") and len(self.skipped):
            # a semi-supervised model trained on the pool too, which a skip
            # shrinks: a model fitted before it saw the skipped samples
            return fingerprint(self.ids, self.codes, self.skipped)
        return fingerprint(self.ids, self.codes)

    def write_labels(self, ids, codes, taught, skipped, *, journal=True):
        queries = (self.query_of(np.concatenate([ids, skipped]), taught)
                   if journal else None)
        _write_label_files(self.dir, self.classes, ids, codes, taught, skipped,
                           queries)

    def query_of(self, ids, taught):
        """The query each labeled id came from ('initial' for --initial-labels)."""
        where = {i: q["file"] for q in self.meta["queries"] if q["file"] in taught
                 for i in q["ids"]}
        return [where.get(int(i), "initial") for i in ids]

    def save_labels(self, ids, codes, taught, skipped):
        self.write_labels(ids, codes, taught, skipped)
        self.ids, self.codes, self.taught, self.skipped = (
            np.asarray(ids, np.int64), np.asarray(codes, np.int64), taught,
            np.asarray(skipped, np.int64))

    def pool(self):
        """Ids neither labeled, skipped nor held out for testing."""
        excluded = np.concatenate([self.ids, self.skipped, self.test_ids])
        return np.setdiff1d(np.arange(len(self.data.X)), excluded)

    # -- the model: a cache of the fit on the current labels -----------------
    def estimator(self, **overrides):
        from skmixal.classifier import MixupNetClassifier

        cfg = self.meta["config"]
        try:  # a state written before the ranges were checked at init
            check_step_settings(cfg["estimator_params"])
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"{self.dir / 'state.json'} holds a model setting out of range: "
                f"{exc} Nothing was changed; correct it under config, "
                "estimator_params in that file, or start a new state.") from None
        params = {**model_params(cfg["estimator_params"], self.features, self.classes),
                  "mixup_alpha": cfg["mixup_alpha"], "random_state": cfg["seed"],
                  "classes": self.classes,
                  "torch_load_kwargs": {"weights_only": True}, **overrides}
        return MixupNetClassifier(**params)

    def fit_params(self):
        """``X_unlabeled``: the real pool, when the state is semi-supervised."""
        if not self.meta["config"].get("semi_supervised"):
            return {}
        pool = self.pool()
        if len(pool) == 0:
            self.log("Every sample is labeled or held out: no unlabeled pool is "
                     "left, so this semi-supervised state refits on the labels "
                     "alone (a supervised fit).")
            return {}
        return {"X_unlabeled": self.features[pool]}

    def _load_model(self, X, y):
        """The cached model, or None if missing, stale or unreadable."""
        info_path, weights = self.dir / "model.json", self.dir / "model.pt"
        if not (info_path.exists() and weights.exists()):
            return None
        try:
            info = read_json(info_path, advice="It is only a cache: refitting.")
        except UserError as exc:
            self.log(str(exc))
            return None
        if not isinstance(info, dict) or info.get("labels") != self.labels_key():
            return None
        return self._with_saved_weights(X, y)

    def _with_saved_weights(self, X, y, **overrides):
        """The network for this data with model.pt's weights, or None (logged)
        when they do not load."""
        weights = self.dir / "model.pt"
        # build the network for this data without training, then load
        net = self.estimator(max_epochs=0, min_steps=0).fit(X, y)
        try:
            net.load_params(f_params=str(weights))
        except Exception as exc:  # noqa: BLE001 -- any unreadable cache is refit
            self.log(f"{weights} is unreadable ({_why_unreadable(exc)}). It is "
                     f"only a cache: refitting the model from the {len(y)} labels, "
                     "and replacing the file.")
            return None
        base = self.estimator()
        return net.set_params(max_epochs=base.max_epochs, min_steps=base.min_steps,
                              **overrides)

    def _fresh_estimator(self, X, y):
        """What a refit trains: a new estimator, or, in a warm-start state with
        a saved model of earlier labels, that model continued (warm_start)."""
        if (self.meta["config"].get("warm_start")
                and (self.dir / "model.pt").exists()):
            net = self._with_saved_weights(X, y, warm_start=True)
            if net is not None:
                self.log("Continuing the last model (warm start).")
                return net
        return self.estimator()

    def model(self):
        """The model fitted on the current labels: loaded, or refitted and saved.

        On a state folder that cannot be written (``status`` needs no write
        otherwise), the refitted model is used without being saved.
        """
        if len(self.ids) == 0:
            return None
        X, y = self.features[self.ids], self.classes[self.codes]
        net = self._load_model(X, y)
        if net is not None:
            return net
        fit_params = self.fit_params()
        extra = (f" and {len(fit_params['X_unlabeled'])} unlabeled samples"
                 if fit_params else "")
        self.log(f"Refitting the model: {len(y)} labels{extra} ...")
        try:
            with InterruptGuard() as guard:
                net = self._fresh_estimator(X, y).fit(X, y, **fit_params)
                guard.check()
        except KeyboardInterrupt:
            raise RefitInterrupted(len(y)) from None
        if not self.writable():
            self.log(f"{self.dir} is not writable: the refitted model is not "
                     "saved, so the next command refits it again.")
            return net
        with atomic_path(self.dir / "model.pt") as tmp:
            net.save_params(f_params=str(tmp))
        write_json(self.dir / "model.json",
                   {"labels": self.labels_key(), "n_labels": len(y),
                    "fit_report": net.fit_report_})
        return net

    def fit_report(self):
        """The ``fit_report_`` of the cached model of the current labels, or
        None (no model yet, a stale one, or one saved by an earlier version)."""
        path = self.dir / "model.json"
        if not path.exists():
            return None
        try:
            info = read_json(path)
        except UserError:
            return None
        if not isinstance(info, dict) or info.get("labels") != self.labels_key():
            return None
        return info.get("fit_report")


# --- writing a query ---------------------------------------------------------

def _keep_typed_labels(state, query):
    """Copy a pending query CSV aside if labels were typed into it."""
    old = state.dir / query["file"]
    filled = _filled_labels(old)
    if filled == 0:
        return
    kept = _free_name(old)
    # a copy, not a move: until the new query is written over it, the pending
    # query state.json names is still there
    with atomic_path(kept) as tmp:
        shutil.copyfile(old, tmp)
    typed = "labels" if filled is None else f"{filled} label(s)"
    state.log(f"{old.name} already had {typed} typed in; they were not taught. "
              f"Kept that file as {kept.name}; the new query replaces {old.name}.")


def _write_query(state, ids, name, *, replaces=None):
    """Write the query CSV, record it in state.json, then draw the thumbnails.

    The CSV and state.json are what teach needs; the thumbnails come last, so
    a failing PNG write (a full disk) leaves a valid, recorded query.
    """
    if replaces is not None:
        _keep_typed_labels(state, replaces)
    path = state.dir / name
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        if state.names:
            # a third column, only as a reminder of the class names (teach
            # ignores it); without names the file stays the plain id,label
            hint = "type the class or its name: " + _describe_classes(
                state.classes, state.names) + (
                f"; or {SKIP} if you cannot tell"
                if _can_skip(state.classes, state.names) else "")
            writer.writerow(["id", "label", "classes"])
            writer.writerows([int(i), "", hint if k == 0 else ""]
                             for k, i in enumerate(ids))
        else:
            writer.writerow(["id", "label"])
            writer.writerows([int(i), ""] for i in ids)
    state.meta["queries"].append({"file": name, "ids": [int(i) for i in ids]})
    write_json(state.dir / "state.json", state.meta)
    _write_thumbnails(state, ids, path)
    return path


def _write_thumbnails(state, ids, path):
    """A PNG grid of the queried images beside their CSV (nothing for vectors)."""
    X = state.data.X
    side = math.isqrt(X.shape[1]) if X.ndim == 2 else 0
    if not (X.ndim == 4 or (X.ndim == 2 and side * side == X.shape[1] and side >= 4)):
        return
    from skmixal.plotting import image_grid

    images = X[ids] if X.ndim == 4 else X[ids].reshape(-1, side, side)
    title = ("classes: " + _describe_classes(state.classes, state.names)
             if state.names else None)
    png = path.with_suffix(".png")
    try:
        image_grid(images, [f"id {i}" for i in ids], png, title=title)
    except OSError as exc:
        # the thumbnails of a replaced query would show the wrong samples
        with contextlib.suppress(OSError):
            png.unlink(missing_ok=True)
        raise UserError(
            f"{path} is written and recorded: it is the query to label, and "
            f"`skmixal teach` takes it. But its thumbnails {png.name} could "
            f"not be written: {os_message(exc, 'writing')} Label by id, or "
            "free some space and run `skmixal query --force` to write the "
            "query and its thumbnails again.") from None


# --- init --------------------------------------------------------------------

# every name the loop writes in its state folder (query_0003-1.csv: a query
# kept aside by query --force; labels.npz.corrupt: a damaged file kept)
_STATE_FILE = re.compile(
    r"(labels\.(csv|npz)|test\.npz|model\.(pt|json)|state\.json|embeddings"
    r"|predictions\.csv"
    r"|query_\d+.*\.(csv|png)|labels\.npz\.corrupt.*)")


def _check_new_state_dir(state_dir):
    if state_dir.exists() and not state_dir.is_dir():
        raise UserError(f"--state {state_dir} is a file; name a directory to "
                        "create (or an empty one).")
    if (state_dir / "state.json").exists():
        try:
            old = read_json(state_dir / "state.json")
        except UserError:
            old = None
        name = old.get("data", {}).get("spec") if isinstance(old, dict) else None
        raise UserError(f"{state_dir} already holds a labeling state (dataset "
                        f"{name!r}); use another --state directory.")
    if state_dir.is_dir() and (held := sorted(
            p.name for p in state_dir.iterdir() if _STATE_FILE.fullmatch(p.name))):
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise UserError(
            f"--state {state_dir} already holds files of the names the labeling "
            f"loop writes ({shown}), and they would be overwritten. Name a new or "
            "empty directory, or move them.")


def _read_init_labels(initial_labels, test_labels, classes, n_samples, names):
    """{"labels": (ids, codes), "test": (ids, codes)} of the CSVs given to init."""
    parsed = {}
    for key, csv_path in (("labels", initial_labels), ("test", test_labels)):
        if csv_path is not None:
            # skipped rows: e.g. the labels.csv of another state of this data
            parsed[key] = _read_labels_csv(csv_path, classes, n_samples=n_samples,
                                           names=names,
                                           allow_skip=key == "labels")
    if "labels" in parsed and "test" in parsed and np.intersect1d(
            parsed["labels"][0], parsed["test"][0]).size:
        raise UserError("The initial labels and the test labels share ids.")
    return parsed


def _check_labels_data(flag, csv_path, data_print, loaded):
    """Refuse a labels CSV from a state folder whose data is not ``loaded``.

    A CSV's ids are row numbers: the labels.csv of a state on other data (init
    defaults to digits) would label other samples of the same classes,
    silently. Only a CSV inside a labeling state folder says what data it is
    about; others are taken as given.
    """
    folder = None if csv_path is None else Path(csv_path).parent
    info = None if folder is None else _state_data(folder)
    if info is None or info.get("fingerprint") in (None, data_print):
        return  # not a state folder's, or the same data
    raise UserError(
        f"{flag} {csv_path} belongs to the state {folder}, whose data is "
        f"{info.get('name')!r} with shape {info.get('shape')}, not the data given "
        f"({loaded.name!r} with shape {list(loaded.X.shape)}): its ids would label "
        f"other samples. Pass that state's data: --data {shlex.quote(info['spec'])}.")


def _state_data(folder):
    """What a labeling state folder's ``state.json`` says of its data, with
    ``spec`` made usable from the current directory; None where the folder
    holds no readable state."""
    try:
        info = read_json(Path(folder) / "state.json")["data"]
        return dict(info, spec=_resolved_spec(info["spec"], folder))
    except (UserError, KeyError, TypeError):
        return None


def _check_first_query(n_initial, n_samples, parsed):
    """Refuse a first query larger than what is left to label.

    At init nothing is written yet, so a refusal costs only a retyped
    command, while a silently smaller query (500 rows for ``--initial 600``)
    hides what was most likely a typo or the wrong data set.
    """
    n_known = sum(len(ids) for ids, _ in parsed.values())
    left = n_samples - n_known
    if n_initial > left:
        known = (f" ({n_samples} in the data, {n_known} labeled or held out by "
                 "--initial-labels/--test-labels)" if n_known else " in the data")
        raise UserError(f"--initial {n_initial} asks for more samples than there "
                        f"are to label: {left}{known}. Pass --initial {left} or "
                        "fewer.")


def _write_new_state(state_dir, meta, parsed, classes, created):
    """Write test.npz, the labels and state.json; on failure leave nothing."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if "test" in parsed:
            write_npz(state_dir / "test.npz", ids=parsed["test"][0],
                      codes=parsed["test"][1])
        if "labels" in parsed:
            ids, codes, skipped = _split_skipped(*parsed["labels"])
            _write_label_files(state_dir, classes, ids, codes, ["initial"],
                               skipped, ["initial"] * (len(ids) + len(skipped)))
        write_json(state_dir / "state.json", meta)  # last: marks it complete
    except OSError as exc:
        # a read-only or full disk: leave nothing half made behind
        tag_os_error(exc, "writing")  # the mkdir, too
        _undo_new_state(state_dir, created)
        raise


def _undo_new_state(state_dir, created):
    """Remove what init wrote: the folder it created, or else the files of
    the loop's names (:func:`_check_new_state_dir` saw none there before)."""
    if created:
        shutil.rmtree(state_dir, ignore_errors=True)
        return
    with contextlib.suppress(OSError):  # the error being reported comes first
        for path in state_dir.iterdir():
            if _STATE_FILE.fullmatch(path.name):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def init_state(state_dir, data="digits", *, initial_labels=None, n_initial=0,
               classes=None, test_labels=None, strategy="entropy",
               mixup_alpha="auto", estimator_params=None, seed=0,
               semi_supervised=False, warm_start=False, backbone=None,
               input_size=None, flip_average=False, torch_threads=None, log=_quiet):
    """Create a state directory: data reference, classes, settings, first labels.

    Every argument is checked before anything is written (the model settings
    by a one-step fit on two rows); if a check fails, nothing is left behind.

    Parameters
    ----------
    state_dir : str or path-like
        Created if missing; an existing one must not hold files of the names
        the loop writes (``labels.csv``, ``query_0000.csv``, ...).
    data : str, default="digits"
        Dataset spec for :func:`skmixal.datasets.load_dataset`. File paths are
        stored relative to ``state_dir``.
    initial_labels : str, path-like or None, default=None
        CSV ``id,label`` of samples already labeled; they are taught at once.
    n_initial : int, default=0
        Also draw this many random samples as the first query to label; at
        most the samples left once ``initial_labels`` and ``test_labels`` are
        set apart (more is refused).
    classes : sequence or None, default=None
        All class labels; default: the distinct labels found in the dataset.
    test_labels : str, path-like or None, default=None
        CSV ``id,label`` of a held-out set: never queried, scored by status.
    strategy : str, default="entropy"
        Query strategy, a name from ``skmixal.strategies.STRATEGIES``.
    mixup_alpha : float or 'auto', default='auto'
        The model's ``mixup_alpha`` (0: plain training); in a semi-supervised
        state, the method's mixing (``'auto'``: MixMatch's 0.75, FixMatch's 0).
    estimator_params : dict or None, default=None
        Other ``MixupNetClassifier`` parameters; ``semi_supervised`` among them
        chooses the method of a semi-supervised state (default ``'auto'``,
        stored as the method it resolves to for this data).
    seed : int, default=0
        Seeds the model and the queries.
    semi_supervised : bool, default=False
        Every refit also trains on the unlabeled pool (``X_unlabeled``).
    warm_start : bool, default=False
        Every refit continues from the last saved model (``warm_start=True``:
        ``min_steps='auto'`` then takes a quarter of the steps) instead of
        training from scratch.
    backbone : str or None, default=None
        Train and query on the frozen features of this pretrained backbone (a
        name of :data:`skmixal.backbones.BACKBONES`) instead of the pixels:
        embedded here once, cached in ``state_dir/embeddings`` and checked
        against the data at every later command (recomputed when stale).
    input_size : int or None, default=None
        Side the images are resized to for ``backbone``; None: its own.
    flip_average : bool, default=False
        With ``backbone``: average each image's features with its mirror
        image's (:class:`skmixal.ImageEmbedder`'s ``flip_average``).
    torch_threads : int or None, default=None
        torch CPU threads for this call, restored after it (see the module
        docstring); None leaves torch's setting as it is.
    log : callable, default=no-op
        Receives progress messages (one string each).

    Returns
    -------
    path : pathlib.Path or None
        The first query CSV when ``n_initial > 0``, else None.
    """
    from skmixal import __version__
    from skmixal.experiment import resolve_strategy
    from skmixal.training import resolve_method

    with _threads(torch_threads):
        state_dir = Path(state_dir)
        _check_new_state_dir(state_dir)
        _user_check(check_int, n_initial, "n_initial", 0, MAX_LABELS)
        resolve_strategy(strategy)
        loaded = load_data(data)
        if classes is None and loaded.y is None:
            raise UserError(
                f"The data {data!r} has no labels (no array 'y'), so the classes "
                "cannot be read from it: name them with --classes (e.g. --classes "
                "cat,dog,bird).")
        cls = np.unique(loaded.y) if classes is None else np.asarray(list(classes))
        names, counts = np.unique(cls.astype(str), return_counts=True)
        if (counts > 1).any():
            raise UserError(f"--classes lists {', '.join(names[counts > 1])} more "
                            f"than once: {cls.tolist()}.")
        if len(cls) < 2:
            raise UserError(f"Need at least two distinct classes; got {cls.tolist()}.")
        trimmed = {}
        for c in cls.tolist():
            trimmed.setdefault(str(c).strip(), []).append(c)
        if clash := next((v for v in trimmed.values() if len(v) > 1), None):
            raise UserError(
                f"The classes {' and '.join(map(repr, clash))} differ only by "
                "spaces around them, which an expert's typed label cannot show; "
                "clean the data's labels or name the classes with --classes.")
        names = _label_names(loaded, cls)
        data_print = fingerprint(loaded.X)
        for flag, csv_path in (("--initial-labels", initial_labels),
                               ("--test-labels", test_labels)):
            _check_labels_data(flag, csv_path, data_print, loaded)
        parsed = _read_init_labels(initial_labels, test_labels, cls, len(loaded.X),
                                   names)
        _check_first_query(n_initial, len(loaded.X), parsed)
        # the slow part (embedding) after the quick checks
        features, cached = _init_features(loaded, backbone, input_size,
                                          flip_average, log)
        estimator_params = dict(estimator_params or {})
        if semi_supervised:
            # by name: a later version's 'auto' never changes this state's model
            estimator_params["semi_supervised"] = resolve_method(
                estimator_params.get("semi_supervised", "auto"), features.shape[1:])
        params = {**model_params(estimator_params, features, cls),
                  "mixup_alpha": mixup_alpha, "random_state": int(seed), "classes": cls}
        check_model_settings(params, features, cls, semi_supervised=semi_supervised)
        meta = {
            "format": STATE_FORMAT, "version": STATE_VERSION,
            "skmixal_version": __version__,
            "data": {"spec": _stored_spec(data, state_dir), "name": loaded.name,
                     "shape": list(loaded.X.shape),
                     "fingerprint": data_print},
            "classes": cls.tolist(), "label_names": names,
            "config": {"strategy": strategy, "mixup_alpha": mixup_alpha,
                       "estimator_params": estimator_params, "seed": int(seed),
                       "semi_supervised": bool(semi_supervised),
                       "warm_start": bool(warm_start)},
            "queries": [],
            # how many rows (labels and skips) came from --initial-labels: a
            # rebuild of labels.npz from its journal checks it has them all
            "initial_labels": len(parsed["labels"][0]) if "labels" in parsed else 0,
        }
        if cached is not None:
            meta["config"]["backbone"] = {
                "name": backbone, "input_size": cached[1]["input_size"],
                "flip_average": cached[1]["flip_average"]}
        created = not state_dir.exists()
        _write_new_state(state_dir, meta, parsed, cls, created)
        state = _State(state_dir, log=log)
        state._data = loaded
        if cached is not None:
            save_embeddings(state_dir / "embeddings", *cached, log=log)
            state._features = features
        if n_initial:
            rng = np.random.default_rng(seed)
            picks = np.sort(rng.choice(state.pool(), n_initial, replace=False))
            return _write_query(state, picks, "query_0000.csv")
        try:
            state.model()
        except TrainingDivergedError:
            # the state's settings diverge on its own labels: a state kept
            # would refit them at every command, and block a retyped init
            _undo_new_state(state_dir, created)
            raise
        return None


def _init_features(loaded, backbone, input_size, flip_average, log):
    """(features, (embeddings, cache description) or None) for a new state.

    Nothing is written yet: init leaves nothing behind when a later check fails.
    """
    if backbone is None:
        if input_size is not None:
            raise UserError("--input-size applies to --backbone; pass --backbone "
                            "too.")
        if flip_average:
            raise UserError("--flip-average applies to --backbone; pass "
                            "--backbone too.")
        return loaded.X, None
    X = images_of(loaded)
    log(f"Embedding {len(X)} images with {backbone} (once: later commands read "
        "them from the state folder) ...")
    emb, meta = embed(X, backbone, input_size=input_size,
                      flip_average=flip_average)
    return standardized(emb), (emb, meta)


# --- query, teach, status ----------------------------------------------------

def query_state(state_dir, n=20, *, strategy=None, force=False, data=None,
                torch_threads=None, log=_quiet):
    """Choose samples to label next and write them to ``query_XXXX.csv``.

    Parameters
    ----------
    state_dir : str or path-like
    n : int, default=20
        Number of samples; when fewer are left unlabeled, all of them (and
        ``log`` says so).
    strategy : str or None, default=None
        Overrides the state's strategy for this query. With no labels yet,
        random sampling is used, except by ``'typiclust'``, which needs no
        model (typical points of k-means clusters of the features: a cold
        start).
    force : bool, default=False
        Replace a query that was issued but not taught yet. If labels were
        already typed into it, the file is kept under a new name
        (``query_XXXX-1.csv``) and ``log`` says so.
    data : str or None, default=None
        Where the data set is now, if it moved (checked by fingerprint).
    torch_threads : int or None, default=None
        torch CPU threads for this call, restored after it (see the module
        docstring); None leaves torch's setting as it is.
    log : callable, default=no-op
        Receives progress messages.

    Returns
    -------
    path : pathlib.Path
        The CSV to fill in (a PNG grid with the same name accompanies images).
    """
    from skmixal.experiment import derive_seed, query_indices, resolve_strategy
    from skmixal.strategies import typiclust_sampling

    with _threads(torch_threads):
        n = _user_check(check_int, n, "n", 1, MAX_LABELS)
        state = _State(state_dir, data=data, log=log)
        func = resolve_strategy(strategy or state.meta["config"]["strategy"])
        pending = state.pending
        if pending is not None and not force:
            raise UserError(f"{pending['file']} is still waiting for labels: fill "
                            "it in and run `skmixal teach`, or pass --force to "
                            "replace it.")
        state.check_writable("query")  # before a refit that could not be saved
        pool = state.pool()
        if len(pool) == 0:
            skipped = (f" or skipped ({len(state.skipped)} skipped; `skmixal "
                       "relabel` can give one a label)" if len(state.skipped)
                       else "")
            raise UserError(f"Every sample is labeled{skipped} already.")
        if n > len(pool):
            log(f"Only {len(pool)} samples are left unlabeled: the query holds "
                f"all {len(pool)}, not --n {n}.")
            n = len(pool)
        if pending is not None:
            # only in memory: the files change once the new query is ready, so a
            # refit or query that fails leaves the pending query as it was
            state.meta["queries"].pop()
        round_no = len(state.meta["queries"])
        seed = derive_seed(state.meta["config"]["seed"], "query", round_no)
        model = state.model()
        if model is None and func is typiclust_sampling:
            # TypiClust needs no model: the cold start it was designed for
            log(f"Choosing {n} typical samples of {len(pool)} (TypiClust on the "
                "features; no labels yet) ...")
            picks = pool[query_indices(func, state.estimator(), state.features[pool],
                                       n, random_state=seed, features="raw")]
        elif model is None:
            picks = np.random.default_rng(seed).choice(pool, n, replace=False)
        else:
            log(f"Scoring {len(pool)} unlabeled samples with "
                f"{_strategy_name(func)} ...")
            picks = pool[query_indices(func, model, state.features[pool], n,
                                       random_state=seed,
                                       X_labeled=state.features[state.ids],
                                       y_labeled=state.classes[state.codes])]
        return _write_query(state, picks, f"query_{round_no:04d}.csv",
                            replaces=pending)


def _strategy_name(func):
    return getattr(func, "__name__", "the strategy").removesuffix("_sampling")


def teach_state(state_dir, csv_path, *, data=None, torch_threads=None, log=_quiet):
    """Validate a filled-in query CSV, save its labels, then refit the model.

    Every row is checked first (ids of the last query, each exactly once,
    labels among the known classes, or their names, or ``skip`` for a sample
    the expert cannot label: it is never queried again nor trained on); on
    any problem nothing changes. The labels are saved before the refit, so
    an interrupted refit loses none (it raises :class:`RefitInterrupted`).
    :func:`relabel_state` changes a label once taught.

    Parameters
    ----------
    state_dir : str or path-like
    csv_path : str or path-like
        The query CSV with its ``label`` column filled in (the header's case
        does not matter).
    data, torch_threads, log
        As for :func:`query_state`.

    Returns
    -------
    n_labels : int
        Labels in the state after teaching.
    """
    with _threads(torch_threads):
        state = _State(state_dir, data=data, log=log)
        pending = state.pending
        if pending is None:
            raise UserError("No query is waiting for labels; run `skmixal query` "
                            "first.")
        ids, codes, skipped = _split_skipped(*_read_labels_csv(
            csv_path, state.classes, expected=set(pending["ids"]),
            names=state.names, allow_skip=True))
        state.check_writable("teach")
        state.data  # noqa: B018 -- check the data before changing anything
        state.save_labels(np.concatenate([state.ids, ids]),
                          np.concatenate([state.codes, codes]),
                          [*state.taught, pending["file"]],
                          np.concatenate([state.skipped, skipped]))
        shown = f"; {len(skipped)} skipped" if len(skipped) else ""
        log(f"Saved {len(ids)} new labels ({len(state.ids)} in total){shown}.")
        state.model()
        return len(state.ids)


def relabel_state(state_dir, csv_path, *, data=None, torch_threads=None,
                  log=_quiet):
    """Change labels already taught, then refit the model.

    The CSV (``id,label``, as for :func:`teach_state`; an edited copy of the
    state's ``labels.csv`` will do) names taught ids, each with its right
    label: a class, its name, or ``skip`` to take the sample out of the
    labels (it is then never queried again); a skipped id given a class
    becomes labeled. Rows whose label is unchanged are left alone. Every row
    is checked first; on any problem nothing changes. Held-out test labels
    are fixed at init, and the ids of a pending query are taught with
    :func:`teach_state`.

    Parameters
    ----------
    state_dir : str or path-like
    csv_path : str or path-like
    data, torch_threads, log
        As for :func:`query_state`.

    Returns
    -------
    n_changed : int
        Labels changed (0: nothing was written and the model is kept).
    """
    with _threads(torch_threads):
        state = _State(state_dir, data=data, log=log, check_journal=False)
        ids, codes = _read_labels_csv(
            csv_path, state.classes, n_samples=state.meta["data"]["shape"][0],
            names=state.names, allow_skip=True, refused="nothing was changed")
        current = dict(zip(state.ids.tolist(), state.codes.tolist()))
        current.update((i, _SKIPPED) for i in state.skipped.tolist())
        _check_relabeled(state, csv_path, ids, current)
        given = dict(zip(ids.tolist(), codes.tolist()))
        _refuse_journal_edits(state, state.dir / "labels.csv", state.ids,
                              state.codes, state.skipped, relabeled=given)
        changes = {i: c for i, c in given.items() if current[i] != c}
        if not changes:
            log(f"Every label in {csv_path} is the one taught: nothing changed.")
            return 0
        state.check_writable("relabel")
        state.data  # noqa: B018 -- check the data before changing anything

        def shown(code):
            return SKIP if code == _SKIPPED else str(state.classes[code])

        listed = "; ".join(f"id {i}: {shown(current[i])} -> {shown(c)}"
                           for i, c in list(changes.items())[:10])
        # every id keeps its place; one moved between labeled and skipped
        # goes last there
        labeled = {i: c for i, c in current.items() if c != _SKIPPED}
        labeled.update(changes)
        labeled = {i: c for i, c in labeled.items() if c != _SKIPPED}
        skipped = [i for i in state.skipped.tolist() if i not in changes]
        skipped += [i for i, c in changes.items() if c == _SKIPPED]
        state.save_labels(list(labeled), list(labeled.values()), state.taught,
                          skipped)
        # the saved model learned the labels being corrected: never continued
        # (warm start) nor kept if the refit below is interrupted
        for name in ("model.pt", "model.json"):
            (state.dir / name).unlink(missing_ok=True)
        log(f"Changed {len(changes)} label(s): {listed}"
            f"{' ...' if len(changes) > 10 else ''}. {len(state.ids)} labels"
            f"{f', {len(state.skipped)} skipped' if len(state.skipped) else ''}.")
        state.model()
        return len(changes)


def _check_relabeled(state, csv_path, ids, current):
    """A UserError naming every id of ``ids`` that was not taught."""
    test = set(state.test_ids.tolist())
    pending = state.pending
    waiting = set(pending["ids"]) if pending else set()
    errors = []
    for i in ids.tolist():
        if i in current:
            continue
        if i in test:
            errors.append(f"id {i} is a held-out test label (fixed at init)")
        elif i in waiting:
            errors.append(f"id {i} is in the pending query {pending['file']}: "
                          "label it there and run `skmixal teach`")
        else:
            errors.append(f"id {i} was never taught")
    if errors:
        _raise_row_errors(f"{csv_path}: nothing was changed; only taught labels "
                          "can be changed", errors)


def _check_cv(cv):
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or not (
            cv == 0 or 2 <= cv <= MAX_FOLDS):
        raise UserError(f"--cv must be 0 (no cross-validation) or "
                        f"{int_range(2, MAX_FOLDS)} (folds), got {cv!r}.")


def state_status(state_dir, *, cv=5, data=None, torch_threads=None, log=_quiet):
    """Labels so far, class balance, pending query and the model's accuracy.

    Parameters
    ----------
    state_dir : str or path-like
    cv : int, default=5
        Folds of the cross-validated accuracy on the labeled set, used when no
        test labels were given: 0 skips it, else between 2 and 100 (fewer
        when a class has fewer labels). These folds train on the labels
        alone, even in a semi-supervised state.
    data, torch_threads, log
        As for :func:`query_state`.

    Returns
    -------
    status : dict
        ``n_labels``, ``class_counts`` (class -> count), ``class_names`` (list
        or None), ``pending`` (file or None), ``n_queries``, ``n_pool``,
        ``n_skipped`` (samples the expert skipped),
        ``accuracy`` with ``accuracy_kind`` ("held-out", "k-fold
        cross-validated" or None), ``accuracy_note``: why there is no
        accuracy, or None, and ``fit_report``: the current model's
        :attr:`~skmixal.MixupNetClassifier.fit_report_` (whether its
        semi-supervised fit collapsed), or None when no model of the current
        labels is saved.
    """
    _check_cv(cv)
    with _threads(torch_threads):
        state = _State(state_dir, data=data, log=log)
        if data is not None:
            # checked by fingerprint and remembered, as on the other commands,
            # even when the status below never reads the data
            state.data  # noqa: B018
        counts = np.bincount(state.codes, minlength=len(state.classes))
        out = {"dataset": state.meta["data"]["name"], "n_labels": int(len(state.ids)),
               "class_counts": dict(zip(state.classes.tolist(), counts.tolist())),
               "class_names": state.names,
               "pending": state.pending and state.pending["file"],
               "n_queries": len(state.meta["queries"]),
               "n_skipped": int(len(state.skipped)),
               "n_pool": int(state.meta["data"]["shape"][0] - len(state.ids)
                             - len(state.skipped) - len(state.test_ids))}
        out.update(_accuracy(state, counts, cv))
        out["fit_report"] = state.fit_report()
        return out


PREDICTIONS = "predictions.csv"
# columns predict_state writes; an existing file is replaced only if it has
# them (a file of predictions written before, never one of the user's)
_PREDICTION_COLUMNS = ("id", "prediction")


def predict_state(state_dir, out=None, *, proba=False, input_data=None, data=None,
                  torch_threads=None, log=_quiet):
    """Write the current model's prediction for every sample of the data.

    What a labeling campaign is for: the samples never labeled get the
    model's label and how sure it is (the least sure are where it is most
    often wrong), those labeled keep yours beside it. With ``input_data``,
    the samples of another data set get them instead.

    Parameters
    ----------
    state_dir : str or path-like
    out : str, path-like or None, default=None
        The CSV to write; None writes ``predictions.csv`` in the state folder
        (not with ``input_data``, which needs ``out``). An existing file is
        replaced only if it holds predictions written before (its header
        has ``id`` and ``prediction`` columns); the labeling loop's own files are
        refused.
    proba : bool, default=False
        Add one column of probabilities per class, ``p_<class>``.
    input_data : str or None, default=None
        A data set spec (as for ``--data``: ``npz:new.npz``, ...) of new
        samples shaped like the state's, to predict instead of the state's
        own data (``--backbone`` states embed them with the same backbone).
        Their ``label`` column holds the data set's own labels, if it has
        any (as this state's classes where they are one, or their names),
        and ``log`` gives the accuracy on them.
    data, torch_threads, log
        As for :func:`query_state`.

    Returns
    -------
    path : pathlib.Path
        The CSV: one row per sample of the data, in id order, with the
        columns ``id``, ``prediction`` (a class, as in ``labels.csv``),
        ``name`` (the class name, where the data set names its classes),
        ``confidence`` (the predicted class's probability), ``label`` (the
        label you gave, or ``skip``; empty for a sample never labeled) and
        ``given`` (``taught``, ``skipped``, ``held out`` for a
        ``--test-labels`` sample, or empty; not with ``input_data``), then
        ``p_<class>`` with ``proba``, in the order of the state's classes.
    """
    with _threads(torch_threads):
        state = _State(state_dir, data=data, log=log)
        if input_data is not None and out is None:
            raise UserError(f"--input needs --out, the CSV to write: {PREDICTIONS} "
                            "in the state folder holds the predictions of the "
                            "state's own samples.")
        path = _predictions_path(state, out, input_data)
        if not len(state.ids):
            step = (f"fill in {state.dir / state.pending['file']} and run `skmixal "
                    "teach`" if state.pending else "run `skmixal query`, label "
                    "it and run `skmixal teach`")
            raise UserError("No labels yet, so there is no model to predict with: "
                            f"{step}.")
        if input_data is None:
            X, given = state.features, _given_labels(state)
        else:
            new = load_data(input_data, flag="--input")
            if not len(new.X):
                raise UserError(f"--input {input_data} holds no samples.")
            X = _input_features(state, new, input_data)
            codes = _input_codes(state, new)
            # the file's own labels: as this state's classes where they are one
            given = {} if new.y is None else {
                i: (str(state.classes[c]) if c >= 0 else str(label), "")
                for i, (c, label) in enumerate(zip(codes.tolist(), new.y.tolist()))
                if str(label).strip()}
        model = state.model()
        probs = _in_state_order(model.predict_proba(X), model.classes_, state.classes)
        rows = _prediction_rows(state, probs, given, proba,
                                with_given=input_data is None)
        try:
            write_csv(path, rows, list(rows[0]))
        except OSError as exc:
            tag_os_error(exc, "writing")
            raise
        if input_data is None:
            never = np.setdiff1d(np.arange(len(X)), list(given))
            sure = probs[never].max(axis=1)
            shown = (f"; their mean confidence {sure.mean():.3f}, "
                     f"{int(np.sum(sure < 0.5))} below 0.5" if len(never) else "")
            log(f"Predicted {len(X)} samples: {len(never)} never labeled{shown}.")
        else:
            log(f"Predicted {len(X)} samples of {input_data}"
                f"{_input_accuracy(probs.argmax(axis=1), codes, len(given))}.")
        return path


def _in_state_order(probs, model_classes, classes):
    """predict_proba's columns, which follow the model's sorted ``classes_``,
    in the order of the state's classes (``--classes`` keeps the order typed).
    The model knows every class of the state (:meth:`_State.estimator` gives
    it ``classes``), labeled yet or not."""
    column = {c: k for k, c in enumerate(np.asarray(model_classes).tolist())}
    return probs[:, [column[c] for c in classes.tolist()]]


def _given_labels(state):
    """{id: (the label given, how)}: taught, skipped or held out."""
    given = {int(i): (str(state.classes[c]), "taught")
             for i, c in zip(state.ids, state.codes)}
    given.update({int(i): (str(state.classes[c]), "held out")
                  for i, c in zip(state.test_ids, state.test_codes)})
    given.update(dict.fromkeys(state.skipped.tolist(), (SKIP, "skipped")))
    return given


def _input_codes(state, new):
    """The state's class code of each label of --input data: -1 where it has
    none or names no class of the state. A label is read as ``teach`` reads
    one (the class, or its name); integer labels of a file with its own
    ``label_names`` are read as those names, which may number the classes
    otherwise."""
    if new.y is None:
        return np.full(len(new.X), -1)
    values, inverse = np.unique(new.y, return_inverse=True)
    codes = []
    for value in values.tolist():  # each distinct label parsed once
        if new.label_names is not None and isinstance(value, int) and (
                0 <= value < len(new.label_names)):
            value = new.label_names[value]
        code = _parse_class(str(value).strip(), state.classes, state.names)
        codes.append(-1 if code is None else code)
    return np.asarray(codes, dtype=np.int64)[inverse.reshape(-1)]


def _input_features(state, new, spec):
    """What the state's model takes, for the new samples of ``--input``."""
    backbone = state.backbone
    shape = tuple(state.meta["data"]["shape"][1:])
    if backbone is None:
        if new.X.shape[1:] != shape:
            raise UserError(
                f"--input {spec} holds samples of shape {new.X.shape[1:]}, but this "
                f"state's model was trained on samples of shape {shape}.")
        return new.X
    images, own = images_of(new), images_of(state.data)
    if images.ndim != 4 or images.shape[1] != own.shape[1]:
        raise UserError(
            f"--input {spec} holds samples of shape {new.X.shape[1:]}, but this "
            f"state embeds images of {own.shape[1]} channel(s) with "
            f"{backbone['name']}.")
    state.log(f"Embedding {len(images)} images with {backbone['name']} ...")
    emb, _ = embed(images, backbone["name"], input_size=backbone["input_size"],
                   flip_average=backbone.get("flip_average", False))
    # scaled by the statistics of the embeddings the model was trained on
    return standardized(emb, like=state.embeddings)


def _input_accuracy(picks, codes, n_labeled):
    """``; accuracy X on its N labels`` for --input data with labels, or ''."""
    scored = codes >= 0
    if not scored.any():
        return (f"; none of its {n_labeled} labels is a class of this state"
                if n_labeled else "")
    hits = np.mean(picks[scored] == codes[scored])
    outside = n_labeled - int(scored.sum())
    extra = f"; {outside} more are not a class of this state" if outside else ""
    return f"; accuracy {hits:.3f} on its {int(scored.sum())} labels{extra}"


def _predictions_path(state, out, input_data):
    """Where predict_state writes, checked before any refit."""
    path = state.dir / PREDICTIONS if out is None else Path(out)
    named = f"--out {path}" if out is not None else str(path)
    if path.is_symlink():
        path = path.resolve()  # write the file it points to; keep the link
    if input_data is not None and path == (state.dir / PREDICTIONS).resolve():
        raise UserError(f"{named} holds the predictions of the state's own samples; "
                        "name another file for those of --input.")
    if path.is_dir():
        raise UserError(f"{named} is a directory; name a .csv file in it.")
    if path.suffix.lower() != ".csv":
        raise UserError(f"{named} must name a .csv file.")
    if not path.parent.is_dir():
        raise UserError(f"{named}: the folder {path.parent} does not exist.")
    if (path.name != PREDICTIONS and _STATE_FILE.fullmatch(path.name)
            and (path.parent / "state.json").exists()):
        # this state's or another's: the loop would lose or misread it
        raise UserError(f"{named} is one of a labeling state's own files; name "
                        f"another file (e.g. {PREDICTIONS}).")
    if path.exists() and not _holds_predictions(path):
        move = "move it" if out is not None else "move it, or pass --out"
        raise UserError(f"{named} exists and is not a predictions file (its "
                        "header has no id and prediction columns); name another "
                        f"file, or {move}.")
    if out is None and not state.writable():
        raise UserError(f"--state {state.dir} is not writable, and `skmixal predict` "
                        f"writes {PREDICTIONS} there; pass --out with a .csv file "
                        "in a folder you can write.")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UserError(f"{named}: the folder {path.parent} is not writable.")
    return path


def _holds_predictions(path):
    """Whether a file has predict_state's id and prediction columns, read as
    every CSV of the loop is (:func:`_read_csv`); one that is not UTF-8 text
    does not."""
    try:
        _read_csv(path, _PREDICTION_COLUMNS)
    except (_NoColumns, UnicodeDecodeError, csv.Error):
        return False
    return True


def _prediction_rows(state, probs, given, proba, *, with_given):
    """The rows of predict_state's CSV (dicts in column order)."""
    picks = probs.argmax(axis=1)
    rows = []
    for i, (pick, row) in enumerate(zip(picks.tolist(), probs)):
        out = {"id": i, "prediction": str(state.classes[pick])}
        if state.names:
            out["name"] = str(state.names[pick])
        out["confidence"] = f"{row[pick]:.4f}"
        out["label"], how = given.get(i, ("", ""))
        if with_given:
            out["given"] = how
        if proba:
            out.update((f"p_{c}", f"{p:.4f}")
                       for c, p in zip(state.classes.tolist(), row.tolist()))
        rows.append(out)
    return rows


def _accuracy(state, counts, cv):
    """accuracy, accuracy_kind and accuracy_note of :func:`state_status`."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    none = {"accuracy": None, "accuracy_kind": None}
    if not len(state.ids):
        return {**none, "accuracy_note": "no labels yet"}
    if len(state.test_ids):
        pred = state.model().predict(state.features[state.test_ids])
        return {"accuracy": float(np.mean(pred == state.classes[state.test_codes])),
                "accuracy_kind": "held-out", "accuracy_note": None}
    if cv == 0:
        return {**none, "accuracy_note": "skipped by --cv 0; no held-out set was "
                "given at init (--test-labels)"}
    present = counts[counts > 0]
    folds = min(cv, int(present.min())) if len(present) > 1 else 0
    if folds < 2:
        single = [str(c) for c in state.classes[counts == 1].tolist()]
        why = (f"class(es) {', '.join(single)} have a single label"
               if len(present) > 1 else "only one class is labeled")
        return {**none, "accuracy_note": "cross-validation needs 2 or more "
                f"labeled classes, each with at least 2 labels ({why}); or pass "
                "--test-labels at init"}
    state.log(f"Cross-validating: {folds} fits on {len(state.ids)} labels ...")
    scores = cross_val_score(
        state.estimator(), state.features[state.ids], state.classes[state.codes],
        cv=StratifiedKFold(folds, shuffle=True,
                           random_state=state.meta["config"]["seed"]))
    return {"accuracy": float(scores.mean()),
            "accuracy_kind": f"{folds}-fold cross-validated", "accuracy_note": None}
