"""Shared by the example-data generators in this folder: the `--out` option and byte-reproducible writers.

Every generator writes the same bytes on every run: text files with "\\n" line ends and fixed number
formats; .npz files through `write_npz`, which gives every member a fixed date (1980-01-01 00:00:00), fixed
permissions and a fixed compression level (np.savez and np.savez_compressed stamp members with the
current time, so two runs would differ).
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "data"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry


def output_path(doc: str | None, default_name: str, argv: list[str] | None = None) -> Path:
    """The file to write: data/<default_name> at the repository root, or --out (a file, or a folder to put it in)."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0],
                                     epilog="See data/README.md for what the data is and how it was made.")
    parser.add_argument("--out", type=Path, default=DATA_DIR / default_name,
                        help=f"output file, or an existing folder to write {default_name} into "
                             f"(default: data/{default_name} at the repository root)")
    out: Path = parser.parse_args(argv).out
    if out.is_dir():
        out = out / default_name
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def write_text(path: Path, lines: list[str]) -> None:
    """UTF-8, "\\n" after every line (also on Windows)."""
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed (np.load reads it the same way), but the same bytes on every run."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the platform that writes it
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
