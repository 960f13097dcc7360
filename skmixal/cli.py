"""The ``skmixal`` command: simulated experiments and real labeling.

``skmixal run`` compares query strategies with and without Mixup on a dataset
with known labels; ``init``, ``query``, ``teach`` and ``status`` drive a real
labeling loop through a state directory (see :mod:`skmixal.labeling`).

User errors (bad files, bad labels, wrong directory) print one message on
stderr and exit with status 2, without a traceback; Ctrl-C exits with 130 and
leaves everything resumable.
"""

import argparse
import sys
import time

from skmixal._io import UserError

__all__ = ["main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _seeds(text):
    parts = [p for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count (3) or a list (0,1,2), got {text!r}") from None
    if len(values) == 1:
        if values[0] < 1:
            raise argparse.ArgumentTypeError("the number of seeds must be >= 1")
        return list(range(values[0]))
    return values


def _names(text):
    return [p.strip() for p in text.split(",") if p.strip()]


def _alpha(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number >= 0 or 'auto', got {text!r}") from None


def _estimator_args(parser):
    group = parser.add_argument_group("model")
    group.add_argument("--mixup-alpha", type=_alpha, default=None,
                       help="Mixup strength: of the +mixup arms for `run` (default"
                       " 0.4), of the model for `init` (default 'auto': 0.2 for "
                       "images, off for vectors)")
    group.add_argument("--max-epochs", type=int, help="MixupNetClassifier max_epochs")
    group.add_argument("--min-steps", type=int, help="MixupNetClassifier min_steps")
    group.add_argument("--batch-size", type=int, help="MixupNetClassifier batch_size")
    group.add_argument("--lr", type=float, help="MixupNetClassifier learning rate")


def _estimator_params(args):
    keys = ("max_epochs", "min_steps", "batch_size", "lr")
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


def build_parser():
    """The argument parser of the ``skmixal`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="skmixal",
        description="Few-shot learning with Mixup plus active learning.")
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
                     help="comma-separated query strategies (default: random,entropy)")
    run.add_argument("--seeds", type=_seeds, default=[0, 1, 2],
                     help="number of seeds, or a comma-separated list (default: 3)")
    run.add_argument("--initial", type=int, default=20,
                     help="labels before the first query (default: %(default)s)")
    run.add_argument("--initial-strategy", default=None,
                     help="cold-start strategy for the initial labels, e.g. "
                     "typiclust (default: random)")
    run.add_argument("--query-size", type=int, default=20,
                     help="labels added per round (default: %(default)s)")
    run.add_argument("--budget", type=int, default=200,
                     help="total labels at the end (default: %(default)s)")
    run.add_argument("--test-size", type=float, default=0.25,
                     help="held-out share for scoring (default: %(default)s)")
    run.add_argument("--warm-start", action="store_true",
                     help="continue training the previous model each round")
    run.add_argument("--target", type=float, default=0.9,
                     help="report labels needed to reach this accuracy "
                     "(default: %(default)s)")
    run.add_argument("--metric", choices=["accuracy", "f1_macro"],
                     default="accuracy", help="metric of the table and plot")
    run.add_argument("--out", default="skmixal-results",
                     help="output directory (default: %(default)s)")
    run.add_argument("--restart", action="store_true",
                     help="discard saved rounds in --out instead of resuming")
    run.add_argument("--n-jobs", type=int, default=-1,
                     help="parallel runs (joblib; -1: all cores; default: "
                     "%(default)s), or workers of --scheduler local")
    run.add_argument("--scheduler", default=None,
                     help="run on Dask: 'local' starts a LocalCluster, or a "
                     "scheduler address tcp://host:port")
    run.add_argument("--torch-threads", type=int, default=1,
                     help="torch CPU threads per run (default: %(default)s)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bar or messages; only the table")
    _estimator_args(run)

    init = sub.add_parser("init", help="create a labeling state directory")
    init.add_argument("--data", default="digits", help="dataset spec, as for run")
    init.add_argument("--state", required=True, help="state directory to create")
    init.add_argument("--initial-labels", help="CSV id,label of known labels")
    init.add_argument("--initial", type=int, default=0,
                      help="write a first query of this many random samples")
    init.add_argument("--classes", type=_names,
                      help="comma-separated class labels (default: those in the "
                      "data)")
    init.add_argument("--test-labels", help="CSV id,label of a held-out test set")
    init.add_argument("--strategy", default="entropy",
                      help="query strategy (default: %(default)s)")
    init.add_argument("--seed", type=int, default=0, help="random seed")
    _estimator_args(init)

    query = sub.add_parser("query", help="write the next samples to label")
    query.add_argument("--state", required=True)
    query.add_argument("--n", type=int, default=20,
                       help="samples to query (default: %(default)s)")
    query.add_argument("--strategy", help="override the state's strategy")
    query.add_argument("--force", action="store_true",
                       help="replace a query that was not taught yet")

    teach = sub.add_parser("teach", help="learn the labels of a filled-in query")
    teach.add_argument("--state", required=True)
    teach.add_argument("csv", help="the query CSV with its label column filled in")

    status = sub.add_parser("status", help="labels so far, class balance, accuracy")
    status.add_argument("--state", required=True)
    status.add_argument("--cv", type=int, default=5,
                        help="cross-validation folds when there is no test set "
                        "(0: skip; default: %(default)s)")
    return parser


def _cmd_run(args, err):
    from skmixal.experiment import make_arms, run_experiment
    from skmixal.labeling import _load_data

    data = _load_data(args.data)
    arms = make_arms(args.strategies)
    if not args.quiet:
        print(f"{data.name}: {len(data.X)} samples; arms: "
              f"{', '.join(a.name for a in arms)}; seeds: {args.seeds}", file=err)
    tic = time.perf_counter()
    try:
        result = run_experiment(
            data.X, data.y, arms=arms, seeds=args.seeds, n_initial=args.initial,
            query_size=args.query_size, budget=args.budget,
            test_size=args.test_size,
            mixup_alpha=0.4 if args.mixup_alpha is None else args.mixup_alpha,
            estimator_params=_estimator_params(args), warm_start=args.warm_start,
            initial_strategy=args.initial_strategy, out_dir=args.out,
            restart=args.restart, n_jobs=args.n_jobs, scheduler=args.scheduler,
            torch_threads=args.torch_threads, progress=not args.quiet,
            dataset_name=data.name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    paths = result.save(args.out, metric=args.metric, target=args.target)
    print(result.table(args.metric, target=args.target))
    if not args.quiet:
        print(f"\n{time.perf_counter() - tic:.1f} s; wrote {paths['json']}, "
              f"{paths['csv']}, {paths['plot']}", file=err)


def _cmd_labeling(args, out, err):
    from skmixal import labeling

    if args.command == "init":
        path = labeling.init_state(
            args.state, args.data, initial_labels=args.initial_labels,
            n_initial=args.initial, classes=args.classes,
            test_labels=args.test_labels, strategy=args.strategy,
            mixup_alpha="auto" if args.mixup_alpha is None else args.mixup_alpha,
            estimator_params=_estimator_params(args), seed=args.seed)
        print(f"Initialized {args.state}.", file=out)
        if path is not None:
            print(f"Label the samples in {path}, then: skmixal teach --state "
                  f"{args.state} {path}", file=out)
    elif args.command == "query":
        path = labeling.query_state(args.state, args.n, strategy=args.strategy,
                                    force=args.force)
        print(f"Fill in the label column of {path}, then: skmixal teach --state "
              f"{args.state} {path}", file=out)
    elif args.command == "teach":
        n = labeling.teach_state(args.state, args.csv)
        print(f"Taught {args.csv}; {n} labels in total.", file=out)
    else:
        st = labeling.state_status(args.state, cv=args.cv)
        print(f"{st['dataset']}: {st['n_labels']} labels, {st['n_pool']} unlabeled, "
              f"{st['n_queries']} queries", file=out)
        width = max(len(str(c)) for c in st["class_counts"])
        for cls, count in st["class_counts"].items():
            print(f"  {str(cls):>{width}}  {count:4d}  {'#' * count}", file=out)
        if st["pending"]:
            print(f"waiting for labels: {st['pending']}", file=out)
        if st["accuracy"] is not None:
            print(f"{st['accuracy_kind']} accuracy: {st['accuracy']:.3f}", file=out)
        else:
            print("accuracy: not estimated yet (cross-validation needs at least 2 "
                  "labels in every labeled class, or pass --test-labels at init)",
                  file=out)


def main(argv=None):
    """Entry point of the ``skmixal`` console script.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    status : int
        0 on success, 2 for a user error, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            _cmd_run(args, sys.stderr)
        else:
            _cmd_labeling(args, sys.stdout, sys.stderr)
    except UserError as exc:
        print(f"skmixal: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\nskmixal: interrupted. Completed work is saved; rerun the same "
              "command to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
