
"""Tests for skmixal.datasets: real shared data plus small files made per test."""

import gzip
import hashlib
import pickle
import re
import struct
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from skmixal.datasets import (
    DatasetNotFoundError,
    LoadedData,
    load_dataset,
    load_digits_data,
    load_idx,
    load_mnist_folder,
    load_npz,
    load_torchvision,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
CIFAR_NPZ = SHARED / "cifar10" / "cifar10-test-subset2000-jpeg75.npz"
RNG = np.random.default_rng(0)


def idx_bytes(arr, magic=None):
    """Encode a uint8 array in the big-endian idx format."""
    head = magic if magic is not None else struct.pack(">BBBB", 0, 0, 8, arr.ndim)
    return head + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_idx(path, arr, gz=False, magic=None):
    data = idx_bytes(np.asarray(arr, dtype=np.uint8), magic)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def small_idx_pair(folder, prefix="t10k", n=5, gz=True):
    images = RNG.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
    labels = RNG.integers(0, 10, size=n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


# --- real data in /work/shared/data, read in place ------------------------------


@pytest.fixture(scope="module")
def mnist_test():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test set not found in {MNIST_DIR}")
    return load_mnist_folder(MNIST_DIR, split="test")


def test_real_mnist_test_set(mnist_test):
    X, y = mnist_test.X, mnist_test.y
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    # The README's pixel mean of the raw uint8 file, 33.7912.
    assert X.mean(dtype=np.float64) * 255 == pytest.approx(33.7912, abs=1e-3)
    assert y.dtype == np.int64
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y).tolist() == counts
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist_test.image_shape == (1, 28, 28) and mnist_test.name == "mnist"


def test_real_mnist_through_load_dataset(mnist_test):
    for spec in (f"mnist:{MNIST_DIR}", str(MNIST_DIR)):
        data = load_dataset(spec)
        np.testing.assert_array_equal(data.y, mnist_test.y)
        np.testing.assert_array_equal(data.X[:50], mnist_test.X[:50])


def test_real_cifar10_subset():
    if not CIFAR_NPZ.is_file():
        pytest.skip(f"CIFAR-10 subset not found at {CIFAR_NPZ}")
    data = load_npz(CIFAR_NPZ)
    assert data.X.shape == (2000, 3, 32, 32) and data.X.dtype == np.float32
    assert 0.0 <= data.X.min() and data.X.max() <= 1.0
    assert np.bincount(data.y).tolist() == [200] * 10
    assert data.label_names[:3] == ("airplane", "automobile", "bird")
    assert len(data.label_names) == 10 and data.image_shape == (3, 32, 32)
    # The HWC -> CHW transpose keeps each pixel's RGB triple together.
    with np.load(CIFAR_NPZ, allow_pickle=False) as raw:
        x = raw["x"]
    np.testing.assert_allclose(data.X[7, :, 5, 9], x[7, 5, 9, :] / 255, rtol=1e-6)
    assert data.X.mean(dtype=np.float64) * 255 == pytest.approx(122.41, abs=0.01)


@pytest.mark.parametrize("as_images", [False, True])
def test_digits(as_images):
    data = load_dataset("digits", as_images=as_images)
    expected = (1797, 1, 8, 8) if as_images else (1797, 64)
    assert data.X.shape == expected and data.X.dtype == np.float32
    assert data.X.min() == 0.0 and data.X.max() == 1.0
    assert data.y.dtype == np.int64 and len(data.label_names) == 10
    assert data.image_shape == ((1, 8, 8) if as_images else None)
    assert isinstance(load_digits_data(), LoadedData)


# --- idx files written here -----------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_idx_roundtrip(tmp_path, gz):
    images, labels = small_idx_pair(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    data = load_idx(
        tmp_path / f"t10k-images-idx3-ubyte{suffix}",
        tmp_path / f"t10k-labels-idx1-ubyte{suffix}",
    )
    np.testing.assert_allclose(data.X[:, 0], images / 255, rtol=1e-6)
    assert data.X.dtype == np.float32 and data.X.flags.c_contiguous
    np.testing.assert_array_equal(data.y, labels)
    assert data.y.dtype == np.int64 and data.image_shape == (1, 4, 3)


def test_load_idx_detects_gzip_by_content_not_suffix(tmp_path):
    images = RNG.integers(0, 256, size=(3, 2, 2), dtype=np.uint8)
    # gzip data without .gz, raw data with .gz: both must still load.
    write_idx(tmp_path / "imgs", images, gz=True)
    write_idx(tmp_path / "labels.gz", np.arange(3), gz=False)
    data = load_idx(tmp_path / "imgs", tmp_path / "labels.gz")
    np.testing.assert_allclose(data.X[:, 0], images / 255, rtol=1e-6)


@pytest.mark.parametrize("split", ["test", "train"])
def test_load_mnist_folder_finds_standard_names(tmp_path, split):
    prefix = "t10k" if split == "test" else "train"
    images, labels = small_idx_pair(tmp_path, prefix, n=6 if split == "train" else 4)
    data = load_mnist_folder(tmp_path, split=split)
    assert data.X.shape == (len(images), 1, 4, 3)
    np.testing.assert_array_equal(data.y, labels)
    assert data.name == tmp_path.name


def test_load_mnist_folder_missing_lists_names(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz"):
        load_mnist_folder(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist_folder(tmp_path, split="valid")


def test_corrupt_magic_names_file(tmp_path):
    small_idx_pair(tmp_path, gz=False)
    bad = write_idx(tmp_path / "bad", np.zeros((2, 2, 2)), magic=b"\x01\x02\x08\x03")
    with pytest.raises(ValueError, match=r"bad: not a uint8 idx file"):
        load_idx(bad, tmp_path / "t10k-labels-idx1-ubyte")


def test_truncated_and_mismatched_files(tmp_path):
    write_idx(tmp_path / "imgs", np.zeros((4, 2, 2)))
    write_idx(tmp_path / "labels", np.zeros(3))
    with pytest.raises(ValueError, match=r"4 images but .*labels holds 3 labels"):
        load_idx(tmp_path / "imgs", tmp_path / "labels")
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(np.zeros((4, 2, 2), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"short: header declares dims \(4, 2, 2\)"):
        load_idx(short, tmp_path / "labels")
    # Labels passed as images: the dimension check names the file.
    with pytest.raises(ValueError, match=r"labels: expected 3-D"):
        load_idx(tmp_path / "labels", tmp_path / "labels")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    with pytest.raises(ValueError, match=r"broken\.gz: corrupt gzip"):
        load_idx(tmp_path / "broken.gz", tmp_path / "labels")


# --- npz files written here -----------------------------------------------------

U8_HWC = RNG.integers(0, 256, size=(6, 5, 7, 3), dtype=np.uint8)
EXPECTED_NCHW = U8_HWC.transpose(0, 3, 1, 2) / 255


@pytest.mark.parametrize(
    "x, expected",
    [
        (U8_HWC, EXPECTED_NCHW),
        (U8_HWC.transpose(0, 3, 1, 2), EXPECTED_NCHW),
        (U8_HWC[..., 0], EXPECTED_NCHW[:, :1]),
        (U8_HWC[..., :1], EXPECTED_NCHW[:, :1]),
        (EXPECTED_NCHW.astype(np.float64), EXPECTED_NCHW),
        (U8_HWC.astype(np.int64), EXPECTED_NCHW),
    ],
    ids=["uint8-NHWC", "uint8-NCHW", "uint8-NHW", "uint8-NHW1", "float-NCHW", "int64"],
)
def test_npz_image_layouts(tmp_path, x, expected):
    path = tmp_path / "imgs.npz"
    np.savez(path, X=x, y=np.arange(6))
    data = load_npz(path)
    assert data.X.dtype == np.float32 and data.X.flags.c_contiguous
    np.testing.assert_allclose(data.X, expected, rtol=1e-6)
    assert data.image_shape == expected.shape[1:] and data.name == "imgs"


def test_npz_tabular_lowercase_and_string_labels(tmp_path):
    X = RNG.normal(size=(5, 3)) * 10
    labels = np.array(["cat", "dog", "cat", "eel", "dog"])
    names = np.array([b"cat", b"dog", b"eel"])  # S dtype: decoded to str
    np.savez(tmp_path / "tab.npz", x=X, y=labels, label_names=names)
    data = load_dataset(str(tmp_path / "tab.npz"))
    assert data.label_names == ("cat", "dog", "eel")
    # Tabular features are not rescaled.
    np.testing.assert_allclose(data.X, X.astype(np.float32))
    assert data.X.dtype == np.float32 and data.image_shape is None
    assert data.y.tolist() == labels.tolist() and data.y.dtype.kind == "U"
    np.savez(tmp_path / "keys.npz", feats=X, target=np.arange(5.0))
    data = load_dataset(f"npz:{tmp_path / 'keys.npz'}", x_key="feats", y_key="target")
    assert data.y.dtype == np.int64


def test_npz_without_labels_loads_as_an_unlabeled_pool(tmp_path):
    X = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.savez(tmp_path / "pool.npz", X=X)
    data = load_npz(tmp_path / "pool.npz")
    assert data.y is None
    np.testing.assert_array_equal(data.X, X[:, None] / np.float32(255))
    # beside another array, or with another y_key, a missing y is a misnamed one
    np.savez(tmp_path / "named.npz", X=X, labels=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"no array named 'y'.*\['X', 'labels'\]"):
        load_npz(tmp_path / "named.npz")
    with pytest.raises(ValueError, match=r"no array named 'label'"):
        load_npz(tmp_path / "pool.npz", y_key="label")


def test_npz_invalid_inputs(tmp_path):
    def save(**arrays):
        np.savez(tmp_path / "d.npz", **arrays)
        return tmp_path / "d.npz"

    with pytest.raises(ValueError, match=r"no array named 'X'.*\['data', 'y'\]"):
        load_npz(save(data=np.zeros((2, 2)), y=np.zeros(2)))
    with pytest.raises(ValueError, match="floats in \\[0, 1\\]"):
        load_npz(save(X=np.full((2, 3, 3), 2.0), y=np.zeros(2)))
    with pytest.raises(ValueError, match="floats in \\[0, 1\\]"):
        load_npz(save(X=np.full((2, 3, 3), np.nan), y=np.zeros(2)))
    with pytest.raises(ValueError, match="3 samples but 2 labels"):
        load_npz(save(X=np.zeros((3, 4)), y=np.zeros(2)))
    with pytest.raises(ValueError, match="labels must be integers or strings"):
        load_npz(save(X=np.zeros((2, 4)), y=np.array([0.5, 1.0])))
    ambiguous = save(X=np.zeros((2, 3, 5, 3), np.uint8), y=np.zeros(2))
    with pytest.raises(ValueError, match="layout='NCHW'"):
        load_npz(ambiguous)
    assert load_npz(ambiguous, layout="NHWC").X.shape == (2, 3, 3, 5)
    # Object arrays are refused rather than unpickled.
    np.savez(tmp_path / "obj.npz", X=np.array([{}, {}], dtype=object), y=[0, 1])
    with pytest.raises(ValueError, match="allow_pickle"):
        load_npz(tmp_path / "obj.npz")


def test_npz_damaged_files_name_the_fault(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((20, 4)), y=np.arange(20))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"d\.npz is corrupt \(BadZipFile"):
        load_npz(path)
    path.write_bytes(b"\x93NUMPY" + raw)  # not a zip: no allow_pickle advice
    with pytest.raises(ValueError, match="not an .npz archive") as e:
        load_npz(path)
    assert "allow_pickle" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_npz(tmp_path / "nope.npz")


def test_npz_nan_pixels_are_counted_not_ranged(tmp_path):
    X = np.full((2, 3, 3), 0.5)
    X[0, 0, :2] = np.nan
    np.savez(tmp_path / "d.npz", X=X, y=[0, 1])
    with pytest.raises(ValueError, match="with 2 NaN or infinite value") as e:
        load_npz(tmp_path / "d.npz")
    assert "nan, nan" not in str(e.value)


def test_load_dataset_rejects_unknown_specs(tmp_path):
    for spec in ("cifar", "mnist:", "torchvision:mnist", str(tmp_path / "nope")):
        with pytest.raises(ValueError, match="valid forms: 'digits'"):
            load_dataset(spec)


def test_torchvision_missing_gives_install_hint(monkeypatch):
    # None in sys.modules makes the import fail even where torchvision exists.
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(ImportError, match=r"pip install skmixal\[vision\]"):
        load_torchvision("mnist", "unused")
    with pytest.raises(ValueError, match="Unknown torchvision dataset"):
        load_torchvision("svhn", "unused")


# --- torchvision, on files written here -------------------------------------------


@pytest.fixture
def tv_datasets():
    return pytest.importorskip("torchvision.datasets")


@pytest.fixture
def offline(monkeypatch):
    """Simulate no network: every torchvision download goes through urlopen."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled by test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_torchvision_mnist_from_raw_folder(tmp_path, tv_datasets):
    # MNIST._check_exists wants all four uncompressed files in <root>/MNIST/raw,
    # whichever split is loaded, and checks no MD5 for them.
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    test_x, test_y = small_idx_pair(raw, "t10k", n=4, gz=False)
    train_x, train_y = small_idx_pair(raw, "train", n=6, gz=False)
    for train, (x, y) in ((False, (test_x, test_y)), (True, (train_x, train_y))):
        data = load_dataset(f"torchvision:mnist:{tmp_path}", train=train)
        np.testing.assert_allclose(data.X[:, 0], x / 255, rtol=1e-6)
        np.testing.assert_array_equal(data.y, y)
        assert data.X.dtype == np.float32 and data.y.dtype == np.int64
        assert data.label_names == tuple(tv_datasets.MNIST.classes)
    assert data.name == "mnist-train"


def write_cifar_folder(root):
    """Write a CIFAR-10-format folder; return (data, labels, {file: md5})."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    # Rows are 3072 bytes: the R, G and B 32x32 planes, so NCHW after reshape.
    data = RNG.integers(0, 256, size=(5, 3072), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5]
    # The official files are Python 2 pickles: their keys read as b"data" with
    # encoding="bytes" but as "data" with the encoding="latin1" torchvision uses,
    # so a Python 3 pickle must use str keys to look the same to torchvision.
    batches = {
        "test_batch": {"data": data, "labels": labels},
        "data_batch_1": {"data": data[::-1].copy(), "labels": labels[::-1]},
        "batches.meta": {"label_names": ["plane", "car", *["c"] * 8]},
    }
    md5 = {}
    for name, content in batches.items():
        (folder / name).write_bytes(pickle.dumps(content))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return data, labels, md5


def test_torchvision_cifar10_from_batch_files(tmp_path, tv_datasets, monkeypatch):
    # CIFAR10._check_integrity and _load_meta compare each file with the MD5 in
    # the class attributes train_list, test_list and meta. Pointing them at our
    # small files keeps torchvision's own integrity check in the loop.
    data, labels, md5 = write_cifar_folder(tmp_path)
    cifar = tv_datasets.CIFAR10
    monkeypatch.setattr(cifar, "train_list", [["data_batch_1", md5["data_batch_1"]]])
    monkeypatch.setattr(cifar, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(cifar, "meta", {**cifar.meta, "md5": md5["batches.meta"]})
    test = load_torchvision("cifar10", tmp_path, train=False)
    assert test.X.shape == (5, 3, 32, 32) and test.X.dtype == np.float32
    np.testing.assert_allclose(test.X, data.reshape(5, 3, 32, 32) / 255, rtol=1e-6)
    assert test.y.tolist() == labels and test.y.dtype == np.int64
    assert test.label_names[:2] == ("plane", "car") and test.name == "cifar10-test"
    train = load_torchvision("cifar10", tmp_path, train=True)
    np.testing.assert_array_equal(train.y, labels[::-1])


def test_torchvision_cifar10_checksum_mismatch(tmp_path, tv_datasets):
    write_cifar_folder(tmp_path)  # real MD5 lists: our files do not match
    folder = tmp_path / "cifar-10-batches-py"
    with pytest.raises(DatasetNotFoundError, match="data_batch_5, test_batch") as e:
        load_torchvision("cifar10", tmp_path, train=False)
    assert str(folder) in str(e.value) and "MD5" in str(e.value)


@pytest.mark.parametrize("download", [False, True])
@pytest.mark.parametrize(
    "name, where, files",
    [
        ("mnist", ("MNIST", "raw"), "t10k-images-idx3-ubyte"),
        ("cifar10", ("cifar-10-batches-py",), "test_batch, batches.meta"),
    ],
)
def test_torchvision_missing_files_say_where(
    tmp_path, tv_datasets, offline, name, where, files, download
):
    with pytest.raises(DatasetNotFoundError, match=re.escape(files)) as e:
        load_torchvision(name, tmp_path, train=False, download=download)
    message = str(e.value)
    assert str(tmp_path.joinpath(*where)) in message and files in message
    assert ("download failed" in message) == download
    assert isinstance(e.value, FileNotFoundError)
    if download:
        assert "network disabled by test" in message


@pytest.mark.parametrize(
    "name, files, how",
    [
        ("mnist", "t10k-images-idx3-ubyte", "gunzip them"),
        ("cifar10", "test_batch, batches.meta", "tar xzf cifar-10-python.tar.gz"),
    ],
)
def test_torchvision_missing_files_in_command_line_terms(
    tmp_path, tv_datasets, offline, name, files, how
):
    from skmixal._io import UserError, load_data

    spec = f"torchvision:{name}:{tmp_path}"
    with pytest.raises(UserError, match=re.escape(files)) as e:
        load_data(spec)
    message = str(e.value)
    assert how in message and "nothing is downloaded" in message
    # nothing a command-line user cannot type: no Python keywords or names
    for python_only in ("download=", "In Python", "load_torchvision", "load_mnist"):
        assert python_only not in message
    # the Python caller gets the Python hint, and torchvision's own words
    with pytest.raises(DatasetNotFoundError, match=r"load_torchvision\(\.\.\., "
                       r"download=True\) fetches") as e:
        load_dataset(spec)
    assert "torchvision said" in str(e.value) and files in str(e.value)
