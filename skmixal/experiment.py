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
exactly where it stopped. With an output directory, each completed round is
saved atomically under ``runs/<arm>/seed_<seed>/round_<r>.json`` before the
next starts; a round cut short by a crash or Ctrl-C is never recorded, and
rerunning the same call picks up from the last completed round.

Runs execute one after another, in parallel through joblib (``n_jobs``), or on
a Dask cluster (``scheduler``). Results come back as :class:`ExperimentResult`,
which writes ``results.json``, ``results.csv`` and a learning-curve PNG.
"""

import inspect
import json
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from skmixal._io import (
    InterruptGuard,
    UserError,
    fingerprint,
    read_json,
    write_json,
)
from skmixal.results import ExperimentResult

__all__ = ["Arm", "ExperimentResult", "make_arms", "resolve_strategy",
           "run_experiment"]

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
        Train with Mixup (the experiment's ``mixup_alpha``) or plainly.
    """

    name: str
    strategy: object
    mixup: bool


def _short_name(strategy):
    name = strategy if isinstance(strategy, str) else getattr(
        strategy, "__name__", type(strategy).__name__)
    return name.removesuffix("_sampling")


def make_arms(strategies=DEFAULT_STRATEGIES, *, mixup=True, baselines=True):
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

    Returns
    -------
    arms : list of Arm
        Unique names, in the order random, then each strategy without and
        with Mixup.
    """
    arms = [Arm("random", "random", False)] if baselines else []
    for strategy in strategies:
        short = _short_name(strategy)
        if baselines:
            arms.append(Arm(short, strategy, False))
        if mixup:
            arms.append(Arm(f"{short}+mixup", strategy, True))
    unique = {}
    for arm in arms:
        unique.setdefault(arm.name, arm)
    if not unique:
        raise ValueError("No arms: pass strategies, or mixup/baselines=True.")
    return list(unique.values())


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


def _derive_seed(*parts):
    """A 31-bit seed that is a deterministic function of ints and strings."""
    words = [p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


def _query(strategy, estimator, X_pool, n, *, random_state, **optional):
    """Call a strategy (with the optional keywords it takes); check its indices."""
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


def _new_estimator(cfg, mixup, seed):
    if cfg["estimator"] is None:
        from skmixal.classifier import MixupNetClassifier

        est = MixupNetClassifier(**cfg["estimator_params"])
    else:
        est = clone(cfg["estimator"])
    names = est.get_params()
    params = {"random_state": seed}
    if "mixup_alpha" in names:
        params["mixup_alpha"] = cfg["mixup_alpha"] if mixup else 0.0
    elif mixup:
        raise ValueError(f"{type(est).__name__} has no mixup_alpha parameter.")
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


def _load_rounds(round_dir):
    records = []
    while round_dir is not None:
        path = round_dir / f"round_{len(records):04d}.json"
        if not path.exists():
            break
        records.append(read_json(path))
    return records


def _run_task(task, X, y, progress=None):
    """Run or resume every round of one arm and seed; return all round records.

    ``task`` is built by :func:`run_experiment`; ``progress(1)`` is called after
    each completed round.
    """
    import torch

    arm, seed, cfg = task["arm"], task["seed"], task["cfg"]
    strategy = resolve_strategy(arm.strategy)
    train_idx, test_idx = task["train_idx"], task["test_idx"]
    round_dir = Path(task["round_dir"]) if task["round_dir"] else None
    sizes = _round_sizes(cfg, len(train_idx))
    records = _load_rounds(round_dir)[:len(sizes)]
    labeled = [i for rec in records for i in rec["queried"]]
    threads = torch.get_num_threads()
    if cfg["torch_threads"]:
        torch.set_num_threads(cfg["torch_threads"])
    model = None
    try:
        with InterruptGuard() as guard:
            if records and len(records) < len(sizes):
                # the model of the last saved round, refit exactly: from scratch,
                # or (warm start) by replaying the chain of fits
                upto = range(len(records)) if cfg["warm_start"] else [len(records) - 1]
                n_at = np.cumsum(sizes)
                for r in upto:
                    model = _fit(model, cfg, arm, seed, r, X, y, labeled[:n_at[r]])
                    guard.check()
            for r in range(len(records), len(sizes)):
                tic = time.perf_counter()
                pool = np.setdiff1d(train_idx, labeled)
                rs = _derive_seed(seed, "query", arm.name, r)
                if r == 0 and cfg["initial_strategy"] is None:
                    rng = np.random.default_rng(_derive_seed(seed, "initial"))
                    new = rng.choice(pool, sizes[0], replace=False)
                elif r == 0:
                    # cold start: an unfitted estimator; raw features if it can
                    first = resolve_strategy(cfg["initial_strategy"])
                    est = _new_estimator(cfg, False, _derive_seed(seed, "initial"))
                    new = pool[_query(first, est, X[pool], sizes[0],
                                      random_state=_derive_seed(seed, "initial"),
                                      features="raw")]
                else:
                    lab = np.asarray(labeled)
                    new = pool[_query(strategy, model, X[pool], sizes[r],
                                     random_state=rs, X_labeled=X[lab],
                                     y_labeled=y[lab])]
                query_s = time.perf_counter() - tic
                labeled = labeled + [int(i) for i in new]
                tic = time.perf_counter()
                model = _fit(model, cfg, arm, seed, r, X, y, labeled)
                guard.check()
                fit_s = time.perf_counter() - tic
                pred = model.predict(X[test_idx])
                record = {
                    "arm": arm.name, "seed": seed, "round": r,
                    "n_labeled": len(labeled),
                    "accuracy": float(accuracy_score(y[test_idx], pred)),
                    "f1_macro": float(f1_score(y[test_idx], pred, average="macro")),
                    "queried": [int(i) for i in new],
                    "query_s": round(query_s, 4), "fit_s": round(fit_s, 4),
                }
                if round_dir is not None:
                    write_json(round_dir / f"round_{r:04d}.json", record)
                records.append(record)
                if progress is not None:
                    progress(1)
    finally:
        torch.set_num_threads(threads)
    return records


def _fit(model, cfg, arm, seed, r, X, y, labeled):
    # The model's seed depends on (seed, round) only, not on the arm: arms are
    # paired (common random numbers), so at the first round every arm without
    # mixup scores the same, and differences later come from the queries.
    rs = _derive_seed(seed, "fit", r)
    lab = np.asarray(labeled)
    if cfg["warm_start"] and model is not None:
        model.set_params(random_state=rs)
    else:
        model = _new_estimator(cfg, arm.mixup, rs)
    return model.fit(X[lab], y[lab])


def _config(X, y, arms, seeds, kwargs, dataset_name):
    def name(obj):
        return obj if obj is None or isinstance(obj, str) else _short_name(obj)

    est = kwargs["estimator"]
    config = {
        "dataset": {"name": dataset_name, "shape": list(X.shape),
                    "fingerprint": fingerprint(X, y)},
        "arms": [{"name": a.name, "strategy": name(a.strategy), "mixup": a.mixup}
                 for a in arms],
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
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _check_resume(out_dir, config, restart):
    """Save the config; refuse to mix runs of a different experiment."""
    path = out_dir / "experiment.json"
    runs = out_dir / "runs"
    if restart and runs.exists():
        shutil.rmtree(runs)
    if path.exists() and runs.exists():
        old = read_json(path)
        diff = sorted(k for k in set(old) | set(config)
                      if old.get(k) != config.get(k))
        if diff:
            raise UserError(
                f"{out_dir} holds runs of a different experiment (differs in: "
                f"{', '.join(diff)}). Use another output directory, or restart "
                "to discard them.")
    write_json(path, config)


def run_experiment(X, y, *, arms=None, strategies=DEFAULT_STRATEGIES,
                   seeds=(0, 1, 2), n_initial=20, query_size=20, budget=200,
                   test_size=0.25, mixup_alpha=0.4, estimator=None,
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
    mixup_alpha : float, default=0.4
        Mixup strength of the ``+mixup`` arms; the others train with 0.
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
        Where rounds are saved as they complete; a rerun resumes from them.
    restart : bool, default=False
        Discard saved rounds in ``out_dir`` first.
    n_jobs : int, default=1
        Parallel runs through joblib (``-1``: all cores), or Dask workers for
        ``scheduler="local"``.
    scheduler : str, dask.distributed.Client or None, default=None
        ``"local"`` starts a ``LocalCluster``; ``"tcp://host:port"`` connects
        to one (workers need skmixal installed and ``out_dir`` reachable).
    torch_threads : int or None, default=1
        torch CPU threads per run; small networks run fastest with one.
    progress : bool, default=True
        Show a tqdm bar over rounds on stderr.
    dataset_name : str, default="data"
        Name recorded in the results.

    Returns
    -------
    result : ExperimentResult
    """
    X, y = np.asarray(X), np.asarray(y)
    arms = make_arms(strategies) if arms is None else list(arms)
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("Arm names must be unique.")
    for strategy in [a.strategy for a in arms] + [initial_strategy]:
        if strategy is not None:
            resolve_strategy(strategy)  # fail before any work starts
    if not 0 < n_initial <= budget or query_size < 1:
        raise ValueError(f"Need 0 < n_initial <= budget and query_size >= 1; got "
                         f"n_initial={n_initial}, budget={budget}, "
                         f"query_size={query_size}.")
    kwargs = {"n_initial": n_initial, "query_size": query_size, "budget": budget,
              "test_size": test_size, "mixup_alpha": mixup_alpha,
              "estimator": estimator, "estimator_params": estimator_params or {},
              "warm_start": warm_start, "initial_strategy": initial_strategy}
    config = _config(X, y, arms, seeds, kwargs, dataset_name)
    if out_dir is not None:
        out_dir = Path(out_dir)
        _check_resume(out_dir, config, restart)
    cfg = {**kwargs, "classes": np.unique(y), "torch_threads": torch_threads}
    tasks = []
    for seed in seeds:
        train_idx, test_idx = train_test_split(
            np.arange(len(y)), test_size=test_size, stratify=y,
            random_state=_derive_seed(seed, "split"))
        for arm in arms:
            safe = "".join(c if c.isalnum() or c in "+-_." else "_" for c in arm.name)
            rdir = None if out_dir is None else out_dir / "runs" / safe / f"seed_{seed}"
            tasks.append({"arm": arm, "seed": int(seed), "cfg": cfg,
                          "train_idx": np.sort(train_idx),
                          "test_idx": np.sort(test_idx),
                          "round_dir": None if rdir is None else str(rdir)})
    records = _execute(tasks, X, y, n_jobs=n_jobs, scheduler=scheduler,
                      progress=progress,
                      n_rounds=len(_round_sizes(cfg, len(tasks[0]["train_idx"]))))
    return ExperimentResult(config=config, records=records,
                            arms=[a.name for a in arms])


def _execute(tasks, X, y, *, n_jobs, scheduler, progress, n_rounds):
    """Run the tasks sequentially, through joblib or on Dask; gather records."""
    from tqdm.auto import tqdm

    done = {(t["arm"].name, t["seed"]): min(n_rounds, len(list(
        Path(t["round_dir"]).glob("round_*.json")))) if t["round_dir"] else 0
        for t in tasks}
    bar = tqdm(total=len(tasks) * n_rounds, initial=sum(done.values()),
               unit="round", desc="arms x seeds x rounds", disable=not progress)
    records = []

    def collect(recs):
        records.extend(recs)
        if recs:
            bar.update(len(recs) - done[recs[0]["arm"], recs[0]["seed"]])

    try:
        if scheduler is not None:
            _execute_dask(tasks, X, y, n_jobs, scheduler, collect)
        elif n_jobs in (None, 1) or len(tasks) == 1:
            for task in tasks:
                records.extend(_run_task(task, X, y, progress=bar.update))
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for recs in run(delayed(_run_task)(t, X, y) for t in tasks):
                collect(recs)
    finally:
        bar.close()
    order = {t["arm"].name: i for i, t in enumerate(tasks)}
    return sorted(records, key=lambda r: (order[r["arm"]], r["seed"], r["round"]))


def _execute_dask(tasks, X, y, n_jobs, scheduler, collect):
    from dask.distributed import Client, LocalCluster, as_completed

    owned = []
    if isinstance(scheduler, str):
        if scheduler == "local":
            workers = n_jobs if n_jobs and n_jobs > 0 else None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            owned.append(cluster)
            scheduler = cluster
        client = Client(scheduler)
        owned.insert(0, client)
    else:
        client = scheduler
    try:
        X_f, y_f = client.scatter([X, y], broadcast=True)
        futures = [client.submit(_run_task, t, X_f, y_f, pure=False) for t in tasks]
        for future in as_completed(futures):
            collect(future.result())
    finally:
        for obj in owned:
            obj.close()
