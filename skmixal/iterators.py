"""Batches of in-memory and streamed data, for training, the pool and inference.

skorch's default ``DataLoader`` path calls ``Dataset.__getitem__`` once per sample
and collates the rows back into a batch; on small in-memory data that dominates
the epoch (skorch issues #433, #1100). :class:`TensorLoader` puts the arrays on
the device once and makes each batch by slicing a seeded permutation.

Anything it cannot slice (a custom ``Dataset``, dict input, extra ``DataLoader``
arguments such as ``collate_fn``) goes through a plain ``DataLoader``, so it is a
drop-in ``iterator_train`` / ``iterator_valid`` for skorch.

:class:`UnlabeledSampler` draws the unlabeled batches of semi-supervised
training from the same resident-or-streamed storage (``_Source``), and
inference (:mod:`skmixal.inference`) batches through :class:`TensorLoader`.
"""

import math
import warnings

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader, Subset

from skmixal._validation import as_numpy

__all__ = ["INFERENCE_ROWS", "TensorLoader", "UnlabeledSampler", "inference_rows",
           "make_iterator"]

# Largest array copied whole onto an accelerator; bigger ones stream per batch.
_MAX_RESIDENT_BYTES = 2 * 1024**3
# Rows per forward pass when nothing is trained (prediction, query strategies).
# Measured on 2 CPU cores: an MLP 784-256-10 scores a pool 2.6x faster in
# 4,096-row batches than in 1,024-row ones.
INFERENCE_ROWS = 4096
# ... but no more than this much input per pass (wide samples get fewer rows).
_INFERENCE_BYTES = 64 * 2**20


def inference_rows(X):
    """Rows per forward pass without gradients: the one default for all of skmixal.

    4,096 rows, fewer for wide samples so one batch of input stays within
    64 MiB of float32 (3 x 224 x 224 images get 256 rows).

    Parameters
    ----------
    X : array-like, tensor or torch Dataset
        Only its shape is read; objects without one get the default.

    Returns
    -------
    rows : int
    """
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) < 2:
        return INFERENCE_ROWS
    row_bytes = 4 * int(np.prod(shape[1:]))
    return int(min(INFERENCE_ROWS, max(256, _INFERENCE_BYTES // max(row_bytes, 1))))
# DataLoader arguments that do not change which batches come out.
_HARMLESS_KWARGS = {
    "num_workers", "pin_memory", "persistent_workers", "prefetch_factor"}


def unwrap_dataset(dataset):
    """(skorch Dataset, row indices or None) for sliceable datasets, else None."""
    indices = None
    while isinstance(dataset, Subset):
        sub = np.asarray(dataset.indices, dtype=np.int64)
        indices = sub if indices is None else sub[indices]
        dataset = dataset.dataset
    # exact type: a subclass may override transform() and must see every row
    if type(dataset) is not Dataset:
        return None
    X, y = dataset.X, dataset.y
    if not isinstance(X, (np.ndarray, torch.Tensor)):
        return None
    if y is not None and not isinstance(y, (np.ndarray, torch.Tensor)):
        return None
    return dataset, indices


def _is_accelerator(device):
    return device is not None and torch.device(device).type != "cpu"


def _nbytes(array, rows):
    n_rows = len(array) if rows is None else len(rows)
    row_bytes = array.element_size() * array[0].numel() if isinstance(
        array, torch.Tensor) else array.itemsize * int(np.prod(array.shape[1:]))
    return n_rows * row_bytes


def _streams(array, device, rows):
    """True when batches must be read from ``array`` where it is, per batch."""
    if isinstance(array, np.ndarray) and (
            isinstance(array, np.memmap) or not array.flags.writeable):
        # memmaps and read-only arrays stay where they are: slicing them per
        # batch reads only what the batch needs and never warns or copies all
        return True
    # the cap applies to what would become resident: arrays and CPU tensors
    # alike, a Subset counting only its own rows
    on_host = not isinstance(array, torch.Tensor) or array.device.type == "cpu"
    return (_is_accelerator(device) and on_host
            and _nbytes(array, rows) > _MAX_RESIDENT_BYTES)


class _Source:
    """One array, served either from a resident tensor or from where it lies.

    ``rows`` are the positions a ``Subset`` selects; a streamed source keeps
    them and maps each batch through them, so a Subset of a memmap never reads
    more than the batch.
    """

    def __init__(self, array, device, rows=None):
        self.device = device
        self.resident = None
        self.host = None
        self.rows = None
        if _streams(array, device, rows):
            self.host = array
            self.rows = rows
            return
        if rows is not None:
            # a split of in-memory data: copying the selected rows once is
            # cheaper than gathering them again every epoch
            array = array[torch.from_numpy(rows)] if isinstance(
                array, torch.Tensor) else array[rows]
        if not isinstance(array, torch.Tensor):
            array = torch.from_numpy(np.ascontiguousarray(array))
        self.resident = array.to(device) if device is not None else array

    def take(self, index):
        if self.resident is not None:
            if isinstance(index, torch.Tensor):
                # a memmap X streamed from the host keeps the order on the
                # CPU while y is resident on the GPU: one order for both
                index = index.to(self.resident.device)
                # index_select, not resident[index]: advanced indexing costs
                # 6x more on the CPU (128 x 784 floats: 77 us against 13 us)
                return torch.index_select(self.resident, 0, index)
            return self.resident[index]
        if isinstance(index, torch.Tensor):
            index = as_numpy(index)
        if self.rows is not None:
            index = self.rows[index]
        if isinstance(self.host, torch.Tensor):
            batch = self.host[index if isinstance(index, slice)
                              else torch.from_numpy(np.asarray(index))]
        else:
            batch = self.host[index]
            if isinstance(index, slice) and not _is_accelerator(self.device):
                # a view into a memmap or a read-only array: the module may
                # write to its input, so it gets a copy of this batch only
                batch = np.array(batch)
            with warnings.catch_warnings():
                # read-only views are only read: copied to the device below
                warnings.filterwarnings("ignore", message=".*not writable.*")
                batch = torch.from_numpy(np.asarray(batch))
        return batch.to(self.device) if self.device is not None else batch


class TensorLoader:
    """Iterate over mini-batches of in-memory data by slicing.

    Parameters
    ----------
    dataset : torch Dataset
        Usually a ``skorch.dataset.Dataset`` (or a ``Subset`` of one) holding
        NumPy arrays or tensors; other datasets fall back to ``DataLoader``.
    batch_size : int, default=128
    shuffle : bool, default=False
        Draw a new permutation each epoch, from ``generator``.
    generator : torch.Generator or None, default=None
        CPU generator for the batch order; ``None`` uses torch's global one.
        :class:`~skmixal.MixupNetClassifier` passes its own per-fit generator,
        so concurrent fits in threads do not share a random stream.
    drop_last : bool, default=False
    device : str, torch.device or None, default=None
        Where batches are made. In-memory arrays are copied there once.
    **loader_kwargs
        Passed to the ``DataLoader`` fallback. Arguments that change batches
        (``collate_fn``, ``sampler``, ...) force the fallback.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False,
                 device=None, generator=None, **loader_kwargs):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = device
        self.generator = generator
        unwrapped = None
        if not set(loader_kwargs) - _HARMLESS_KWARGS:
            unwrapped = unwrap_dataset(dataset)
        if unwrapped is None:
            self._fallback = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                        drop_last=drop_last, generator=generator,
                                        **loader_kwargs)
            return
        self._fallback = None
        base, indices = unwrapped
        X, y = base.X, base.y
        self._X = _Source(X, device, indices)
        self._y = None if y is None else _Source(y, device, indices)
        self._n = len(indices) if indices is not None else len(base)

    def __len__(self):
        if self._fallback is not None:
            return len(self._fallback)
        if self.drop_last:
            return self._n // self.batch_size
        return math.ceil(self._n / self.batch_size)

    def __iter__(self):
        if self._fallback is not None:
            yield from self._fallback
            return
        n, size = self._n, self.batch_size
        stop = n - n % size if self.drop_last else n
        order = None
        if self.shuffle:
            # drawn on the CPU from the given generator, so the order is the
            # same on every device; n int64s are cheap to move
            order = torch.randperm(n, generator=self.generator)
            if self._X.resident is not None:
                order = order.to(self._X.resident.device)
        for start in range(0, stop, size):
            end = min(start + size, n)
            restore = None
            if order is None:
                index = slice(start, end)
            elif self._X.host is not None:
                # sorted reads are sequential on a memmap; the batch is then put
                # back in the permutation's order, because Mixup pairs row i
                # with a partner by position: a read-only array or a memmap
                # must give the model an in-memory array gives
                index, where = order[start:end].sort()
                restore = torch.argsort(where)
            else:
                index = order[start:end]
            xb = self._X.take(index)
            yb = None if self._y is None else self._y.take(index)
            if restore is not None:
                xb = xb[restore.to(xb.device)]
                yb = None if yb is None else yb[restore.to(yb.device)]
            yield xb, yb


class UnlabeledSampler:
    """Draws unlabeled batches of fixed size, with replacement.

    The cost of a step does not depend on the pool's size: each call draws
    ``batch_size`` row indices from ``rng`` and reads only those rows, from the
    same storage as the training batches: resident on the device when it fits,
    read row by row from where it lies for an ``np.memmap`` or a read-only
    array (sorted indices: sequential reads).

    Parameters
    ----------
    X : ndarray, np.memmap or torch.Tensor of shape (n, ...)
        Validated unlabeled samples, float32.
    batch_size : int
    rng : numpy.random.Generator
        The same draws whatever the storage, so a memmap and an array holding
        the same rows give the same model.
    device : str or torch.device
    """

    def __init__(self, X, batch_size, rng, device):
        self.batch_size = int(batch_size)
        self.rng = rng
        self.n = len(X)
        self._source = _Source(X, device)

    def __call__(self):
        index = torch.from_numpy(np.sort(self.rng.integers(0, self.n, self.batch_size)))
        if self._source.resident is not None:
            index = index.to(self._source.resident.device)
        return self._source.take(index)


def make_iterator(net, dataset, *, training):
    """The iterator a skmixal net reads ``dataset`` with (None: skorch's own).

    ``TensorLoader`` (the default) gets the net's device and shuffles training
    batches; training iterators (a ``DataLoader`` too) draw their order from
    the fit's own generator when ``random_state`` is an int. Under skorch's
    ``AccelerateMixin`` a ``DataLoader`` replaces it: accelerate shards
    DataLoaders across processes, and a tensor iterator would hand every
    process the whole data set.
    """
    prefix = "iterator_train" if training else "iterator_valid"
    iterator = getattr(net, prefix)
    randomness = net.__dict__.get("_randomness")
    generator = (randomness.torch("cpu")
                 if training and randomness is not None else None)
    kwargs = net.get_params_for(prefix)
    kwargs.setdefault("batch_size", net.batch_size)
    if kwargs["batch_size"] == -1:
        kwargs["batch_size"] = len(dataset)
    if generator is not None:
        kwargs.setdefault("generator", generator)
    if not (isinstance(iterator, type) and issubclass(iterator, TensorLoader)):
        if generator is not None and iterator is DataLoader:
            return DataLoader(dataset, **kwargs)
        return None
    kwargs.setdefault("shuffle", training)
    if getattr(net, "accelerator", None) is not None:
        kwargs.pop("device", None)
        return DataLoader(dataset, **kwargs)
    kwargs.setdefault("device", net.device)
    return iterator(dataset, **kwargs)
