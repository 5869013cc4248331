"""The inputs a check runs a model on: MNIST digits, or a user's data file, as the model's codes.

`nnmodel eval|verify|report`, the pre-build's samples and golden vectors and the trainer's held-out
test all go through here, so a data file means the same rows, codes and targets everywhere:

- a folder: MNIST (IDX or CSV), or no --data: the 500 bundled test digits (the model's input must be
  a 28x28 image, as MNIST models' is);
- a file (nnmodel.datasets.samples: CSV with a header row, .npz, IDX with --label LABELS.idx): its
  values are quantized with the model's input features (nnmodel.realvalues), its class names
  matched to the model's labels by name, its regression targets taken in the model's units;
  `held_out` keeps the rows the model's trainer held out as its test set (recorded in provenance).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import load_mnist, load_sample
from .datasets.samples import Samples, load_samples
from .errors import NNModelError
from .model import Model
from .realvalues import codes_from_values

TEST_STREAM = 1  # child of SeedSequence(split seed) that draws the test rows (child 0 draws validation)


@dataclass(frozen=True, eq=False)
class EvalData:
    codes: np.ndarray  # the model's input codes [N, *shape] (uint8 pixels [N, 28, 28] for MNIST)
    targets: np.ndarray  # int64 [N] class indices of the model, or float64 [N, K] in the outputs' units
    source: str  # for reports: what was read, which part, how many
    regression: bool

    def __len__(self) -> int:
        return len(self.targets)


def missing_data(data: str) -> str:
    return (f"{data}: no such file or folder; --data takes a data file (.csv with a header row, .npz, IDX) or an "
            f"MNIST folder (`nnmodel data mnist --dir {data}` downloads one)")


def test_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, test) sorted row indices: a seeded `fraction` of n rows held out as the test set."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(TEST_STREAM + 1)[TEST_STREAM])
    perm = rng.permutation(n)
    n_test = round(n * fraction)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def data_digest(samples: Samples) -> str:
    """SHA-256 of what was read (features and targets): ties a model's held-out rows to its data."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(samples.x, np.float64).tobytes())
    h.update(np.ascontiguousarray(samples.y).tobytes())
    return h.hexdigest()


def sample_codes(model: Model, samples: Samples) -> np.ndarray:
    """The samples quantized with the model's input: codes [N, *shape] in its dtype."""
    spec = model.input
    shape = tuple(samples.shape)
    flat = spec.kind == "vector" and int(np.prod(shape)) == spec.cols  # e.g. 8x8 images for a 64-input MLP
    flat = flat or (spec.kind == "sequence" and shape == (spec.size,))  # CSV rows of T·F values, step by step
    if shape != spec.shape and not flat and not (spec.kind == "image" and spec.channels == 1
                                                 and shape == spec.shape[:2]):
        raise NNModelError(f"{samples.source}: samples have shape {'x'.join(map(str, shape))}, but model "
                           f"{model.name} takes {'x'.join(map(str, spec.shape))}; use the data it was made for")
    x = np.asarray(samples.x, np.float64).reshape((len(samples),) + spec.shape)
    return codes_from_values(spec, x)


def model_targets(model: Model, samples: Samples) -> np.ndarray:
    """The samples' targets in the model's terms: its class indices (matched by name) or outputs."""
    if model.is_regression and samples.task == "classify" and model.n_classes == 1:
        try:  # whole-number targets (e.g. counts) read as classes: their names are the numbers
            values = np.array([float(name) for name in samples.label_names])
        except ValueError:
            values = None
        if values is not None:
            return values[np.asarray(samples.y, np.int64)].reshape(-1, 1)
    if model.is_regression != (samples.task == "regress"):
        want = "real-valued targets (a regression)" if model.is_regression else "class labels"
        raise NNModelError(f"{samples.source}: model {model.name} needs {want}, the file's labels are "
                           f"{'real values' if samples.task == 'regress' else 'classes'}; pass --label with the "
                           "column the model was trained on")
    if model.is_regression:
        y = np.asarray(samples.y, np.float64).reshape(len(samples), -1)
        if y.shape[1] != model.n_classes:
            raise NNModelError(f"{samples.source}: {y.shape[1]} target columns, model {model.name} has "
                               f"{model.n_classes} outputs ({', '.join(model.labels)})")
        return y
    index = {name: i for i, name in enumerate(model.labels)}
    unknown = [name for name in samples.label_names if name not in index]
    if unknown:
        raise NNModelError(f"{samples.source}: class {unknown[0]!r} is not one of model {model.name}'s "
                           f"({', '.join(model.labels)})")
    mapping = np.array([index[name] for name in samples.label_names], np.int64)
    return mapping[np.asarray(samples.y, np.int64)]


def from_samples(model: Model, samples: Samples, *, held_out: bool = False, limit: int = 0) -> EvalData:
    codes, targets = sample_codes(model, samples), model_targets(model, samples)
    part = "all rows"
    if held_out:
        hold = model.provenance.get("holdout")
        if not (isinstance(hold, dict) and isinstance(hold.get("test_split"), float)
                and isinstance(hold.get("split_seed"), int) and hold.get("test_split", 0) > 0):
            raise NNModelError(f"{model.name}: its provenance records no held-out test rows (trained on a data "
                               "file by nnmodel train with --test-split > 0); drop --held-out")
        if hold.get("data_sha256") != data_digest(samples) or hold.get("rows") != len(samples):
            raise NNModelError(f"{samples.source}: not the data model {model.name} was trained on (its held-out "
                               "rows are recorded for another file); drop --held-out or use that file")
        _, test = test_indices(len(samples), hold["test_split"], hold["split_seed"])
        codes, targets, part = codes[test], targets[test], "held-out test rows"
    if limit:
        codes, targets = codes[:limit], targets[:limit]
    return EvalData(codes, targets, f"{samples.source} ({part}, {len(targets)})", model.is_regression)


def load(model: Model, data: str | None, *, label: str | None = None, split: str = "test", limit: int = 0,
         held_out: bool = False) -> EvalData:
    """What `--data/--label/--split/--limit/--held-out` name, for this model."""
    if limit < 0:
        raise NNModelError(f"--limit {limit}: must be 0 (all) or a positive number of samples")
    if data is not None and not os.path.lexists(data):  # a looping or dangling link: the reader names it
        raise NNModelError(missing_data(data))
    if data is not None and not Path(data).is_dir():
        return from_samples(model, load_samples(data, label), held_out=held_out, limit=limit)
    if held_out or label:
        raise NNModelError(f"--{'held-out' if held_out else 'label'} applies to a data file; --data "
                           f"{data or '(the bundled sample)'} is MNIST digits")
    if data:
        digits = load_mnist(data, "train" if split == "train" else "test")
    elif split == "test":
        digits = load_sample()
    else:
        raise NNModelError("--split train needs --data DIR; the bundled sample holds test digits only")
    spec = model.input
    if spec.is_v3 or (spec.rows, spec.cols) != (28, 28):
        raise NNModelError(f"model {model.name} takes {spec.describe()}, not 28x28 digits; pass its data file "
                           "with --data FILE")
    n = limit or None
    return EvalData(digits.images[:n], digits.labels[:n].astype(np.int64),
                    f"{digits.source} ({split}, {len(digits.labels[:n])} digits)", False)


def stream_codes(data: EvalData, model: Model) -> np.ndarray:
    """The codes as the C API's feed_row takes them, row after row: [N, rows, cols] in the input's
    dtype (the reference and the host driver read this too)."""
    spec = model.input
    return data.codes.reshape(len(data.codes), spec.rows, spec.cols)
