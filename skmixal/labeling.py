"""Real labeling with a human expert, through a state directory of plain files.

The loop: :func:`init_state` (data, classes, first labels) -> :func:`query_state`
(writes ``query_XXXX.csv`` with an empty ``label`` column, plus thumbnails for
images) -> the expert fills in the labels -> :func:`teach_state` (validates,
saves the labels, refits) -> repeat; :func:`state_status` reports progress.

The state directory holds:

``state.json``
    Format version, dataset spec and fingerprint, classes, settings, and the
    list of queries issued (the last is pending until taught).
``labels.npz``
    Labeled ids, their class codes, and the names of the queries taught.
``test.npz`` (optional)
    A held-out labeled set for status.
``model.pt``, ``model.json``
    Weights from skorch's ``save_params`` and the labels they were fitted on.

Every file is written atomically, and labels are saved before the (slow) refit:
a crash or Ctrl-C at any point loses no label already taught, and a stale model
is simply refitted by the next command. Nothing is ever unpickled.
"""

import csv
import math
from pathlib import Path

import numpy as np

from skmixal._io import (
    InterruptGuard,
    UserError,
    atomic_path,
    fingerprint,
    read_json,
    read_npz,
    write_json,
    write_npz,
)

__all__ = ["init_state", "query_state", "state_status", "teach_state"]

STATE_FORMAT = "skmixal-labeling-state"
STATE_VERSION = 1
_MAX_ERRORS = 10


def _load_data(spec):
    from skmixal.datasets import load_dataset

    try:
        return load_dataset(spec)
    except (ValueError, OSError, ImportError) as exc:
        raise UserError(f"Cannot load dataset {spec!r}: {exc}") from None


def _canonical_spec(spec):
    """Absolute paths in file specs, so commands work from any folder."""
    kind, sep, rest = str(spec).partition(":")
    if sep and kind in ("npz", "mnist"):
        return f"{kind}:{Path(rest).resolve()}"
    if not sep and (str(spec).endswith(".npz") or Path(spec).is_dir()):
        return str(Path(spec).resolve())
    return str(spec)


class _State:
    """The state directory, loaded and checked; holds the data once loaded."""

    def __init__(self, state_dir):
        self.dir = Path(state_dir)
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
        labels = (read_npz(self.dir / "labels.npz")
                  if (self.dir / "labels.npz").exists() else {})
        self.ids = labels.get("ids", np.zeros(0, np.int64))
        self.codes = labels.get("codes", np.zeros(0, np.int64))
        self.taught = [str(t) for t in labels.get("taught", [])]
        test = read_npz(self.dir / "test.npz") if (self.dir / "test.npz").exists() \
            else {"ids": np.zeros(0, np.int64), "codes": np.zeros(0, np.int64)}
        self.test_ids, self.test_codes = test["ids"], test["codes"]
        self._data = None

    @property
    def data(self):
        if self._data is None:
            info = self.meta["data"]
            data = _load_data(info["spec"])
            if fingerprint(data.X) != info["fingerprint"]:
                raise UserError(
                    f"The dataset {info['spec']!r} no longer matches this state "
                    f"directory (it was {info['name']!r} with shape {info['shape']}); "
                    "was it replaced? Use the original data or a new state directory.")
            self._data = data
        return self._data

    @property
    def pending(self):
        """The last query if it was not taught yet, else None."""
        queries = self.meta["queries"]
        if queries and queries[-1]["file"] not in self.taught:
            return queries[-1]
        return None

    def labels_key(self):
        return fingerprint(self.ids, self.codes)

    def save_labels(self, ids, codes, taught):
        write_npz(self.dir / "labels.npz", ids=np.asarray(ids, np.int64),
                  codes=np.asarray(codes, np.int64),
                  taught=np.asarray(taught, dtype=str))
        self.ids, self.codes, self.taught = (np.asarray(ids, np.int64),
                                             np.asarray(codes, np.int64), taught)

    # -- model ----------------------------------------------------------------
    def estimator(self, **overrides):
        from skmixal.classifier import MixupNetClassifier

        cfg = self.meta["config"]
        params = {**cfg["estimator_params"], "mixup_alpha": cfg["mixup_alpha"],
                  "random_state": cfg["seed"], "classes": self.classes,
                  "torch_load_kwargs": {"weights_only": True}, **overrides}
        return MixupNetClassifier(**params)

    def model(self, *, refit_stale=True):
        """The model fitted on the current labels: loaded, or refitted and saved."""
        if len(self.ids) == 0:
            return None
        X, y = self.data.X[self.ids], self.classes[self.codes]
        info_path = self.dir / "model.json"
        if info_path.exists() and (self.dir / "model.pt").exists():
            info = read_json(info_path)
            if info.get("labels") == self.labels_key():
                # build the network for this data without training, then load
                net = self.estimator(max_epochs=0, min_steps=0).fit(X, y)
                net.load_params(f_params=str(self.dir / "model.pt"))
                return net
        if not refit_stale:
            return None
        with InterruptGuard() as guard:
            net = self.estimator().fit(X, y)
            guard.check()
        with atomic_path(self.dir / "model.pt") as tmp:
            net.save_params(f_params=str(tmp))
        write_json(info_path, {"labels": self.labels_key(), "n_labels": len(y)})
        return net


def _parse_class(text, classes):
    lookup = {str(c): i for i, c in enumerate(classes.tolist())}
    return lookup.get(text.strip())


def _write_query(state, ids, name):
    path = state.dir / name
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label"])
        writer.writerows([int(i), ""] for i in ids)
    X = state.data.X
    side = math.isqrt(X.shape[1]) if X.ndim == 2 else 0
    if X.ndim == 4 or (X.ndim == 2 and side * side == X.shape[1] and side >= 4):
        from skmixal.plotting import image_grid

        images = X[ids] if X.ndim == 4 else X[ids].reshape(-1, side, side)
        image_grid(images, [f"id {i}" for i in ids], path.with_suffix(".png"))
    state.meta["queries"].append({"file": name, "ids": [int(i) for i in ids]})
    write_json(state.dir / "state.json", state.meta)
    return path


def _read_labels_csv(path, classes, *, expected=None, n_samples=None):
    """Parse and validate an id,label CSV; return (ids, codes) or raise UserError."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"Cannot read {path}: {exc}") from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "id" not in header or "label" not in header:
        raise UserError(f"{path}: the first row must be the header `id,label`; got "
                        f"{rows[0] if rows else 'an empty file'}.")
    col_id, col_label = header.index("id"), header.index("label")
    errors, ids, codes, seen = [], [], [], set()
    known = ", ".join(map(str, classes.tolist()))
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        raw_id, label = cells[col_id].strip(), cells[col_label].strip()
        try:
            sample = int(raw_id)
        except ValueError:
            errors.append(f"line {line}: id {raw_id!r} is not an integer")
            continue
        code = _parse_class(label, classes)
        if sample in seen:
            errors.append(f"line {line}: id {sample} appears more than once")
        elif expected is not None and sample not in expected:
            errors.append(f"line {line}: id {sample} was not in the last query")
        elif n_samples is not None and not 0 <= sample < n_samples:
            errors.append(f"line {line}: id {sample} is outside 0..{n_samples - 1}")
        elif not label:
            errors.append(f"line {line}: id {sample} has an empty label")
        elif code is None:
            errors.append(f"line {line}: id {sample} has unknown class {label!r} "
                          f"(known classes: {known})")
        seen.add(sample)
        ids.append(sample)
        codes.append(code)
    if expected is not None:
        missing = sorted(set(expected) - seen)
        if missing:
            errors.append(f"{len(missing)} queried id(s) missing: "
                          f"{', '.join(map(str, missing[:10]))}"
                          f"{' ...' if len(missing) > 10 else ''}")
    if not ids and not errors:
        errors.append("no labeled rows")
    if errors:
        more = len(errors) - _MAX_ERRORS
        listed = "\n  ".join(errors[:_MAX_ERRORS])
        raise UserError(f"{path}: nothing was taught; fix these and retry:\n  "
                        f"{listed}" + (f"\n  ... and {more} more" if more > 0 else ""))
    return np.asarray(ids, np.int64), np.asarray(codes, np.int64)


def init_state(state_dir, data="digits", *, initial_labels=None, n_initial=0,
               classes=None, test_labels=None, strategy="entropy",
               mixup_alpha="auto", estimator_params=None, seed=0):
    """Create a state directory: data reference, classes, settings, first labels.

    Parameters
    ----------
    state_dir : str or path-like
        Created if missing; must not hold a state already.
    data : str, default="digits"
        Dataset spec for :func:`skmixal.datasets.load_dataset`.
    initial_labels : str, path-like or None, default=None
        CSV ``id,label`` of samples already labeled; they are taught at once.
    n_initial : int, default=0
        Also draw this many random samples as the first query to label.
    classes : sequence or None, default=None
        All class labels; default: the distinct labels found in the dataset.
    test_labels : str, path-like or None, default=None
        CSV ``id,label`` of a held-out set: never queried, scored by status.
    strategy : str, default="entropy"
        Query strategy, a name from ``skmixal.strategies.STRATEGIES``.
    mixup_alpha : float or 'auto', default='auto'
        Mixup strength of the model (0: plain training).
    estimator_params : dict or None, default=None
        Other ``MixupNetClassifier`` parameters.
    seed : int, default=0
        Seeds the model and the queries.

    Returns
    -------
    path : pathlib.Path or None
        The first query CSV when ``n_initial > 0``, else None.
    """
    from skmixal import __version__
    from skmixal.experiment import resolve_strategy

    state_dir = Path(state_dir)
    if (state_dir / "state.json").exists():
        old = read_json(state_dir / "state.json")
        name = old.get("data", {}).get("spec") if isinstance(old, dict) else None
        raise UserError(f"{state_dir} already holds a labeling state (dataset "
                        f"{name!r}); use another --state directory.")
    resolve_strategy(strategy)
    spec = _canonical_spec(data)
    loaded = _load_data(spec)
    cls = np.unique(loaded.y) if classes is None else np.asarray(list(classes))
    if len(np.unique(cls.astype(str))) != len(cls) or len(cls) < 2:
        raise UserError(f"Need at least two distinct classes; got {cls.tolist()}.")
    n = len(loaded.X)
    parsed = {}
    for key, csv_path in (("labels", initial_labels), ("test", test_labels)):
        if csv_path is not None:
            parsed[key] = _read_labels_csv(csv_path, cls, n_samples=n)
    if "labels" in parsed and "test" in parsed and np.intersect1d(
            parsed["labels"][0], parsed["test"][0]).size:
        raise UserError("The initial labels and the test labels share ids.")
    state_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": STATE_FORMAT, "version": STATE_VERSION,
        "skmixal_version": __version__,
        "data": {"spec": spec, "name": loaded.name, "shape": list(loaded.X.shape),
                 "fingerprint": fingerprint(loaded.X)},
        "classes": cls.tolist(),
        "config": {"strategy": strategy, "mixup_alpha": mixup_alpha,
                   "estimator_params": estimator_params or {}, "seed": int(seed)},
        "queries": [],
    }
    if "test" in parsed:
        write_npz(state_dir / "test.npz", ids=parsed["test"][0],
                  codes=parsed["test"][1])
    if "labels" in parsed:
        write_npz(state_dir / "labels.npz", ids=parsed["labels"][0],
                  codes=parsed["labels"][1], taught=np.asarray(["initial"]))
    write_json(state_dir / "state.json", meta)  # last: marks the state complete
    state = _State(state_dir)
    state._data = loaded
    if n_initial:
        pool = np.setdiff1d(np.arange(n), np.concatenate([state.ids, state.test_ids]))
        rng = np.random.default_rng(seed)
        picks = np.sort(rng.choice(pool, min(n_initial, len(pool)), replace=False))
        return _write_query(state, picks, "query_0000.csv")
    state.model()
    return None


def query_state(state_dir, n=20, *, strategy=None, force=False):
    """Choose samples to label next and write them to ``query_XXXX.csv``.

    Parameters
    ----------
    state_dir : str or path-like
    n : int, default=20
        Number of samples.
    strategy : str or None, default=None
        Overrides the state's strategy for this query. With no labels yet,
        random sampling is used.
    force : bool, default=False
        Replace a query that was issued but not taught yet.

    Returns
    -------
    path : pathlib.Path
        The CSV to fill in (a PNG grid with the same name accompanies images).
    """
    from skmixal.experiment import _derive_seed, _query, resolve_strategy

    state = _State(state_dir)
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}.")
    pending = state.pending
    if pending is not None and not force:
        raise UserError(f"{pending['file']} is still waiting for labels: fill it in "
                        "and run `skmixal teach`, or pass --force to replace it.")
    if pending is not None:
        state.meta["queries"].pop()
    excluded = np.concatenate([state.ids, state.test_ids])
    pool = np.setdiff1d(np.arange(len(state.data.X)), excluded)
    if len(pool) == 0:
        raise UserError("Every sample is labeled already.")
    n = min(n, len(pool))
    round_no = len(state.meta["queries"])
    seed = _derive_seed(state.meta["config"]["seed"], "query", round_no)
    model = state.model()
    if model is None:
        picks = np.random.default_rng(seed).choice(pool, n, replace=False)
    else:
        func = resolve_strategy(strategy or state.meta["config"]["strategy"])
        X_lab = state.data.X[state.ids]
        picks = pool[_query(func, model, state.data.X[pool], n, random_state=seed,
                            X_labeled=X_lab, y_labeled=state.classes[state.codes])]
    return _write_query(state, picks, f"query_{round_no:04d}.csv")


def teach_state(state_dir, csv_path):
    """Validate a filled-in query CSV, save its labels, then refit the model.

    Every row is checked first (ids of the last query, each exactly once,
    labels among the known classes); on any problem nothing changes. The
    labels are saved before the refit, so an interrupted refit loses none.

    Parameters
    ----------
    state_dir : str or path-like
    csv_path : str or path-like
        The query CSV with its ``label`` column filled in.

    Returns
    -------
    n_labels : int
        Labels in the state after teaching.
    """
    state = _State(state_dir)
    pending = state.pending
    if pending is None:
        raise UserError("No query is waiting for labels; run `skmixal query` first.")
    ids, codes = _read_labels_csv(csv_path, state.classes,
                                  expected=set(pending["ids"]))
    state.data  # noqa: B018 -- check the data before changing anything
    state.save_labels(np.concatenate([state.ids, ids]),
                      np.concatenate([state.codes, codes]),
                      [*state.taught, pending["file"]])
    state.model()
    return len(state.ids)


def state_status(state_dir, *, cv=5):
    """Labels so far, class balance, pending query and the model's accuracy.

    Parameters
    ----------
    state_dir : str or path-like
    cv : int, default=5
        Folds of the cross-validated accuracy on the labeled set, used when no
        test labels were given (0: skip it).

    Returns
    -------
    status : dict
        ``n_labels``, ``class_counts`` (class -> count), ``pending`` (file or
        None), ``n_queries``, ``n_pool``, and ``accuracy`` with
        ``accuracy_kind`` ("held-out", "cross-validated" or None).
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    state = _State(state_dir)
    counts = np.bincount(state.codes, minlength=len(state.classes))
    out = {"dataset": state.meta["data"]["name"], "n_labels": int(len(state.ids)),
           "class_counts": dict(zip(state.classes.tolist(), counts.tolist())),
           "pending": state.pending and state.pending["file"],
           "n_queries": len(state.meta["queries"]),
           "n_pool": int(state.meta["data"]["shape"][0] - len(state.ids)
                         - len(state.test_ids)),
           "accuracy": None, "accuracy_kind": None}
    if len(state.test_ids) and len(state.ids):
        model = state.model()
        pred = model.predict(state.data.X[state.test_ids])
        out["accuracy"] = float(np.mean(pred == state.classes[state.test_codes]))
        out["accuracy_kind"] = "held-out"
    elif cv and len(state.ids):
        present = counts[counts > 0]
        folds = min(cv, int(present.min())) if len(present) > 1 else 0
        if folds >= 2:
            scores = cross_val_score(
                state.estimator(), state.data.X[state.ids],
                state.classes[state.codes],
                cv=StratifiedKFold(folds, shuffle=True,
                                   random_state=state.meta["config"]["seed"]))
            out["accuracy"] = float(scores.mean())
            out["accuracy_kind"] = f"{folds}-fold cross-validated"
    return out
