"""Simulated active-learning experiments: strategies x Mixup, several seeds.

The oracle is simulated with the dataset's true labels. Each *arm* (a query
strategy, with or without Mixup) and each seed is one independent run:

1. a stratified held-out test split and an initial labeled set, drawn from the
   seed only, so every arm of a seed starts from the same labels;
2. rounds: query ``query_size`` samples from the pool, label them, refit the
   model (from scratch unless ``warm_start``), score it on the test split;
   until ``budget`` labels.

Every random choice is seeded from ``(seed, arm, round)`` (the model's from
``(seed, round)`` alone, so arms are paired and differ only by their queries
and mixup), so a run is reproducible on CPU and a resumed run continues
exactly where it stopped, in the same environment (:func:`environment`: a
resume elsewhere warns). With an output directory, each completed round is
saved atomically under ``runs/<arm>/seed_<seed>/round_<r>.json`` before the
next starts; a round cut short by a crash or Ctrl-C is never recorded, and
rerunning the same call picks up from the last completed round.

Runs execute one after another, in parallel through joblib (``n_jobs``), or on
a Dask cluster (``scheduler``). Results come back as :class:`ExperimentResult`,
which writes ``results.json``, ``results.csv`` and a learning-curve PNG.

An output directory is locked while a run writes to it: a second run on the
same directory is refused, and joblib workers stop as soon as the process that
started them dies (even by ``kill -9``), so a resumed run never races with
orphaned workers. *Semi-supervised* arms (``+mixup+ssl``) fit every round
with the remaining pool as ``X_unlabeled`` (MixMatch, which mixes with the
estimator's own ``mixup_alpha``: the experiment's ``mixup_alpha`` is the
supervised Mixup of the ``+mixup`` arms).
"""

import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import threading
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone

try:  # POSIX only; on Windows the output folder is not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from skmixal._fitting import (
    MAX_LABELS,
    check_fit_settings,
    check_int,
    check_threads,
    real_problem,
    thread_guard,
)
from skmixal._io import (
    InterruptGuard,
    UserError,
    fingerprint,
    package_versions,
    read_json,
    write_json,
)
from skmixal.results import ExperimentResult

__all__ = ["Arm", "ExperimentResult", "SettingsError", "check_settings", "derive_seed",
           "environment", "make_arms", "mixes_inputs", "query_indices",
           "resolve_module",
           "resolve_strategy", "run_experiment"]

DEFAULT_STRATEGIES = ("random", "entropy")


@dataclass(frozen=True)
class Arm:
    """One configuration compared in an experiment.

    Attributes
    ----------
    name : str
        Label in tables and plots, e.g. ``"entropy+mixup"``.
    strategy : str or callable
        A name from ``skmixal.strategies.STRATEGIES`` or a function
        ``strategy(estimator, X_pool, n_instances, *, random_state, ...)``
        returning ``(indices, scores)``.
    mixup : bool
        Train with Mixup or plainly. For a supervised arm, True mixes with the
        experiment's ``mixup_alpha``. For a semi-supervised arm (``ssl``), the
        mixing is the method's own, and True keeps the estimator's own
        ``mixup_alpha`` (``'auto'``: MixMatch's 0.75, FixMatch's 0); False
        trains without mixing.
    ssl : bool or {'mixmatch', 'fixmatch'}, default=False
        Also train on the remaining pool as unlabeled data (``X_unlabeled``):
        True with the estimator's own ``semi_supervised`` method, a name with
        that method.
    """

    name: str
    strategy: object
    mixup: bool
    ssl: bool | str = False


def _short_name(strategy):
    name = strategy if isinstance(strategy, str) else getattr(
        strategy, "__name__", type(strategy).__name__)
    return name.removesuffix("_sampling")


def make_arms(strategies=DEFAULT_STRATEGIES, *, mixup=True, baselines=True,
              semi_supervised=False):
    """Arms for strategies with Mixup, plus the baselines without it.

    Parameters
    ----------
    strategies : sequence of str or callable, default=("random", "entropy")
        Query strategies to compare (names from ``skmixal.strategies``).
    mixup : bool, default=True
        Add a ``"<strategy>+mixup"`` arm for each strategy.
    baselines : bool, default=True
        Add ``"random"`` (random sampling, no Mixup) and ``"<strategy>"`` (no
        Mixup) for each strategy, to show what Mixup and active learning each
        contribute.
    semi_supervised : bool, {'mixmatch', 'fixmatch'} or sequence of them, default=False
        Add an arm for each strategy (and method) trained also on the remaining
        pool: True, the estimator's own method (MixupNetClassifier's default,
        MixMatch), named ``"<strategy>+mixup+ssl"``, as is ``'mixmatch'``;
        ``'fixmatch'`` is named ``"<strategy>+fixmatch"``. Each mixes with the
        estimator's own ``mixup_alpha`` (``'auto'``: MixMatch's 0.75, on
        vectors too; FixMatch's 0) whatever ``mixup`` says: ``mixup`` is
        supervised Mixup.

    Returns
    -------
    arms : list of Arm
        Unique names, in the order random, then each strategy without and
        with Mixup, then with semi-supervised training.
    """
    methods = _ssl_methods(semi_supervised)
    arms = [Arm("random", "random", False)] if baselines else []
    for strategy in strategies:
        short = _short_name(strategy)
        if baselines:
            arms.append(Arm(short, strategy, False))
        if mixup:
            arms.append(Arm(f"{short}+mixup", strategy, True))
        for method in methods:
            suffix = "fixmatch" if method == "fixmatch" else "mixup+ssl"
            arms.append(Arm(f"{short}+{suffix}", strategy, True, ssl=method))
    unique = {}
    for arm in arms:
        unique.setdefault(arm.name, arm)
    if not unique:
        raise ValueError("No arms: pass strategies, or mixup/baselines=True.")
    return list(unique.values())


SSL_METHODS = ("mixmatch", "fixmatch")


def _ssl_methods(semi_supervised):
    """make_arms' semi_supervised as a list: [], [True] or method names."""
    if isinstance(semi_supervised, bool):
        return [True] if semi_supervised else []
    expected = (f"semi_supervised must be a bool, one of {SSL_METHODS} or a "
                f"sequence of them; got {semi_supervised!r}.")
    if isinstance(semi_supervised, str):
        methods = [semi_supervised]
    elif isinstance(semi_supervised, (list, tuple)):
        methods = list(semi_supervised)
    else:
        raise TypeError(expected)
    if not methods or any(not isinstance(m, str) or m not in SSL_METHODS
                          for m in methods):
        raise ValueError(expected)
    return list(dict.fromkeys(methods))


def resolve_strategy(strategy):
    """Turn a strategy name (``"entropy"`` or ``"entropy_sampling"``) into a function.

    Parameters
    ----------
    strategy : str or callable

    Returns
    -------
    function : callable
    """
    if callable(strategy):
        return strategy
    from skmixal.strategies import STRATEGIES

    for name in (strategy, strategy.removesuffix("_sampling")):
        if name in STRATEGIES:
            return STRATEGIES[name]
    raise UserError(f"Unknown strategy {strategy!r}; available: "
                    f"{', '.join(sorted(STRATEGIES))}.")


def derive_seed(*parts):
    """A 31-bit seed that is a deterministic function of ints and strings.

    Parameters
    ----------
    *parts : int or str

    Returns
    -------
    seed : int
    """
    words = [p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


def query_indices(strategy, estimator, X_pool, n, *, random_state, **optional):
    """Call a strategy (with the optional keywords it takes); check its indices.

    Parameters
    ----------
    strategy : callable
        ``strategy(estimator, X_pool, n_instances, *, random_state, ...)``.
    estimator : estimator
    X_pool : ndarray
    n : int
    random_state : int
    **optional
        Passed when the strategy takes them and they are not None
        (``X_labeled``, ``y_labeled``, ``features``).

    Returns
    -------
    indices : ndarray of int64
        ``n`` distinct indices into ``X_pool``.
    """
    params = inspect.signature(strategy).parameters
    extra = {key: value for key, value in optional.items()
             if key in params and value is not None}
    answer = strategy(estimator, X_pool, n_instances=n, random_state=random_state,
                      **extra)
    if isinstance(answer, tuple) and len(answer) == 2:
        answer = answer[0]
    idx = np.asarray(answer).ravel()
    if (len(idx) != n or idx.dtype.kind not in "iu" or len(np.unique(idx)) != n
            or idx.min(initial=0) < 0 or idx.max(initial=0) >= len(X_pool)):
        raise ValueError(
            f"Strategy {_short_name(strategy)!r} must return {n} distinct integer "
            f"indices into the pool of {len(X_pool)}; got {idx!r}.")
    return idx.astype(np.int64)


def resnet18(n_classes, in_channels=3):
    """torchvision's ResNet-18 adapted to 32x32 inputs (CIFAR-style).

    A 3x3 stride-1 stem without max-pooling, as in the CIFAR experiments of
    He et al. and of the mixup paper; the ImageNet stem would shrink 32x32
    inputs to 1x1 before the last stage.

    Parameters
    ----------
    n_classes : int
    in_channels : int, default=3

    Returns
    -------
    module : torch.nn.Module
    """
    import torch
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(num_classes=n_classes)
    net.conv1 = torch.nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = torch.nn.Identity()
    return net


def pretrained(n_classes, **kwargs):
    """:class:`~skmixal.finetune.PretrainedClassifier`: a pretrained backbone
    and a new head, to fine-tune (``--module pretrained``)."""
    from skmixal.finetune import PretrainedClassifier

    return PretrainedClassifier(n_classes, **kwargs)


# name -> (builder, the package it imports)
_MODULES = {"resnet18": (resnet18, "torchvision"),
            # the backbone's own needs are checked when it loads
            "pretrained": (pretrained, None)}


def resolve_module(spec, kwargs=None, *, input_shape=None, n_classes=None):
    """Estimator parameters for a network named on the command line.

    Parameters
    ----------
    spec : str or None
        ``"resnet18"`` (:func:`resnet18`), ``"pretrained"`` (:func:`pretrained`),
        or a dotted path
        ``"package.module.ClassName"`` (or ``package.module:ClassName``) to an
        ``nn.Module`` class or a function returning one; None for the default
        network.
    kwargs : dict or None, default=None
        Keyword arguments of the module.
    input_shape : tuple or None, default=None
        Shape of one sample; fills ``in_channels`` (images) or ``n_features``
        (vectors) when the module takes it.
    n_classes : int or None, default=None
        Fills ``n_classes`` (or ``num_classes``) when the module takes it.

    Returns
    -------
    params : dict
        ``module`` and ``module__<name>`` entries for ``MixupNetClassifier``.
    """
    kwargs = dict(kwargs or {})
    if spec is None:
        return {f"module__{k}": v for k, v in kwargs.items()}
    if spec in _MODULES:
        module, needs = _MODULES[spec]
        if needs is not None and importlib.util.find_spec(needs) is None:
            # Say so now: without this the import fails at the first fit, which in
            # the labeling loop is after the expert has labeled.
            raise ValueError(f"module {spec!r} needs {needs}: pip install "
                             "skmixal[vision].")
    else:
        path, sep, attr = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
        if not path or not attr:
            raise ValueError(f"module must be one of {sorted(_MODULES)} or a dotted "
                             f"path package.module.ClassName; got {spec!r}.")
        try:
            module = getattr(importlib.import_module(path), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"Cannot import module {spec!r}: {exc}") from None
        if not callable(module):
            raise ValueError(f"module {spec!r} is not a class or function.")
    try:
        takes = inspect.signature(module).parameters
    except (TypeError, ValueError):
        takes = {}
    for key in ("n_classes", "num_classes"):
        if key in takes and key not in kwargs and n_classes is not None:
            kwargs[key] = int(n_classes)
    if "in_channels" in takes and "in_channels" not in kwargs and input_shape:
        kwargs["in_channels"] = int(input_shape[0])
    if ("n_features" in takes and "n_features" not in kwargs and input_shape
            and len(input_shape) == 1):
        kwargs["n_features"] = int(input_shape[0])
    return {"module": module, **{f"module__{k}": v for k, v in kwargs.items()}}


_OWN = "the estimator's own"  # a mixup_alpha left as the estimator has it


def mixes_inputs(mixup_alpha, X, estimator=None):
    """Whether supervised ``+mixup`` arms would mix at all.

    Not with ``mixup_alpha=0``, nor with ``'auto'`` on vector data for a
    ``MixupNetClassifier`` (its ``'auto'`` is off for vectors): such arms would
    repeat the arms without Mixup, bit for bit, at twice the cost.

    Parameters
    ----------
    mixup_alpha : float or 'auto'
    X : ndarray
    estimator : estimator or None, default=None
        None: the default ``MixupNetClassifier``.

    Returns
    -------
    bool
    """
    if isinstance(mixup_alpha, str):
        from skmixal.classifier import MixupNetClassifier

        ours = estimator is None or isinstance(estimator, MixupNetClassifier)
        return not (ours and np.ndim(X) == 2)
    return mixup_alpha != 0


def _arm_alpha(cfg, arm):
    """The mixup_alpha an arm trains with: a number, 'auto', or :data:`_OWN`."""
    if not arm.mixup:
        return 0.0
    # MixMatch's mixing is not the supervised Mixup that --mixup-alpha sets
    # (0.75 by 'auto', against 0.1 on images): a semi-supervised arm keeps it
    return _OWN if arm.ssl else cfg["mixup_alpha"]


def _own_alpha(estimator, estimator_params):
    """The mixup_alpha the experiment's estimator has by itself."""
    if estimator is None:
        return (estimator_params or {}).get("mixup_alpha", "auto")
    return estimator.get_params().get("mixup_alpha")


def _own_method(estimator, estimator_params, X):
    """The method of the ``ssl=True`` arms: the estimator's own
    ``semi_supervised``, resolved for X's samples (None if it has none)."""
    from skmixal.training import resolve_method

    if estimator is None:
        value = (estimator_params or {}).get("semi_supervised", "auto")
    else:
        value = estimator.get_params().get("semi_supervised")
    return None if value is None else resolve_method(value, X.shape[1:])


def _new_estimator(cfg, seed, mixup_alpha, method=True):
    if cfg["estimator"] is None:
        from skmixal.classifier import MixupNetClassifier

        est = MixupNetClassifier(**cfg["estimator_params"])
    else:
        est = clone(cfg["estimator"])
    names = est.get_params()
    params = {"random_state": seed}
    if mixup_alpha is _OWN:
        pass
    elif "mixup_alpha" in names:
        params["mixup_alpha"] = mixup_alpha
    elif mixup_alpha != 0:
        raise ValueError(f"{type(est).__name__} has no mixup_alpha parameter.")
    if isinstance(method, str):
        if "semi_supervised" not in names:
            raise ValueError(f"{type(est).__name__} has no semi_supervised "
                             f"parameter for the {method} arms.")
        params["semi_supervised"] = method
    if "classes" in names:
        params["classes"] = cfg["classes"]
    if "warm_start" in names:
        params["warm_start"] = cfg["warm_start"]
    return est.set_params(**params)


def _round_sizes(cfg, pool_size):
    budget = min(cfg["budget"], pool_size)
    sizes = [min(cfg["n_initial"], budget)]
    while sum(sizes) < budget:
        sizes.append(min(cfg["query_size"], budget - sum(sizes)))
    return sizes


def _load_rounds(round_dir, sizes, start=0):
    """The saved rounds of a run that follow the schedule ``sizes``.

    A run grown to a larger budget keeps its rounds; one whose saved round
    labeled another number of samples (the last, short round of a smaller
    budget, or rounds of a larger one) stops there, and the rounds from it
    on are computed again. ``start``: rounds known to follow it already
    (placeholders, not read).
    """
    records = [None] * start
    n_at = np.cumsum(sizes).tolist()
    while round_dir is not None and len(records) < len(sizes):
        path = round_dir / f"round_{len(records):04d}.json"
        if not path.exists():
            break
        record = read_json(path)
        if record.get("n_labeled") != n_at[len(records)]:
            break
        records.append(record)
    return records


def _drop_rounds_from(round_dir, first):
    """Delete saved rounds ``first`` on: about to be recomputed (one of
    another size, of a budget since changed), they and those chained on them
    must never be read as this schedule's."""
    if round_dir is None or not round_dir.is_dir():
        return
    for path in round_dir.glob("round_*.json"):
        index = path.stem.removeprefix("round_")
        if index.isdigit() and int(index) >= first:
            path.unlink(missing_ok=True)


def _watch_parent(parent_pid):
    """In a worker process: exit at once when the process that started it dies.

    joblib's workers would otherwise finish their task (minutes of rounds,
    written to the output folder) after a ``kill -9`` of the parent, and race
    with a resumed run. Round files are written atomically, so exiting between
    two writes loses nothing that was recorded.
    """
    if parent_pid is None or os.getpid() == parent_pid or _WATCHED.get(parent_pid):
        return
    _WATCHED[parent_pid] = True

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.2)

    threading.Thread(target=watch, name="skmixal-parent-watch", daemon=True).start()


_WATCHED = {}


@contextlib.contextmanager
def _shared_lock(out_dir):
    """Held by each running task: a resumed run waits until none is left."""
    if out_dir is None or fcntl is None:
        yield
        return
    with open(Path(out_dir) / ".tasks.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH)
        except OSError:  # a shared file system without locks (ENOLCK)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_task(task, X, y, progress=None):
    """Run or resume every round of one arm and seed; return all round records.

    ``task`` is built by :func:`run_experiment`; ``progress(1)`` is called after
    each completed round.
    """
    _watch_parent(task.get("parent_pid"))
    with _shared_lock(task.get("out_dir")):
        return _run_rounds(task, X, y, progress)


def _run_rounds(task, X, y, progress):
    cfg = task["cfg"]
    round_dir = Path(task["round_dir"]) if task["round_dir"] else None
    sizes = _round_sizes(cfg, len(task["train_idx"]))
    records = _load_rounds(round_dir, sizes)
    if len(records) < len(sizes):
        _drop_rounds_from(round_dir, len(records))
    labeled = [i for rec in records for i in rec["queried"]]
    with thread_guard(cfg["torch_threads"]), InterruptGuard() as guard:
        model = _resume_model(task, X, y, sizes, records, labeled, guard)
        for r in range(len(records), len(sizes)):
            record, model = _run_round(task, X, y, r, sizes[r], model, labeled,
                                       guard)
            labeled = labeled + record["queried"]
            if round_dir is not None:
                write_json(round_dir / f"round_{r:04d}.json", record)
            records.append(record)
            if progress is not None:
                progress(1)
    return records


def _resume_model(task, X, y, sizes, records, labeled, guard):
    """The model of the last saved round, refit exactly; None when starting.

    Refit from scratch, or (warm start) by replaying the chain of fits.
    """
    if not records or len(records) >= len(sizes):
        return None
    upto = (range(len(records)) if task["cfg"]["warm_start"]
            else [len(records) - 1])
    n_at = np.cumsum(sizes)
    model = None
    for r in upto:
        model = _fit(model, task, r, X, y, labeled[:n_at[r]])
        guard.check()
    return model


def _run_round(task, X, y, r, size, model, labeled, guard):
    """Round ``r``: query ``size`` samples, refit, score; its record and model."""
    tic = time.perf_counter()
    new = [int(i) for i in _query(task, X, y, r, size, model, labeled)]
    query_s = time.perf_counter() - tic
    labeled = labeled + new
    tic = time.perf_counter()
    model = _fit(model, task, r, X, y, labeled)
    guard.check()
    fit_s = time.perf_counter() - tic
    test_idx = task["test_idx"]
    pred = model.predict(X[test_idx])
    record = {
        "arm": task["arm"].name, "seed": task["seed"], "round": r,
        "n_labeled": len(labeled),
        "accuracy": float(accuracy_score(y[test_idx], pred)),
        "f1_macro": float(f1_score(y[test_idx], pred, average="macro")),
        "queried": new,
        "query_s": round(query_s, 4), "fit_s": round(fit_s, 4),
    }
    report = getattr(model, "fit_report_", None) or {}
    # what the checks of the fit read (the collapse guard's for a
    # semi-supervised fit): so that their lines can be judged on the
    # campaigns' fits, good and bad
    for key in ("labeled_accuracy", "pool_classes"):
        if report.get(key) is not None:
            record[key] = report[key]
    # only where a check fired, so folders of earlier versions still resume
    if report.get("collapsed"):
        record["collapse"] = f"{report['action']}: {report['reason']}"
    elif report.get("learned") is False:
        record["not_learned"] = report["reason"]
    return record, model


def _query(task, X, y, r, size, model, labeled):
    """Pool indices of round ``r``'s new labels."""
    arm, seed, cfg = task["arm"], task["seed"], task["cfg"]
    pool = np.setdiff1d(task["train_idx"], labeled)
    if r == 0 and cfg["initial_strategy"] is None:
        rng = np.random.default_rng(derive_seed(seed, "initial"))
        return rng.choice(pool, size, replace=False)
    if r == 0:
        # cold start: an unfitted estimator; raw features if it can
        first = resolve_strategy(cfg["initial_strategy"])
        est = _new_estimator(cfg, derive_seed(seed, "initial"), 0.0)
        return pool[query_indices(first, est, X[pool], size,
                                  random_state=derive_seed(seed, "initial"),
                                  features="raw")]
    lab = np.asarray(labeled)
    return pool[query_indices(resolve_strategy(arm.strategy), model, X[pool], size,
                              random_state=derive_seed(seed, "query", arm.name, r),
                              X_labeled=X[lab], y_labeled=y[lab])]


def _fit(model, task, r, X, y, labeled):
    # The model's seed depends on (seed, round) only, not on the arm: arms are
    # paired (common random numbers), so at the first round every arm without
    # mixup scores the same, and differences later come from the queries.
    arm, cfg = task["arm"], task["cfg"]
    rs = derive_seed(task["seed"], "fit", r)
    lab = np.asarray(labeled)
    if cfg["warm_start"] and model is not None:
        model.set_params(random_state=rs)
    else:
        model = _new_estimator(cfg, rs, _arm_alpha(cfg, arm), arm.ssl)
    fit_params = {}
    if arm.ssl:
        # the rest of the training pool, never the test split; once the budget
        # has labeled it all the fit is supervised (run_experiment warns)
        pool = np.setdiff1d(task["train_idx"], lab)
        if len(pool):
            fit_params["X_unlabeled"] = X[pool]
    return model.fit(X[lab], y[lab], **fit_params)


def _config(X, y, arms, seeds, kwargs, dataset_name):
    def name(obj):
        return obj if obj is None or isinstance(obj, str) else _short_name(obj)

    est = kwargs["estimator"]
    own = _own_alpha(est, kwargs["estimator_params"])

    def arm(a):
        entry = {"name": a.name, "strategy": name(a.strategy), "mixup": a.mixup}
        # ssl only where set, so folders of earlier versions still resume
        if a.ssl:
            entry["ssl"] = a.ssl
        # MixMatch's alpha, where it is not the experiment's mixup_alpha (which
        # earlier versions gave these arms): a resume never mixes the two
        if a.ssl and a.mixup and own != kwargs["mixup_alpha"]:
            entry["mixup_alpha"] = own
        return entry

    config = {
        "dataset": {"name": dataset_name, "shape": list(X.shape),
                    "fingerprint": fingerprint(X, y)},
        "arms": [arm(a) for a in arms],
        "seeds": [int(s) for s in seeds],
        "estimator": None if est is None else repr(est),
        "initial_strategy": name(kwargs["initial_strategy"]),
        **{k: kwargs[k] for k in ("n_initial", "query_size", "budget", "test_size",
                                  "mixup_alpha", "estimator_params", "warm_start")},
    }
    # JSON-ready; objects (callbacks, modules) by class name, never by address
    return json.loads(json.dumps(config, default=_describe))


def _describe(obj):
    if isinstance(obj, (np.integer, np.floating, np.ndarray)):
        return obj.tolist()
    # classes and functions by their own name; instances by their class's
    kind = obj if isinstance(obj, type) or inspect.isfunction(obj) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def environment(torch_threads):
    """What, besides the settings and seeds, decides a round's floats.

    The same settings give bit-identical rounds only with the same package
    versions, the same torch thread count and the same kernels: torch and
    oneDNN pick them by the CPU's vector instructions (``AVX2``, ``AVX512``)
    or the GPU, and each sums in its own order. Measured: one 50-label MNIST
    fit scored 0.7095 with AVX2 kernels and 0.697 with the portable ones.

    Parameters
    ----------
    torch_threads : int or None
        The runs' torch threads (None: this process's count).

    Returns
    -------
    environment : dict
        ``package_versions()`` with ``cpu`` (torch's CPU capability),
        ``cuda`` (the GPU's name, or None) and ``torch_threads``.
    """
    import torch

    return {**package_versions(), "cpu": torch.backends.cpu.get_cpu_capability(),
            "cuda": (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                     else None),
            "torch_threads": (torch.get_num_threads() if torch_threads is None
                              else int(torch_threads))}


# what a run writes in its output folder besides experiment.json, the locks
# and the embeddings cache
_RUN_OUTPUTS = ("runs", "results.json", "results.csv", "learning_curve.png")


def check_out_dir_is_ours(out_dir):
    """A UserError if ``out_dir`` holds files of a run's names that no run wrote.

    Without ``experiment.json`` the folder is not a run's: its ``runs/`` is
    not deleted (``restart``), and no ``results.*`` or plot is overwritten.
    Other files are never touched, so they are allowed.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir() or (out_dir / "experiment.json").exists():
        return
    held = sorted(name for name in _RUN_OUTPUTS if (out_dir / name).exists())
    if held:
        raise UserError(
            f"{out_dir} holds {', '.join(held)} but no experiment.json: they were "
            "not written by skmixal run, which would overwrite or delete them. Use "
            "another output directory, or move them.")


# what may change between runs into one folder: each run is one arm and seed
# in its own folder, and a run's rounds are a prefix of a larger budget's
_GROWABLE = ("arms", "seeds", "budget")


def _check_resume(out_dir, config, restart, env, complete=lambda: False,
                  own_method=None):
    """Save the config; refuse to mix runs of a different experiment.

    Other seeds, arms or budget grow (or narrow) the same experiment: the
    runs and rounds it has are kept, and only the missing ones are computed;
    a saved round of another size than the new schedule's (a short last
    round) is computed again, and the saved rounds after it are dropped.

    Returns the environments that computed the folder's rounds, this one last.
    ``experiment.json`` keeps them under ``environments``: a resume in another
    one (another CPU, torch version or thread count) continues with a warning,
    since the rounds it adds cannot equal those of an uninterrupted run. When
    ``complete()`` (every round saved already), this one computes nothing: it
    is neither recorded nor warned about. ``arm_history`` keeps every arm the
    folder ever ran, so that an arm dropped and later given back under its
    name with other settings is refused too; ``own_method`` is the method an
    arm with ``ssl: true`` trains with (the same arm as one naming it).
    """
    path = out_dir / "experiment.json"
    runs = out_dir / "runs"
    check_out_dir_is_ours(out_dir)
    if restart and runs.exists():
        shutil.rmtree(runs)
    envs, history = [], []
    if path.exists() and runs.exists():
        old = read_json(path)
        envs = old.pop("environments", [])
        history = old.pop("arm_history", old.get("arms", []))
        diff = sorted(k for k in set(old) | set(config)
                      if old.get(k) != config.get(k) and k not in _GROWABLE)
        diff += _changed_arms(history, config["arms"], own_method)
        if diff:
            raise UserError(
                f"{out_dir} holds runs of a different experiment (differs in: "
                f"{', '.join(diff)}). Use another output directory, or pass "
                "--restart (restart=True in Python) to discard them.")
        if not any(runs.rglob("round_*.json")):
            envs = []
        elif envs and complete():
            write_json(path, _saved_config(config, envs, history))
            return envs
    if envs and env not in envs:
        last = envs[-1]
        changed = ", ".join(f"{k} {last.get(k)} -> {env[k]}" for k in env
                            if last.get(k) != env[k])
        warnings.warn(
            f"{out_dir} holds rounds computed in another environment ({changed}). "
            "This run continues them, but its rounds cannot equal those of an "
            "uninterrupted run: kernels, versions and thread counts change the "
            "floats, and a fit on few labels can move by points. Pass --restart "
            "(restart=True in Python) to compute every round here.",
            UserWarning, stacklevel=3)
    if env not in envs:
        envs.append(env)
    write_json(path, _saved_config(config, envs, history))
    return envs


def _saved_config(config, envs, history):
    """experiment.json: this run's config, the environments, every arm run."""
    arms = {a["name"]: a for a in history}
    arms.update((a["name"], a) for a in config["arms"])
    return {**config, "environments": envs, "arm_history": list(arms.values())}


def run_experiment(X, y, *, arms=None, strategies=DEFAULT_STRATEGIES,
                   seeds=(0, 1, 2), n_initial=20, query_size=20, budget=200,
                   test_size=0.25, mixup_alpha="auto", estimator=None,
                   estimator_params=None, warm_start=False, initial_strategy=None,
                   out_dir=None, restart=False, n_jobs=1, scheduler=None,
                   torch_threads=1, progress=True, dataset_name="data"):
    """Compare query strategies with and without Mixup by simulating the oracle.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Features or images.
    y : ndarray of shape (n_samples,)
        True labels; revealed to the learner only when queried.
    arms : list of Arm or None, default=None
        What to compare; ``None`` means ``make_arms(strategies)``.
    strategies : sequence of str or callable, default=("random", "entropy")
        Used when ``arms`` is None.
    seeds : sequence of int, default=(0, 1, 2)
        One run per seed and arm; a seed fixes the split and initial labels.
    n_initial : int, default=20
        Labels before the first query.
    query_size : int, default=20
        Labels added per round.
    budget : int, default=200
        Total labels at the end (initial ones included).
    test_size : float, default=0.25
        Share of the data held out, stratified, for scoring.
    mixup_alpha : float or 'auto', default='auto'
        Supervised Mixup strength of the ``+mixup`` arms; the arms without
        Mixup train with 0. ``'auto'`` is the estimator's: 0.1 for images, off
        for vectors. When it mixes nothing (0, or ``'auto'`` on vectors), the
        default arms have no ``+mixup`` arm, and given ones are refused
        (:func:`mixes_inputs`). Semi-supervised arms (``ssl``) are not
        affected: MixMatch mixes with the estimator's own ``mixup_alpha``
        (``'auto'``: 0.75; set another in ``estimator_params`` or
        ``estimator``).
    estimator : estimator or None, default=None
        Cloned for every fit; ``None`` builds ``MixupNetClassifier``.
    estimator_params : dict or None, default=None
        Parameters of the default ``MixupNetClassifier`` (``max_epochs``, ...).
    warm_start : bool, default=False
        Continue training the previous round's model instead of refitting.
    initial_strategy : str, callable or None, default=None
        Cold-start strategy for the initial labels (called with an unfitted
        estimator); ``None`` draws them at random.
    out_dir : str, path-like or None, default=None
        Where rounds are saved as they complete; a rerun resumes from them. A
        folder holding ``runs/`` or ``results.*`` without ``experiment.json``
        (not a run's) is refused.
    restart : bool, default=False
        Discard saved rounds in ``out_dir`` first.
    n_jobs : int, default=1
        Parallel runs through joblib (``-1``: all cores), or Dask workers for
        ``scheduler="local"``.
    scheduler : str, dask.distributed.Client or None, default=None
        ``"local"`` starts a ``LocalCluster``; ``"tcp://host:port"`` connects
        to one (workers need skmixal installed and ``out_dir`` reachable).
    torch_threads : int or None, default=1
        torch CPU threads per run; small networks run fastest with one, and
        results are bit-identical only for the same thread count.
    progress : bool, default=True
        Show a tqdm bar over rounds on stderr.
    dataset_name : str, default="data"
        Name recorded in the results.

    Returns
    -------
    result : ExperimentResult
    """
    X, y = np.asarray(X), np.asarray(y)
    arms = (make_arms(strategies, mixup=mixes_inputs(mixup_alpha, X, estimator))
            if arms is None else list(arms))
    check_settings(X, y, arms=arms, seeds=seeds, n_initial=n_initial,
                   query_size=query_size, budget=budget, test_size=test_size,
                   mixup_alpha=mixup_alpha, estimator=estimator,
                   estimator_params=estimator_params,
                   initial_strategy=initial_strategy, torch_threads=torch_threads)
    kwargs = {"n_initial": n_initial, "query_size": query_size, "budget": budget,
              "test_size": test_size, "mixup_alpha": mixup_alpha,
              "estimator": estimator, "estimator_params": estimator_params or {},
              "warm_start": warm_start, "initial_strategy": initial_strategy}
    config = _config(X, y, arms, seeds, kwargs, dataset_name)
    cfg = {**kwargs, "classes": np.unique(y), "torch_threads": torch_threads}
    envs = [environment(torch_threads)]
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            out_dir = Path(out_dir)
            stack.enter_context(_run_lock(out_dir))
        tasks = _make_tasks(y, arms, seeds, cfg, out_dir)
        pool_size = len(tasks[0]["train_idx"])
        sizes = _round_sizes(cfg, pool_size)
        if out_dir is not None:
            def complete():  # every round saved: this run computes nothing
                return _count_rounds(tasks, sizes) == len(tasks) * len(sizes)

            envs = _check_resume(out_dir, config, restart, envs[0], complete,
                                 own_method=_own_method(estimator,
                                                        estimator_params, X))
        _warn_schedule(arms, cfg["budget"], pool_size)
        records = _execute(tasks, X, y, n_jobs=n_jobs, scheduler=scheduler,
                           progress=progress, sizes=sizes)
    return ExperimentResult(config=config, records=records,
                            arms=[a.name for a in arms], environments=envs)


def _changed_arms(old, new, own_method=None):
    """'arm NAME' for each arm of both lists whose settings differ."""
    def same(a):  # ssl true trains with the estimator's own method
        return {**a, "ssl": own_method} if a.get("ssl") is True and own_method else a

    before = {a["name"]: same(a) for a in old}
    return [f"arm {a['name']}" for a in new
            if a["name"] in before and before[a["name"]] != same(a)]


def _make_tasks(y, arms, seeds, cfg, out_dir):
    """One task per seed and arm: its split, settings and round folder."""
    tasks = []
    for seed in seeds:
        train_idx, test_idx = _split(y, cfg["test_size"], seed)
        for arm in arms:
            safe = "".join(c if c.isalnum() or c in "+-_." else "_"
                           for c in arm.name)
            rdir = None if out_dir is None else out_dir / "runs" / safe / f"seed_{seed}"
            tasks.append({"arm": arm, "seed": int(seed), "cfg": cfg,
                          "train_idx": np.sort(train_idx),
                          "test_idx": np.sort(test_idx),
                          "round_dir": None if rdir is None else str(rdir),
                          "out_dir": None if out_dir is None else str(out_dir),
                          "parent_pid": os.getpid()})
    return tasks


def _warn_schedule(arms, budget, pool_size):
    """Say where the runs will differ from what the settings ask for."""
    if budget > pool_size:
        warnings.warn(f"budget ({budget}) is more than the {pool_size} training "
                      f"samples of each split: every run stops at {pool_size} "
                      "labels.", UserWarning, stacklevel=3)
    if any(a.ssl for a in arms) and budget >= pool_size:
        warnings.warn(f"The last round of the semi-supervised arms labels all "
                      f"{pool_size} training samples, so no unlabeled pool is "
                      "left and it trains on the labels alone (a supervised fit); "
                      f"a budget below {pool_size} keeps every round "
                      "semi-supervised.", UserWarning, stacklevel=3)


def _split(y, test_size, seed):
    return train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                            random_state=derive_seed(seed, "split"))


class SettingsError(ValueError):
    """An experiment setting is invalid; raised before any work is done."""


def check_settings(X, y, **settings):
    """Check an experiment's settings before any work; see :func:`run_experiment`.

    The default estimator is built with ``estimator_params`` and trained one
    step on two rows, so a bad setting (a negative ``lr``, an unknown
    parameter) fails here rather than in the first round.

    Parameters
    ----------
    X, y : ndarray
    **settings
        ``arms``, ``seeds``, ``n_initial``, ``query_size``, ``budget``,
        ``test_size``, ``mixup_alpha``, and optionally ``estimator``,
        ``estimator_params``, ``initial_strategy``, ``torch_threads``.

    Raises
    ------
    SettingsError
        A ``ValueError`` naming the parameter; nothing was run or written. Only
        this error is a user's mistake: any other raised later is a bug.
    """
    try:
        _check_settings(X, y, **settings)
    except SettingsError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:
        # RuntimeError: torch's, e.g. a module that does not fit the data
        raise SettingsError(str(exc)) from exc


def _check_settings(X, y, *, arms, seeds, n_initial, query_size, budget, test_size,
                    mixup_alpha, estimator=None, estimator_params=None,
                    initial_strategy=None, torch_threads=1):
    if not arms:
        raise ValueError("No arms to run: pass at least one strategy.")
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("Arm names must be unique.")
    for strategy in [a.strategy for a in arms] + [initial_strategy]:
        if strategy is not None:
            resolve_strategy(strategy)  # fail before any work starts
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, got {seeds}.")
    for name, value in (("n_initial", n_initial), ("query_size", query_size),
                        ("budget", budget)):
        check_int(value, name, 1, MAX_LABELS)
    if budget < n_initial:
        raise ValueError(f"budget ({budget}) must be at least n_initial "
                         f"({n_initial}): the initial labels count toward it.")
    check_threads(torch_threads)
    if not (isinstance(mixup_alpha, str) and mixup_alpha == "auto") and (
            problem := real_problem(mixup_alpha, 0)) is not None:
        raise ValueError(f"mixup_alpha {problem}.")
    unmixed = [a.name for a in arms if a.mixup and not a.ssl]
    if unmixed and not mixes_inputs(mixup_alpha, X, estimator):
        why = ("0" if not isinstance(mixup_alpha, str)
               else "'auto', which is off for vector data")
        raise ValueError(
            f"The +mixup arms {unmixed} would not mix: mixup_alpha is {why}, so "
            "they would repeat the arms without Mixup. Pass a positive "
            "mixup_alpha, or leave them out (make_arms(..., mixup=False)).")
    try:
        _split(y, test_size, seeds[0])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"test_size={test_size!r} cannot split these "
                         f"{len(y)} samples: {exc}") from None
    if estimator is None:
        # a row of each of two classes, fitted as the arms will be: told
        # every class, so a module sized for them all fits
        params = {"classes": np.unique(y), **(estimator_params or {})}
        _, first = np.unique(y, return_index=True)
        rows = np.sort(first)[:2]
        check_fit_settings({**params, "mixup_alpha": mixup_alpha}, X[rows], y[rows])
        for method in dict.fromkeys(a.ssl for a in arms if a.ssl):
            named = {} if method is True else {"semi_supervised": method}
            check_fit_settings({**params, **named}, X[rows], y[rows],
                               X_unlabeled=X[rows])
    if initial_strategy is not None:
        _check_cold_start(initial_strategy, X, estimator, estimator_params)


def _check_cold_start(strategy, X, estimator, estimator_params):
    """Query a few rows with an unfitted estimator, as round 0 does."""
    from sklearn.exceptions import NotFittedError

    if estimator is None:
        from skmixal.classifier import MixupNetClassifier

        estimator = MixupNetClassifier(**(estimator_params or {}))
    try:
        query_indices(resolve_strategy(strategy), clone(estimator), X[:4], 1,
                      random_state=0, features="raw")
    except NotFittedError:
        name = strategy if isinstance(strategy, str) else getattr(
            strategy, "__name__", repr(strategy))
        raise ValueError(
            f"initial_strategy={name!r} needs a fitted model, but the initial "
            "labels are chosen before any fit: use 'random' (the default) or "
            "'typiclust', which clusters the raw features.") from None


@contextlib.contextmanager
def _run_lock(out_dir):
    """One run per output folder; wait out tasks of a run that was killed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(out_dir / ".run.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(f"Another skmixal run is writing to {out_dir}; wait for "
                            "it to finish or use another --out.") from None
        # workers of a killed run stop within a second (they watch their
        # parent); until the last one has, the tasks lock stays shared
        with open(out_dir / ".tasks.lock", "a+") as tasks:
            deadline = time.monotonic() + 30
            while True:
                try:
                    fcntl.flock(tasks, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise UserError(
                            f"Workers of an earlier run still write to {out_dir}; "
                            "stop them (they hold .tasks.lock) and rerun.") from None
                    time.sleep(0.2)
            fcntl.flock(tasks, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _count_rounds(tasks, sizes, known=None):
    """Saved rounds of ``tasks`` that follow the schedule ``sizes``.

    ``known`` ({round folder: count}), kept between calls, spares rereading
    the rounds counted before: a task only adds rounds after them.
    """
    known = {} if known is None else known
    for task in tasks:
        if task["round_dir"]:
            folder = Path(task["round_dir"])
            have = known.get(folder, 0)
            if have < len(sizes) and (
                    folder / f"round_{have:04d}.json").exists():
                known[folder] = len(_load_rounds(folder, sizes, start=have))
    return sum(known.values())


def _execute(tasks, X, y, *, n_jobs, scheduler, progress, sizes):
    """Run the tasks sequentially, through joblib or on Dask; gather records."""
    from tqdm.auto import tqdm

    known = {}
    bar = tqdm(total=len(tasks) * len(sizes), initial=_count_rounds(tasks, sizes,
                                                                   known),
               unit="round", desc="arms x seeds x rounds", disable=not progress)
    records = []
    stop = threading.Event()

    def poll():
        # workers save rounds as they finish them: count the files, so the bar
        # moves per round, not per whole arm and seed
        while not stop.wait(0.5):
            count = _count_rounds(tasks, sizes, known)
            if count > bar.n:
                bar.update(count - bar.n)

    def collect(recs):
        records.extend(recs)
        if not tasks[0]["round_dir"]:  # nothing to count: a whole task at once
            bar.update(len(recs))

    parallel = scheduler is not None or not (n_jobs in (None, 1) or len(tasks) == 1)
    watcher = None
    if parallel and progress and tasks[0]["round_dir"]:
        watcher = threading.Thread(target=poll, name="skmixal-progress", daemon=True)
        watcher.start()
    try:
        if scheduler is not None:
            _execute_dask(tasks, X, y, n_jobs, scheduler, collect)
        elif not parallel:
            for task in tasks:
                records.extend(_run_task(task, X, y, progress=bar.update))
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for recs in run(delayed(_run_task)(t, X, y) for t in tasks):
                collect(recs)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
            bar.update(max(0, _count_rounds(tasks, sizes, known) - bar.n))
        bar.close()
    order = {t["arm"].name: i for i, t in enumerate(tasks)}
    return sorted(records, key=lambda r: (order[r["arm"]], r["seed"], r["round"]))


def _connect(scheduler, n_jobs):
    """A Dask client (and the cluster it owns) for a scheduler spec."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--scheduler needs Dask: pip install 'dask[distributed]' "
                        "(or pip install -e '.[test]').") from None
    if scheduler == "local":
        workers = n_jobs if n_jobs and n_jobs > 0 else None
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), [cluster]
    if "://" not in scheduler:
        raise UserError(f"--scheduler must be 'local' or an address such as "
                        f"tcp://host:8786; got {scheduler!r}.")
    try:
        # fail fast: distributed's default is a silent 30 s of retries
        return Client(scheduler, timeout="5s"), []
    except (OSError, TimeoutError) as exc:
        raise UserError(f"Cannot reach the Dask scheduler at {scheduler} within 5 s "
                        f"({type(exc).__name__}: {exc}). Is `dask scheduler` "
                        "running there, and the port open?") from None


def _execute_dask(tasks, X, y, n_jobs, scheduler, collect):
    owned = []
    if isinstance(scheduler, str):
        client, owned = _connect(scheduler, n_jobs)
        owned.insert(0, client)
    else:
        client = scheduler
    from dask.distributed import as_completed

    try:
        X_f, y_f = client.scatter([X, y], broadcast=True)
        # Dask workers are not children of this process: no parent watch
        futures = [client.submit(_run_task, {**t, "parent_pid": None}, X_f, y_f,
                                 pure=False) for t in tasks]
        for future in as_completed(futures):
            collect(future.result())
    finally:
        for obj in owned:
            obj.close()
