"""Uncertainty sampling: score every pool point from its predicted
probabilities, keep only the scores, take the top ``n_instances``.

Each strategy works with a modAL learner or any fitted classifier that has
``predict_proba`` (skmixal networks stream the pool on their device; other
classifiers are asked chunk by chunk). Memory beyond the pool: one float per
pool row plus one batch of probabilities. For skmixal networks the pool is
read once: finiteness is checked chunk by chunk on the device, not over the
whole pool first.
"""

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from skmixal._labels import n_rows
from skmixal.scoring import entropy_scores, least_confidence_scores, margin_scores
from skmixal.selection import top_k
from skmixal.strategies._modal import fill_doc, modal_strategy
from skmixal.strategies._pool import pool_scores, prepare

__all__ = [
    "entropy_sampling",
    "least_confidence_sampling",
    "margin_sampling",
    "random_sampling",
]


def _uncertainty(score_fn, learner, X_pool, n_instances, random_state, batch_size):
    estimator, X_pool, n_select, _, _ = prepare(learner, X_pool, n_instances,
                                                defer_finite_check=True)
    scores = pool_scores(estimator, X_pool, score_fn, batch_size=batch_size,
                         check_finite=True)
    indices = top_k(scores, n_select, random_state=random_state)
    return indices, scores[indices]


_PARAMS = fill_doc("""
    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted classifier or Pipeline ending in one
        Anything with ``predict_proba`` once unwrapped (``learner.estimator``,
        a Pipeline's last step).
    %(pool)s
    random_state : int, RandomState instance or None, default=None
        Breaks ties between equal scores.
    batch_size : int or None, default=None
        Rows per forward pass (``skmixal.iterators.inference_rows`` when None).
    return_scores : bool or None, default=None
        None: ``(indices, scores)``, except for a modAL learner whose ``query``
        wants the indices alone (modAL 0.4.1), which gets ``indices``, as from
        modAL's own strategies. So ``idx, rows = learner.query(X_pool)`` gives
        pool rows on every modAL version. True: always the pair; False: always
        the indices.

    Returns
    -------
    indices : ndarray of shape (min(n_instances, n_pool),), dtype int64
        Pool positions, most informative first.
    scores : ndarray of the same shape, float
        Their scores (higher = more informative); see ``return_scores``.
""")


@modal_strategy
def least_confidence_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                              random_state=None, batch_size=None):
    return _uncertainty(least_confidence_scores, learner_or_estimator, X_pool,
                        n_instances, random_state, batch_size)


least_confidence_sampling.__doc__ = (
    """Pick the points whose most likely class is least probable.

    Score ``1 - max_c p(c | x)`` (Lewis & Gale, "A sequential algorithm for
    training text classifiers", SIGIR 1994).
""" + _PARAMS)


@modal_strategy
def margin_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                    random_state=None, batch_size=None):
    return _uncertainty(margin_scores, learner_or_estimator, X_pool, n_instances,
                        random_state, batch_size)


margin_sampling.__doc__ = (
    """Pick the points with the smallest gap between the two top classes.

    Score ``1 - (p_1 - p_2)`` (Scheffer, Decomain & Wrobel, "Active hidden
    Markov models for information extraction", IDA 2001).
""" + _PARAMS)


@modal_strategy
def entropy_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                     random_state=None, batch_size=None):
    return _uncertainty(entropy_scores, learner_or_estimator, X_pool, n_instances,
                        random_state, batch_size)


entropy_sampling.__doc__ = (
    """Pick the points whose predicted class distribution has the most entropy.

    Score ``-sum_c p_c log p_c`` (Settles, "Active learning literature
    survey", 2009).
""" + _PARAMS)


@modal_strategy
def random_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                    random_state=None, batch_size=None):
    """Pick points uniformly at random, without replacement: the baseline.

    The pool is validated (fitted estimator, feature count) like every other
    strategy, but never passed through the network (nor through the steps of
    a Pipeline).

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted classifier or Pipeline ending in one
    %(pool)s
    random_state : int, RandomState instance or None, default=None
    batch_size : int or None, default=None
        Unused; accepted so every strategy takes the same arguments.
    %(result)s
    scores : ndarray of the same shape
        All zeros: random sampling ranks nothing; see ``return_scores``.
    """
    # transform=False: a Pipeline's first steps (an embedder) are not run
    try:
        _, X_pool, n_select, _, _ = prepare(learner_or_estimator, X_pool,
                                            n_instances, transform=False)
    except NotFittedError:
        # drawing rows needs no model: a cold start checks the pool's size only
        _, X_pool, n_select, _, _ = prepare(learner_or_estimator, X_pool,
                                            n_instances, need_fitted=False,
                                            transform=False)
    rng = check_random_state(random_state)
    indices = rng.choice(n_rows(X_pool), size=n_select, replace=False).astype(np.int64)
    return indices, np.zeros(n_select, dtype=np.float64)
