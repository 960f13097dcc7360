"""The ``skmixal`` command: simulated experiments and real labeling.

``skmixal run`` compares query strategies with and without Mixup on a dataset
with known labels; ``init``, ``query``, ``teach`` and ``status`` drive a real
labeling loop through a state directory (see :mod:`skmixal.labeling`).

User errors (bad settings, bad or unwritable files, wrong directory) print one
message on stderr and exit with status 2, without a traceback; anything else is
a bug and keeps its traceback. Ctrl-C exits with 130 and leaves everything
resumable.
"""

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

from skmixal._io import UserError

__all__ = ["main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# Measured (20-label fit, this project's 2-core machine while other programs
# ran): digits 1.1-2.5 s with 1 thread against 7.1-22.4 s with 2; MNIST 18.8-20.2
# s against 97.2 s. On a quiet machine the two are the same, so 1 it is.
DEFAULT_TORCH_THREADS = 1


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") \
            from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") \
            from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be >= 1 or -1 (all cores), got "
                                         f"{value}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


# what every random_state of scikit-learn and NumPy's legacy seeding accept
_MAX_SEED = 2**32 - 1


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") \
            from None
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"a seed must be between 0 and {_MAX_SEED}, got {value}")
    return value


def _seeds(text):
    """A count (``3``: seeds 0, 1, 2) or a comma-separated list (``0,1,2``)."""
    usage = "expected a count (3) or a comma-separated list (0,1,2)"
    if "," not in text:
        try:
            count = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{usage}, got {text!r}") from None
        if count < 1:
            raise argparse.ArgumentTypeError(
                f"the number of seeds must be >= 1, got {count}")
        return list(range(count))
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        # "7," is not "7" (a count: seeds 0..6) nor [7]: say so, do not guess
        raise argparse.ArgumentTypeError(
            f"{usage}, got {text!r}: an empty item (a stray comma?)")
    try:
        values = [_seed(p) for p in parts]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"in {text!r}: {exc}") from None
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"seeds must be distinct, got {text!r}")
    return values


def _names(text):
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected at least one name")
    return names


def _alpha(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number >= 0 or 'auto', got {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0 or 'auto', got {text!r}")
    return value


def _json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") \
            from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as "
                                         f'\'{{"width": 64}}\', got {text!r}')
    return value


def _strategy_names():
    from skmixal.strategies import STRATEGIES

    return ", ".join(sorted(STRATEGIES))


def _estimator_args(parser):
    group = parser.add_argument_group("model")
    group.add_argument("--mixup-alpha", type=_alpha, default="auto",
                       help="Mixup strength (default: auto, as the estimator: 0.2 "
                       "for images, off for vectors; for `run`, that of the +mixup "
                       "arms)")
    group.add_argument("--max-epochs", type=_non_negative_int,
                       help="MixupNetClassifier max_epochs")
    group.add_argument("--min-steps", type=_non_negative_int,
                       help="MixupNetClassifier min_steps")
    group.add_argument("--batch-size", type=_positive_int,
                       help="MixupNetClassifier batch_size")
    group.add_argument("--lr", type=float, help="MixupNetClassifier learning rate")
    group.add_argument("--module", default=None,
                       help="network: resnet18 (torchvision's ResNet-18 adapted to "
                       "32x32 images: 3x3 stem, no max-pooling) or a dotted path "
                       "package.module.Class to an nn.Module (default: a small CNN "
                       "for images, an MLP for vectors)")
    group.add_argument("--module-kwargs", type=_json_object, default=None,
                       help="JSON object of the network's keyword arguments, e.g. "
                       "'{\"hidden_units\": [512]}'; n_classes and in_channels are "
                       "filled in from the data")
    group.add_argument("--semi-supervised", action="store_true",
                       help="also train on the unlabeled pool (MixMatch); for `run`,"
                       " adds +ssl arms")


def _estimator_params(args):
    keys = ("max_epochs", "min_steps", "batch_size", "lr")
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


def _threads_arg(parser):
    parser.add_argument("--torch-threads", type=_positive_int,
                        default=DEFAULT_TORCH_THREADS,
                        help="torch CPU threads (default: %(default)s: faster "
                        "than more whenever other programs share the cores)")


def _state_arg(parser, required=True):
    parser.add_argument("--state", required=required,
                        help="the labeling state directory made by `skmixal init`")


def _version():
    from skmixal import __version__

    return f"skmixal {__version__}"


def build_parser(strategy_help=True):
    """The argument parser of the ``skmixal`` command.

    Parameters
    ----------
    strategy_help : bool, default=True
        List the strategy names in the help; this imports the strategies (and
        torch), which a command that only fails on a flag need not wait for.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    strategies = (_strategy_names() if strategy_help
                  else "see `skmixal run --help`")
    parser = argparse.ArgumentParser(
        prog="skmixal",
        description="Few-shot learning with Mixup plus active learning.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="compare query strategies with and without Mixup (simulated)",
        description="Simulate active learning on a labeled dataset: every strategy "
        "with and without Mixup, plus random sampling without Mixup, over several "
        "seeds. Rerun the same command to resume an interrupted run.")
    run.add_argument("--data", default="digits",
                     help="dataset: digits, mnist:<folder>, npz:<path>, "
                     "torchvision:<name>:<root> (default: %(default)s)")
    run.add_argument("--strategies", type=_names, default=["random", "entropy"],
                     help=f"comma-separated query strategies among: {strategies} "
                     "(default: random,entropy)")
    run.add_argument("--seeds", type=_seeds, default=[0, 1, 2],
                     help="number of seeds, or a comma-separated list (default: 3)")
    run.add_argument("--initial", type=_positive_int, default=20,
                     help="labels before the first query (default: %(default)s)")
    run.add_argument("--initial-strategy", default=None,
                     help="cold-start strategy for the initial labels, e.g. "
                     "typiclust (default: random)")
    run.add_argument("--query-size", type=_positive_int, default=20,
                     help="labels added per round (default: %(default)s)")
    run.add_argument("--budget", type=_positive_int, default=200,
                     help="total labels at the end (default: %(default)s)")
    run.add_argument("--test-size", type=_fraction, default=0.25,
                     help="held-out share for scoring (default: %(default)s)")
    run.add_argument("--warm-start", action="store_true",
                     help="continue training the previous model each round")
    run.add_argument("--target", type=_fraction, default=0.9,
                     help="report labels needed to reach this score, between 0 "
                     "and 1 (default: %(default)s)")
    run.add_argument("--metric", choices=["accuracy", "f1_macro"],
                     default="accuracy", help="metric of the table and plot")
    run.add_argument("--out", default="skmixal-results",
                     help="output directory (default: %(default)s)")
    run.add_argument("--restart", action="store_true",
                     help="discard saved rounds in --out instead of resuming")
    run.add_argument("--n-jobs", type=_n_jobs, default=-1,
                     help="parallel runs (joblib; -1: all cores; default: "
                     "%(default)s), or workers of --scheduler local")
    run.add_argument("--scheduler", default=None,
                     help="run on Dask (pip install 'dask[distributed]'): 'local' "
                     "starts a LocalCluster, or a scheduler address "
                     "tcp://host:port whose workers have skmixal installed and "
                     "share the --out folder")
    run.add_argument("--torch-threads", type=_positive_int, default=1,
                     help="torch CPU threads per run (default: %(default)s)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bar or messages; only the table")
    _estimator_args(run)

    init = sub.add_parser("init", help="create a labeling state directory")
    init.add_argument("--data", default="digits", help="dataset spec, as for run")
    init.add_argument("--state", required=True,
                      help="state directory to create (must not hold a state)")
    init.add_argument("--initial-labels", help="CSV id,label of known labels")
    init.add_argument("--initial", type=_non_negative_int, default=0,
                      help="write a first query of this many random samples")
    init.add_argument("--classes", type=_names,
                      help="comma-separated class labels (default: those in the "
                      "data)")
    init.add_argument("--test-labels", help="CSV id,label of a held-out test set")
    init.add_argument("--strategy", default="entropy",
                      help=f"query strategy, one of: {strategies} (default: "
                      "%(default)s)")
    init.add_argument("--seed", type=_seed, default=0,
                      help=f"random seed, 0 to {_MAX_SEED} (default: %(default)s)")
    _threads_arg(init)
    _estimator_args(init)

    query = sub.add_parser("query", help="write the next samples to label")
    _state_arg(query)
    query.add_argument("--n", type=_positive_int, default=20,
                       help="samples to query (default: %(default)s)")
    query.add_argument("--strategy", help="override the state's strategy")
    query.add_argument("--force", action="store_true",
                       help="replace a query that was not taught yet (a file with "
                       "labels typed in is kept under a new name)")
    query.add_argument("--data", help="where the dataset is now, if it moved")
    _threads_arg(query)

    teach = sub.add_parser("teach", help="learn the labels of a filled-in query")
    _state_arg(teach)
    teach.add_argument("csv", help="the query CSV with its label column filled in")
    teach.add_argument("--data", help="where the dataset is now, if it moved")
    _threads_arg(teach)

    status = sub.add_parser("status", help="labels so far, class balance, accuracy")
    _state_arg(status)
    status.add_argument("--cv", type=_non_negative_int, default=5,
                        help="cross-validation folds when there is no test set "
                        "(0: skip; default: %(default)s)")
    status.add_argument("--data", help="where the dataset is now, if it moved")
    _threads_arg(status)
    return parser


def _check_out_dir(path, flag):
    """Fail early, with the flag's name, when an output folder cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; it must name a directory.")
    probe = path if path.exists() else next(
        (p for p in path.parents if p.exists()), Path("."))
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {probe} is not writable; choose a folder "
                        "you can write to.")


def _module_params(args, data):
    from skmixal.experiment import resolve_module

    if args.module is None and not args.module_kwargs:
        return {}
    try:
        return resolve_module(args.module, args.module_kwargs,
                              input_shape=data.X.shape[1:],
                              n_classes=len(set(data.y.tolist())))
    except ValueError as exc:
        raise UserError(f"--module: {exc}") from None


def _cmd_run(args, out, err):
    from skmixal._io import load_data, name_flags
    from skmixal.experiment import (
        SettingsError,
        check_settings,
        make_arms,
        run_experiment,
    )

    _check_out_dir(args.out, "--out")
    data = load_data(args.data)
    mixup = True
    if args.mixup_alpha == "auto" and data.X.ndim == 2:
        mixup = False
        if not args.quiet:
            print("Note: --mixup-alpha auto leaves vector data unmixed (as the "
                  "estimator does), so there are no +mixup arms; pass "
                  "--mixup-alpha 0.4 to mix anyway.", file=err)
    arms = make_arms(args.strategies, mixup=mixup,
                     semi_supervised=args.semi_supervised)
    params = {**_estimator_params(args), **_module_params(args, data)}
    settings = dict(
        arms=arms, seeds=args.seeds, n_initial=args.initial,
        query_size=args.query_size, budget=args.budget, test_size=args.test_size,
        mixup_alpha=args.mixup_alpha, estimator_params=params,
        initial_strategy=args.initial_strategy)
    if not args.quiet:
        print(f"{data.name}: {len(data.X)} samples; arms: "
              f"{', '.join(a.name for a in arms)}; seeds: {args.seeds}", file=err)
    tic = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            scheduler = args.scheduler
            if scheduler is not None:
                # connect before run_experiment locks --out and writes
                # experiment.json: a bad or unreachable address leaves nothing;
                # settings first, so a typo does not wait for a cluster
                check_settings(data.X, data.y, **settings,
                               torch_threads=args.torch_threads)
                scheduler = stack.enter_context(_dask_client(scheduler,
                                                             args.n_jobs))
            result = run_experiment(
                data.X, data.y, **settings, warm_start=args.warm_start,
                out_dir=args.out, restart=args.restart, n_jobs=args.n_jobs,
                scheduler=scheduler, torch_threads=args.torch_threads,
                progress=not args.quiet, dataset_name=data.name)
    except SettingsError as exc:
        # only the checks made before any work: a ValueError raised while
        # training is a bug, and keeps its traceback
        raise UserError(f"Invalid setting: {name_flags(str(exc))}") from None
    # the table first: every round is saved already, whatever happens to the files
    print(result.table(args.metric, target=args.target), file=out)
    out.flush()
    try:
        paths = result.save(args.out, metric=args.metric, target=args.target)
    except OSError as exc:
        raise UserError(
            f"the table above is complete and every round is saved in {args.out}/"
            f"runs, but writing the result files failed: {_os_message(exc)} Free "
            "some space and rerun the same command to write them.") from None
    if not args.quiet:
        print(f"\n{time.perf_counter() - tic:.1f} s; wrote {paths['json']}, "
              f"{paths['csv']}, {paths['plot']}", file=err)


@contextlib.contextmanager
def _dask_client(scheduler, n_jobs):
    """A connected Dask client for --scheduler, closed (with its cluster) after."""
    from skmixal.experiment import _connect

    client, owned = _connect(scheduler, n_jobs)
    try:
        yield client
    finally:
        for obj in (client, *owned):
            obj.close()


def _teach_hint(state, path):
    return (f"skmixal teach --state {shlex.quote(str(state))} "
            f"{shlex.quote(str(path))}")


def _cmd_labeling(args, out, err):
    from skmixal import labeling

    def log(message):
        print(message, file=err, flush=True)

    data = getattr(args, "data", None)
    threads = args.torch_threads
    if args.command == "init":
        _check_out_dir(args.state, "--state")
        module = _module_settings(args)
        path = labeling.init_state(
            args.state, args.data, initial_labels=args.initial_labels,
            n_initial=args.initial, classes=args.classes,
            test_labels=args.test_labels, strategy=args.strategy,
            mixup_alpha=args.mixup_alpha,
            estimator_params={**_estimator_params(args), **module}, seed=args.seed,
            semi_supervised=args.semi_supervised, torch_threads=threads, log=log)
        print(f"Initialized {args.state}.", file=out)
        if path is not None:
            print(f"Label the samples in {path}, then: "
                  f"{_teach_hint(args.state, path)}", file=out)
    elif args.command == "query":
        path = labeling.query_state(args.state, args.n, strategy=args.strategy,
                                    force=args.force, data=data,
                                    torch_threads=threads, log=log)
        print(f"Fill in the label column of {path}, then: "
              f"{_teach_hint(args.state, path)}", file=out)
    elif args.command == "teach":
        n = labeling.teach_state(args.state, args.csv, data=data,
                                 torch_threads=threads, log=log)
        print(f"Taught {args.csv}; {n} labels in total.", file=out)
    else:
        _print_status(labeling.state_status(args.state, cv=args.cv, data=data,
                                            torch_threads=threads, log=log), out)


def _module_settings(args):
    """--module for a labeling state: stored by name, resolved at each fit."""
    if args.module is None and not args.module_kwargs:
        return {}
    from skmixal.experiment import resolve_module

    try:  # import it now: a typo must fail at init, not after labeling
        resolve_module(args.module, args.module_kwargs)
    except ValueError as exc:
        raise UserError(f"--module: {exc}") from None
    return {"module": args.module, "module_kwargs": args.module_kwargs or {}}


def _print_status(st, out):
    print(f"{st['dataset']}: {st['n_labels']} labels, {st['n_pool']} unlabeled, "
          f"{st['n_queries']} queries", file=out)
    names = st.get("class_names") or [None] * len(st["class_counts"])
    shown = [str(c) if n is None else f"{c} {n}"
             for c, n in zip(st["class_counts"], names)]
    width = max(len(s) for s in shown)
    for label, count in zip(shown, st["class_counts"].values()):
        print(f"  {label:>{width}}  {count:4d}  {'#' * count}", file=out)
    if st["pending"]:
        print(f"waiting for labels: {st['pending']}", file=out)
    if st["accuracy"] is not None:
        print(f"{st['accuracy_kind']} accuracy: {st['accuracy']:.3f}", file=out)
    else:
        print("accuracy: not estimated yet (cross-validation needs at least 2 "
              "labels in every labeled class, or pass --test-labels at init)",
              file=out)


def _os_message(exc):
    from skmixal._io import os_message

    # reads report their own errors; an OSError that gets here says itself
    # whether it was writing (see tag_os_error), else the file alone is named
    return os_message(exc)


def main(argv=None):
    """Entry point of the ``skmixal`` console script.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    status : int
        0 on success, 2 for a user error (bad settings or files, a file system
        that refuses a write), 130 when interrupted.
    """
    from skmixal.labeling import RefitInterrupted

    argv = sys.argv[1:] if argv is None else list(argv)
    wants_help = any(a in ("-h", "--help") for a in argv)
    args = build_parser(strategy_help=wants_help).parse_args(argv)
    try:
        if args.command == "run":
            _cmd_run(args, sys.stdout, sys.stderr)
        else:
            _cmd_labeling(args, sys.stdout, sys.stderr)
    except UserError as exc:
        print(f"skmixal: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        # the file system said no (read-only folder, full disk, a file where a
        # folder should be): the user's to fix, not a bug
        if exc.errno is None:
            raise
        print(f"skmixal: error: {_os_message(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except RefitInterrupted as exc:
        print(f"\nskmixal: interrupted while refitting the model. The labels are "
              f"saved ({exc.n_labels} in total); the next `skmixal query` or "
              "`skmixal status` refits it.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nskmixal: interrupted. Completed work is saved; rerun the same "
              "command to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
