"""Query strategies for active learning, usable as modAL query strategies.

Every strategy has the signature
``strategy(learner_or_estimator, X_pool, n_instances=1, *, random_state=None,
**kwargs)`` and returns ``(indices, scores)`` as NumPy arrays: int64 pool
positions and the float scores of the selected points. modAL 0.4.1 passes the
tuple through from ``ActiveLearner.query``; 0.4.2.x unpacks it as
``(indices, metrics)``.

Scoring (:mod:`skmixal.scoring`) and selection (:mod:`skmixal.selection`) are
pure functions; the strategies here only stream the pool and compose them.
"""

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
