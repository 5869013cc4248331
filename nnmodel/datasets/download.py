"""Download the four official MNIST (or Fashion-MNIST) files from mirrors, md5-checked and atomic."""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nnmodel.errors import NNModelError
from nnmodel.fsutil import default_file_mode

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
MAX_BYTES = 64 << 20  # the largest file is ~10 MB; stop a misbehaving server from filling the disk
_CHUNK = 1 << 16
# Failures that mean "this mirror did not deliver"; other OSErrors are local (disk, permissions).
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def _one_line(x: object) -> str:
    return " ".join(str(x).split())


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, directory: Path, name: str, timeout: float) -> tuple[Path, str]:
    """Stream url into a hidden temp file in directory; return (temp path, md5). Removes it on failure."""
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h, total = hashlib.md5(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                total += len(chunk)
                if total > MAX_BYTES:
                    raise urllib.error.URLError(f"response larger than {MAX_BYTES} bytes")
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())  # the rename must never publish a file whose bytes are not on disk
        os.chmod(tmp, default_file_mode())  # mkstemp's 0600 would hide the data from other users
        return tmp, h.hexdigest()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download_mnist(
    directory: str | os.PathLike[str],
    *,
    fashion: bool = False,
    timeout: float = 30.0,
    mirrors: Sequence[str] | None = None,
    files: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Make DIR hold the four MNIST (or Fashion-MNIST) .gz files with the published md5s; return their paths.

    Files already present with the right md5 are kept; a present file with a wrong md5 is an error, never
    overwritten. mirrors (base URLs) and files (name -> md5) default to the official ones; tests inject others.
    """
    d = Path(directory)
    expected = dict(files if files is not None else FASHION_MD5 if fashion else MNIST_MD5)
    bases = tuple(mirrors if mirrors is not None else FASHION_MIRRORS if fashion else MNIST_MIRRORS)
    kind = "Fashion-MNIST" if fashion else "MNIST"
    by_hand = f"copy the files into {d} by hand: {', '.join(expected)}"
    say = progress or (lambda _msg: None)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NNModelError(f"{d}: cannot create the directory ({e.strerror or e}); choose another --dir") from e

    # Check every present file first so a bad one is reported before anything is downloaded.
    missing = []
    for name, md5 in expected.items():
        target = d / name
        if not target.exists():
            missing.append(name)
        elif (got := md5_file(target)) != md5:
            raise NNModelError(f"{target}: present but md5 is {got}, the {kind} file has {md5}; "
                               f"delete or move it and run again")
        else:
            say(f"{target}: present, md5 ok")

    for name in missing:
        unreachable: list[str] = []
        wrong: list[str] = []
        for base in bases:
            url = base.rstrip("/") + "/" + name
            say(f"downloading {url}")
            try:
                tmp, got = _fetch(url, d, name, timeout)
            except _NETWORK_ERRORS as e:
                why = f"HTTP {e.code}" if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
                unreachable.append(f"{url}: {_one_line(why)}")
                continue
            except OSError as e:
                raise NNModelError(f"{d}: cannot write {name} ({e.strerror or e}); check free space "
                                   f"and permissions") from e
            if got != expected[name]:
                tmp.unlink()
                wrong.append(f"{url} gave md5 {got}")
                continue
            os.replace(tmp, d / name)  # atomic: the name only ever refers to a complete, verified file
            say(f"{d / name}: md5 ok")
            break
        else:
            if wrong:
                raise NNModelError(f"{name}: wrong md5 from every mirror that answered ({'; '.join(wrong)}; "
                                   f"expected {expected[name]}); {by_hand}")
            raise NNModelError(f"cannot reach {'; '.join(unreachable)}; {by_hand}")
    return [d / name for name in expected]
