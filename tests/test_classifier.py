import math

import numpy as np
import pandas as pd  # modAL's dependency, so always there
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from skorch import NeuralNetClassifier
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn
from torch.utils.data import DataLoader

import skmixal._reproducibility as reproducibility
import skmixal.classifier as classifier_module
import skmixal.training.supervised as supervised_module
from skmixal import MLP, MixupNetClassifier, SmallCNN, TensorLoader
from skmixal.mixup import MixedTarget

# mixup on explicitly: 'auto' leaves vector input unmixed
FAST = dict(max_epochs=3, min_steps=0, batch_size=32, mixup_alpha=0.4)


def _spy_mixing(monkeypatch):
    calls = []
    original = supervised_module.mix_batch

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(isinstance(out[1], MixedTarget))
        return out

    monkeypatch.setattr(supervised_module, "mix_batch", spy)
    return calls


# -- mixup in training only ------------------------------------------------------------
@pytest.mark.parametrize("iterator", [DataLoader, TensorLoader])
def test_alpha_zero_trains_exactly_like_neuralnetclassifier(digits_small, iterator):
    X, y, _, _ = digits_small
    X = X.astype(np.float32)
    common = dict(
        module=MLP, module__n_features=64, module__n_classes=10,
        criterion=nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=1e-3,
        max_epochs=4, batch_size=32, train_split=None, verbose=0,
        iterator_train=iterator, iterator_train__shuffle=True, device="cpu")
    torch.manual_seed(0)
    plain = NeuralNetClassifier(**common).fit(X, y)
    torch.manual_seed(0)
    ours = MixupNetClassifier(mixup_alpha=0, min_steps=0, **common).fit(X, y)
    np.testing.assert_array_equal(plain.history[:, "train_loss"],
                                  ours.history[:, "train_loss"])
    np.testing.assert_array_equal(plain.predict_proba(X), ours.predict_proba(X))


def test_mixup_mixes_every_training_batch_and_changes_training(digits_small,
                                                               monkeypatch):
    X, y, _, _ = digits_small
    calls = _spy_mixing(monkeypatch)
    mixed = MixupNetClassifier(random_state=0, **dict(FAST, mixup_alpha=1.0)).fit(X, y)
    assert len(calls) == 3 * int(np.ceil(len(X) / 32)) and all(calls)
    plain = MixupNetClassifier(random_state=0, **dict(FAST, mixup_alpha=0)).fit(X, y)
    assert not np.allclose(mixed.history[:, "train_loss"],
                           plain.history[:, "train_loss"])


def test_auto_alpha_mixes_images_only(digits_small, monkeypatch):
    X, y, _, _ = digits_small
    calls = _spy_mixing(monkeypatch)
    fast = dict(max_epochs=3, min_steps=0, batch_size=32, random_state=0)
    vectors = MixupNetClassifier(**fast).fit(X, y)
    assert vectors.mixup_alpha == "auto" and vectors.mixup_alpha_ == 0.0
    assert calls == []
    images = MixupNetClassifier(**fast).fit(X.reshape(-1, 8, 8), y)
    assert images.mixup_alpha_ == 0.1 and calls and all(calls)


def test_mixup_prob_controls_share_of_mixed_batches(digits_small, monkeypatch):
    X, y, _, _ = digits_small
    calls = _spy_mixing(monkeypatch)
    MixupNetClassifier(mixup_alpha=1.0, mixup_prob=0.5, random_state=0, max_epochs=20,
                       min_steps=0,
                       batch_size=32).fit(X, y)
    assert 0.3 < np.mean(calls) < 0.7


def test_validation_loss_sees_unmixed_data(digits_small):
    X, y, Xv, yv = digits_small
    seen = []

    class Net(MixupNetClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            if not training:
                seen.append(type(y_true))
            return super().get_loss(y_pred, y_true, X=X, training=training)

    valid = Dataset(Xv.astype(np.float32), yv)
    net = Net(random_state=0, train_split=predefined_split(valid),
              **dict(FAST, mixup_alpha=1.0)).fit(X, y)
    assert seen and all(t is torch.Tensor for t in seen)
    expected = log_loss(yv, net.predict_proba(Xv), labels=net.classes_)
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)
    # valid_acc is accuracy on the labels, not the internal codes: by hand
    assert net.history[-1, "valid_acc"] == pytest.approx(
        np.mean(net.predict(Xv) == yv), abs=1e-12)


def test_accelerate_mixin_trains_with_mixup(digits_small, monkeypatch):
    accelerate = pytest.importorskip("accelerate")
    from skorch.hf import AccelerateMixin

    class AcceleratedMixupNet(AccelerateMixin, MixupNetClassifier):
        pass

    X, y, Xt, yt = digits_small
    calls = _spy_mixing(monkeypatch)
    net = AcceleratedMixupNet(accelerator=accelerate.Accelerator(cpu=True),
                              device=None, random_state=0, max_epochs=20,
                              mixup_alpha=1.0,
                              min_steps=0)
    net.fit(X, y)
    assert calls and all(calls)
    assert net.score(Xt, yt) > 0.8


def test_default_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert MixupNetClassifier().device == expected


# -- default networks, user networks ---------------------------------------------------
@pytest.mark.parametrize("shape, module_type", [
    ((64,), MLP), ((8, 8), SmallCNN), ((1, 8, 8), SmallCNN)])
def test_default_network_from_data_shape(digits_small, shape, module_type):
    X, y, Xt, yt = digits_small
    net = MixupNetClassifier(random_state=0, max_epochs=15, min_steps=0)
    net.fit(X.reshape(len(X), *shape), y)
    assert isinstance(net.module_, module_type)
    assert net.score(Xt.reshape(len(Xt), *shape), yt) > 0.8


def test_cutmix_trains_on_images(digits_small):
    X, y, Xt, yt = digits_small
    net = MixupNetClassifier(mixup_mode="cutmix", mixup_alpha=1.0, random_state=0,
                             max_epochs=30, min_steps=0)
    net.fit(X.reshape(-1, 8, 8), y)
    # a box cut from an 8x8 digit removes much of it: well above chance is the bar
    assert net.score(Xt.reshape(-1, 8, 8), yt) > 0.7


def test_module_kwargs_reach_default_network(digits_small):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(module__hidden_units=(32, 16), module__dropout=0.0,
                             **FAST).fit(X, y)
    assert net.module_.head.in_features == 16
    assert net.embed(X[:7]).shape == (7, 16)


def test_user_module_instance_is_a_template(digits_small):
    X, y, _, _ = digits_small
    torch.manual_seed(0)
    mine = nn.Sequential(nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 10))
    before = {k: v.clone() for k, v in mine.state_dict().items()}
    net = MixupNetClassifier(module=mine, random_state=0, **FAST).fit(X, y)
    assert net.module_ is not mine
    for key, value in mine.state_dict().items():
        assert torch.equal(value, before[key])
    assert net.embed(X[:3]).shape == (3, 20)


def test_user_module_class_with_kwargs(digits_small):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(module=MLP, module__n_features=64, module__n_classes=10,
                             **FAST).fit(X, y)
    assert isinstance(net.module_, MLP)


# -- few-shot, classes, labels ---------------------------------------------------------
def test_min_steps_grows_epochs_for_tiny_data(digits):
    X, y = digits
    idx = np.concatenate([np.flatnonzero(y == c)[:1] for c in range(10)])
    net = MixupNetClassifier(min_steps=120, max_epochs=5, batch_size=64,
                             random_state=0).fit(X[idx], y[idx])
    assert len(net.history) == 120  # one step per epoch
    assert net.score(X, y) > 0.45  # ten labels, one per class
    big = MixupNetClassifier(min_steps=120, max_epochs=5, batch_size=64,
                             random_state=0).fit(X, y)
    assert len(big.history) == 5  # 29 steps per epoch: max_epochs wins


def test_classes_cover_unseen_labels(digits_small):
    X, y, _, _ = digits_small
    keep = y < 5
    net = MixupNetClassifier(classes=list(range(10)), **FAST).fit(X[keep], y[keep])
    assert net.predict_proba(X).shape == (len(X), 10)
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    with pytest.raises(ValueError, match="not in classes"):
        MixupNetClassifier(classes=[0, 1], **FAST).fit(X, y)


@pytest.mark.parametrize("mapping", [
    lambda y: np.array([f"c{v}" for v in y]), lambda y: 10 * y + 3])
def test_string_and_noncontiguous_labels(digits_small, mapping):
    X, y, Xt, yt = digits_small
    net = MixupNetClassifier(random_state=0, max_epochs=15, min_steps=0)
    net.fit(X, mapping(y))
    np.testing.assert_array_equal(net.classes_, np.unique(mapping(y)))
    assert np.mean(net.predict(Xt) == mapping(yt)) > 0.8


def test_partial_fit_continues_and_checks_labels(digits_small):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(random_state=0, **FAST)
    net.partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    net.partial_fit(X, y)
    assert len(net.history) == 6
    assert net.predict_proba(X).shape[1] == 10
    with pytest.raises(ValueError, match="not in classes"):
        net.partial_fit(X, y + 100)


def test_refit_reinitialises_unless_warm_start(digits_small):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(random_state=0, **FAST).fit(X, y)
    first = net.predict_proba(X)
    net.fit(X, y)
    assert len(net.history) == 3
    np.testing.assert_array_equal(first, net.predict_proba(X))
    warm = MixupNetClassifier(random_state=0, warm_start=True, **FAST).fit(X, y)
    warm.fit(X, y)
    assert len(warm.history) == 6
    assert not np.array_equal(first, warm.predict_proba(X))


def test_random_state_bit_identical_and_global_rng_untouched(digits_small):
    X, y, Xt, _ = digits_small
    state = torch.get_rng_state()
    a = MixupNetClassifier(random_state=7, **FAST).fit(X, y).predict_proba(Xt)
    assert torch.equal(state, torch.get_rng_state())
    b = MixupNetClassifier(random_state=7, **FAST).fit(X, y).predict_proba(Xt)
    c = MixupNetClassifier(random_state=8, **FAST).fit(X, y).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_embed_is_penultimate_layer_batched(digits_small):
    X, y, Xt, _ = digits_small
    net = MixupNetClassifier(random_state=0, batch_size=16, **dict(
        max_epochs=2, min_steps=0)).fit(X, y)
    emb = net.embed(Xt)
    assert emb.shape == (len(Xt), 256) and emb.dtype == np.float32
    with torch.no_grad():
        net.module_.eval()
        # on the module's device: the default device is CUDA when there is one
        direct = net.module_.features(
            torch.as_tensor(Xt, dtype=torch.float32, device=net.device))
    np.testing.assert_allclose(emb, direct.cpu().numpy(), rtol=1e-5, atol=1e-6)
    chunks = list(net.iter_outputs(Xt.astype(np.float32), embeddings=True,
                                   batch_size=50))
    assert len(chunks) == 6 and chunks[0][1].shape == (50, 256)


def test_mc_dropout_is_stochastic_only_when_asked(digits_small):
    X, y, Xt, _ = digits_small
    net = MixupNetClassifier(random_state=0, module__dropout=0.5, **FAST).fit(X, y)
    Xt = Xt.astype(np.float32)
    net.module_.eval()
    det = [torch.cat(list(net.iter_outputs(Xt))) for _ in range(2)]
    torch.testing.assert_close(det[0], det[1])
    mc = [torch.cat(list(net.iter_outputs(Xt, mc_dropout=True))) for _ in range(2)]
    assert not torch.allclose(mc[0], mc[1])
    # the module's own mode is restored, dropout layers included
    assert not any(m.training for m in net.module_.modules())


def test_torch_tensor_and_dataset_input(digits_small):
    X, y, Xt, yt = digits_small
    tensor_net = MixupNetClassifier(random_state=0, **FAST)
    tensor_net.fit(torch.as_tensor(X), torch.as_tensor(y))
    array_net = MixupNetClassifier(random_state=0, **FAST).fit(X, y)
    np.testing.assert_allclose(tensor_net.predict_proba(torch.as_tensor(Xt)),
                               array_net.predict_proba(Xt), rtol=1e-5, atol=1e-6)
    data = torch.utils.data.TensorDataset(torch.as_tensor(X, dtype=torch.float32),
                                          torch.as_tensor(y))
    ds_net = MixupNetClassifier(classes=np.arange(10), random_state=0, **FAST)
    ds_net.fit(data, None)
    assert ds_net.predict(Xt).shape == yt.shape
    with pytest.raises(ValueError, match="classes"):
        MixupNetClassifier(**FAST).fit(data, None)


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("params, error, match", [
    (dict(mixup_alpha=-0.1), ValueError, "mixup_alpha"),
    (dict(mixup_alpha="big"), TypeError, "mixup_alpha"),
    (dict(mixup_mode="manifold"), ValueError, "mixup_mode"),
    (dict(mixup_prob=1.5), ValueError, "mixup_prob"),
    (dict(min_steps=-1), ValueError, "min_steps"),
    # beyond int64 (numpy's isfinite raised a TypeError about ufuncs), and a
    # fit that would never end
    (dict(min_steps=10**20), ValueError, r"min_steps == 10+, must be <= 10000000"),
    (dict(min_steps=2**63), ValueError, "min_steps"),
    (dict(max_epochs=10**8), ValueError, "max_epochs"),
    (dict(n_augmentations=1000), ValueError, "n_augmentations"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(precision="float16"), ValueError,
     r"precision must be one of \('float32', 'bfloat16'\), got 'float16'"),
    (dict(precision=None), ValueError, "precision must be one of"),
])
def test_bad_parameters_raise_before_training(digits_small, params, error, match):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(**params)
    with pytest.raises(error, match=match):
        net.fit(X, y)
    assert not net.initialized_


def test_bad_data_raises_before_training(digits_small):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(**FAST)
    bad = X.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.fit(bad, y)
    bad[3, 5] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        net.fit(bad, y)
    with pytest.raises(ValueError, match="different lengths"):
        net.fit(X, y[:-1])
    with pytest.raises(ValueError, match="Expected 2D array"):
        net.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="only one class"):
        net.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="cutmix"):
        MixupNetClassifier(mixup_mode="cutmix").fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        net.fit(X, y + 0.5)
    assert not net.initialized_


def test_predict_checks_fitted_and_feature_count(digits_small):
    X, y, _, _ = digits_small
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        MixupNetClassifier().predict(X)
    net = MixupNetClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="63 features, but MixupNetClassifier is "
                       "expecting 64"):
        net.predict(X[:, :63])
    with pytest.raises(ValueError, match="sample shape"):
        net.predict(X.reshape(-1, 64, 1, 1))


def test_inputs_are_not_modified_and_float64_and_sparse_accepted(digits_small):
    X, y, Xt, _ = digits_small
    X_copy, y_copy = X.copy(), y.copy()
    net = MixupNetClassifier(random_state=0, **FAST).fit(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert X.dtype == np.float64
    sparse_net = MixupNetClassifier(random_state=0, **FAST).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse_net.predict_proba(sp.csr_matrix(Xt)),
                               net.predict_proba(Xt), rtol=1e-5, atol=1e-6)


# -- reproducibility under threads, CUDA determinism -----------------------------------
def _fit_proba(X, y, Xt, **params):
    return MixupNetClassifier(random_state=0, **params).fit(X, y).predict_proba(Xt)


@pytest.mark.parametrize("shape", [(64,), (1, 8, 8)])
def test_fits_in_threads_equal_the_sequential_fit(digits_small, shape):
    from concurrent.futures import ThreadPoolExecutor

    from joblib import Parallel, delayed

    X, y, Xt, _ = digits_small
    X, Xt = X.reshape(-1, *shape), Xt.reshape(-1, *shape)
    params = dict(max_epochs=4, min_steps=0, batch_size=16, mixup_alpha=0.4,
                  module__dropout=0.5)
    expected = _fit_proba(X, y, Xt, **params)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_fit_proba, X, y, Xt, **params) for _ in range(2)]
        for future in futures:
            np.testing.assert_array_equal(future.result(), expected)
    results = Parallel(n_jobs=2, backend="threading")(
        delayed(_fit_proba)(X, y, Xt, **params) for _ in range(2))
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_grid_search_with_threads_matches_sequential(digits_small):
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y, _, _ = digits_small
    base = MixupNetClassifier(random_state=0, max_epochs=2, min_steps=0,
                              batch_size=32, mixup_alpha=0.4)
    grid = {"lr": [1e-3, 3e-3]}
    seq = GridSearchCV(base, grid, cv=2, n_jobs=1).fit(X, y)
    with parallel_backend("threading", n_jobs=2):
        par = GridSearchCV(base, grid, cv=2, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(seq.cv_results_["mean_test_score"],
                                  par.cv_results_["mean_test_score"])


def _large_images(X, side=40):
    # 8x8 digits blown up to side x side: after two 2x2 pools the map is
    # side/4 cells, more than the 8x8 grid, so the default CNN pools it
    return np.kron(X.reshape(-1, 8, 8), np.ones((side // 8, side // 8)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("alpha", [0.0, 0.4])
@pytest.mark.parametrize("case", ["8x8", "40x40", "input_size=None"])
def test_default_cnn_bit_identical_on_cuda(digits_small, alpha, case):
    X, y, Xt, _ = digits_small
    params = dict(max_epochs=3, min_steps=0, mixup_alpha=alpha, device="cuda")
    if case == "8x8":  # the 2x2 map is flattened whole: no pooling layer
        X, Xt = X.reshape(-1, 8, 8), Xt.reshape(-1, 8, 8)
    elif case == "40x40":  # a 10x10 map averaged to 8x8
        X, Xt = _large_images(X[:100]), _large_images(Xt[:100])
        y = y[:100]
    else:  # the 2x2 grid, whatever the image size
        X, Xt = X.reshape(-1, 8, 8), Xt.reshape(-1, 8, 8)
        params["module__input_size"] = None
    np.testing.assert_array_equal(_fit_proba(X, y, Xt, **params),
                                  _fit_proba(X, y, Xt, **params))


@pytest.mark.parametrize("shape, params, grid", [
    ((40, 40), {}, (8, 8)), ((8, 8), {"module__input_size": None}, (2, 2))])
def test_default_cnn_pools_with_the_deterministic_pool(digits_small, shape, params,
                                                       grid):
    from skmixal.modules import DeterministicAdaptiveAvgPool2d

    X, y, _, _ = digits_small
    X = _large_images(X[:40]) if shape == (40, 40) else X[:40].reshape(-1, 8, 8)
    net = MixupNetClassifier(max_epochs=0, random_state=0, device="cpu",
                             **params).fit(X, y[:40])
    pools = [m for m in net.module_.modules()
             if isinstance(m, (nn.AdaptiveAvgPool2d, DeterministicAdaptiveAvgPool2d))]
    # torch's adaptive pool has a nondeterministic CUDA backward (atomics)
    assert [type(m) for m in pools] == [DeterministicAdaptiveAvgPool2d]
    assert pools[0].output_size == grid
    # and it averages like torch's op, on this very map
    with torch.no_grad():
        x = torch.as_tensor(X[:3, None], dtype=torch.float32)
        fmap = net.module_.features[:6](x)  # the two conv blocks
        torch.testing.assert_close(pools[0](fmap), nn.AdaptiveAvgPool2d(grid)(fmap))


def test_deterministic_switch_restores_torch_flags(digits_small):
    X, y, _, _ = digits_small
    before = torch.are_deterministic_algorithms_enabled()
    seen = []

    class Spy(MLP):
        def forward(self, x):
            seen.append(torch.are_deterministic_algorithms_enabled())
            return super().forward(x)

    MixupNetClassifier(Spy, module__n_features=64, module__n_classes=10,
                       deterministic=True, max_epochs=1, min_steps=0).fit(X, y)
    assert seen and all(seen)
    assert torch.are_deterministic_algorithms_enabled() == before


def test_default_cnn_pooling_equals_adaptive_avg_pool():
    from skmixal.modules import DeterministicAdaptiveAvgPool2d

    torch.manual_seed(0)
    for size in [(7, 7), (8, 8), (3, 5), (1, 1)]:
        x = torch.randn(2, 3, *size)
        torch.testing.assert_close(DeterministicAdaptiveAvgPool2d(2)(x),
                                   nn.AdaptiveAvgPool2d(2)(x))


# -- defects from review ---------------------------------------------------------------
def test_fit_does_not_send_routing_keyword_to_old_skorch(digits_small, monkeypatch):
    X, y, _, _ = digits_small
    seen = []
    original = NeuralNetClassifier.partial_fit

    def spy(self, X, y=None, classes=None, **fit_params):
        seen.append(dict(fit_params))
        fit_params.pop("_routing_method", None)
        return original(self, X, y, **fit_params)

    # skorch 1.0-1.3 hand every fit parameter to the module's forward
    monkeypatch.setattr(NeuralNetClassifier, "partial_fit", spy)
    monkeypatch.setattr(classifier_module, "_SKORCH_ROUTES", False)
    MixupNetClassifier(max_epochs=1, min_steps=0).fit(X, y)
    monkeypatch.setattr(classifier_module, "_SKORCH_ROUTES", True)
    MixupNetClassifier(max_epochs=1, min_steps=0).fit(X, y)
    assert seen == [{}, {"_routing_method": "fit"}]


def test_dataset_with_user_module_predicts_and_queries(digits_small):
    X, y, Xt, _ = digits_small
    data = Dataset(X.astype(np.float32), y)
    net = MixupNetClassifier(MLP, module__n_features=64, module__n_classes=10,
                             classes=list(range(10)), max_epochs=1,
                             min_steps=0).fit(data, None)
    assert net.input_shape_ == (64,) and net.n_features_in_ == 64
    assert net.predict(Xt).shape == (len(Xt),)


def test_dataset_of_two_d_images_trains(digits_small):
    X, y, Xt, _ = digits_small
    data = Dataset(X.reshape(-1, 8, 8).astype(np.float32), y)
    net = MixupNetClassifier(classes=list(range(10)), max_epochs=1, min_steps=0,
                             random_state=0).fit(data, None)
    assert net.input_shape_ == (1, 8, 8)
    assert net.predict(Xt.reshape(-1, 8, 8)).shape == (len(Xt),)


def test_max_epochs_zero_trains_nothing(digits_small):
    X, y, _, _ = digits_small
    net = MixupNetClassifier(max_epochs=0, random_state=0).fit(X, y)
    # lr=0 takes steps that change nothing (AdamW's decay is lr * weight_decay):
    # the initial weights of this seed, reached by another route
    still = MixupNetClassifier(max_epochs=1, lr=0.0, random_state=0).fit(X, y)
    moved = MixupNetClassifier(max_epochs=1, min_steps=0, random_state=0).fit(X, y)
    assert len(net.history) == 0 and len(still.history) > 0
    for a, b in zip(net.module_.parameters(), still.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(not torch.equal(a, c) for a, c in zip(
        net.module_.parameters(), moved.module_.parameters()))


def test_min_steps_counts_the_training_split(digits_small):
    from skorch.dataset import ValidSplit

    X, y, _, _ = digits_small
    # 300 rows, 5-fold split: 240 train rows, 8 batches of 32 per epoch
    net = MixupNetClassifier(max_epochs=1, min_steps=80, batch_size=32,
                             train_split=ValidSplit(5, stratified=True)).fit(X, y)
    assert len(net.history) == 10


def test_a_random_train_split_is_drawn_once_per_fit(digits_small):
    from skorch.dataset import ValidSplit

    X, y, _, _ = digits_small
    calls = []

    class Counting(ValidSplit):
        def __call__(self, dataset, y=None, groups=None):
            calls.append(len(dataset))
            return super().__call__(dataset, y, groups)

    # min_steps needs the split's size before training: the same split must
    # serve the loop, not a second draw of NumPy's global generator
    MixupNetClassifier(max_epochs=1, min_steps=20, batch_size=32,
                       train_split=Counting(5)).fit(X, y)
    assert calls == [len(X)]


def test_skorch_version_parse_takes_leading_digits():
    for text, expected in [("1.4.0", (1, 4)), ("1.4rc1", (1, 4)),
                           ("1.3.0.dev0", (1, 3)), ("2.0", (2, 0))]:
        assert classifier_module._major_minor(text) == expected


def test_dataset_of_dicts_trains_a_user_module(digits_small):
    X, y, Xt, _ = digits_small

    class Dicts(torch.utils.data.Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return {"pixels": torch.as_tensor(X[i], dtype=torch.float32)}, int(y[i])

    class DictMLP(MLP):
        def forward(self, pixels):
            return super().forward(pixels)

    net = MixupNetClassifier(DictMLP, module__n_features=64, module__n_classes=10,
                             classes=list(range(10)), mixup_alpha=0, max_epochs=15,
                             min_steps=0, iterator_train=DataLoader,
                             iterator_valid=DataLoader, random_state=0)
    net.fit(Dicts(), None)
    assert net.input_shape_ is None
    assert (net.predict(Dicts()) == y).mean() > 0.8
    with pytest.raises(ValueError, match="yields dict samples. Pass your own"):
        MixupNetClassifier(classes=list(range(10))).fit(Dicts(), None)


def test_overlapping_deterministic_fits_restore_the_flags(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)  # a user's choice
    before = torch.are_deterministic_algorithms_enabled()
    first = reproducibility.deterministic_flags(True)
    second = reproducibility.deterministic_flags(True)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    # the second fit still runs: its switches must stay on
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    second.__exit__(None, None, None)
    assert torch.are_deterministic_algorithms_enabled() == before
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic


def test_a_cuda_fit_runs_with_deterministic_cudnn_only(monkeypatch):
    # on a GPU (faked here: the switches are plain flags), every fit takes
    # deterministic cuDNN; the other ops' switch stays the user's
    monkeypatch.setattr(reproducibility, "_training_devices",
                        lambda device: [0] if str(device).startswith("cuda") else [])
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    algorithms = torch.are_deterministic_algorithms_enabled()
    with reproducibility.deterministic_flags(False, "cpu"):
        assert torch.backends.cudnn.benchmark
        assert not torch.backends.cudnn.deterministic
    with reproducibility.deterministic_flags(False, "cuda"):
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled() == algorithms
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic


def test_overlapping_fits_restore_the_global_generator():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = reproducibility.global_rng_seeded(1, [])
    second = reproducibility.global_rng_seeded(2, [])
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert torch.equal(torch.get_rng_state(), state)


# -- the mixed loss, by hand -----------------------------------------------------------
def _log_softmax64(logits):
    z = logits.double().numpy()
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def _hand_ce(logp, y, weight=None, smoothing=0.0, reduction="mean"):
    """torch's CrossEntropyLoss on log-probabilities, written out in float64."""
    n, k = logp.shape
    w = np.ones(k) if weight is None else np.asarray(weight, dtype=np.float64)
    nll = -logp[np.arange(n), y]
    uniform = -(w[None] * logp).sum(1) / k  # smoothing term, weighted per class
    per_row = (1 - smoothing) * w[y] * nll + smoothing * uniform
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() / w[y].sum()  # 'mean' divides by the targets' weights


_WEIGHT = [3.0, 0.5, 1.0, 2.0, 0.25]


@pytest.mark.parametrize("params, hand", [
    ({}, {}),  # soft-target path: one cross-entropy on mixed one-hots
    ({"criterion__label_smoothing": 0.1}, {"smoothing": 0.1}),
    ({"criterion__weight": torch.tensor(_WEIGHT)}, {"weight": _WEIGHT}),  # pair
    ({"criterion__reduction": "sum"}, {"reduction": "sum"}),  # pair
], ids=["soft", "soft-smoothing", "pair-weight", "pair-sum"])
def test_mixed_loss_of_the_estimator_by_hand(params, hand):
    net = MixupNetClassifier(MLP, module__n_features=4, module__n_classes=5,
                             criterion=nn.CrossEntropyLoss, device="cpu",
                             **params).initialize()
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=g, requires_grad=True)
    y_a, y_b = torch.randint(5, (8,), generator=g), torch.randint(5, (8,), generator=g)
    lam = 0.3
    loss = net.get_loss(logits, MixedTarget(y_a, y_b, lam), training=True)
    logp = _log_softmax64(logits.detach())
    expected = (lam * _hand_ce(logp, y_a.numpy(), **hand)
                + (1 - lam) * _hand_ce(logp, y_b.numpy(), **hand))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()  # a training loss: differentiable in the logits
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_mixed_loss_of_the_estimator_with_nll_loss():
    # skorch's convention for NLLLoss: the module returns probabilities and
    # NeuralNetClassifier.get_loss takes their log (plus float32 eps)
    net = MixupNetClassifier(MLP, module__n_features=4, module__n_classes=5,
                             criterion=nn.NLLLoss, device="cpu").initialize()
    g = torch.Generator().manual_seed(1)
    proba = torch.softmax(torch.randn(8, 5, generator=g), 1)
    y_a, y_b = torch.randint(5, (8,), generator=g), torch.randint(5, (8,), generator=g)
    lam = 0.7
    loss = net.get_loss(proba, MixedTarget(y_a, y_b, lam))
    logp = np.log(proba.double().numpy() + np.finfo(np.float32).eps)
    rows = np.arange(8)
    expected = (lam * -logp[rows, y_a.numpy()].mean()
                + (1 - lam) * -logp[rows, y_b.numpy()].mean())
    assert loss.item() == pytest.approx(expected, rel=1e-5)


# -- fitted on one kind of input, predicting on another ---------------------------
def test_n_features_in_agrees_across_tensors_and_arrays(digits_small):
    X, y, Xt, _ = digits_small
    X, Xt = X[:150].reshape(-1, 8, 8).astype(np.float32), Xt.reshape(-1, 8, 8)
    Xt = Xt.astype(np.float32)
    params = dict(max_epochs=2, min_steps=0, random_state=0, device="cpu")
    on_tensor = MixupNetClassifier(**params).fit(torch.as_tensor(X), y[:150])
    on_array = MixupNetClassifier(**params).fit(X, y[:150])
    # (N, H, W) is one channel of H x W, whichever kind it came as
    assert on_tensor.n_features_in_ == on_array.n_features_in_ == 1
    assert on_tensor.input_shape_ == on_array.input_shape_ == (1, 8, 8)
    for net in (on_tensor, on_array):
        np.testing.assert_array_equal(net.predict_proba(Xt),
                                      net.predict_proba(torch.as_tensor(Xt)))
    # the same data as a tensor or an array: the same model
    np.testing.assert_allclose(on_tensor.predict_proba(Xt),
                               on_array.predict_proba(torch.as_tensor(Xt)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(on_tensor.predict(Xt), on_array.predict(Xt))


# -- a model saved on CUDA, loaded on a machine without one ------------------------
def _fitted_large_cnn(device):
    X, y = load_digits(return_X_y=True)
    X = _large_images(X[:40] / 16).astype(np.float32)
    net = MixupNetClassifier(max_epochs=1, min_steps=0, random_state=0,
                             module__channels=(8, 16), device=device).fit(X, y[:40])
    return net, X, y[:40]


def test_model_saved_on_cuda_loads_on_a_cpu_only_machine(monkeypatch, tmp_path):
    import pickle

    from skorch.exceptions import DeviceWarning

    from skmixal.modules import DeterministicAdaptiveAvgPool2d

    cuda = torch.cuda.is_available()
    # Without a GPU the CUDA save is simulated: the net is fitted on the CPU
    # and only its device says 'cuda', which is what skorch maps on loading.
    net, X, y = _fitted_large_cnn("cuda" if cuda else "cpu")
    expected = net.predict_proba(X)  # fills the pool's per-device cache
    pool = next(m for m in net.module_.modules()
                if isinstance(m, DeterministicAdaptiveAvgPool2d))
    assert pool._cache  # what a pickle must not carry to another device
    net.save_params(f_params=tmp_path / "params.pt")
    if not cuda:
        net.device = "cuda"
    blob = pickle.dumps(net)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # skorch says so twice: on mapping the tensors, and on resetting .device
    with pytest.warns(DeviceWarning, match=r"no CUDA devices are available|"
                                           r"requested device \(cuda\) is not"):
        loaded = pickle.loads(blob)
    assert torch.device(loaded.device).type == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    loaded_pool = next(m for m in loaded.module_.modules()
                       if isinstance(m, DeterministicAdaptiveAvgPool2d))
    assert loaded_pool._cache == {}
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-4,
                               atol=1e-6)

    # save_params / load_params, the way skmixal's labeling state reloads
    state = torch.load(tmp_path / "params.pt", map_location="cpu", weights_only=True)
    assert all(t.device.type == "cpu" for t in state.values())
    fresh = MixupNetClassifier(max_epochs=0, min_steps=0, random_state=1,
                               module__channels=(8, 16), device="cpu").fit(X, y)
    assert not np.allclose(fresh.predict_proba(X), expected)  # new weights
    fresh.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_allclose(fresh.predict_proba(X), expected, rtol=1e-4,
                               atol=1e-6)


def test_default_cnn_runs_channels_last_on_cpu_with_the_same_outputs(digits_small):
    X, y, Xt, _ = digits_small
    images = X.reshape(-1, 8, 8)
    net = MixupNetClassifier(max_epochs=1, min_steps=5, device="cpu",
                             random_state=0).fit(images, y)
    conv = net.module_.features[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # the same weights in the default layout, with ReLU before each pool (the
    # textbook order): the outputs must agree
    plain = SmallCNN(1, 10, input_size=(8, 8))
    plain.load_state_dict({k: v.contiguous() for k, v in
                           net.module_.state_dict().items()})
    f = plain.features
    textbook = nn.Sequential(f[0], nn.ReLU(), f[1], f[3], nn.ReLU(), f[4],
                             *list(f)[6:])
    plain.eval()
    with torch.no_grad():
        x = torch.as_tensor(Xt.reshape(-1, 1, 8, 8), dtype=torch.float32)
        expected = torch.softmax(plain.head(textbook(x)), dim=1).numpy()
    np.testing.assert_allclose(net.predict_proba(Xt.reshape(-1, 8, 8)), expected,
                               atol=1e-5)


def test_only_the_training_gpu_is_seeded_and_restored(monkeypatch):
    # two GPUs, training on index 1: index 0's generator must not be touched
    states = {0: torch.tensor([0], dtype=torch.uint8),
              1: torch.tensor([1], dtype=torch.uint8)}
    log = []
    current = [0]

    class Device:
        def __init__(self, index):
            self.index = index

        def __enter__(self):
            self.previous, current[0] = current[0], self.index

        def __exit__(self, *exc):
            current[0] = self.previous

    monkeypatch.setattr(torch.cuda, "get_rng_state",
                        lambda index: log.append(("get", index)) or states[index])
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, index: log.append(("set", index)))
    monkeypatch.setattr(torch.cuda, "manual_seed",
                        lambda seed: log.append(("seed", current[0])))
    monkeypatch.setattr(torch.cuda, "device", Device)
    with reproducibility.global_rng_seeded(5, [1]):
        pass
    assert log == [("get", 1), ("seed", 1), ("set", 1)]


def test_read_only_array_memmap_and_dataframe_give_the_array_model(digits_small,
                                                                    tmp_path):
    # found 2026-12-06: a read-only array (a DataFrame's values under pandas'
    # copy-on-write, np.load(mmap_mode='r')) was batched in another order
    X, y, X_test, _ = digits_small
    X = X.astype(np.float32)

    def proba(data):
        return MixupNetClassifier(random_state=0, min_steps=40, max_epochs=1,
                                  mixup_alpha=0.4).fit(data, y).predict_proba(X_test)

    expected = proba(X)
    read_only = X.copy()
    read_only.flags.writeable = False
    np.save(tmp_path / "X.npy", X)
    for data in (read_only, np.load(tmp_path / "X.npy", mmap_mode="r"),
                 pd.DataFrame(X)):
        np.testing.assert_array_equal(proba(data), expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_last_images_are_refused_by_the_default_network(digits_small,
                                                                 channels):
    # read as (C, H, W), (N, 8, 8, 3) trained as 8-channel images 3 pixels wide
    X, y, _, _ = digits_small
    last = np.repeat(X.reshape(-1, 8, 8, 1), channels, axis=-1)
    for data in (last, torch.as_tensor(last, dtype=torch.float32)):
        with pytest.raises(ValueError, match=rf"\(8, 8, {channels}\), which looks like "
                           r"\(height, width, channels\)"):
            MixupNetClassifier(min_steps=1, max_epochs=1).fit(data, y)
    first = np.ascontiguousarray(np.moveaxis(last, -1, 1))  # the advice works
    clf = MixupNetClassifier(min_steps=1, max_epochs=1).fit(first, y)
    assert clf.input_shape_ == (channels, 8, 8)
    # not square: 8 channels of 8 x 1 may be meant, and are left alone
    rows = X.reshape(-1, 8, 8, 1)[:, :, :4]
    assert MixupNetClassifier(min_steps=1, max_epochs=1).fit(
        rows, y).input_shape_ == (8, 4, 1)


class _Linear(nn.Module):
    def __init__(self, n_out=10):
        super().__init__()
        self.layer = nn.Linear(64, n_out)

    def forward(self, x):
        return self.layer(x)


@pytest.mark.parametrize("n_out", [8, 12])
@pytest.mark.parametrize("mixup_alpha", [0.0, 0.4])
def test_a_module_with_one_output_per_class_or_a_clear_error(digits_small, n_out,
                                                             mixup_alpha):
    # 12 outputs for 10 classes gave predict_proba 12 columns; 8 failed in the
    # loss with an IndexError that did not say why
    X, y, X_test, _ = digits_small
    clf = MixupNetClassifier(module=_Linear, module__n_out=n_out, min_steps=2,
                             max_epochs=1, mixup_alpha=mixup_alpha)
    with pytest.raises(ValueError, match=rf"returned {n_out} scores per sample, "
                       r"but there are 10 classes \(classes_\)"):
        clf.fit(X, y)
    assert not clf.history or all(  # refused before an optimizer step
        "train_loss" not in row for row in clf.history)
    ok = MixupNetClassifier(module=_Linear, min_steps=2, max_epochs=1,
                            mixup_alpha=mixup_alpha).fit(X, y)
    assert ok.predict_proba(X_test).shape == (len(X_test), 10)


def test_a_dataset_of_two_dimensional_images_trains_like_one_with_a_channel(
        digits_small):
    # (H, W) samples crashed under augmentation and semi-supervised fits
    X, y, X_test, _ = digits_small
    images = X.reshape(-1, 8, 8).astype(np.float32)
    params = dict(random_state=0, min_steps=20, max_epochs=1, classes=list(range(10)),
                  n_augmentations=2, collapse_guard=None)
    flat = MixupNetClassifier(**params).fit(
        Dataset(images[:100], y[:100]), None, X_unlabeled=images[100:])
    with_channel = MixupNetClassifier(**params).fit(
        Dataset(images[:100, None], y[:100]), None, X_unlabeled=images[100:])
    test = X_test.reshape(-1, 1, 8, 8).astype(np.float32)
    np.testing.assert_array_equal(flat.predict_proba(test),
                                  with_channel.predict_proba(test))


def test_vectors_given_to_an_image_model_name_the_image_shape(digits_small):
    X, y, _, _ = digits_small
    clf = MixupNetClassifier(min_steps=1, max_epochs=1).fit(X.reshape(-1, 8, 8), y)
    with pytest.raises(ValueError, match=r"X has rows of 64 features, but "
                       r"MixupNetClassifier was fitted on images of shape \(1, 8, "
                       r"8\): pass images, e.g. X.reshape\(-1, 1, 8, 8\)"):
        clf.predict(X)
    assert clf.predict(X.reshape(-1, 1, 8, 8)).shape == (len(X),)


# -- divergence ------------------------------------------------------------------------
@pytest.mark.parametrize("semi", [None, "mixmatch"])
def test_a_diverged_fit_stops_with_a_clear_error_instead_of_predicting_class_0(
        digits_small, semi):
    # lr=1e4 makes the weights NaN within the first epochs; before, skorch
    # trained on for every min_steps step and predict gave class 0 for all rows
    X, y, Xt, _ = digits_small
    net = MixupNetClassifier(lr=1e4, max_epochs=3, min_steps=300, batch_size=32,
                             semi_supervised=semi, random_state=0)
    with pytest.raises(ValueError, match=r"diverged: the loss became nan in epoch "
                       r"\d+ .*Lower lr \(now 10000.0\)"):
        net.fit(X, y, X_unlabeled=Xt if semi else None)
    # stopped at the first non-finite loss, not after min_steps' 30 epochs
    assert len(net.history) < 10
    assert not all(torch.isfinite(p).all() for p in net.module_.parameters())


def test_weights_broken_by_the_last_step_are_a_divergence_too(digits_small):
    # the last step's loss is finite (computed before its update), so only a
    # check after training sees weights that update made NaN
    class BrokenLast(MixupNetClassifier):
        def train_step_single(self, batch, **fit_params):
            step = super().train_step_single(batch, **fit_params)
            self._calls = getattr(self, "_calls", 0) + 1
            if self._calls == self._last:
                with torch.no_grad():
                    self.module_.head.bias.fill_(float("inf"))
            return step

    X, y, _, _ = digits_small
    net = BrokenLast(max_epochs=2, min_steps=0, batch_size=32, random_state=0)
    net._last = 2 * math.ceil(len(X) / 32)
    with pytest.raises(ValueError, match=r"diverged in its last step: the network's "
                       r"weights are no longer finite \(head.bias\)\. Lower lr \(now "
                       r"0\.001\)"):
        net.fit(X, y)
    assert net._calls == net._last
    net._last = 0  # never: the same fit ends normally
    assert net.fit(X, y).score(X, y) > 0.5


def test_a_skipped_non_finite_step_with_finite_weights_trains_on(digits_small):
    # what a float16 gradient scaler does: a NaN loss, no update, weights intact
    class Skipping(MixupNetClassifier):
        def train_step_single(self, batch, **fit_params):
            self._calls = getattr(self, "_calls", 0) + 1
            if self._calls == 2:
                step = super().train_step_single(batch, **fit_params)
                return dict(step, loss=torch.tensor(float("nan")))
            return super().train_step_single(batch, **fit_params)

    X, y, Xt, _ = digits_small
    params = dict(max_epochs=2, min_steps=0, batch_size=32, random_state=0)
    net = Skipping(**params).fit(X, y)
    assert np.isnan(net.history[0, "batches", 1, "train_loss"])
    assert len(net.history) == 2
    # the step itself ran as usual (only its loss reads NaN): the same model
    plain = MixupNetClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(net.predict_proba(Xt), plain.predict_proba(Xt))
