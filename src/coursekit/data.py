"""MNIST and Fashion-MNIST from their IDX files, offline first.

Where the files are looked for, in order:

1. ``$COURSEKIT_DATA`` — a folder holding ``mnist/`` (and optionally ``fashion-mnist/``), or
   the IDX files themselves;
2. the user cache, ``$XDG_CACHE_HOME/coursekit`` (``~/.cache/coursekit``), with the same layout;
3. for Fashion-MNIST, Debian's ``dataset-fashion-mnist`` package
   (``/usr/share/datasets/fashion-mnist``);
4. otherwise the files are downloaded into the cache from the usual mirrors (only when
   ``download=True``), and the SHA-256 of the decompressed content is verified.

Files may be gzipped (``train-images-idx3-ubyte.gz``) or raw. Offline with no files, one
clear error says where to put them.

    >>> x, y = load_mnist("train")      # uint8 (60000, 28, 28), int64 (60000,)
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataNotFound", "load_mnist", "find_dataset", "data_dirs", "MNIST_MEAN", "MNIST_STD"]

# Channel statistics of the MNIST training images scaled to [0, 1] (notebook 05 derives them).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# SHA-256 of the *decompressed* files (../shared/data/README.md).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {},  # verified by the IDX header and sizes only
}

MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}

DEBIAN_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
NAMES = {"mnist": "mnist", "fashion": "fashion-mnist", "fashion-mnist": "fashion-mnist"}


class DataNotFound(FileNotFoundError):
    """The data set is not on this machine and could not be downloaded."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "coursekit"


def data_dirs(dataset: str = "mnist") -> list[Path]:
    """The folders searched for `dataset`, in order."""
    name = NAMES.get(dataset, dataset)
    dirs: list[Path] = []
    env = os.environ.get("COURSEKIT_DATA")
    if env:
        dirs += [Path(env) / name, Path(env)]
    dirs.append(cache_dir() / name)
    if name in DEBIAN_DIRS:
        dirs.append(DEBIAN_DIRS[name])
    return dirs


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_dataset(dataset: str = "mnist") -> Path | None:
    """The first folder that holds all four IDX files of `dataset`, or None."""
    stems = [s for pair in FILES.values() for s in pair]
    for folder in data_dirs(dataset):
        if all(_file_in(folder, s) for s in stems):
            return folder
    return None


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode an IDX file (the MNIST format): magic, dims, then big-endian data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("not an IDX file (bad magic number)")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[
        raw[2]
    ]
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(
            f"IDX file is truncated: expected {int(np.prod(shape))} values, found {data.size}"
        )
    return data.reshape(shape)


@dataclass(frozen=True)
class _Split:
    images: np.ndarray
    labels: np.ndarray


def load_mnist(
    split: str = "train", dataset: str = "mnist", *, download: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28) and labels int64 (N,) of `split` ("train" or "test").

    dataset: "mnist" or "fashion" (Fashion-MNIST, same format). A data set found nowhere is
    downloaded from the usual mirrors into the user cache and checksummed, unless
    download=False or COURSEKIT_OFFLINE=1 (tests and graders set it: they never download).
    """
    if download is None:
        download = os.environ.get("COURSEKIT_OFFLINE", "") in ("", "0")
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    name = NAMES.get(dataset)
    if name is None:
        raise ValueError(f"unknown dataset {dataset!r}: use 'mnist' or 'fashion'")
    folder = find_dataset(name)
    if folder is None and download:
        folder = _download(name)
    if folder is None:
        raise DataNotFound(_missing_message(name))
    s = _read_split(folder, name, split)
    return s.images, s.labels


@functools.cache
def _read_split(folder: Path, name: str, split: str) -> _Split:
    """One split, read and checksummed once per process (read-only arrays)."""
    img_stem, lbl_stem = FILES[split]
    images = parse_idx(_verified(folder, img_stem, name))
    labels = parse_idx(_verified(folder, lbl_stem, name)).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels")
    images.setflags(write=False)
    labels.setflags(write=False)
    return _Split(images, labels)


def _verified(folder: Path, stem: str, name: str) -> bytes:
    path = _file_in(folder, stem)
    assert path is not None
    raw = _read_bytes(path)
    want = SHA256.get(name, {}).get(stem)
    if want and os.environ.get("COURSEKIT_SKIP_CHECKSUM") != "1":
        got = hashlib.sha256(raw).hexdigest()
        if got != want:
            raise ValueError(
                f"{path} is damaged: its SHA-256 is {got[:12]}..., expected {want[:12]}.... "
                "Delete it and fetch it again."
            )
    return raw


def _missing_message(name: str) -> str:
    where = "\n  ".join(str(d) for d in data_dirs(name))
    files = ", ".join(f"{s}.gz" for pair in FILES.values() for s in pair)
    return (
        f"{name} is not on this machine. Put {files} in one of:\n  {where}\n"
        f"(or set COURSEKIT_DATA to a folder holding {name}/); when online, "
        f"load_mnist() downloads them there itself."
    )


def _download(name: str) -> Path | None:
    target = cache_dir() / name
    target.mkdir(parents=True, exist_ok=True)
    for pair in FILES.values():
        for stem in pair:
            if _file_in(target, stem):
                continue
            last_error: Exception | None = None
            for mirror in MIRRORS[name]:
                try:
                    with tempfile.NamedTemporaryFile(dir=target, delete=False) as tmp:
                        with urllib.request.urlopen(mirror + stem + ".gz", timeout=30) as r:
                            shutil.copyfileobj(r, tmp)
                    tmp_path = Path(tmp.name)
                    with gzip.open(tmp_path, "rb") as f:
                        raw = f.read()
                    want = SHA256.get(name, {}).get(stem)
                    if want and hashlib.sha256(raw).hexdigest() != want:
                        tmp_path.unlink()
                        raise ValueError(f"checksum mismatch for {stem} from {mirror}")
                    tmp_path.rename(target / f"{stem}.gz")
                    break
                except Exception as exc:  # try the next mirror
                    last_error = exc
            else:
                raise DataNotFound(
                    f"could not download {stem}: {last_error}\n" + _missing_message(name)
                )
    return target
