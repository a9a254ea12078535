"""coursekit.data: the real MNIST, checksummed; clear errors when it is missing or damaged."""

import gzip
import os

import numpy as np
import pytest

from coursekit import data

HAVE_MNIST = data.find_dataset("mnist") is not None
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found (set COURSEKIT_DATA)")


@needs_mnist
def test_full_mnist_loads_with_the_right_shapes_and_labels():
    x, y = data.load_mnist("train")
    xt, yt = data.load_mnist("test")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    assert set(np.unique(y)) == set(range(10))
    assert (
        abs(x.mean() / 255 - data.MNIST_MEAN) < 1e-3 and abs(x.std() / 255 - data.MNIST_STD) < 1e-3
    )
    assert not x.flags.writeable  # shared, cached arrays can't be changed by accident


def test_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSEKIT_OFFLINE", "1")
    with pytest.raises(data.DataNotFound) as err:
        data.load_mnist("train")
    assert "train-images-idx3-ubyte.gz" in str(err.value) and str(tmp_path) in str(err.value)


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _fake(folder, raw_files=False, damage=None):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("t10k", 3)):
        for kind, arr in (
            ("images-idx3", rng.integers(0, 255, (n, 28, 28))),
            ("labels-idx1", rng.integers(0, 10, n)),
        ):
            raw = _idx(arr)
            name = f"{split}-{kind}-ubyte"
            if damage == name:
                raw = raw[:-10]
            if raw_files:
                (folder / name).write_bytes(raw)
            else:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))


@pytest.mark.parametrize("raw_files", [False, True])
def test_idx_files_raw_or_gzipped(tmp_path, monkeypatch, raw_files):
    _fake(tmp_path / "fashion-mnist", raw_files)
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path))
    x, y = data.load_mnist("train", "fashion")
    assert x.shape == (5, 28, 28) and y.shape == (5,) and y.dtype == np.int64


def test_truncated_file_is_reported(tmp_path, monkeypatch):
    _fake(tmp_path / "fashion-mnist", damage="t10k-images-idx3-ubyte")
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="truncated"):
        data.load_mnist("test", "fashion")


def test_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    _fake(tmp_path / "mnist")  # right format, wrong content for MNIST's checksums
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path))
    monkeypatch.delenv("COURSEKIT_SKIP_CHECKSUM", raising=False)
    with pytest.raises(ValueError, match="damaged"):
        data.load_mnist("test")


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")
    with pytest.raises(ValueError, match="dataset"):
        data.load_mnist("train", "cifar")


@pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="needs the system package dataset-fashion-mnist (Fashion-MNIST)",
)
def test_fashion_mnist_from_debian(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path))
    x, y = data.load_mnist("test", "fashion")
    assert x.shape == (10000, 28, 28)
