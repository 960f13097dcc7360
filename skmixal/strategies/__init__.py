"""Query strategies for active learning, usable as modAL query strategies.

Every strategy has the signature
``strategy(learner_or_estimator, X_pool, n_instances=1, *, random_state=None,
return_scores=None, **kwargs)``. Called on an estimator it returns
``(indices, scores)`` as NumPy arrays: int64 pool positions and the float
scores of the selected points. Called by a modAL learner it returns what
modAL's own strategies return in the installed version (indices alone on
0.4.1, ``(indices, scores)`` on 0.4.2.x), so ``idx, rows = learner.query(X)``
gives pool rows on both; ``return_scores=True`` or ``False`` forces one form
(see :func:`skmixal.strategies._modal.modal_strategy`).

Scoring (:mod:`skmixal.scoring`) and selection (:mod:`skmixal.selection`) are
pure functions; the strategies here only stream the pool and compose them.
"""

# Each strategy is defined once, already wrapped by modal_strategy in its own
# module: importing it from a submodule gives the same function as from here.
from skmixal.strategies.bayesian import bald_sampling, batch_bald_sampling
from skmixal.strategies.diversity import (
    badge_sampling,
    coreset_sampling,
    typiclust_sampling,
)
from skmixal.strategies.mixing import alfamix_sampling, mixup_consistency_sampling
from skmixal.strategies.uncertainty import (
    entropy_sampling,
    least_confidence_sampling,
    margin_sampling,
    random_sampling,
)

STRATEGIES = {
    "random": random_sampling,
    "least_confidence": least_confidence_sampling,
    "margin": margin_sampling,
    "entropy": entropy_sampling,
    "bald": bald_sampling,
    "batch_bald": batch_bald_sampling,
    "coreset": coreset_sampling,
    "badge": badge_sampling,
    "typiclust": typiclust_sampling,
    "alfamix": alfamix_sampling,
    "mixup_consistency": mixup_consistency_sampling,
}

__all__ = [
    "STRATEGIES",
    "alfamix_sampling",
    "badge_sampling",
    "bald_sampling",
    "batch_bald_sampling",
    "coreset_sampling",
    "entropy_sampling",
    "least_confidence_sampling",
    "margin_sampling",
    "mixup_consistency_sampling",
    "random_sampling",
    "typiclust_sampling",
]
