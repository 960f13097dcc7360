"""The ``skmixal`` command: simulated experiments and real labeling.

``skmixal run`` compares query strategies with and without Mixup on a dataset
with known labels; ``init``, ``query``, ``teach``, ``relabel``, ``status`` and
``predict`` drive a real labeling loop through a state directory (see
:mod:`skmixal.labeling`).

User errors (bad settings, bad or unwritable files, wrong directory) print one
message on stderr and exit with status 2, without a traceback; anything else is
a bug and keeps its traceback. Ctrl-C exits with 130 and leaves everything
resumable. Every numeric flag has a range (the ``MAX_*`` of
``skmixal._fitting``, which the Python functions check too), refused with the
flag's name as the command line is read, before anything runs.
"""

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

from skmixal._fitting import (
    MAX_ALPHA,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_FOLDS,
    MAX_INPUT_SIZE,
    MAX_LABELS,
    MAX_LR,
    MAX_SEEDS,
    MAX_STEPS,
    MAX_THREADS,
    MAX_VIEWS,
    PRECISIONS,
    int_problem,
    int_range,
    real_problem,
)
from skmixal._io import UserError
from skmixal.exceptions import TrainingDivergedError

__all__ = ["main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
DEFAULT_LR = 1e-3  # MixupNetClassifier's lr (tests/test_cli_runs.py checks)
# Measured (20-label fit, this project's 2-core machine while other programs
# ran): digits 1.1-2.5 s with 1 thread against 7.1-22.4 s with 2; MNIST 18.8-20.2
# s against 97.2 s. On a quiet machine the two are the same, so 1 it is.
DEFAULT_TORCH_THREADS = 1
# what every random_state of scikit-learn and NumPy's legacy seeding accept
_MAX_SEED = 2**32 - 1


# --- flag types: each refuses what the code cannot take, naming the range ----

def _number(text, parse):
    """``parse(text)``, or the text itself for the range check to refuse."""
    try:
        return parse(text)
    except ValueError:
        return text


def _int_arg(low, high):
    """An argparse type: an integer in ``[low, high]``."""
    def integer(text):
        problem = int_problem(_number(text, int), low, high)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return int(text)

    return integer


def _one_of(text, special, low, high, meaning):
    """An integer in ``[low, high]``, or the value ``special`` (``meaning``)."""
    value = _number(text, int)
    if value != special and int_problem(value, low, high) is not None:
        raise argparse.ArgumentTypeError(
            f"must be {special} ({meaning}) or {int_range(low, high)}, got "
            f"{text!r}")
    return value


def _n_jobs(text):
    return _one_of(text, -1, 1, MAX_THREADS, "all cores")


def _cv(text):
    return _one_of(text, 0, 2, MAX_FOLDS, "no cross-validation")


def _real_arg(low, high, *, low_inclusive=True):
    """An argparse type: a finite number in ``[low, high]`` (or ``(low, high]``)."""
    def real(text):
        problem = real_problem(_number(text, float), low, high,
                               low_inclusive=low_inclusive)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return float(text)

    return real


_lr = _real_arg(0, MAX_LR, low_inclusive=False)


def _fraction(text):
    value = _number(text, float)
    if isinstance(value, str) or not 0 < value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be a number between 0 and 1 (both excluded), got {text!r}")
    return value


def _alpha(text):
    if text == "auto":
        return text
    value = _number(text, float)
    if real_problem(value, 0, MAX_ALPHA) is not None:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or a number from 0 to {MAX_ALPHA:g}, got {text!r}")
    return value


def _seed(text):
    if int_problem(_number(text, int), 0, _MAX_SEED) is not None:
        raise argparse.ArgumentTypeError(
            f"a seed must be between 0 and {_MAX_SEED}, got {text!r}")
    return int(text)


def _seeds(text):
    """A count (``3``: seeds 0, 1, 2) or a comma-separated list (``0,1,2``)."""
    usage = "expected a count (3) or a comma-separated list (0,1,2)"
    if "," not in text:
        count = _number(text, int)
        if isinstance(count, str):
            raise argparse.ArgumentTypeError(f"{usage}, got {text!r}")
        if not 1 <= count <= MAX_SEEDS:
            raise argparse.ArgumentTypeError(
                f"the number of seeds must be >= 1 and <= {MAX_SEEDS:,}, got "
                f"{count}")
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


# --- the parser -----------------------------------------------------------------

def _strategy_names():
    from skmixal.strategies import STRATEGIES

    return ", ".join(sorted(STRATEGIES))


# The two help texts that differ between `run` and `init`. The numbers are the
# estimator's (AUTO_ALPHA_* in skmixal.classifier; tests/test_cli.py checks).
_MIXUP_HELP = {
    "run": "Mixup strength of the +mixup arms (supervised Mixup): 'auto' "
           "(default) or a number from 0 to %g. 'auto' is the estimator's: 0.1 "
           "for images, 0 (off) for vectors, which then get no +mixup arms. The "
           "semi-supervised arms are not affected: MixMatch mixes with its "
           "own 'auto', 0.75, and FixMatch's 'auto' is 0.",
    "init": "the model's Mixup strength: 'auto' (default) or a number from 0 "
            "to %g. 'auto' is 0.1 for images and 0 (off) for vectors; with "
            "--semi-supervised this is the method's mixing, where 'auto' is "
            "MixMatch's 0.75 and FixMatch's 0.",
}
# 'auto' is what a bare --semi-supervised means (see _ssl_methods)
SSL_CHOICES = ("mixmatch", "fixmatch", "auto")
_SSL_HELP = {
    "run": "also run an arm per strategy and METHOD that trains on the labels "
           "and the rest of the training split, every round: mixmatch (arms "
           "<strategy>+mixup+ssl, mixing with alpha 0.75, on vectors too) or "
           "fixmatch (arms <strategy>+fixmatch); both may be named. Bare or "
           "auto: fixmatch for colour images and with --backbone, mixmatch "
           "otherwise (chosen by the worst seed: README, 'Choosing the method')",
    "init": "every refit also trains on the unlabeled pool, with METHOD: "
            "mixmatch or fixmatch. Bare or auto: fixmatch for colour images "
            "and with --backbone, mixmatch otherwise",
}


def _estimator_args(parser, command):
    group = parser.add_argument_group("model")
    group.add_argument("--mixup-alpha", type=_alpha, default="auto",
                       help=_MIXUP_HELP[command] % MAX_ALPHA)
    group.add_argument("--max-epochs", type=_int_arg(0, MAX_EPOCHS),
                       help=f"epochs per fit, 0 to {MAX_EPOCHS:,} (default: 30); "
                       "more run when needed to take --min-steps steps, and 0 "
                       "trains nothing")
    group.add_argument("--min-steps", type=_int_arg(0, MAX_STEPS),
                       help=f"at least this many optimizer steps per fit, 0 to "
                       f"{MAX_STEPS:,} (default: 1,000; with --semi-supervised "
                       "2,000 for MixMatch, 1,000 for FixMatch)")
    group.add_argument("--batch-size", type=_int_arg(1, MAX_BATCH_SIZE),
                       help=f"mini-batch size, 1 to {MAX_BATCH_SIZE:,}, also of "
                       "the unlabeled batches (default: 64)")
    group.add_argument("--lr", type=_lr,
                       help=f"AdamW's learning rate, above 0 and at most "
                       f"{MAX_LR:g} (default: 0.001)")
    group.add_argument("--module", default=None,
                       help="network: resnet18 (torchvision's ResNet-18 adapted to "
                       "32x32 images: 3x3 stem, no max-pooling; needs "
                       "torchvision), pretrained (fine-tune a pretrained backbone "
                       "with a new head: skmixal.PretrainedClassifier, "
                       "--module-kwargs '{\"backbone\": \"efficientnet_lite0\", "
                       "\"input_size\": 224}'; worth it on a GPU, with "
                       "--semi-supervised fixmatch), or a dotted path "
                       "package.module.Name to an "
                       "nn.Module class or a function returning one (default: a "
                       "small CNN for images, an MLP for vectors)")
    group.add_argument("--module-kwargs", type=_json_object, default=None,
                       help="JSON object of the network's keyword arguments, e.g. "
                       "'{\"hidden_units\": [512]}'; n_classes (or num_classes), "
                       "in_channels (images) and n_features (vectors) are filled "
                       "in from the data where the network takes them")
    group.add_argument("--backbone-lr", type=_lr, default=None,
                       help="with --module pretrained: the backbone's learning "
                       "rate, the new head taking --lr (default: --lr / 10)")
    group.add_argument("--n-augmentations", type=_int_arg(1, MAX_VIEWS),
                       help=f"MixMatch's views of each unlabeled image, 1 to "
                       f"{MAX_VIEWS} (default: 4). With 10 or more labels a "
                       "class, '--n-augmentations 2 --min-steps 1000 --lr 0.002 "
                       "--unlabeled-rampup 0.4' does a quarter of the work for "
                       "about the same accuracy; not with fewer (README, "
                       "'Using the unlabeled pool')")
    group.add_argument("--unlabeled-rampup", type=_real_arg(0, 1),
                       help="share of a semi-supervised fit's steps over which the "
                       "unlabeled loss's weight rises from 0, 0 to 1 (default: 1 "
                       "for MixMatch, 0 for FixMatch)")
    group.add_argument("--precision", choices=PRECISIONS,
                       help="how the network computes: bfloat16 runs it under "
                       "bfloat16 autocast, 1.6x faster on CPUs with bfloat16 "
                       "units (AVX512-BF16, AMX), several times slower on "
                       "others (default: float32)")
    # run may compare methods, a labeling state trains with one
    many = {"nargs": "*"} if command == "run" else {"nargs": "?", "const": "auto"}
    group.add_argument("--semi-supervised", metavar="METHOD", choices=SSL_CHOICES,
                       help=_SSL_HELP[command], **many)


_BACKBONE_HELP = {
    "run": "train and query on the frozen features of this pretrained "
           "backbone instead of the pixels: efficientnet_lite2 (the most "
           "accurate measured on photographs; offline, from the "
           "skmixal[pretrained] extra, as are efficientnet_lite0 and 1), "
           "resnet18 (torchvision, downloads its "
           "weights once) or timm:<model> (timm). The images are embedded once; "
           "the features are cached in --out/embeddings and recomputed when the "
           "data changes",
    "init": "train and query on the frozen features of this pretrained "
            "backbone (names as for `skmixal run --backbone`); embedded once, "
            "cached in the state folder, recomputed when the data changes",
}


def _backbone_args(parser, command):
    group = parser.add_argument_group("pretrained features")
    group.add_argument("--backbone", default=None, help=_BACKBONE_HELP[command])
    group.add_argument("--input-size", type=_int_arg(16, MAX_INPUT_SIZE),
                       default=None,
                       help=f"side the images are resized to for --backbone, 16 "
                       f"to {MAX_INPUT_SIZE} (default: the backbone's own: 160 "
                       "for the efficientnet_lite networks, 224 for resnet18)")
    group.add_argument("--flip-average", action="store_true",
                       help="with --backbone: average each image's features with "
                       "its mirror image's (twice the embedding time; see the "
                       "README for what it gained); only where "
                       "a mirror image is the same class (photographs, not text "
                       "or digits)")


def _check_backbone_args(args):
    if args.input_size is not None and args.backbone is None:
        raise UserError("--input-size applies to --backbone; pass --backbone too.")
    if args.flip_average and args.backbone is None:
        raise UserError("--flip-average applies to --backbone; pass --backbone "
                        "too.")
    if args.backbone is not None and args.module is not None:
        raise UserError("--module and --backbone do not go together: with "
                        "--backbone the model is an MLP on the features "
                        "(--module-kwargs '{\"hidden_units\": [...]}' sizes it).")


def _ssl_methods(args, input_shape=None):
    """--semi-supervised as make_arms takes it: False, True or method names.

    Bare (or auto), it is FixMatch on a backbone's features, where MixMatch
    fell below the plain head and FixMatch lifted it
    (benchmarks/results/embedding_ssl.txt), and otherwise the estimator's
    'auto' for the data's samples (FixMatch for colour images, MixMatch
    otherwise; None: not known yet, decided by the estimator). MixMatch
    alone is True, as earlier versions recorded it, so their folders resume.
    """
    from skmixal.training import resolve_method

    chosen = args.semi_supervised
    if chosen is None:
        return False
    chosen = [m for m in ([chosen] if isinstance(chosen, str) else chosen)
              if m != "auto"]
    if not chosen:
        if args.backbone is not None:
            chosen = ["fixmatch"]
        elif input_shape is None:
            return True
        else:
            chosen = [resolve_method("auto", input_shape)]
    chosen = list(dict.fromkeys(chosen))
    return True if chosen == ["mixmatch"] else chosen


def _estimator_params(args):
    keys = ("max_epochs", "min_steps", "batch_size", "lr", "n_augmentations",
            "unlabeled_rampup", "precision")
    params = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    # the methods' own flags: refused where no fit would read them
    for flag, key in (("--n-augmentations", "n_augmentations"),
                      ("--unlabeled-rampup", "unlabeled_rampup")):
        if key in params and args.semi_supervised is None:
            raise UserError(f"{flag} applies to semi-supervised fits; pass "
                            "--semi-supervised too.")
    named = args.semi_supervised
    if "n_augmentations" in params and set(
            [named] if isinstance(named, str) else named) == {"fixmatch"}:
        raise UserError("--n-augmentations is MixMatch's (its views of each "
                        "unlabeled image); FixMatch takes one weak and one strong "
                        "view. Pass --semi-supervised mixmatch, or leave it out.")
    if args.module == "pretrained":
        # a pretrained backbone learns slower than its new head (skorch's own
        # param_groups); measured on a GPU with lr 1e-3 and 1e-4
        # (benchmarks/results/finetune_gpu.txt)
        lr = args.backbone_lr or (args.lr or DEFAULT_LR) / 10
        params["optimizer__param_groups"] = [["backbone.*", {"lr": lr}]]
    elif args.backbone_lr is not None:
        raise UserError("--backbone-lr applies to --module pretrained (fine-tuning "
                        "a pretrained backbone); pass --module pretrained too.")
    return params


def _threads_arg(parser, what=""):
    parser.add_argument("--torch-threads", type=_int_arg(1, MAX_THREADS),
                        default=DEFAULT_TORCH_THREADS,
                        help=f"torch CPU threads{what}, 1 to {MAX_THREADS:,} "
                        "(default: %(default)s: faster than more whenever other "
                        "programs share the cores)")


def _state_arg(parser, required=True):
    parser.add_argument("--state", required=required,
                        help="the labeling state directory made by `skmixal init`")


def _data_moved_arg(parser):
    parser.add_argument("--data", help="where the dataset is now, if it moved "
                        "(checked by fingerprint, remembered for later commands)")


def _version():
    from skmixal import __version__

    return f"skmixal {__version__}"


def _add_run(sub, strategies):
    run = sub.add_parser(
        "run", help="compare query strategies with and without Mixup (simulated)",
        description="Simulate active learning on a labeled dataset: every strategy "
        "with and without Mixup, plus random sampling without Mixup, over several "
        "seeds. Rerun the same command to resume an interrupted run.")
    run.add_argument("--data", default="digits",
                     help="dataset: digits (scikit-learn's, 64 features), "
                     "mnist:<folder> (idx files), npz:<path> (arrays X, y), "
                     "torchvision:<mnist|fashion-mnist|cifar10>:<root>, a path "
                     "ending in .npz, or a folder of MNIST idx files (default: "
                     "%(default)s)")
    run.add_argument("--strategies", type=_names, default=["random", "entropy"],
                     help=f"comma-separated query strategies among: {strategies} "
                     "(default: random,entropy)")
    run.add_argument("--seeds", type=_seeds, default=[0, 1, 2],
                     help=f"a number of seeds N (seeds 0 to N-1; at most "
                     f"{MAX_SEEDS:,}) or a comma-separated list of distinct seeds "
                     f"0 to {_MAX_SEED} (default: 3)")
    run.add_argument("--initial", type=_int_arg(1, MAX_LABELS), default=20,
                     help=f"labels before the first query, 1 to {MAX_LABELS:,} "
                     "(default: %(default)s)")
    run.add_argument("--initial-strategy", default=None,
                     help="strategy choosing the initial labels with an unfitted "
                     "model: random or typiclust (default: random sampling)")
    run.add_argument("--query-size", type=_int_arg(1, MAX_LABELS), default=20,
                     help=f"labels added per round, 1 to {MAX_LABELS:,} "
                     "(default: %(default)s)")
    run.add_argument("--budget", type=_int_arg(1, MAX_LABELS), default=200,
                     help=f"total labels at the end, the initial ones included, 1 "
                     f"to {MAX_LABELS:,}; runs stop earlier, with a warning, when "
                     "the training split is smaller (default: %(default)s)")
    run.add_argument("--test-size", type=_fraction, default=0.25,
                     help="share of the data held out (stratified, per seed) for "
                     "scoring, between 0 and 1 (default: %(default)s)")
    run.add_argument("--warm-start", action="store_true",
                     help="continue training the previous round's model, with a "
                     "quarter of the steps unless --min-steps is given, instead "
                     "of refitting from scratch")
    run.add_argument("--target", type=_fraction, default=0.9,
                     help="report the labels each arm needs to reach this score, "
                     "between 0 and 1 (default: %(default)s)")
    run.add_argument("--metric", choices=["accuracy", "f1_macro"],
                     default="accuracy",
                     help="metric of the table, the plot and --target (default: "
                     "%(default)s)")
    run.add_argument("--out", default="skmixal-results",
                     help="output directory: results.json, results.csv, "
                     "learning_curve.png, and every round under runs/; files of "
                     "those names not written by a run are refused (default: "
                     "%(default)s)")
    run.add_argument("--restart", action="store_true",
                     help="discard saved rounds in --out instead of resuming")
    run.add_argument("--n-jobs", type=_n_jobs, default=-1,
                     help=f"runs in parallel through joblib, 1 to {MAX_THREADS:,} "
                     "or -1 for all cores (default: %(default)s); with --scheduler "
                     "local, the number of Dask workers")
    run.add_argument("--scheduler", default=None,
                     help="run on Dask (pip install 'dask[distributed]'): 'local' "
                     "starts a LocalCluster, or a scheduler address "
                     "tcp://host:port whose workers have skmixal installed and "
                     "share the --out folder")
    run.add_argument("--torch-threads", type=_int_arg(1, MAX_THREADS), default=1,
                     help=f"torch CPU threads per run, 1 to {MAX_THREADS:,} "
                     "(default: %(default)s)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bar or notes on stderr: the table, warnings "
                     "and errors only")
    _estimator_args(run, "run")
    _backbone_args(run, "run")


def _add_init(sub, strategies):
    init = sub.add_parser("init", help="create a labeling state directory")
    init.add_argument("--data", default="digits",
                      help="dataset spec, as for `skmixal run` (default: "
                      "%(default)s)")
    init.add_argument("--state", required=True,
                      help="state directory to create (new, or without files "
                      "of the names the loop writes)")
    init.add_argument("--initial-labels",
                      help="CSV id,label of samples already labeled (taught at "
                      "once)")
    init.add_argument("--initial", type=_int_arg(0, MAX_LABELS), default=0,
                      help="write a first query of this many random samples, 0 "
                      f"to {MAX_LABELS:,} and at most those left unlabeled "
                      "(default: 0: no query yet; `skmixal query` writes one)")
    init.add_argument("--classes", type=_names,
                      help="comma-separated class labels (default: those in the "
                      "data)")
    init.add_argument("--test-labels",
                      help="CSV id,label of a held-out test set: never queried; "
                      "`skmixal status` scores the model on it")
    init.add_argument("--strategy", default="entropy",
                      help=f"query strategy, one of: {strategies} (default: "
                      "%(default)s)")
    init.add_argument("--seed", type=_seed, default=0,
                      help=f"random seed of the model and the queries, 0 to "
                      f"{_MAX_SEED} (default: %(default)s)")
    init.add_argument("--warm-start", action="store_true",
                      help="each refit continues from the last saved model, "
                      "with a quarter of the steps unless --min-steps is given, "
                      "instead of training from scratch")
    _threads_arg(init)
    _estimator_args(init, "init")
    _backbone_args(init, "init")


def _add_loop_commands(sub):
    query = sub.add_parser("query", help="write the next samples to label")
    _state_arg(query)
    query.add_argument("--n", type=_int_arg(1, MAX_LABELS), default=20,
                       help=f"samples to query, 1 to {MAX_LABELS:,}; all that are "
                       "left when fewer (default: %(default)s)")
    query.add_argument("--strategy",
                       help="strategy of this query only, instead of the state's "
                       "(with no labels yet, random sampling)")
    query.add_argument("--force", action="store_true",
                       help="replace a query that was not taught yet (a file with "
                       "labels typed in is first copied to query_XXXX-1.csv)")
    _data_moved_arg(query)
    _threads_arg(query)

    teach = sub.add_parser("teach", help="learn the labels of a filled-in query")
    _state_arg(teach)
    teach.add_argument("csv", help="the query CSV with its label column filled in "
                       "(a class, or its name where the data set names them; "
                       "skip: a sample you cannot label, never asked again)")
    _data_moved_arg(teach)
    _threads_arg(teach)

    relabel = sub.add_parser(
        "relabel", help="change labels already taught",
        description="Change labels already taught, then refit the model. Give "
        "a CSV id,label of taught samples with their right labels, e.g. an "
        "edited copy of the state's labels.csv (rows left as they were are "
        "ignored): a class, its name, or skip to take a sample out of the "
        "labels.")
    _state_arg(relabel)
    relabel.add_argument("csv", help="CSV id,label of taught samples and their "
                         "right labels")
    _data_moved_arg(relabel)
    _threads_arg(relabel)

    status = sub.add_parser("status", help="labels so far, class balance, accuracy")
    _state_arg(status)
    status.add_argument("--cv", type=_cv, default=5,
                        help="cross-validation folds when the state has no test "
                        f"labels: 0 skips it, else 2 to {MAX_FOLDS}, fewer when a "
                        "class has fewer labels (default: %(default)s)")
    _data_moved_arg(status)
    _threads_arg(status)

    predict = sub.add_parser(
        "predict", help="the model's label for every sample, to a CSV",
        description="Write the current model's prediction for every sample of "
        "the state's data: id, prediction, name (where classes have names), "
        "confidence, label (the one you gave; empty if never labeled) and given "
        "(taught, skipped, held out, or empty).")
    _state_arg(predict)
    predict.add_argument("--out", help="the CSV to write (default: "
                         "STATE/predictions.csv); an existing file is replaced "
                         "only if it holds predictions")
    predict.add_argument("--proba", action="store_true",
                         help="add a probability column per class, p_<class>")
    predict.add_argument("--input", metavar="SPEC",
                         help="new samples to predict instead of the state's data "
                         "(a data set spec, e.g. npz:new.npz, shaped like the "
                         "state's), written to --out; their own labels, if any, "
                         "go in the label column and their accuracy is printed")
    _data_moved_arg(predict)
    _threads_arg(predict)


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
    _add_run(sub, strategies)
    _add_init(sub, strategies)
    _add_loop_commands(sub)
    return parser


# --- skmixal run -----------------------------------------------------------------

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


def _run_settings(args, data, err):
    """The arms and settings of run_experiment, from the flags and the data."""
    from skmixal.experiment import make_arms, mixes_inputs

    methods = _ssl_methods(args, data.X.shape[1:])
    mixup = mixes_inputs(args.mixup_alpha, data.X)
    if not mixup and not args.quiet:
        ssl = (" (the +mixup+ssl arms still mix: that is MixMatch's own "
               "alpha)" if methods is True or "mixmatch" in (methods or ())
               else "")
        why = ("--mixup-alpha auto leaves vector data unmixed (as the estimator "
               "does)" if args.mixup_alpha == "auto" else "--mixup-alpha 0 is off")
        print(f"Note: {why}, so there are no +mixup arms; pass --mixup-alpha 0.4 "
              f"to mix{ssl}.", file=err)
    arms = make_arms(args.strategies, mixup=mixup, semi_supervised=methods)
    params = {**_estimator_params(args), **_module_params(args, data)}
    return dict(
        arms=arms, seeds=args.seeds, n_initial=args.initial,
        query_size=args.query_size, budget=args.budget, test_size=args.test_size,
        mixup_alpha=args.mixup_alpha, estimator_params=params,
        initial_strategy=args.initial_strategy)


def _run(args, data, settings):
    """run_experiment with the flags, on Dask when --scheduler names one."""
    from skmixal.experiment import check_settings, run_experiment

    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler is not None:
            # connect before run_experiment locks --out and writes
            # experiment.json: a bad or unreachable address leaves nothing;
            # settings first, so a typo does not wait for a cluster
            check_settings(data.X, data.y, **settings,
                           torch_threads=args.torch_threads)
            scheduler = stack.enter_context(_dask_client(scheduler, args.n_jobs))
        return run_experiment(
            data.X, data.y, **settings, warm_start=args.warm_start,
            out_dir=args.out, restart=args.restart, n_jobs=args.n_jobs,
            scheduler=scheduler, torch_threads=args.torch_threads,
            progress=not args.quiet, dataset_name=data.name)


def _cmd_run(args, out, err):
    from skmixal._io import load_data, name_flags
    from skmixal.experiment import SettingsError, check_out_dir_is_ours

    _check_out_dir(args.out, "--out")
    check_out_dir_is_ours(args.out)  # before a backbone's features go there
    _check_backbone_args(args)
    data = load_data(args.data)
    if data.y is None:
        raise UserError(
            f"--data {args.data}: no labels (no array 'y'). skmixal run simulates "
            "the expert with the data's own labels; to label a pool nobody has "
            "labeled yet, use skmixal init --classes ... and the labeling loop.")
    if args.backbone is not None:
        data = _embedded(data, args, Path(args.out) / "embeddings", err)
    settings = _run_settings(args, data, err)
    if not args.quiet:
        print(f"{data.name}: {len(data.X)} samples; arms: "
              f"{', '.join(a.name for a in settings['arms'])}; seeds: "
              f"{args.seeds}", file=err)
    tic = time.perf_counter()
    try:
        result = _run(args, data, settings)
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


def _embedded(data, args, folder, err):
    """The data set with its images replaced by the backbone's cached features."""
    from skmixal._embedding_cache import backbone_features

    def log(message):
        if not args.quiet:
            print(message, file=err, flush=True)

    X = backbone_features(data, args.backbone, folder, input_size=args.input_size,
                          flip_average=args.flip_average, log=log)
    flip = "+flip" if args.flip_average else ""
    return dataclasses.replace(data, X=X, name=f"{data.name}+{args.backbone}{flip}",
                               image_shape=None)


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


# --- the labeling loop ---------------------------------------------------------------

def _hint(command, state, *rest):
    return " ".join(["skmixal", command, "--state",
                     *map(shlex.quote, map(str, (state, *rest)))])


def _cmd_labeling(args, out, err):
    from skmixal import labeling

    def log(message):
        print(message, file=err, flush=True)

    data = getattr(args, "data", None)
    threads = args.torch_threads
    if args.command == "init":
        _cmd_init(args, out, log)
    elif args.command == "query":
        path = labeling.query_state(args.state, args.n, strategy=args.strategy,
                                    force=args.force, data=data,
                                    torch_threads=threads, log=log)
        print(f"Fill in the label column of {path}, then: "
              f"{_hint('teach', args.state, path)}", file=out)
    elif args.command == "teach":
        n = labeling.teach_state(args.state, args.csv, data=data,
                                 torch_threads=threads, log=log)
        print(f"Taught {args.csv}; {n} labels in total.", file=out)
    elif args.command == "relabel":
        n = labeling.relabel_state(args.state, args.csv, data=data,
                                   torch_threads=threads, log=log)
        print(f"Relabeled {n} sample(s) from {args.csv}.", file=out)
    elif args.command == "predict":
        path = labeling.predict_state(args.state, args.out, proba=args.proba,
                                      input_data=args.input, data=data,
                                      torch_threads=threads, log=log)
        print(f"Wrote {path}.", file=out)
    else:
        _print_status(labeling.state_status(args.state, cv=args.cv, data=data,
                                            torch_threads=threads, log=log), out,
                      args)


def _cmd_init(args, out, log):
    from skmixal import labeling

    _check_out_dir(args.state, "--state")
    _check_backbone_args(args)
    module = _module_settings(args)
    methods = _ssl_methods(args)
    if methods not in (False, True):
        module = {**module, "semi_supervised": methods[0]}
    path = labeling.init_state(
        args.state, args.data, initial_labels=args.initial_labels,
        n_initial=args.initial, classes=args.classes,
        test_labels=args.test_labels, strategy=args.strategy,
        mixup_alpha=args.mixup_alpha,
        estimator_params={**_estimator_params(args), **module}, seed=args.seed,
        semi_supervised=methods is not False, warm_start=args.warm_start,
        backbone=args.backbone, input_size=args.input_size,
        flip_average=args.flip_average, torch_threads=args.torch_threads, log=log)
    print(f"Initialized {args.state}.", file=out)
    if path is not None:
        print(f"Label the samples in {path}, then: "
              f"{_hint('teach', args.state, path)}", file=out)
    else:
        # no first query (--initial 0): the next step is to ask for one
        print(f"Next, write a query of samples to label: "
              f"{_hint('query', args.state)} --n 20", file=out)


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


def _diverged_hint(args):
    if args.command == "run":
        return "The flag is --lr."
    if args.command == "init":
        return ("Nothing was kept in --state; rerun init with a smaller --lr.")
    return _rate_hint(args)


def _rate_hint(args, more=""):
    """How to train a labeling state's model with another rate: its settings
    are fixed at init, and its labels are already saved."""
    labels = shlex.quote(str(Path(args.state) / "labels.csv"))
    saved = "" if args.command == "init" else "The labels are saved. "
    more = f" {more}" if more else ""
    return (f"{saved}This state's rate is fixed: to change it, start a new state "
            f"from its labels, with the same flags and a smaller --lr{more}: "
            f"skmixal init --state NEW_STATE{_data_flag(args)} --initial-labels "
            f"{labels} --lr ...")


def _data_flag(args):
    """`` --data SPEC`` of a labeling state's data ('' where it cannot be
    read): init's default is digits, so a pasted hint without it would start
    a state on the wrong data."""
    from skmixal.labeling import _state_data

    spec = getattr(args, "data", None)
    if spec is None:
        info = _state_data(args.state)
        if info is None:
            return ""
        spec = info["spec"]
    return f" --data {shlex.quote(str(spec))}"


def _print_status(st, out, args):
    skipped = f", {st['n_skipped']} skipped" if st["n_skipped"] else ""
    print(f"{st['dataset']}: {st['n_labels']} labels{skipped}, {st['n_pool']} "
          f"unlabeled, {st['n_queries']} queries", file=out)
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
        print(f"accuracy: not estimated ({st['accuracy_note']})", file=out)
    report = st.get("fit_report")
    if report and report["collapsed"]:
        print(f"model: the {report['method']} fit collapsed ({report['reason']}); "
              f"{report['action']}", file=out)
    elif report and report.get("learned") is False:
        print(f"model: the supervised fit did not learn its labels "
              f"({report['reason']}). {_rate_hint(args, 'or more --min-steps')}",
              file=out)
    elif report and report["method"] != "supervised":
        seen = ", no collapse seen" if "pool_classes" in report else ""
        print(f"model: {report['method']} with {report['n_unlabeled']} unlabeled "
              f"samples{seen}", file=out)


# --- main --------------------------------------------------------------------------

def _os_message(exc):
    from skmixal._io import os_message

    # reads report their own errors; an OSError that gets here says itself
    # whether it was writing (see tag_os_error), else the file alone is named
    return os_message(exc)


def _show_warning(message, category, filename, lineno, file=None, line=None, *,
                  args=None):
    """skmixal's warnings as one line naming the flags; others as Python shows them."""
    from skmixal._io import name_flags

    reason = getattr(message, "reason", None)
    if reason is not None and args is not None and args.command != "run":
        # a fit that did not learn its labels, in a labeling state: the
        # estimator's advice (lower lr) needs a new state there
        print(f"skmixal: warning: the model did not learn its labels: {reason}. "
              f"{_rate_hint(args, 'or more --min-steps')}", file=sys.stderr)
    elif issubclass(category, UserWarning) and "skmixal" in Path(filename).parts:
        print(f"skmixal: warning: {name_flags(str(message))}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename,
                                                lineno, line))


def _refit_interrupted(n_labels):
    # what the commands do with a stale model.pt: query refits it; status only
    # needs one (and refits it) for a held-out accuracy; teach needs a new query
    return (f"\nskmixal: interrupted while refitting the model. The labels are "
            f"saved ({n_labels} in total); the next `skmixal query` or `skmixal "
            "predict` refits the model (so does `skmixal status` on a state with "
            "--test-labels).")


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
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, args=args)
            if args.command == "run":
                _cmd_run(args, sys.stdout, sys.stderr)
            else:
                _cmd_labeling(args, sys.stdout, sys.stderr)
    except UserError as exc:
        print(f"skmixal: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TrainingDivergedError as exc:
        # the user's setting (--lr) or data, not a bug: no traceback
        print(f"skmixal: error: {exc} {_diverged_hint(args)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        # the file system said no (read-only folder, full disk, a file where a
        # folder should be): the user's to fix, not a bug
        if exc.errno is None:
            raise
        print(f"skmixal: error: {_os_message(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except RefitInterrupted as exc:
        print(_refit_interrupted(exc.n_labels), file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nskmixal: interrupted. Completed work is saved; rerun the same "
              "command to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
