"""The operation count behind ``benchmarks/cnn_step.py``'s floor.

Issue 14's time goal is judged against that floor (a step's operations at the
machine's matrix-product rate), so the count is checked against the network's
multiply-adds written out by hand.
"""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import torch

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "cnn_step.py"
_spec = importlib.util.spec_from_file_location("bench_cnn_step", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _rows(n_guess, n_train):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n_guess, 1, 28, 28, generator=g),
            torch.randn(n_train, 1, 28, 28, generator=g),
            torch.softmax(torch.randn(n_train, 10, generator=g), 1))


def _multiply_adds(channels):
    """Multiply-adds of one 28 x 28 row through SmallCNN (3 x 3 convolutions,
    two 2 x 2 pools, a 128-unit layer, 10 classes)."""
    c1, c2 = channels
    conv1 = 28 * 28 * c1 * 9 * 1
    conv2 = 14 * 14 * c2 * c1 * 9
    hidden = c2 * 7 * 7 * 128
    head = 128 * 10
    return conv1, conv1 + conv2 + hidden + head


def test_a_step_counts_its_forward_guesses_and_its_training_pass_by_hand():
    for name, channels in (("channels-last", (32, 64)), ("narrow", (16, 32))):
        module, _, optimizer = bench.make(name)
        guess, train, targets = _rows(12, 15)
        conv1, row = _multiply_adds(channels)
        # the guesses run forward only; the trained rows forward, then backward
        # to the weights and to each layer's input but the first (the images
        # need no gradient): 2 FLOPs a multiply-add
        want = 2 * (12 * row + 15 * (3 * row - conv1))
        assert bench.count_flops(module, optimizer, guess, train, targets,
                                 bf16=False) == want


def test_the_count_is_the_same_under_bfloat16_autocast():
    module, _, optimizer = bench.make("bf16")
    guess, train, targets = _rows(4, 6)
    _, row = _multiply_adds((32, 64))
    counted = bench.count_flops(module, optimizer, guess, train, targets, bf16=True)
    assert counted == bench.count_flops(module, optimizer, guess, train, targets,
                                        bf16=False)
    assert counted > 2 * 10 * row  # not an empty count


def test_the_matrix_rate_is_the_best_rounds_operations_per_second(monkeypatch):
    # a clock that gives the rounds 2, 0.5 and 1 s: the best is 2 n^3 x repeats
    # over 0.5 s
    ticks = iter([0.0, 2.0, 10.0, 10.5, 20.0, 21.0])
    monkeypatch.setattr(bench, "time", SimpleNamespace(
        perf_counter=lambda: next(ticks)))
    rate = bench.matmul_rate(torch.float32, size=8, repeats=3, rounds=3)
    assert rate == 2 * 8 ** 3 * 3 / 0.5
