"""Forward passes without training: evaluation mode, no gradient, batch by batch.

One place for how a network is run when nothing is trained, shared by the
query strategies (:meth:`MixupNetClassifier.iter_outputs`), the embeddings and
the label guesses of semi-supervised training.
"""

from contextlib import contextmanager

import torch
from skorch.dataset import unpack_data

from skmixal.iterators import TensorLoader, inference_rows
from skmixal.modules import last_linear

__all__ = ["evaluating", "iter_outputs", "logits_of"]


@contextmanager
def evaluating(module, *, mc_dropout=False):
    """``module`` in evaluation mode for the block, its mode restored after.

    With ``mc_dropout``, dropout layers stay stochastic (MC dropout) while
    everything else (e.g. batch norm) is in evaluation mode.
    """
    was_training = module.training
    module.eval()
    if mc_dropout:
        for sub in module.modules():
            if isinstance(sub, torch.nn.modules.dropout._DropoutNd):
                sub.train()
    try:
        yield module
    finally:
        module.train(was_training)


def logits_of(net, inputs):
    """The network's logits for a batch (the first output of a tuple)."""
    logits = net.infer(inputs)
    return logits[0] if isinstance(logits, tuple) else logits


def iter_outputs(net, dataset, *, embeddings=False, mc_dropout=False,
                 batch_size=None, rows_hint=None):
    """Yield a fitted net's outputs batch by batch, on its device, without grad.

    Parameters
    ----------
    net : MixupNetClassifier
    dataset : torch Dataset
        The validated input as the net's ``get_dataset`` returns it.
    embeddings : bool, default=False
        Also yield the input of the last linear layer.
    mc_dropout : bool, default=False
        See :func:`evaluating`.
    batch_size : int or None, default=None
        Rows per batch; defaults to :func:`~skmixal.iterators.inference_rows`
        of ``rows_hint`` (the array the dataset holds).
    rows_hint : array-like or None, default=None

    Yields
    ------
    proba : torch.Tensor of shape (batch, n_classes)
        The net's ``predict_nonlinearity`` of its logits.
    embeddings : torch.Tensor of shape (batch, dim), only if requested
    """
    size = batch_size or inference_rows(rows_hint)
    loader = TensorLoader(dataset, batch_size=size, shuffle=False, device=net.device)
    module = net.module_
    nonlin = net._get_predict_nonlinearity()
    captured = []
    handle = None
    if embeddings:
        handle = last_linear(module).register_forward_pre_hook(
            lambda _, args: captured.append(args[0].float()))
    try:
        with evaluating(module, mc_dropout=mc_dropout), torch.no_grad():
            for batch in loader:
                Xi, _ = unpack_data(batch)
                proba = nonlin(logits_of(net, Xi))
                if embeddings:
                    emb = captured[-1]
                    captured.clear()
                    yield proba, emb
                else:
                    yield proba
    finally:
        if handle is not None:
            handle.remove()
