"""The benchmark-only hooks of ``benchmarks/semi_supervised.py``.

Issue 14's measurements of MixMatch's suspects (a lambda per row, the old
distribution alignment) rest on these hooks; a hook that mixed differently
than it claims would make those numbers say nothing. Each is checked against
the library's own batch or a hand-written formula.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

import skmixal.training.mixmatch as mixmatch

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "semi_supervised.py"
_spec = importlib.util.spec_from_file_location("bench_semi_supervised", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

N_CLASSES = 3


def _batch_args():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 5, 5, generator=g)
    y = torch.tensor([0, 1, 2, 1])
    u = torch.rand(6, 1, 5, 5, generator=g)
    weights = torch.rand(25, N_CLASSES, generator=g)

    def guess(inputs):
        return torch.softmax(inputs.flatten(1) @ weights, dim=1)

    return (x, y, u), dict(n_classes=N_CLASSES, guess=guess, n_views=2,
                           temperature=0.5, augment="shift")


def _draws(values):
    values = list(values)
    return lambda: values.pop(0)


def test_lambda_per_row_with_one_lambda_is_the_librarys_batch():
    args, kwargs = _batch_args()
    per_row = bench._mix_rows(mixmatch.mixmatch_batch)
    n_rows = 4 + 2 * 6
    ours = per_row(*args, sampler=_draws([0.3] * n_rows),
                   generator=torch.Generator().manual_seed(7), **kwargs)
    library = mixmatch.mixmatch_batch(*args, sampler=lambda: 0.3,
                                      generator=torch.Generator().manual_seed(7),
                                      **kwargs)
    for a, b in zip(ours, library):
        assert torch.equal(a, b)


def test_lambda_per_row_mixes_each_row_with_its_own_lambda():
    args, kwargs = _batch_args()
    n_rows = 4 + 2 * 6
    lams = torch.linspace(0.05, 0.95, n_rows).tolist()
    unmixed, targets = mixmatch.mixmatch_batch(
        *args, sampler=None, generator=torch.Generator().manual_seed(3), **kwargs)
    g = torch.Generator().manual_seed(3)
    mixed, soft = bench._mix_rows(mixmatch.mixmatch_batch)(
        *args, sampler=_draws(lams), generator=g, **kwargs)
    # the permutation is the generator's next draw after the unmixed batch
    g_ref = torch.Generator().manual_seed(3)
    mixmatch.mixmatch_batch(*args, sampler=None, generator=g_ref, **kwargs)
    perm = torch.randperm(n_rows, generator=g_ref)
    for i, lam in enumerate(lams):
        lam = max(lam, 1.0 - lam)  # MixMatch's lambda' keeps each row nearer itself
        want = lam * unmixed[i] + (1 - lam) * unmixed[perm[i]]
        torch.testing.assert_close(mixed[i], want, rtol=0, atol=1e-6)
        want = lam * targets[i] + (1 - lam) * targets[perm[i]]
        torch.testing.assert_close(soft[i], want, rtol=0, atol=1e-6)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(n_rows), rtol=0, atol=1e-6)


def test_lambda_per_row_refuses_cutmix():
    args, kwargs = _batch_args()
    with pytest.raises(ValueError, match="lambda_per_row is for mode='input'"):
        bench._mix_rows(mixmatch.mixmatch_batch)(*args, sampler=lambda: 0.5,
                                                mode="cutmix", **kwargs)


def test_train_views_with_every_view_is_the_librarys_batch():
    args, kwargs = _batch_args()
    ours = bench._train_views(2)(mixmatch.mixmatch_batch)(
        *args, sampler=lambda: 0.3, generator=torch.Generator().manual_seed(7),
        **kwargs)
    library = mixmatch.mixmatch_batch(*args, sampler=lambda: 0.3,
                                      generator=torch.Generator().manual_seed(7),
                                      **kwargs)
    for a, b in zip(ours, library):
        assert torch.equal(a, b)


def _count_guessed_rows(kwargs):
    """Wrap kwargs["guess"]; the list it fills with each call's row count."""
    seen, probabilities = [], kwargs["guess"]

    def guess(inputs):
        seen.append(len(inputs))
        return probabilities(inputs)

    kwargs["guess"] = guess
    return seen


def test_train_views_guesses_from_every_view_and_trains_on_the_first():
    (x, y, u), kwargs = _batch_args()
    seen = _count_guessed_rows(kwargs)
    unmixed, targets = mixmatch.mixmatch_batch(
        x, y, u, sampler=None, generator=torch.Generator().manual_seed(3), **kwargs)
    g = torch.Generator().manual_seed(3)
    mixed, soft = bench._train_views(1)(mixmatch.mixmatch_batch)(
        x, y, u, sampler=lambda: 0.2, generator=g, **kwargs)
    assert seen == [2 * 6, 2 * 6]  # both views guessed, in both batches
    keep = 4 + 6  # the labeled rows and the first view of u
    assert mixed.shape == (keep, 1, 5, 5) and soft.shape == (keep, N_CLASSES)
    g_ref = torch.Generator().manual_seed(3)
    mixmatch.mixmatch_batch(x, y, u, sampler=None, generator=g_ref, **kwargs)
    perm = torch.randperm(keep, generator=g_ref)
    for i in range(keep):  # lambda' = max(0.2, 0.8)
        want = 0.8 * unmixed[i] + 0.2 * unmixed[perm[i]]
        torch.testing.assert_close(mixed[i], want, rtol=0, atol=1e-6)
        want = 0.8 * targets[i] + 0.2 * targets[perm[i]]
        torch.testing.assert_close(soft[i], want, rtol=0, atol=1e-6)


def test_train_views_refuses_cutmix_and_lambda_per_row():
    args, kwargs = _batch_args()
    with pytest.raises(ValueError, match="train_views is for mode='input'"):
        bench._train_views(1)(mixmatch.mixmatch_batch)(
            *args, sampler=lambda: 0.5, mode="cutmix", **kwargs)
    with pytest.raises(ValueError, match="do not combine"):
        bench.batch_hooks({"lambda_per_row": True, "train_views": 1})


def test_unlabeled_rows_is_the_librarys_batch_on_the_first_rows():
    (x, y, u), kwargs = _batch_args()
    seen = _count_guessed_rows(kwargs)
    ours = bench._unlabeled_rows(4)(mixmatch.mixmatch_batch)(
        x, y, u, sampler=lambda: 0.3, generator=torch.Generator().manual_seed(7),
        **kwargs)
    library = mixmatch.mixmatch_batch(x, y, u[:4], sampler=lambda: 0.3,
                                      generator=torch.Generator().manual_seed(7),
                                      **kwargs)
    assert seen == [2 * 4, 2 * 4]  # both views of the first 4 rows, nothing more
    assert ours[0].shape == (4 + 2 * 4, 1, 5, 5)
    for a, b in zip(ours, library):
        assert torch.equal(a, b)


def test_batch_hooks_refuse_two_batch_hooks_naming_both():
    with pytest.raises(ValueError,
                       match="^train_views and unlabeled_rows do not combine$"):
        bench.batch_hooks({"train_views": 1, "unlabeled_rows": 32})
    with pytest.raises(ValueError,
                       match="^lambda_per_row and unlabeled_rows do not combine$"):
        bench.batch_hooks({"lambda_per_row": True, "unlabeled_rows": 32})
    hooks = bench.batch_hooks({"lambda_per_row": False, "unlabeled_rows": 32})
    with hooks:
        assert mixmatch.mixmatch_batch.__qualname__.startswith("_unlabeled_rows")


def test_batch_hooks_pop_their_keys_and_patch_only_inside():
    params = {"semi_supervised": "mixmatch", "train_views": 1}
    original = mixmatch.mixmatch_batch
    hooks = bench.batch_hooks(params)
    assert params == {"semi_supervised": "mixmatch"}
    assert mixmatch.mixmatch_batch is original
    with hooks:
        assert mixmatch.mixmatch_batch is not original
    assert mixmatch.mixmatch_batch is original


def test_patched_restores_the_original_even_after_an_error():
    original = mixmatch.mixmatch_batch
    with pytest.raises(RuntimeError, match="inside"):
        with bench._patched("mixmatch_batch", lambda orig: "replacement"):
            assert mixmatch.mixmatch_batch == "replacement"
            raise RuntimeError("inside")
    assert mixmatch.mixmatch_batch is original
    with bench._patched("mixmatch_batch", None):
        assert mixmatch.mixmatch_batch is original


def test_legacy_alignment_is_an_ema_started_from_the_first_batch():
    prior = torch.tensor([0.5, 0.25, 0.25])
    align = bench._LegacyAlignment(prior, momentum=0.9)
    first = torch.tensor([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1]])
    second = torch.tensor([[0.2, 0.4, 0.4], [0.2, 0.2, 0.6]])
    align(first)
    out = align(second)
    running = 0.9 * first.mean(0) + 0.1 * second.mean(0)  # by hand
    want = second * prior / running
    want = want / want.sum(dim=1, keepdim=True)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-6)


def test_align_unlabeled_classes_gives_every_class_its_old_share():
    codes = torch.tensor([0, 0, 0, 1, 3]).numpy()  # class 2 of 4 never labeled
    make = bench._every_class_aligner(mixmatch.make_aligner)
    torch.testing.assert_close(make("uniform", codes, 4, "cpu").prior,
                               torch.full((4,), 0.25))
    # pseudo-counts 4, 2, 1, 2 of 9, by hand
    torch.testing.assert_close(make("labeled", codes, 4, "cpu").prior,
                               torch.tensor([4, 2, 1, 2]) / 9.0)
    torch.testing.assert_close(make([2, 1, 1, 4], codes, 4, "cpu").prior,
                               torch.tensor([0.25, 0.125, 0.125, 0.5]))
    assert make(None, codes, 4, "cpu") is None
    # the library's own aligner gives that class nothing
    assert mixmatch.make_aligner("uniform", codes, 4, "cpu").prior[2] == 0


def test_a_patch_of_fixmatch_leaves_mixmatch_alone():
    import skmixal.training.fixmatch as fixmatch

    original = fixmatch.make_aligner
    with bench._patched("make_aligner", lambda _: "replacement", "fixmatch"):
        assert fixmatch.make_aligner == "replacement"
        assert mixmatch.make_aligner is original
    assert fixmatch.make_aligner is original


def test_arm_legend_names_each_arms_recorded_parameters_and_the_unrecorded():
    records = [
        dict(data="digits", random=25, seed=0, arm="mixmatch",
             params={"semi_supervised": "mixmatch", "classes": [0, 1]}),
        dict(data="digits", random=25, seed=1, arm="mixmatch",
             params={"classes": [0, 1], "semi_supervised": "mixmatch"}),
        dict(data="mnist", per_class=2, seed=0, arm="mixmatch",
             params={"semi_supervised": "mixmatch"}),
        dict(data="mnist", per_class=2, seed=0, arm="supervised"),
    ]
    assert bench.arm_legend(records) == [
        '- `mixmatch`: `{"classes": [0, 1], "semi_supervised": "mixmatch"}` '
        "(digits 25 random)",
        '- `mixmatch`: `{"semi_supervised": "mixmatch"}` (mnist 2/class)',
        "- records made before 2026-12-06 stored no parameters (FINDINGS.md "
        "gives the commands): `supervised`",
    ]
