"""Find and load MNIST-style datasets (MNIST, Fashion-MNIST, the 10k subset, CSV) and the bundled sample."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from nnmodel.datasets.csvdata import read_mnist_csv
from nnmodel.datasets.idx import read_idx
from nnmodel.errors import NNModelError
from nnmodel.fsutil import InputFiles

Split = Literal["test", "train"]

# (images, labels) name pairs per split, in order of preference; each IDX name may also end in .gz.
# Fashion-MNIST uses the official MNIST names, so it is found the same way.
IDX_NAMES: dict[str, list[tuple[str, str]]] = {
    "test": [("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
             ("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte")],  # Kaggle's re-upload spelling
    "train": [("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              ("train-images.idx3-ubyte", "train-labels.idx1-ubyte"),
              ("train-10k-images-idx3-ubyte", "train-10k-labels-idx1-ubyte")],  # first 10k, see shared/mnist
}
CSV_NAMES = {"test": "mnist_test.csv", "train": "mnist_train.csv"}

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE_IMAGES = "mnist-test-500-images-idx3-ubyte.gz"
SAMPLE_LABELS = "mnist-test-500-labels-idx1-ubyte.gz"


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous
class Dataset:
    images: np.ndarray  # uint8 (N, 28, 28), 0 = background
    labels: np.ndarray  # uint8 (N,)
    source: str  # where it was read from, for reports

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3 or self.images.shape[1:] != (28, 28):
            raise NNModelError(f"{self.source}: images must be uint8 Nx28x28, got {self.images.dtype} "
                               f"{'x'.join(map(str, self.images.shape))}; use 28x28 MNIST-style digits")
        if self.labels.dtype != np.uint8 or self.labels.shape != self.images.shape[:1]:
            raise NNModelError(f"{self.source}: {len(self.images)} images but labels are {self.labels.dtype} "
                               f"{'x'.join(map(str, self.labels.shape))}; images and labels must pair up")

    def __len__(self) -> int:
        return len(self.labels)


def load_idx_pair(images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str],
                  inputs: InputFiles | None = None) -> Dataset:
    """Read an images IDX file and its labels IDX file (raw or gzip) and check that they pair up.
    inputs: where the files are read once (the pre-build hashes the same bytes)."""
    images = read_idx(images_path, ndim=3, inputs=inputs)
    labels = read_idx(labels_path, ndim=1, inputs=inputs)
    if len(images) != len(labels):
        raise NNModelError(f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels; "
                           f"use the labels file that belongs to these images")
    return Dataset(images, labels, source=str(images_path))


def _existing(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(directory: str | os.PathLike[str], split: Split = "test") -> Dataset:
    """Load a split from DIR: official IDX names (MNIST or Fashion-MNIST), the 10k training subset, or CSV."""
    if split not in IDX_NAMES:
        raise NNModelError(f"unknown split {split!r}; use 'test' or 'train'")
    d = Path(directory)
    for images_name, labels_name in IDX_NAMES[split]:
        images = _existing(d, images_name)
        if images is None:
            continue
        labels = _existing(d, labels_name)
        if labels is None:
            raise NNModelError(f"{images}: found the images but not {d / labels_name}[.gz]; "
                               f"copy the matching labels file into {d}")
        return load_idx_pair(images, labels)
    csv = d / CSV_NAMES[split]
    if csv.is_file():
        images_arr, labels_arr = read_mnist_csv(csv)
        return Dataset(images_arr, labels_arr, source=str(csv))
    looked = [n for pair in IDX_NAMES[split] for n in pair] + [CSV_NAMES[split]]
    raise NNModelError(f"no MNIST {split} set in {d}: looked for {', '.join(looked)} (IDX names also as .gz); "
                       f"run `nnmodel data mnist --dir {d}` or copy the files there")


def load_sample() -> Dataset:
    """The first 500 official MNIST test digits bundled in nnmodel/data/samples (in the wheel and the
    PlatformIO library too): works without any dataset download."""
    images, labels = SAMPLE_DIR / SAMPLE_IMAGES, SAMPLE_DIR / SAMPLE_LABELS
    if not (images.is_file() and labels.is_file()):
        raise NNModelError(f"{SAMPLE_DIR}: bundled sample {SAMPLE_IMAGES} / {SAMPLE_LABELS} is missing; "
                           f"reinstall nnmodel or use load_mnist(DIR)")
    return load_idx_pair(images, labels)
