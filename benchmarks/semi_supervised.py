"""Semi-supervised training against supervised training, paired, by the worst seed.

Issue 14's targets: on digits, MNIST and the CIFAR-10 subset, at 2, 5 and 10
labels per class (and 25 on CIFAR), no semi-supervised fit at chance, and on
every seed the semi-supervised accuracy at least the supervised accuracy minus
0.01; MNIST >= 0.98 with 100 random labels, digits >= 0.97 with 50.

Splits: digits 70/30 stratified; the shared MNIST test set as an 8,000-image
pool and 2,000 test images, stratified; the CIFAR-10 subset 1,600/400. The
labeled rows of a seed are ``per_class`` rows of each class drawn from the
pool (``--per-class``), or ``n`` random rows (``--random n``); the rest of the
pool is the unlabeled set. Every arm of one seed starts from the same labeled
rows and the same model seed, so arms are paired: the table reports, besides
mean ± std, the worst seed and the worst paired difference to ``supervised``.

Arms (``--arms``; more with ``--arm NAME='{"param": value}'``):

* ``supervised``: the default estimator on the labeled rows only;
* ``fixmatch``, ``mixmatch``: ``semi_supervised=`` that method, defaults
  otherwise, the collapse guard off (``collapse_guard=None``): the targets must
  hold without it;
* ``default``: the estimator's defaults with the guard on, as a user gets it;
* ``mixmatch-before``: MixMatch as skmixal had it before issue 14 (the
  alignment's EMA started from the first batch, shifts for every image);
* ``mixmatch-short``: a quarter of MixMatch's default work (K=2 views, 1,000
  steps) with ``lr=2e-3, unlabeled_rampup=0.4``, the fastest setting
  ``ssl_speed.py`` found near 0.98 on MNIST with 100 labels (guard off).

Two keys of an ``--arm`` act outside the estimator's parameters, to measure
causes of collapse that issue 14 names: ``"legacy_alignment": true`` (the
alignment before issue 14, as ``mixmatch-before``) and ``"lambda_per_row":
true`` (MixMatch's batches mixed with one lambda per row, as MixMatch's
official code draws them, instead of one per batch), and
``"align_unlabeled_classes": true`` (either method's alignment prior with a
share for every class, as before 2026-12-06; a class without labels now gets
none), and ``"train_views": t`` (MixMatch guessing from its ``K`` views but
training on the first ``t`` of them only: less work a step, measured for issue
14's time goal), and ``"unlabeled_rows": r`` (MixMatch on the first ``r`` rows of
each unlabeled batch only, each still augmented ``K`` times: a smaller unlabeled
batch than the labeled one, for the same goal).
Weight decay without the
biases needs no hook: ``"optimizer__param_groups": [["*bias",
{"weight_decay": 0}]]``.

    python benchmarks/semi_supervised.py --data digits mnist --per-class 2 5 10
    python benchmarks/semi_supervised.py --data cifar10 --per-class 2 5 10 25 \\
        --seeds 0,1,2 --jobs 2 --out benchmarks/results/semi_supervised.jsonl
    python benchmarks/semi_supervised.py --data mnist --random 100 --arms default
    python benchmarks/semi_supervised.py --only scale
    python benchmarks/semi_supervised.py --data digits mnist --per-class 2 5 10 \
        --seeds 0,1,2,3,4 --jobs 2 --arms supervised,mixmatch-short \
        --out benchmarks/results/semi_supervised.jsonl
    python benchmarks/semi_supervised.py --data digits --per-class 2 5 10 \
        --seeds 0,1,2,3,4 --jobs 2 --arms supervised,mixmatch \
        --arm 'mixmatch-lambda-per-row={"semi_supervised": "mixmatch",
               "collapse_guard": null, "lambda_per_row": true}'

Random labels (``--random``) often miss a class. An estimator infers its
classes from the labels, so to measure what a fit does with a class it was
told about but has no label of (as in an active-learning loop: the runner,
modAL with ``classes=``), give every arm, ``supervised`` included, the classes:

    python benchmarks/semi_supervised.py --data digits --random 25 \
        --seeds 11,13,14 --arms '' \
        --arm 'supervised={"semi_supervised": null, "classes": [0,1,2,3,4,5,6,7,8,9]}' \
        --arm 'mixmatch={"semi_supervised": "mixmatch", "collapse_guard": null,
               "classes": [0,1,2,3,4,5,6,7,8,9]}' \
        --arm 'mixmatch-every-class={"semi_supervised": "mixmatch",
               "collapse_guard": null, "align_unlabeled_classes": true,
               "classes": [0,1,2,3,4,5,6,7,8,9]}'

Records are appended to ``--out`` (JSON lines) as fits finish; a rerun skips
the records already there, so an interrupted run resumes. ``--summary`` prints
(and ``--markdown`` writes) the table of every record in ``--out``.
"""

import argparse
import contextlib
import gzip
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHANCE = 0.1  # every data set here has 10 balanced classes

ARMS = {
    "supervised": {"semi_supervised": None},
    "fixmatch": {"semi_supervised": "fixmatch", "collapse_guard": None},
    "mixmatch": {"semi_supervised": "mixmatch", "collapse_guard": None},
    "default": {},
    "mixmatch-before": {"semi_supervised": "mixmatch", "collapse_guard": None,
                        "augment": "shift", "legacy_alignment": True},
    "mixmatch-short": {"semi_supervised": "mixmatch", "collapse_guard": None,
                       "n_augmentations": 2, "min_steps": 1000, "lr": 2e-3,
                       "unlabeled_rampup": 0.4},
}


def _idx(path):
    raw = gzip.open(path).read()
    nd = raw[3]
    dims = np.frombuffer(raw, ">u4", nd, 4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(name):
    """(pool X, test X, pool y, test y) for one data set."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X / 16).reshape(-1, 8, 8).astype(np.float32)
        return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    if name == "mnist":
        X = _idx(DATA / "mnist" / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
        y = _idx(DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
        return train_test_split(X, y, test_size=2000, stratify=y, random_state=0)
    if name == "cifar10":
        with np.load(DATA / "cifar10" / "cifar10-test-subset2000-jpeg75.npz") as d:
            X = d["x"].transpose(0, 3, 1, 2).astype(np.float32) / 255
            y = d["y"].astype(np.int64)
        return train_test_split(X, y, test_size=400, stratify=y, random_state=0)
    raise ValueError(name)


def labeled_rows(y_pool, seed, *, per_class=None, n_random=None):
    """(labeled, unlabeled) pool positions: per_class of each class, or random."""
    rng = np.random.RandomState(seed)
    if per_class is not None:
        lab = np.concatenate([rng.permutation(np.flatnonzero(y_pool == c))[:per_class]
                              for c in np.unique(y_pool)])
    else:
        lab = rng.permutation(len(y_pool))[:n_random]
    lab = np.sort(lab)
    return lab, np.setdiff1d(np.arange(len(y_pool)), lab)


class _LegacyAlignment:
    """skmixal's distribution alignment before issue 14: an EMA (0.999) of the
    guesses' batch means, started from the first batch."""

    def __init__(self, prior, momentum=0.999):
        self.prior, self.momentum, self.running = prior, momentum, None

    def __call__(self, proba):
        mean = proba.mean(dim=0)
        self.running = mean if self.running is None else torch.lerp(
            mean, self.running, self.momentum)
        aligned = proba * (self.prior / self.running.clamp_min(1e-12))
        return aligned / aligned.sum(dim=1, keepdim=True)


def _legacy_aligner(setting, codes, n_classes, device):
    """``make_aligner`` as it was before issue 14."""
    from skmixal.semi_supervised import class_prior

    prior = class_prior(setting, codes, n_classes)
    return _LegacyAlignment(torch.as_tensor(prior, dtype=torch.float32,
                                            device=device))


def _every_class_aligner(make_aligner):
    """``make_aligner`` as it was before 2026-12-06: a class without labeled
    rows kept its share of the prior (pseudo-counts for every class under
    'labeled')."""

    from skmixal.semi_supervised import class_prior

    def make(setting, codes, n_classes, device):
        align = make_aligner(setting, codes, n_classes, device)
        if align is None:
            return None
        if isinstance(setting, str) and setting == "labeled":
            prior = np.bincount(np.asarray(codes), minlength=n_classes) + 1.0
            prior /= prior.sum()
        else:
            # without codes, class_prior gives every class its share
            prior = class_prior(setting, None, n_classes)
        align.prior = torch.as_tensor(prior, dtype=align.prior.dtype,
                                      device=align.prior.device)
        return align
    return make


@contextlib.contextmanager
def _patched(name, make, method="mixmatch"):
    """``skmixal.training.<method>.<name>`` replaced by ``make(original)`` for
    the block; ``make=None`` leaves it as it is."""
    module = importlib.import_module(f"skmixal.training.{method}")
    original = getattr(module, name)
    if make is not None:
        setattr(module, name, make(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def _mix_rows(original):
    """``mixmatch_batch`` with one lambda per row, as MixMatch's official code
    draws them (``Beta(a, a).sample([rows, 1, 1, 1])``), instead of one per batch."""
    def mixmatch_batch(x, y, u, *, sampler, mode="input", generator=None, **kwargs):
        inputs, targets = original(x, y, u, sampler=None, generator=generator,
                                   **kwargs)
        if sampler is None:
            return inputs, targets
        if mode != "input":
            raise ValueError("lambda_per_row is for mode='input'")
        lam = torch.tensor([sampler() for _ in range(len(inputs))],
                           dtype=inputs.dtype, device=inputs.device)
        lam = torch.maximum(lam, 1.0 - lam)
        perm = torch.randperm(len(inputs), device=inputs.device, generator=generator)
        rows = lam.reshape(-1, *[1] * (inputs.dim() - 1))
        mixed = torch.lerp(inputs[perm], inputs, rows)
        return mixed, torch.lerp(targets[perm], targets, lam[:, None])
    return mixmatch_batch


def _train_views(views):
    """``mixmatch_batch`` guessing labels from all ``K`` views of the unlabeled
    batch but training on the labeled rows and the first ``views`` views only."""
    def make(original):
        def mixmatch_batch(x, y, u, *, sampler, mode="input", generator=None,
                           **kwargs):
            if mode != "input":
                raise ValueError("train_views is for mode='input'")
            inputs, targets = original(x, y, u, sampler=None, generator=generator,
                                       **kwargs)
            keep = len(x) + views * len(u)
            inputs, targets = inputs[:keep], targets[:keep]
            if sampler is None:
                return inputs, targets
            lam = sampler()
            lam = max(lam, 1.0 - lam)
            perm = torch.randperm(keep, device=inputs.device, generator=generator)
            return (torch.lerp(inputs[perm], inputs, lam),
                    torch.lerp(targets[perm], targets, lam))
        return mixmatch_batch
    return make


def _unlabeled_rows(rows):
    """``mixmatch_batch`` on the first ``rows`` rows of each unlabeled batch
    only: a smaller unlabeled batch than the labeled one (``unlabeled_ratio``
    below 1), each row still augmented ``K`` times."""
    def make(original):
        def mixmatch_batch(x, y, u, **kwargs):
            return original(x, y, u[:rows], **kwargs)
        return mixmatch_batch
    return make


def batch_hooks(params):
    """Pop the benchmark-only keys of ``params``; the patches they ask for, as
    a context manager (applied on entering it, undone on leaving)."""
    legacy = params.pop("legacy_alignment", False)
    per_row = params.pop("lambda_per_row", False)
    every_class = params.pop("align_unlabeled_classes", False)
    views = params.pop("train_views", None)
    rows = params.pop("unlabeled_rows", None)
    chosen = [name for name, value in (("lambda_per_row", per_row),
                                       ("train_views", views),
                                       ("unlabeled_rows", rows))
              if value not in (None, False)]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} do not combine")
    batch = (_mix_rows if per_row else _train_views(views) if views is not None
             else _unlabeled_rows(rows) if rows is not None else None)
    aligner = _every_class_aligner if every_class else None
    old = (lambda _: _legacy_aligner) if legacy else None

    @contextlib.contextmanager
    def patches():
        with _patched("make_aligner", old), _patched("mixmatch_batch", batch), \
                _patched("make_aligner", aligner), \
                _patched("make_aligner", aligner, "fixmatch"):
            yield
    return patches()


def one_fit(task, params, threads):
    """Test accuracy, seconds and the fit report of one arm on one seed."""
    from skmixal import MixupNetClassifier

    torch.set_num_threads(threads)
    Xp, Xt, yp, yt = load(task["data"])
    lab, unl = labeled_rows(yp, task["seed"], per_class=task.get("per_class"),
                            n_random=task.get("random"))
    given, params = dict(params), dict(params)
    hooks = batch_hooks(params)
    clf = MixupNetClassifier(random_state=task["seed"], **params)
    unlabeled = None if params.get("semi_supervised", "x") is None else Xp[unl]
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, hooks:
        warnings.simplefilter("always")
        clf.fit(Xp[lab], yp[lab], X_unlabeled=unlabeled)
    seconds = time.perf_counter() - start
    report = dict(clf.fit_report_)
    return dict(task, params=given, threads=threads,
                accuracy=float(clf.score(Xt, yt)),
                seconds=round(seconds, 1),
                n_labeled=int(len(lab)), steps=int(clf.min_steps_),
                warnings=[str(w.message)[:200] for w in caught
                          if "collapse" in str(w.message)], **{
                              k: report.get(k) for k in (
                                  "method", "collapsed", "action", "pool_classes",
                                  "labeled_accuracy")})


def _key(record):
    return (record["data"], record.get("per_class"), record.get("random"),
            record["seed"], record["arm"])


def _tasks(args, arms):
    sizes = ([{"per_class": k} for k in args.per_class]
             + [{"random": n} for n in args.random])
    return [dict(data=name, seed=seed, arm=arm, **size)
            for name in args.data for size in sizes
            for seed in args.seeds for arm in arms]


def summarise(records):
    """Rows of (data, labels, arm, n, mean, std, worst, worst paired gap to
    supervised, seeds below supervised - 0.01, fits at chance, collapsed)."""
    groups, sup, sizes = {}, {}, {}
    for r in records:
        labels = (f"{r['per_class']}/class" if r.get("per_class") is not None
                  else f"{r['random']} random")
        sizes[labels] = (r.get("per_class") is None,
                         r.get("per_class") or r.get("random"))
        groups.setdefault((r["data"], labels, r["arm"]), []).append(r)
        if r["arm"] == "supervised":
            sup[(r["data"], labels, r["seed"])] = r["accuracy"]
    rows = []
    for (name, labels, arm), rs in groups.items():
        acc = np.array([r["accuracy"] for r in rs])
        gaps = [r["accuracy"] - sup[(name, labels, r["seed"])] for r in rs
                if (name, labels, r["seed"]) in sup]
        rows.append(dict(
            data=name, labels=labels, arm=arm, seeds=len(acc), mean=acc.mean(),
            std=acc.std(), worst=acc.min(), seconds=np.mean([r["seconds"] for r in rs]),
            worst_gap=min(gaps) if gaps and arm != "supervised" else None,
            below=sum(g < -0.01 for g in gaps) if arm != "supervised" else None,
            chance=int(np.sum(acc < CHANCE + 0.05)),
            collapsed=sum(bool(r.get("collapsed")) for r in rs)))
    # grouped for reading: data set, then label count, arms in first-run order
    data_order = {name: i for i, name in enumerate(["digits", "mnist", "cifar10"])}
    arms = dict.fromkeys(r["arm"] for r in records)
    arm_order = {arm: i for i, arm in enumerate(arms)}
    rows.sort(key=lambda row: (data_order.get(row["data"], len(data_order)),
                               sizes[row["labels"]], arm_order[row["arm"]]))
    return rows


def markdown(rows, header):
    out = [header, "", "| data | labels | arm | mean ± std | worst seed | worst gap "
           "to supervised | seeds below sup. − 0.01 | at chance | collapse seen | "
           "s per fit |", "|" + " --- |" * 10]
    for r in rows:
        gap = "" if r["worst_gap"] is None else f"{r['worst_gap']:+.3f}"
        below = "" if r["below"] is None else f"{r['below']} of {r['seeds']}"
        out.append(f"| {r['data']} | {r['labels']} | {r['arm']} | {r['mean']:.3f} ± "
                   f"{r['std']:.3f} | {r['worst']:.3f} | {gap} | {below} | "
                   f"{r['chance']} | {r['collapsed']} | {r['seconds']:.0f} |")
    return "\n".join(out) + "\n"


def arm_legend(records):
    """Lines naming each arm's estimator parameters as its records stored them,
    with the label counts each set was used at; one line lists the arms whose
    records predate storing them."""
    uses, unrecorded = {}, []
    for r in records:
        if "params" not in r:
            if r["arm"] not in unrecorded:
                unrecorded.append(r["arm"])
            continue
        labels = (f"{r['per_class']}/class" if r.get("per_class") is not None
                  else f"{r['random']} random")
        key = (r["arm"], json.dumps(r["params"], sort_keys=True))
        sizes = uses.setdefault(key, [])
        if f"{r['data']} {labels}" not in sizes:
            sizes.append(f"{r['data']} {labels}")
    lines = [f"- `{arm}`: `{params}` ({', '.join(sizes)})"
             for (arm, params), sizes in uses.items()]
    if unrecorded:
        lines.append("- records made before 2026-12-06 stored no parameters "
                     "(FINDINGS.md gives the commands): "
                     + ", ".join(f"`{arm}`" for arm in unrecorded))
    return lines


def _scale_child(pool_rows, steps):
    # one fit in a fresh process: its peak RSS is its own
    from skmixal import MixupNetClassifier

    rng = np.random.default_rng(0)
    X = rng.random((100, 28, 28), dtype=np.float32)
    y = np.arange(100) % 10
    pool = rng.random((pool_rows, 28, 28), dtype=np.float32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clf = MixupNetClassifier(random_state=0, max_epochs=1, min_steps=steps,
                             collapse_guard=None)
    start = time.perf_counter()
    clf.fit(X, y, X_unlabeled=pool)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "growth_mb": (peak - base) / 1024,
                      "pool_mb": pool.nbytes / 2**20}))


def run_scale(steps, threads):
    out = {}
    for rows in (1_000, 100_000):
        res = subprocess.run(
            [sys.executable, __file__, "--scale-child", str(rows), "--steps",
             str(steps), "--threads", str(threads)],
            capture_output=True, text=True, check=True)
        out[rows] = json.loads(res.stdout.strip().splitlines()[-1])
    ratio = out[100_000]["seconds"] / out[1_000]["seconds"]
    print(f"\nCost against pool size (MNIST-shaped, 100 labels, {steps} steps)")
    for rows, r in out.items():
        print(f"  pool {rows:>7,}: {r['seconds']:6.1f} s, fit memory "
              f"{r['growth_mb']:7.1f} MB beyond the pool ({r['pool_mb']:.0f} MB)")
    print(f"  time ratio 100k / 1k: {ratio:.2f}x (target <= 1.5x)")
    return {"steps": steps, "pools": out, "ratio": ratio}


def _read(path):
    if path is None or not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "mnist", "cifar10"],
                        choices=["digits", "mnist", "cifar10"])
    parser.add_argument("--per-class", nargs="*", type=int, default=[])
    parser.add_argument("--random", nargs="*", type=int, default=[])
    parser.add_argument("--seeds", default="0,1,2",
                        type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--arms", default="supervised,fixmatch,mixmatch")
    parser.add_argument("--arm", action="append", default=[],
                        help="NAME='{json params}': an arm of your own")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="JSON lines: appended to, and resumed from")
    parser.add_argument("--summary", action="store_true",
                        help="only print the table of the records in --out")
    parser.add_argument("--markdown", help="write the summary table here")
    parser.add_argument("--only", choices=["scale"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.scale_child:
        _scale_child(args.scale_child, args.steps)
        return
    if args.only == "scale":
        run_scale(args.steps, args.threads)
        return
    arms = dict(ARMS)
    for spec in args.arm:
        name, _, params = spec.partition("=")
        arms[name] = json.loads(params)
    chosen = list(dict.fromkeys(name for name in args.arms.split(",") + [
        spec.partition("=")[0] for spec in args.arm] if name))
    machine = (f"{platform.machine()}, {os.cpu_count()} cores "
               f"({torch.backends.cpu.get_cpu_capability()} kernels), torch "
               f"{torch.__version__}, {args.jobs} jobs x {args.threads} threads")
    done = {_key(r) for r in _read(args.out)}
    tasks = [dict(t, jobs=args.jobs) for t in _tasks(args, chosen)
             if _key(t) not in done]
    fresh = []
    if not args.summary:
        print(f"{machine}; {len(tasks)} fits to run", flush=True)
        started = time.time()
        jobs = (delayed(one_fit)(t, arms[t["arm"]], args.threads) for t in tasks)
        for record in Parallel(n_jobs=args.jobs, return_as="generator_unordered")(jobs):
            size = record.get("per_class") or record.get("random")
            flag = ", collapsed" if record["collapsed"] else ""
            print(f"  {record['data']:>8} {size} seed {record['seed']} "
                  f"{record['arm']:>16}: {record['accuracy']:.4f} "
                  f"({record['seconds']:.0f} s{flag})", flush=True)
            fresh.append(record)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
        print(f"{(time.time() - started) / 60:.0f} min", flush=True)
    records = _read(args.out) if args.out else fresh
    records = [r for r in records if r["data"] in args.data]
    ran = sorted({f"{r.get('jobs', '?')} jobs x {r.get('threads', '?')} threads"
                  for r in records})
    table = markdown(summarise(records), f"Measured on {platform.machine()}, "
                     f"{os.cpu_count()} cores, torch {torch.__version__}; fits ran "
                     f"{' or '.join(ran)} (seconds per fit are wall time).")
    table += "\nArms (each record's estimator parameters):\n\n" + "\n".join(
        arm_legend(records)) + "\n"
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table)


if __name__ == "__main__":
    main()
