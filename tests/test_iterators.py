import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader, Subset

from skmixal.iterators import TensorLoader


def _rows(loader):
    xs, ys = zip(*loader)
    return torch.cat(xs).numpy(), torch.cat(ys).numpy()


def test_ordered_batches_cover_all_rows():
    X = np.arange(50, dtype=np.float32).reshape(25, 2)
    y = np.arange(25)
    loader = TensorLoader(Dataset(X, y), batch_size=4)
    assert len(loader) == 7
    xs, ys = _rows(loader)
    np.testing.assert_array_equal(xs, X)
    np.testing.assert_array_equal(ys, y)


def test_shuffle_is_a_seeded_permutation_and_keeps_pairs():
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    loader = TensorLoader(Dataset(X, y), batch_size=6, shuffle=True)
    torch.manual_seed(0)
    xs, ys = _rows(loader)
    torch.manual_seed(0)
    xs2, _ = _rows(loader)
    np.testing.assert_array_equal(xs, xs2)
    assert sorted(ys) == list(range(20)) and list(ys) != list(range(20))
    np.testing.assert_array_equal(xs[:, 0], 2 * ys)  # rows stay with labels


def test_drop_last():
    loader = TensorLoader(Dataset(np.zeros((10, 2), np.float32), np.zeros(10)),
                          batch_size=4, drop_last=True)
    assert len(loader) == 2 and sum(len(xb) for xb, _ in loader) == 8


def test_memmap_rows_are_read_per_batch(tmp_path):
    path = tmp_path / "pool.f32"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(30, 3))
    X[:] = np.arange(90, dtype=np.float32).reshape(30, 3)
    X.flush()
    ro = np.load(path, mmap_mode="r")
    y = np.arange(30)
    loader = TensorLoader(Dataset(ro, y), batch_size=7, shuffle=True)
    assert loader._X.host is ro  # never copied whole
    torch.manual_seed(1)
    xs, ys = _rows(loader)
    np.testing.assert_array_equal(xs, np.asarray(ro)[ys])


def test_streamed_batches_come_in_the_same_order_as_resident_ones(tmp_path):
    # Mixup pairs rows by position: a memmap must batch like an array
    X = np.arange(90, dtype=np.float32).reshape(30, 3)
    y = np.arange(30)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+",
                                   dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.load(tmp_path / "X.npy", mmap_mode="r")
    batches = {}
    for name, data in [("array", X), ("memmap", ro)]:
        loader = TensorLoader(Dataset(data, y), batch_size=7, shuffle=True,
                              generator=torch.Generator().manual_seed(3))
        batches[name] = [(xb.numpy(), yb.numpy()) for xb, yb in loader]
    assert TensorLoader(Dataset(ro, y), batch_size=7)._X.host is ro
    for (xa, ya), (xm, ym) in zip(batches["array"], batches["memmap"], strict=True):
        np.testing.assert_array_equal(ym, ya)
        np.testing.assert_array_equal(xm, xa)
    assert any((np.diff(ya) < 0).any() for _, ya in batches["array"])  # not sorted


def test_subset_of_dataset_uses_its_rows():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    loader = TensorLoader(Subset(Dataset(X, y), [7, 2, 5]), batch_size=2)
    xs, ys = _rows(loader)
    np.testing.assert_array_equal(ys, [7, 2, 5])
    np.testing.assert_array_equal(xs, X[[7, 2, 5]])


def test_falls_back_to_dataloader_for_other_datasets():
    data = torch.utils.data.TensorDataset(torch.zeros(5, 2), torch.arange(5))
    loader = TensorLoader(data, batch_size=2)
    assert isinstance(loader._fallback, DataLoader)
    assert [len(xb) for xb, _ in loader] == [2, 2, 1]
    custom = TensorLoader(Dataset(np.zeros((4, 2), np.float32), np.arange(4)),
                          batch_size=2, collate_fn=lambda rows: len(rows))
    assert list(custom) == [2, 2]


def test_without_y_yields_none():
    loader = TensorLoader(Dataset(np.zeros((3, 2), np.float32)), batch_size=2)
    assert [yb for _, yb in loader] == [None, None]


def test_subset_of_memmap_is_streamed_not_loaded(tmp_path):
    # any train_split gives a Subset; it must not pull the memmap into RAM
    X = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="w+", shape=(50, 3))
    X[:] = np.arange(150, dtype=np.float32).reshape(50, 3)
    X.flush()
    X = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="r", shape=(50, 3))
    y = np.arange(50)
    rows = np.array([40, 3, 17, 8, 25, 33, 1])
    loader = TensorLoader(Subset(Dataset(X, y), rows), batch_size=3)
    assert loader._X.host is X and loader._X.resident is None
    xs, ys = _rows(loader)
    np.testing.assert_array_equal(ys, rows)
    np.testing.assert_array_equal(xs, np.asarray(X)[rows])
    torch.manual_seed(0)
    loader = TensorLoader(Subset(Dataset(X, y), rows), batch_size=3, shuffle=True)
    xs, ys = _rows(loader)
    assert sorted(ys) == sorted(rows)
    np.testing.assert_array_equal(xs[:, 0], 3 * ys)  # rows stay with labels


def test_cpu_tensor_above_the_cap_is_not_copied_whole(monkeypatch):
    import skmixal.iterators as iterators

    monkeypatch.setattr(iterators, "_MAX_RESIDENT_BYTES", 100)
    X = torch.arange(120, dtype=torch.float32).reshape(40, 3)  # 480 bytes
    y = torch.arange(40)
    # "meta" stands in for an accelerator: any device that is not the CPU
    loader = TensorLoader(Dataset(X, y), batch_size=8, device="meta")
    assert loader._X.host is X and loader._X.resident is None
    assert loader._y.host is y  # 320 bytes of labels: over the cap as well
    xb, yb = next(iter(loader))
    assert xb.device.type == "meta" and xb.shape == (8, 3)
    small = TensorLoader(Dataset(X[:5], y[:5]), batch_size=8, device="meta")
    assert small._X.resident is not None  # under the cap: copied once


def test_inference_rows_one_default():
    from skmixal.iterators import INFERENCE_ROWS, inference_rows

    assert inference_rows(np.zeros((10, 784))) == INFERENCE_ROWS == 4096
    assert inference_rows(np.zeros((2, 3, 224, 224))) == 256
    assert inference_rows([[1, 2]]) == INFERENCE_ROWS


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_memmap_x_with_y_resident_on_cuda_keeps_pairs(tmp_path):
    # X is read per batch from the host, y lives on the GPU: one shuffled order
    # must index both (found on an H200 by check_estimator's readonly memmap)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32,
                                  shape=(40, 2))
    X[:, 0] = np.arange(40)
    X.flush()
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    y = np.arange(40, dtype=np.int64) * 10
    loader = TensorLoader(Dataset(X, y), batch_size=16, shuffle=True, device="cuda",
                          generator=torch.Generator().manual_seed(0))
    seen = []
    for xb, yb in loader:
        assert xb.device.type == yb.device.type == "cuda"
        np.testing.assert_array_equal(yb.cpu().numpy(), xb[:, 0].cpu().numpy() * 10)
        seen.extend(yb.cpu().tolist())
    assert sorted(seen) == list(range(0, 400, 10))
