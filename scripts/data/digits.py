"""Write data/digits.npz: scikit-learn's copy of the UCI optical handwritten digits (8×8, values 0..16).

Arrays: `x` uint8 (1797, 8, 8, 1), pixel counts 0..16 as in the source (each pixel counts the set
pixels of a 4×4 block of a 32×32 bitmap); `y` int64 (1797,), the digit 0..9; `labels` str (10,),
"0".."9" (labels[y] names a sample's class). The sample order is sklearn's.

    .venv/bin/python scripts/data/digits.py [--out FILE]

Needs scikit-learn (the `test` extra of pyproject.toml); no randomness.
"""
from __future__ import annotations

import numpy as np
from _common import output_path, write_npz
from sklearn.datasets import load_digits


def arrays() -> dict[str, np.ndarray]:
    bunch = load_digits()
    images = np.asarray(bunch.images)
    if images.min() < 0 or images.max() > 16 or not np.array_equal(images, np.round(images)):
        raise ValueError("load_digits: expected integer pixels 0..16")
    x = images.astype(np.uint8).reshape(len(images), 8, 8, 1)
    y = np.asarray(bunch.target).astype(np.int64)
    labels = np.array([str(c) for c in bunch.target_names])
    return {"x": x, "y": y, "labels": labels}


def main(argv: list[str] | None = None) -> None:
    out = output_path(__doc__, "digits.npz", argv)
    write_npz(out, arrays())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
