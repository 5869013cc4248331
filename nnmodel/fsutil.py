"""Files in and out, the one place that touches the file system for models, data and outputs.

- read_input / InputFiles: a model or data file is checked on its open descriptor (a regular file,
  at most a limit) before a byte is read, and read once: what the pre-build hashes is what it
  compiles.
- OutputFolder: generated files are staged and renamed under a lock on the folder, and a manifest
  (.nnmodel-files) lists what nnmodel wrote there, so that it replaces or removes nothing else.
- check_out_folder / check_out_file: an --out that cannot be written is one line before any work.
- write_atomic: readers (compilers, PlatformIO, people) never see half a file.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NNModelError

MAX_MODEL_BYTES = 256 << 20  # a model file (.nnm or a framework's): none for a microcontroller comes close
MAX_DATA_BYTES = 1 << 30  # a data file, and a gzip data file's content: numpy then holds several times that
MANIFEST = ".nnmodel-files"
LOCK = ".nnmodel.lock"
LOCK_WAIT_SECONDS = 600.0  # another writer's whole generation (an import with calibration) may take this long
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def default_file_mode() -> int:
    """The mode open() would give a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def os_error_line(exc: OSError) -> str:
    """An OSError as one line: the file(s) it names, then what the system said."""
    names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
    what = exc.strerror or str(exc)
    return f"{' -> '.join(names)}: {what[:1].lower()}{what[1:]}" if names else what


# ----------------------------------------------------------------------------------- reading
def _open_error(path: Path, exc: OSError, what: str, missing: str) -> NNModelError:
    if exc.errno == errno.ENOENT and missing:
        return NNModelError(f"{path}: {missing}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return NNModelError(f"{path}: cannot open (permission denied); make the file readable for the user that "
                            "runs nnmodel")
    if exc.errno == errno.ELOOP:
        return NNModelError(f"{path}: cannot open (a loop of symbolic links); point the link at the {what}")
    if exc.errno == errno.ENOTDIR:
        return NNModelError(f"{path}: cannot open (a part of the path is a file, not a folder); check the path")
    if exc.errno == errno.EISDIR or (exc.errno == errno.EACCES and path.is_dir()):
        return NNModelError(f"{path}: is a folder, expected a {what}")
    return NNModelError(f"{path}: cannot open ({exc.strerror or exc}); check the path")


def _check_type(path: Path, mode: int, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise NNModelError(f"{path}: is a folder, expected a {what}")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise NNModelError(f"{path}: is {kind}, not a regular file; nnmodel reads a {what} only from a regular "
                           "file: copy it to one")


def read_input(path: str | os.PathLike[str], limit: int, what: str, missing: str = "") -> bytes:
    """The bytes of a model or data file: see read_checked."""
    return read_checked(path, limit, what, missing)[0]


def read_checked(path: str | os.PathLike[str], limit: int, what: str, missing: str = "") -> tuple[bytes, int]:
    """(The bytes, the modification time in ns) of a model or data file (`what`, e.g. "model file"), refused
    before reading unless it is a regular file of at most `limit` bytes. `missing`: the message of a file
    that does not exist.

    The checks are made on the opened descriptor, so the name cannot be swapped between check and read;
    O_NONBLOCK makes opening a FIFO return at once (its writer may never come), and the type check then
    refuses it. A file that grows past `limit` while it is read is refused too.
    """
    p = Path(path)
    try:  # a device is not even opened (opening some has effects: a tape rewinds); checked again once open
        _check_type(p, os.stat(p).st_mode, what)
    except OSError:
        pass  # open() says what is wrong

    def opener(name: str, flags: int) -> int:
        return os.open(name, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))

    try:
        f = open(p, "rb", buffering=0, opener=opener)  # builtins.open: where tests simulate a denial
    except OSError as exc:
        raise _open_error(p, exc, what, missing) from None
    with f:
        info = os.fstat(f.fileno())
        _check_type(p, info.st_mode, what)
        if info.st_size > limit:
            raise NNModelError(f"{p}: {info.st_size} bytes is larger than any {what} nnmodel reads ({limit} max); "
                               "is this the right file?")
        parts: list[bytes] = []
        total = 0
        try:
            while True:  # one read of size + 1 in the common case: the extra byte shows a file that grew
                chunk = f.read(max(info.st_size + 1 - total, 1 << 20))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise NNModelError(f"{p}: grew past {limit} bytes while nnmodel read it; is this the right "
                                       f"{what}?")
        except OSError as exc:
            raise NNModelError(f"{p}: cannot read ({exc.strerror or exc}); copy the file again") from None
    return (parts[0] if len(parts) == 1 else b"".join(parts)), info.st_mtime_ns


@dataclass
class InputFiles:
    """Model and data files, each read once (read_input): every reader of one build gets the same bytes,
    so the pre-build's digest covers exactly what was compiled, calibrated on and embedded."""

    read: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # by absolute path: bytes, mtime in ns

    def get(self, path: str | os.PathLike[str], limit: int, what: str, missing: str = "") -> bytes:
        key = os.path.abspath(path)
        if key not in self.read:
            self.read[key] = read_checked(path, limit, what, missing)
        return self.read[key][0]

    def mtime_ns(self, path: str | os.PathLike[str]) -> int:
        """The modification time of a file read before, as it was when read."""
        return self.read[os.path.abspath(path)][1]

    def model(self, path: str | os.PathLike[str]) -> bytes:
        return self.get(path, MAX_MODEL_BYTES, "model file", "no such model file")

    def data(self, path: str | os.PathLike[str]) -> bytes:
        return self.get(path, MAX_DATA_BYTES, "data file")


# ------------------------------------------------------------------------------ --out checks
def _nearest_existing(folder: Path, path: Path, option: str) -> Path:
    """The nearest existing folder at or above `folder` (the output folder of `path`, or `path` itself):
    one line naming `path` if that cannot be a folder."""
    current = folder
    while True:
        try:
            info = os.stat(current)
        except FileNotFoundError:
            if current.is_symlink():
                which = "" if current == path else f"{current} "
                raise NNModelError(f"{option} {path}: {which}is a symbolic link to {os.readlink(current)}, which "
                                   f"does not exist; create it or choose another {option}") from None
            if current.parent == current:
                raise NNModelError(f"{option} {path}: no such folder; check the path") from None
            current = current.parent
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NNModelError(f"{option} {path}: a loop of symbolic links; fix the link or choose another "
                                   f"{option}") from None
            if exc.errno == errno.ENOTDIR:  # a file above: find it
                current = current.parent
                continue
            raise NNModelError(f"{option} {path}: {os_error_line(exc)}") from None
        if not stat.S_ISDIR(info.st_mode):
            if current == path:  # --out names a file where a folder is wanted
                raise NNModelError(f"{option} {path}: exists and is not a folder; choose a folder (it is created "
                                   "if missing)")
            raise NNModelError(f"{option} {path}: {current} is a file, not a folder; choose another {option}")
        return current


def _probe_writable(folder: Path, path: Path, option: str) -> None:
    """Create and remove a file of ours in `folder`: the one test of writing that holds for root, ACLs and
    read-only mounts alike."""
    probe = folder / f".nnmodel-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    except OSError as exc:
        raise NNModelError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); choose a folder you "
                           "can write to") from None
    os.close(fd)
    os.unlink(probe)


def check_out_folder(path: str | os.PathLike[str], option: str = "--out") -> None:
    """An output folder that is one (or can be created) and can be written: else one line, before any work."""
    p = Path(path)
    _probe_writable(_nearest_existing(p, p, option), p, option)


def check_out_file(path: str | os.PathLike[str], option: str = "--out", *, force: bool = False,
                   suffix: str = "") -> None:
    """An output file whose folder exists and can be written, that is not a folder, a dangling or looping
    symbolic link, nor (without force) an existing file: else one line, before any work (training)."""
    p = Path(path)
    if suffix and p.suffix != suffix:
        raise NNModelError(f"{option} {p}: model files end in {suffix}; e.g. {option} "
                           f"models/{p.stem or 'name'}{suffix}")
    try:
        info = os.stat(p)
    except FileNotFoundError:
        if p.is_symlink():
            raise NNModelError(f"{option} {p}: is a symbolic link to {os.readlink(p)}, which does not exist; create "
                               f"it or choose another {option}") from None
        info = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NNModelError(f"{option} {p}: a loop of symbolic links; fix the link or choose another "
                               f"{option}") from None
        if exc.errno != errno.ENOTDIR:
            raise NNModelError(f"{option} {p}: {os_error_line(exc)}") from None
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise NNModelError(f"{option} {p}: is a folder; name a file in it, e.g. {option} {p / ('name' + suffix)}")
    if info is not None and not force:
        raise NNModelError(f"{option} {p}: already exists; choose another {option} or pass --force to replace it")
    folder = _nearest_existing(p.parent, p, option)
    if folder != p.parent:
        raise NNModelError(f"{option} {p}: folder {p.parent} does not exist; create it first")
    _probe_writable(folder, p, option)


# ------------------------------------------------------------------------------------- writing
def stage(path: Path, data: bytes) -> Path:
    """Write data to a temp file beside path (same filesystem, so a later os.replace is atomic).

    mkstemp creates files readable by the owner only; give the staged file the mode an ordinary
    open() would, so models and generated headers stay readable by the rest of the toolchain.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, default_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_new(path: Path, data: bytes, exclusive: bool) -> None:
    """Create path (exclusive: it must not exist) with the mode an ordinary open() gives, and write data."""
    flags = os.O_WRONLY | os.O_CREAT | _O_BINARY | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _plain_name(name: str) -> bool:
    """A file name of the folder itself: the manifest can never name a file elsewhere."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0\n\r")


@dataclass
class Manifest:
    """What nnmodel wrote in a folder: its files, and the temp files of a write in progress (listed
    before they are created, so that a writer killed before its renames leaves nothing unlisted)."""

    files: set[str] = field(default_factory=set)
    temps: set[str] = field(default_factory=set)
    found: bool = False  # read from the folder (else the folder predates manifests, or is new)

    HEADER = "# nnmodel: the files it wrote in this folder; it replaces or removes only these"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            text = read_input(path, 1 << 20, "manifest").decode("utf-8")
        except NNModelError:
            if not os.path.lexists(path):
                return cls()
            raise
        except UnicodeDecodeError:
            text = ""
        lines = text.splitlines()
        if not lines or lines[0] != cls.HEADER:
            raise NNModelError(f"{path}: not a manifest written by nnmodel; remove {folder}'s generated files and "
                               f"{MANIFEST}, then generate again")
        manifest = cls(found=True)
        for n, line in enumerate(lines[1:], start=2):
            kind, _, name = line.partition(" ")
            if kind not in ("file", "temp") or not _plain_name(name):
                raise NNModelError(f"{path}: line {n} is damaged; remove {folder}'s generated files and "
                                   f"{MANIFEST}, then generate again")
            (manifest.files if kind == "file" else manifest.temps).add(name)
        return manifest

    def text(self) -> str:
        return "\n".join([self.HEADER] + [f"file {n}" for n in sorted(self.files)]
                         + [f"temp {n}" for n in sorted(self.temps)]) + "\n"


def _lock(fd: int) -> bool:
    """Take the lock on the open lock file without waiting: True if taken."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    # elsewhere closing the descriptor releases the flock (also when the process dies)


class OutputFolder:
    """A folder nnmodel generates files into, shared safely by concurrent writers (two compiles, a compile
    and a pre-build): every write happens under a lock on the folder, files are staged under names that
    are listed before they exist and renamed into place, and the manifest lists what nnmodel wrote. A
    file that exists and is not in the manifest is never replaced nor removed.

    `adopt(path)` recognises nnmodel's own files in a folder that has no manifest yet (written by an
    nnmodel from before manifests): they are listed the first time the folder is written.

        with OutputFolder(out, adopt) as folder:
            folder.write({"m.h": ...}, remove=["m.bin"])
    """

    def __init__(self, path: str | os.PathLike[str], adopt: Callable[[Path], bool] = lambda _: False):
        self.path = Path(path)
        self.adopt = adopt
        self.manifest = Manifest()
        self._fd: int | None = None

    # -- before the lock: refuse early, touching nothing
    def refuse_foreign(self, names: Iterable[str]) -> None:
        """One line if a file `names` would replace exists and is not nnmodel's (checked again under the lock)."""
        if not self.path.is_dir():
            return
        manifest = Manifest.read(self.path)
        for name in names:
            self._check(manifest, name)

    def _owned(self, manifest: Manifest, name: str) -> bool:
        return name in manifest.files or (not manifest.found and self.adopt(self.path / name))

    def _check(self, manifest: Manifest, name: str) -> None:
        target = self.path / name
        if os.path.lexists(target) and not self._owned(manifest, name):
            raise NNModelError(f"{target}: exists and was not generated by nnmodel (not in its list {MANIFEST}); "
                               "move it away or choose another --out folder")

    # -- under the lock
    def __enter__(self) -> OutputFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | _O_BINARY, 0o666)
        try:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while not _lock(fd):
                if time.monotonic() > deadline:
                    raise NNModelError(f"{self.path}: another nnmodel has been writing here for "
                                       f"{LOCK_WAIT_SECONDS:.0f} s; wait for it to finish or stop it")
                time.sleep(0.01)
            self._fd = fd
            self.manifest = Manifest.read(self.path)
            if not self.manifest.found:  # a folder from before manifests: list what is recognisably nnmodel's
                self.manifest.files = {p.name for p in self.path.iterdir()
                                       if p.name not in (LOCK, MANIFEST) and p.is_file() and self.adopt(p)}
                self.manifest.found = True
            self._clear_temps()
        except BaseException:
            self._release(fd)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self._release(self._fd)

    def _release(self, fd: int) -> None:
        self._fd = None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def _save(self) -> None:
        """The manifest, replaced atomically (its temp name is fixed: only the lock holder writes it)."""
        tmp = self.path / (MANIFEST + ".tmp")
        _write_new(tmp, self.manifest.text().encode(), exclusive=False)
        for attempt in range(100):
            try:
                os.replace(tmp, self.path / MANIFEST)
                return
            except PermissionError:  # Windows: a refuse_foreign() outside the lock has it open for a moment
                if sys.platform != "win32" or attempt == 99:
                    raise
                time.sleep(0.01)

    def _clear_temps(self) -> None:
        """The temp files a writer killed before its renames left: listed, so they are ours."""
        if self.manifest.temps:
            for name in self.manifest.temps:
                (self.path / name).unlink(missing_ok=True)
            self.manifest.temps = set()
            self._save()

    def owns(self, name: str) -> bool:
        return name in self.manifest.files

    def read_owned(self, name: str) -> bytes | None:
        """A file of ours (a marker), or None."""
        if not self.owns(name):
            return None
        try:
            return (self.path / name).read_bytes()
        except OSError:
            return None

    def write(self, files: dict[str, bytes], remove: Iterable[str] = (), claim: Iterable[str] = ()) -> list[Path]:
        """Stage every file, then rename them all (a failure leaves the old set), then remove the `remove`
        files nnmodel wrote (others stay). `claim`: names listed as nnmodel's before the caller writes them.

        The names and their temp files are listed before anything is created: a writer killed at any
        point leaves only files the manifest names, and the next writer removes its temp files.
        """
        assert self._fd is not None, "write() inside `with OutputFolder(...)`"
        for name in files:
            if not _plain_name(name):
                raise ValueError(f"not a file name of the folder: {name!r}")
            self._check(self.manifest, name)
        tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        temps = {name: f".{name}.{tag}.tmp" for name in files}
        self.manifest.files.update(files)
        self.manifest.temps = set(temps.values())
        self._save()
        staged: list[str] = []
        try:
            for name, data in files.items():
                _write_new(self.path / temps[name], data, exclusive=True)
                staged.append(name)
            while staged:
                name = staged[0]
                os.replace(self.path / temps[name], self.path / name)
                staged.pop(0)
        finally:
            for name in staged:
                (self.path / temps[name]).unlink(missing_ok=True)
        for name in remove:
            if name in self.manifest.files and name not in files:
                (self.path / name).unlink(missing_ok=True)
                self.manifest.files.discard(name)
        self.manifest.files.update(claim)
        self.manifest.temps = set()
        self._save()
        return [self.path / name for name in files]

    def remove(self, names: Iterable[str]) -> None:
        """Remove the files of `names` that nnmodel wrote (a marker before regenerating)."""
        assert self._fd is not None
        gone = [n for n in names if n in self.manifest.files]
        for name in gone:
            (self.path / name).unlink(missing_ok=True)
            self.manifest.files.discard(name)
        if gone:
            self._save()
