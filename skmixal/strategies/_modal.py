"""What a strategy returns, on every modAL version, and what its docstring
shares with the others.

:func:`modal_strategy` wraps each strategy once, where it is defined.
"""

import functools
import inspect

from skmixal.strategies._pool import _is_learner

__all__ = ["fill_doc", "modal_strategy"]

# Set on wrapped strategies so that wrapping twice changes nothing.
_MODAL_MARKER = "_skmixal_modal_strategy"

# What every strategy's docstring says alike, written once: modal_strategy puts
# it where a docstring says %(pool)s (after the estimator) and %(result)s
# (after the last parameter, ahead of what is particular to its scores).
_DOC_PARTS = {
    "%(pool)s": """X_pool : array-like, np.memmap, torch.Tensor or torch Dataset
        Unlabeled pool, streamed in batches. With a Pipeline: an array or
        tensor that goes once through the steps before the last; the strategy
        works on what the last step sees.
    n_instances : int, default=1
        Number of points to select (at most the pool size).""",
    "%(result)s": """return_scores : bool or None, default=None
        As for :func:`~skmixal.strategies.entropy_sampling`: the pair for a
        bare estimator, what modAL's own strategies return for a learner.

    Returns
    -------
    indices : ndarray of shape (min(n_instances, n_pool),), dtype int64""",
}


def fill_doc(doc):
    """``doc`` with the shared parts of a strategy's docstring filled in."""
    for key, text in _DOC_PARTS.items():
        doc = doc.replace(key, text)
    return doc


def _query_unpacks_pairs(learner):
    """True when ``learner.query`` unpacks ``(indices, metrics)`` from a strategy.

    modAL 0.4.2.x's ``query`` takes ``return_metrics`` and unpacks the pair;
    0.4.1's passes any tuple through as the result of ``query`` (with a
    DeprecationWarning) and wants the indices alone. Reading the signature of
    the learner's own ``query`` follows whichever modAL actually runs.
    """
    try:
        params = inspect.signature(type(learner).query).parameters
    except (AttributeError, TypeError, ValueError):
        return True
    return "return_metrics" in params


def modal_strategy(strategy):
    """Make ``strategy`` return what modAL's own strategies return.

    ``strategy`` computes ``(indices, scores)``. The wrapped function takes one
    more keyword, ``return_scores`` (None, True or False):

    * None (default): ``(indices, scores)``, except when it is given a modAL
      learner whose ``query`` wants the indices alone (modAL 0.4.1): then
      ``indices``. Either way ``learner.query(X_pool)`` returns
      ``(indices, pool rows)``, on every modAL version, without a warning.
    * True: always ``(indices, scores)``; False: always ``indices``.

    Parameters
    ----------
    strategy : callable
        ``strategy(learner_or_estimator, X_pool, n_instances=1, **kwargs)``
        returning ``(indices, scores)``.

    Returns
    -------
    wrapped : callable
        Same name, docstring and parameters, plus ``return_scores``.
    """
    if getattr(strategy, _MODAL_MARKER, False):
        return strategy

    @functools.wraps(strategy)
    def wrapped(learner_or_estimator, X_pool, *args, return_scores=None, **kwargs):
        if return_scores is not None and not isinstance(return_scores, bool):
            raise TypeError(
                f"return_scores must be None, True or False, got {return_scores!r}.")
        indices, scores = strategy(learner_or_estimator, X_pool, *args, **kwargs)
        if return_scores is None:
            return_scores = not (_is_learner(learner_or_estimator)
                                 and not _query_unpacks_pairs(learner_or_estimator))
        return (indices, scores) if return_scores else indices

    if wrapped.__doc__:
        wrapped.__doc__ = fill_doc(wrapped.__doc__)
    signature = inspect.signature(strategy)
    params = list(signature.parameters.values())
    extra = inspect.Parameter("return_scores", inspect.Parameter.KEYWORD_ONLY,
                              default=None)
    if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
        params.insert(len(params) - 1, extra)
    else:
        params.append(extra)
    wrapped.__signature__ = signature.replace(parameters=params)
    setattr(wrapped, _MODAL_MARKER, True)
    return wrapped
