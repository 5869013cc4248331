"""Write data/breast_cancer.csv: scikit-learn's copy of the UCI Breast Cancer Wisconsin (Diagnostic) data.

569 rows, a header, then the 30 numeric features in sklearn's order with their names made identifiers
(lowercase, spaces → underscores: "mean radius" → mean_radius), then `diagnosis`, the class name as text
(malignant or benign). Numbers are printed with format(value, ".6g"), which gives back the source file's own text
(every value has at most 4 significant digits), e.g. 17.99, 0.1184, 1001.

    .venv/bin/python scripts/data/breast_cancer.py [--out FILE]

Needs scikit-learn (the `test` extra of pyproject.toml); no randomness.
"""
from __future__ import annotations

import re

from _common import output_path, write_text
from sklearn.datasets import load_breast_cancer


def identifier(name: str) -> str:
    """'mean radius' → 'mean_radius', 'fractal dimension error' → 'fractal_dimension_error'."""
    ident = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    if not ident.isidentifier():
        raise ValueError(f"feature name {name!r} does not make an identifier")
    return ident


def rows() -> list[str]:
    bunch = load_breast_cancer()
    names = [identifier(str(n)) for n in bunch.feature_names]
    classes = [str(c) for c in bunch.target_names]
    lines = [",".join([*names, "diagnosis"])]
    for values, target in zip(bunch.data, bunch.target):
        lines.append(",".join([*(format(v, ".6g") for v in values), classes[int(target)]]))
    return lines


def main(argv: list[str] | None = None) -> None:
    out = output_path(__doc__, "breast_cancer.csv", argv)
    write_text(out, rows())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
