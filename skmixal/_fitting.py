"""What the simulated runner and the labeling loop share around their fits.

* The accepted range of every numeric setting of ``skmixal run`` and
  ``skmixal init`` (``MAX_*`` and :func:`check_int`), used by the command-line
  parser and by the Python functions alike, so both give the same message.
* :func:`check_fit_settings`: the estimator built from the user's parameters
  and trained one step on two rows, so that a bad setting fails before any
  work instead of after an hour of rounds or after the expert has labeled.
* :func:`thread_guard`: torch's CPU thread count set for a block and
  restored after it.
"""

import contextlib
import math
import numbers
import warnings

__all__ = ["MAX_ALPHA", "MAX_BATCH_SIZE", "MAX_EPOCHS", "MAX_FOLDS",
           "MAX_INPUT_SIZE", "MAX_LABELS", "MAX_LR", "MAX_SEEDS", "MAX_STEPS",
           "MAX_THREADS", "PRECISIONS", "check_fit_settings",
           "check_int", "check_step_settings", "check_threads",
           "int_problem", "int_range", "real_problem", "thread_guard"]

# Upper bounds far beyond any useful value. They exist so that a typo (an extra
# zero, a pasted 2**63) fails at once, naming this range, instead of
# overflowing NumPy in the first fit (10**20 steps) or training for ever.
# --min-steps, and the estimator's min_steps: about a day of MixMatch steps on a
# GPU, years on a CPU (the default is 1,000; 2,000 with a pool)
MAX_STEPS = 10_000_000
MAX_EPOCHS = 10_000        # --max-epochs: the default is 30
MAX_BATCH_SIZE = 100_000   # --batch-size: the default is 64
MAX_LABELS = 1_000_000     # --initial, --query-size, --budget, query --n
MAX_SEEDS = 1_000          # --seeds as a count: one run per seed and arm
MAX_THREADS = 1_024        # --torch-threads
MAX_FOLDS = 100            # status --cv: one fit per fold
MAX_LR = 10.0              # --lr, above 0: the default is 1e-3
MAX_ALPHA = 100.0          # --mixup-alpha: at 100, lambda is 0.5 within 0.05
MAX_INPUT_SIZE = 1_024     # --input-size: 160 for efficientnet_lite0, 224 for resnet18
MAX_VIEWS = 64             # n_augmentations, --n-augmentations: the default is 4
PRECISIONS = ("float32", "bfloat16")  # precision, --precision: the default is float32


def _shown(value):
    # a pasted 400-digit number need not fill the terminal
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def int_range(low, high):
    """The words for an inclusive integer range, as messages give it.

    Parameters
    ----------
    low, high : int

    Returns
    -------
    text : str
        e.g. ``"an integer between 0 and 1,000,000"``.
    """
    return f"an integer between {low:,} and {high:,}"


def int_problem(value, low, high):
    """What is wrong with ``value`` as an integer in ``[low, high]``, or None.

    Parameters
    ----------
    value : object
    low, high : int
        The inclusive bounds.

    Returns
    -------
    problem : str or None
        e.g. ``"must be an integer between 0 and 1,000,000, got 10**20"``
        (without a name: the command line puts the flag before it).
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not low <= value <= high):
        return f"must be {int_range(low, high)}, got {_shown(value)}"
    return None


def check_int(value, name, low, high):
    """Check that ``value`` is an integer in ``[low, high]``.

    Unlike :func:`sklearn.utils.check_scalar`, refuses booleans and handles
    integers beyond 64 bits (NumPy's ``isfinite`` raises on them).

    Parameters
    ----------
    value : object
    name : str
        The parameter, named in the message (see ``skmixal._io.name_flags``).
    low, high : int
        The inclusive bounds.

    Returns
    -------
    value : int

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it is out of range.
    """
    problem = int_problem(value, low, high)
    if problem is None:
        return int(value)
    integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    raise (ValueError if integer else TypeError)(f"{name} {problem}.")


def real_problem(value, low, high=None, *, low_inclusive=True):
    """What is wrong with ``value`` as a finite number within bounds, or None.

    Parameters
    ----------
    value : object
    low : float
    high : float or None, default=None
        Inclusive upper bound; None for none.
    low_inclusive : bool, default=True

    Returns
    -------
    problem : str or None
        Without a name, as :func:`int_problem`.
    """
    above = f"{'at least' if low_inclusive else 'above'} {low:g}"
    bounds = above if high is None else f"{above} and at most {high:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"must be a number {bounds}, got {_shown(value)}"
    # compared as given: float() of an integer beyond 10**308 overflows
    finite = isinstance(value, numbers.Integral) or math.isfinite(value)
    in_range = (value >= low if low_inclusive else value > low) and (
        high is None or value <= high)
    if not (finite and in_range):
        return f"must be a finite number {bounds}, got {_shown(value)}"
    return None


def check_step_settings(params):
    """Check ``max_epochs`` and ``min_steps`` of estimator parameters.

    :func:`check_fit_settings` trains one step with both replaced, so their
    ranges are checked here.

    Parameters
    ----------
    params : dict

    Raises
    ------
    ValueError or TypeError
        Naming the parameter and its range.
    """
    bounds = {"max_epochs": MAX_EPOCHS, "min_steps": MAX_STEPS}
    for key, high in bounds.items():
        if key in params and not (key == "min_steps" and params[key] == "auto"):
            check_int(params[key], key, 0, high)


def check_fit_settings(params, X, y, *, X_unlabeled=None):
    """Build ``MixupNetClassifier(**params)`` and train it one step on ``X, y``.

    Every setting is checked as a fit checks it (ranges, unknown parameters,
    the optimizer's own checks such as a negative ``lr``, a module that does
    not fit the data), in well under a second.

    Parameters
    ----------
    params : dict
        ``MixupNetClassifier`` parameters.
    X, y : ndarray
        A few rows (two suffice) and their labels.
    X_unlabeled : ndarray or None, default=None
        Rows to pass as ``X_unlabeled``, to check the semi-supervised path.

    Raises
    ------
    ValueError, TypeError or RuntimeError
        As the estimator (or torch, for a module that does not fit) raises
        them; the caller turns them into the user's error.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    from skmixal._params import check_params
    from skmixal.classifier import MixupNetClassifier

    est = MixupNetClassifier(**params)
    check_step_settings(params)  # the one-step fit below replaces these two
    fit_params = {} if X_unlabeled is None else {"X_unlabeled": X_unlabeled}
    check_params(est)  # all of them, collapse_guard too, before it is set off
    # the guard off and the labeled check unheard: one step never fits, and
    # their verdicts are not on the user's fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clone(est).set_params(max_epochs=1, min_steps=0, verbose=0,
                              collapse_guard=None).fit(X, y, **fit_params)


def check_threads(n):
    """Check a torch thread count: None, or between 1 and :data:`MAX_THREADS`.

    Parameters
    ----------
    n : int or None

    Returns
    -------
    n : int or None

    Raises
    ------
    ValueError or TypeError
        Naming ``torch_threads`` and the range.
    """
    return None if n is None else check_int(n, "torch_threads", 1, MAX_THREADS)


@contextlib.contextmanager
def thread_guard(n):
    """torch's CPU threads set to ``n`` inside the block, restored after it.

    Parameters
    ----------
    n : int or None
        Between 1 and :data:`MAX_THREADS`; None leaves torch's setting as the
        caller made it (``torch.set_num_threads``).

    Raises
    ------
    ValueError or TypeError
        If ``n`` is out of range, before anything changes.
    """
    n = check_threads(n)
    if n is None:
        yield
        return
    import torch  # here: a command that fails before any fit need not wait

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
