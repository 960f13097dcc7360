"""Where a fit's randomness comes from, and how it leaves torch as it found it.

With an int ``random_state`` every draw of a fit comes from generators made for
that fit (:class:`FitRandomness`): a NumPy ``Generator`` for scalars (lambda,
the CutMix box, unlabeled rows), a CPU torch ``Generator`` for the batch order
and one torch ``Generator`` per device for tensor draws (mixing partners,
augmentation, the dropout of the default networks). Fits in threads therefore
never share a stream.

torch's global generators and its deterministic-algorithm switches are
process-wide. A fit seeds the global generators (for modules that draw from
them, such as a user's ``nn.Dropout``) and may switch determinism on; both are
restored afterwards. Overlapping fits in threads share one saved state: the
first to start saves it and the last to finish restores it, so the caller's
state ends as it began whatever the order in which the fits finish.
"""

import collections
import threading
from contextlib import ExitStack, contextmanager

import numpy as np
import torch

from skmixal._validation import seed_from
from skmixal.modules import SeededDropout

__all__ = ["FitRandomness", "INIT_LOCK", "deterministic_flags", "global_rng_seeded",
           "seed_dropout"]

# Module initialisation draws from torch's global generator (every layer's
# reset_parameters); seeding it and building the module happen under one lock
# so fits in threads cannot interleave their draws.
INIT_LOCK = threading.Lock()
# process-wide torch state that fits change and restore (the global generators,
# the deterministic switches): how many running fits use each, and what the
# first of them saved
_USERS = collections.Counter()
_SAVED = {}


@contextmanager
def global_rng_seeded(seed, devices):
    """torch's global generators (CPU and ``devices``) seeded, restored after.

    Like ``torch.random.fork_rng``, but the seeding and the restoring happen
    under :data:`INIT_LOCK`: another fit in a thread can then never reseed the
    global generator in the middle of a module's initialisation. Only the
    listed GPUs are seeded, and exactly those are restored.
    """
    if seed is None:
        yield
        return
    keys = ["cpu", *devices]
    with INIT_LOCK:
        for key in keys:
            if _USERS[("rng", key)] == 0:
                _SAVED[("rng", key)] = (
                    torch.get_rng_state() if key == "cpu"
                    else torch.cuda.get_rng_state(key))
            _USERS[("rng", key)] += 1
        torch.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
    try:
        yield
    finally:
        with INIT_LOCK:
            for key in keys:
                _USERS[("rng", key)] -= 1
                if _USERS[("rng", key)] == 0:
                    state = _SAVED.pop(("rng", key))
                    if key == "cpu":
                        torch.set_rng_state(state)
                    else:
                        torch.cuda.set_rng_state(state, key)


@contextmanager
def _process_setting(key, read, write, value):
    """Set process-wide torch state ``write(value)`` for one fit, restored after.

    Overlapping fits share it: the first saves ``read()``, the last restores it.
    """
    with INIT_LOCK:
        if _USERS[key] == 0:
            _SAVED[key] = read()
        _USERS[key] += 1
        write(value)
    try:
        yield
    finally:
        with INIT_LOCK:
            _USERS[key] -= 1
            if _USERS[key] == 0:
                write(_SAVED.pop(key))


def _cudnn_flags():
    return torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark


def _set_cudnn_flags(flags):
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags


def _algorithm_flags():
    return (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled())


def _set_algorithm_flags(flags):
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


@contextmanager
def deterministic_flags(enabled, device=None):
    """torch's deterministic switches for one fit, restored after.

    A fit on CUDA always runs with deterministic cuDNN (and no autotuning):
    cuDNN's default choice of convolution backward algorithms accumulates with
    atomics, so on an H200 two fits of the default CNN with the same seed
    differed by up to 0.13 in probability (benchmarks/gpu.py). ``enabled`` adds
    ``torch.use_deterministic_algorithms(True)`` for the other ops (a user's
    module). While any fit sets a switch, it is on for every fit.
    """
    with ExitStack() as stack:
        if enabled or _training_devices(device):
            stack.enter_context(_process_setting(
                "cudnn", _cudnn_flags, _set_cudnn_flags, (True, False)))
        if enabled:
            stack.enter_context(_process_setting(
                "algorithms", _algorithm_flags, _set_algorithm_flags, (True, False)))
        yield


def _training_devices(device):
    """The GPU a fit on ``device`` draws from, as a list (empty on the CPU)."""
    device = torch.device(device or "cpu")
    if device.type == "cuda" and torch.cuda.is_available():
        return [device.index if device.index is not None
                else torch.cuda.current_device()]
    return []


class FitRandomness:
    """The random generators of one fit, all derived from ``random_state``.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        ``None``: no generator of the fit's own; draws come from torch's global
        generators (``torch.manual_seed`` still makes the fit repeatable).
    """

    def __init__(self, random_state):
        self.seeds = None
        if random_state is not None:
            entropy = seed_from(random_state)
            self.seeds = np.random.SeedSequence(entropy).generate_state(4)
        self._rng = (None if self.seeds is None
                     else np.random.default_rng(int(self.seeds[0])))
        self._generators = {}

    @property
    def seeded(self):
        return self.seeds is not None

    @contextmanager
    def forked(self, device, deterministic):
        """torch's global state seeded for the fit (and restored), as documented
        in the module docstring."""
        seed = None if self.seeds is None else int(self.seeds[1])
        with global_rng_seeded(seed, _training_devices(device)):
            with deterministic_flags(deterministic, device):
                yield

    def numpy(self):
        """The fit's NumPy generator (from torch's global one without a seed)."""
        if self._rng is None:
            # random_state=None: torch.manual_seed still makes the fit repeatable
            self._rng = np.random.default_rng(int(torch.randint(2**62, ()).item()))
        return self._rng

    def torch(self, device):
        """The fit's torch generator on ``device`` (None: torch's global one)."""
        if self.seeds is None:
            return None
        device = torch.device(device)
        key = str(device)
        if key not in self._generators:
            if device.type == "cuda" and device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
            self._generators[key] = torch.Generator(device=device).manual_seed(
                int(self.seeds[2]))
        return self._generators[key]

    def initialize(self, initialize):
        """Call ``initialize()`` with its weight draws seeded and serialised."""
        if self.seeds is None:
            initialize()
            return
        with INIT_LOCK:
            state = torch.get_rng_state()
            torch.default_generator.manual_seed(int(self.seeds[3]))
            try:
                initialize()
            finally:
                torch.set_rng_state(state)


def seed_dropout(module, randomness):
    """Point ``module``'s SeededDropout layers at the fit's generator.

    ``randomness=None`` (after the fit) hands them back to torch's global
    generator: generators do not pickle, and MC dropout after fit must follow
    the caller's seeding.
    """
    if module is None:
        return
    param = next(module.parameters(), None)
    device = param.device if param is not None else "cpu"
    generator = (randomness.torch(device)
                 if randomness is not None and randomness.seeded else None)
    for sub in module.modules():
        if isinstance(sub, SeededDropout):
            sub.generator = generator
