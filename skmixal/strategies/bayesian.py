"""Bayesian strategies: BALD and BatchBALD with MC dropout.

MC samples use *consistent* dropout: sample ``w`` applies the same dropout
masks to every pool point, so ``p(y | x, w)`` for different points comes from
the same network ``w``, which BatchBALD's joint entropy requires (Kirsch et
al. 2019, appendix on consistent MC dropout). Each pool batch is repeated
``n_mc`` times along the batch axis and pushed through the network once, in
evaluation mode (batch norm frozen) with forward hooks on the dropout layers
applying the fixed masks. Masks come from a ``torch.Generator`` seeded by
``random_state``, so queries are reproducible without touching torch's global
random state.
"""

import numpy as np
import torch
from scipy.special import entr
from skorch.utils import is_dataset

from skmixal._labels import n_rows
from skmixal._validation import as_numpy, check_features, check_in_range, seed_from
from skmixal.scoring import bald_scores, expand_joint_proba, joint_entropy_scores
from skmixal.selection import top_k
from skmixal.strategies._modal import modal_strategy
from skmixal.strategies._pool import (
    default_rows,
    is_skmixal,
    iter_batches,
    prepare,
)

__all__ = ["bald_sampling", "batch_bald_sampling"]

_CHANNEL_DROPOUT = (torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d)


class _ConsistentDropout:
    """Fixed per-MC-sample dropout masks on input laid out (n_mc * b, ...)."""

    def __init__(self, module, n_mc, seed):
        self.layers = [
            m for m in module.modules()
            if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0
        ]
        if not self.layers:
            raise ValueError(
                f"{type(module).__name__} has no dropout layer (torch.nn.Dropout*"
                " with p > 0), so MC dropout cannot sample it: BALD and BatchBALD "
                "need one. The default skmixal networks have dropout "
                "(module__dropout)."
            )
        self.n_mc = n_mc
        self.generator = torch.Generator().manual_seed(seed)
        self.masks = {}
        self.handles = []

    def _hook(self, layer, inputs, output):
        x = inputs[0]
        shape = tuple(x.shape[1:])
        mask = self.masks.get(id(layer))
        if mask is None:
            if isinstance(layer, _CHANNEL_DROPOUT) and len(shape) > 1:
                mask_shape = (shape[0],) + (1,) * (len(shape) - 1)
            else:
                mask_shape = shape
            keep = 1.0 - layer.p
            draw = torch.rand((self.n_mc, *mask_shape), generator=self.generator)
            mask = ((draw < keep).to(x.dtype) / keep).to(x.device)
            self.masks[id(layer)] = mask
        b = x.shape[0] // self.n_mc
        # (n_mc, b, *shape) * (n_mc, 1, *mask_shape)
        return (x.reshape(self.n_mc, b, *shape) * mask.unsqueeze(1)).reshape(x.shape)

    def __enter__(self):
        self.handles = [m.register_forward_hook(self._hook) for m in self.layers]
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles = []


def _check_mc(estimator, n_mc):
    check_in_range(n_mc, "n_mc", low=2, integer=True)
    if not is_skmixal(estimator):
        raise TypeError(
            f"MC dropout needs a skmixal network (MixupNetClassifier); got "
            f"{type(estimator).__name__}. Use an uncertainty strategy for other "
            "classifiers."
        )


def iter_mc_proba(estimator, X_pool, n_mc, random_state, batch_size=None):
    """Yield ``(start, mc_proba)``: (n_mc, b, n_classes) NumPy float64 per batch.

    Consistent masks over the whole pool (see the module docstring).
    """
    _check_mc(estimator, n_mc)
    rows = max(1, (batch_size or default_rows(X_pool)) // n_mc)  # pool rows per forward
    with _ConsistentDropout(estimator.module_, n_mc, seed_from(random_state)):
        for start, batch in iter_batches(X_pool, rows):
            if is_dataset(X_pool):  # arrays were validated by prepare()
                batch = check_features(estimator, batch, reset=False)
            batch = torch.as_tensor(batch)
            b = len(batch)
            rep = batch.repeat(n_mc, *([1] * (batch.ndim - 1)))  # (n_mc * b, ...)
            proba = next(iter(estimator.iter_outputs(rep, batch_size=len(rep))))
            yield start, as_numpy(proba.reshape(n_mc, b, -1)).astype(np.float64)


@modal_strategy
def bald_sampling(learner_or_estimator, X_pool, n_instances=1, *, random_state=None,
                  n_mc=20, batch_size=None):
    """Pick the points with the highest BALD mutual information (MC dropout).

    Score ``I[y; w | x] = H[mean_w p(y|x,w)] - mean_w H[p(y|x,w)]``, estimated
    from ``n_mc`` dropout samples; only the scores are kept.

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted MixupNetClassifier or Pipeline
        The network needs at least one dropout layer.
    %(pool)s
    random_state : int, RandomState instance or None, default=None
        Seeds the dropout masks and breaks ties.
    n_mc : int, default=20
        Number of MC dropout samples (>= 2).
    batch_size : int or None, default=None
        Rows per forward pass, MC copies included (None: 4,096, fewer for wide samples).
    %(result)s
    scores : ndarray of the same shape
        BALD scores in nats.

    References
    ----------
    Houlsby et al., "Bayesian active learning for classification and
    preference learning", arXiv:1112.5745, 2011; Gal, Islam & Ghahramani, "Deep
    Bayesian active learning with image data", ICML 2017.
    """
    estimator, X_pool, n_select, _, _ = prepare(learner_or_estimator, X_pool,
                                                n_instances)
    rng = np.random.RandomState(seed_from(random_state))
    scores = np.empty(n_rows(X_pool), dtype=np.float64)
    for start, mc in iter_mc_proba(estimator, X_pool, n_mc, rng, batch_size):
        scores[start : start + mc.shape[1]] = bald_scores(mc)
    indices = top_k(scores, n_select, random_state=rng)
    return indices, scores[indices]


def _top_candidates(estimator, X_pool, n_mc, n_candidates, rng, batch_size):
    """Stream the pool, keeping the MC probabilities of the top BALD points.

    Memory: (n_mc, n_candidates + batch, n_classes), whatever the pool size.
    """
    keep_idx = np.empty(0, dtype=np.int64)
    keep_score = np.empty(0)
    keep_mc = None
    for start, mc in iter_mc_proba(estimator, X_pool, n_mc, rng, batch_size):
        idx = np.arange(start, start + mc.shape[1])
        keep_idx = np.concatenate([keep_idx, idx])
        keep_score = np.concatenate([keep_score, bald_scores(mc)])
        keep_mc = mc if keep_mc is None else np.concatenate([keep_mc, mc], axis=1)
        if len(keep_idx) > n_candidates:
            top = np.argpartition(-keep_score, n_candidates - 1)[:n_candidates]
            top.sort()  # keep pool order: deterministic
            keep_idx, keep_score = keep_idx[top], keep_score[top]
            keep_mc = keep_mc[:, top]
    return keep_idx, keep_mc


def sampled_joint_entropy_scores(mc_proba, mc_joint, chunk_size=None):
    """Importance-sampled joint entropy ``H[y_1..y_b, y_x]`` per candidate.

    ``mc_joint[w, m] = p(yhat^m | w)`` for ``M`` label configurations of the
    batch sampled from the predictive ``p(yhat) = mean_w p(yhat | w)``; then
    ``H ~= (1/M) sum_m sum_c -(p(yhat^m, c) / p(yhat^m)) log p(yhat^m, c)``
    (Kirsch et al. 2019, section 3.2).

    Parameters
    ----------
    mc_proba : ndarray of shape (n_mc, n_samples, n_classes)
    mc_joint : ndarray of shape (n_mc, M)
    chunk_size : int or None, default=None
        Candidates per block; the temporary is ``chunk_size * M * n_classes``.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
    """
    n_mc, n, n_classes = mc_proba.shape
    n_configs = mc_joint.shape[1]
    q = np.maximum(mc_joint.mean(axis=0), 1e-300)  # (M,)
    chunk = chunk_size or max(1, 2**22 // (n_configs * n_classes))
    out = np.empty(n)
    for s in range(0, n, chunk):
        joint = np.einsum("wm,wic->imc", mc_joint, mc_proba[:, s : s + chunk]) / n_mc
        out[s : s + chunk] = (entr(joint) / q[None, :, None]).sum(axis=(1, 2))
    return out / n_configs


def _extend_sampled(mc_joint, mc_new, rng):
    """Grow sampled configurations by one point, sampling its label per config."""
    # p(c | yhat^m) proportional to sum_w mc_joint[w, m] * mc_new[w, c]
    cond = mc_joint.T @ mc_new  # (M, n_classes)
    cond /= np.maximum(cond.sum(axis=1, keepdims=True), 1e-300)
    u = rng.uniform(size=(cond.shape[0], 1))
    labels = np.minimum((np.cumsum(cond, axis=1) < u).sum(axis=1), cond.shape[1] - 1)
    return mc_joint * mc_new[:, labels]  # (n_mc, M)


def _greedy_batch_bald(mc, n_select, max_configs, rng):
    """Greedy BatchBALD on MC probabilities (n_mc, n_cand, n_classes).

    Returns the picked positions (in order) and their marginal gains; see
    :func:`batch_bald_sampling`.
    """
    n_classes = mc.shape[2]
    cond_ent = entr(mc).sum(axis=2).mean(axis=0)  # (n_cand,) E_w H[y | w]
    chosen = np.zeros(mc.shape[1], dtype=bool)
    picks, gains = [], []
    joint, sampled, batch_value, batch_cond = None, False, 0.0, 0.0
    for _ in range(n_select):
        if sampled:
            joint_ent = sampled_joint_entropy_scores(mc, joint)
        else:
            joint_ent = joint_entropy_scores(mc, joint)
        value = joint_ent - batch_cond - cond_ent  # (n_cand,)
        value[chosen] = -np.inf
        pick = int(np.argmax(value))
        picks.append(pick)
        gains.append(value[pick] - batch_value)
        batch_value, batch_cond = value[pick], batch_cond + cond_ent[pick]
        chosen[pick] = True
        n_configs = 1 if joint is None else joint.shape[1]
        if not sampled and n_configs * n_classes <= max_configs:
            joint = expand_joint_proba(joint, mc[:, pick])
        else:
            if not sampled:  # draw max_configs configurations from the exact joint
                if joint is None:
                    # the first pick alone has more labels than max_configs: the
                    # empty batch's joint is its one configuration, probability 1
                    joint = np.ones((mc.shape[0], 1))
                q = joint.mean(axis=0)
                draw = rng.choice(n_configs, size=max_configs, p=q / q.sum())
                joint, sampled = joint[:, draw], True
            joint = _extend_sampled(joint, mc[:, pick], rng)
    return np.asarray(picks, dtype=np.int64), np.asarray(gains, dtype=np.float64)


@modal_strategy
def batch_bald_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                        random_state=None, n_mc=20, n_candidates=None,
                        max_configs=10_000, batch_size=None):
    """Greedy BatchBALD: a batch whose labels jointly tell most about ``w``.

    Each step adds the candidate maximising
    ``I[y_1..y_b, y; w] = H[y_1..y_b, y] - sum_i E_w H[y_i | w] - E_w H[y | w]``.
    The joint entropy is exact while the batch has at most ``max_configs``
    label configurations (``n_classes ** b``), then estimated from
    ``max_configs`` configurations sampled from the predictive, as in the
    paper. Only the top ``n_candidates`` pool points by BALD are kept (with
    their MC probabilities) during the single streaming pass, so memory is
    ``O(n_mc * (n_candidates + max_configs) * n_classes)``, not quadratic in
    the pool.

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted MixupNetClassifier or Pipeline
        The network needs a dropout layer, as for :func:`bald_sampling`.
    %(pool)s
    random_state : int, RandomState instance or None, default=None
        Seeds the dropout masks and the configuration sampling.
    n_mc : int, default=20
        Number of MC dropout samples (consistent across the pool).
    n_candidates : int or None, default=None
        Pre-filter size; None uses ``max(200, 20 * n_instances)``.
    max_configs : int, default=10_000
        Cap on exact configurations and number of sampled configurations.
    batch_size : int or None, default=None
        Rows per forward pass, MC copies included (None: 4,096, fewer for wide samples).
    %(result)s
        In the order picked.
    scores : ndarray of the same shape
        Marginal gain in BatchBALD (nats) when each point was added; the first
        is its BALD score.

    References
    ----------
    Kirsch, van Amersfoort & Gal, "BatchBALD: Efficient and diverse batch
    acquisition for deep Bayesian active learning", NeurIPS 2019.
    """
    estimator, X_pool, n_select, _, _ = prepare(learner_or_estimator, X_pool,
                                                n_instances)
    if n_candidates is None:
        n_candidates = max(200, 20 * n_select)
    check_in_range(n_candidates, "n_candidates", low=1, integer=True)
    check_in_range(max_configs, "max_configs", low=2, integer=True)
    rng = np.random.RandomState(seed_from(random_state))
    cand_idx, mc = _top_candidates(estimator, X_pool, n_mc, max(n_candidates, n_select),
                                   rng, batch_size)
    picks, gains = _greedy_batch_bald(mc, n_select, max_configs, rng)
    return cand_idx[picks].astype(np.int64), gains
