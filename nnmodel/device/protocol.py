"""Frames and replies of the nnmodel serial protocol, version 1 (docs/serial-protocol.md). No I/O here."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..codegen.image import crc16

PROTOCOL_VERSION = 1
REPLY_PREFIXES = ("ok ", "err ")

# Device errors after which the same frame may simply be sent again (the link, not the request, failed).
TRANSIENT_ERRORS = ("checksum", "timeout", "syntax", "line_too_long")


class ProtocolError(Exception):
    """A reply that does not follow the protocol, or an `err` reply (code is then set)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def is_reply(line: str) -> bool:
    """Replies start with `ok ` or `err `; `#` log lines and boot noise are not replies."""
    return line.startswith(REPLY_PREFIXES)


def check_ok(line: str, verb: str) -> list[str]:
    """The words after `ok VERB`; an `err` reply raises ProtocolError with its code."""
    words = line.split()
    if words[:1] == ["err"]:
        code = words[1] if len(words) > 1 else "?"
        raise ProtocolError(f"device replied: {line}", code)
    if words[:2] != ["ok", verb]:
        raise ProtocolError(f"expected `ok {verb} ...`, got: {line[:120]}")
    return words[2:]


def _fields(words: list[str], line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ProtocolError(f"malformed key=value {word!r} in: {line[:120]}")
        out[key] = value
    return out


def _int(fields: dict[str, str], key: str, line: str, base: int = 10) -> int:
    try:
        return int(fields[key], base)
    except KeyError:
        raise ProtocolError(f"reply lacks {key}=: {line[:120]}") from None
    except ValueError:
        raise ProtocolError(f"{key}={fields[key]!r} is not a number: {line[:120]}") from None


@dataclass(frozen=True)
class DeviceInfo:
    """The `ok info` reply."""

    proto: int
    model: str
    hash: int
    rows: int
    cols: int
    classes: int
    macs: int
    ram: int
    payload: int
    storage: str
    line_max: int  # longest command line the device takes
    timeout_ms: int  # a stalled frame is dropped after this
    layers: str
    extra: dict[str, str] = field(default_factory=dict)  # keys a newer device may add

    @classmethod
    def parse(cls, line: str) -> DeviceInfo:
        f = _fields(check_ok(line, "info"), line)
        known = {x.name for x in fields(cls)}
        return cls(
            proto=_int(f, "proto", line), model=f.get("model", "?"),
            hash=_int(f, "hash", line, 16),  # 0x-prefixed hex
            rows=_int(f, "rows", line), cols=_int(f, "cols", line), classes=_int(f, "classes", line),
            macs=_int(f, "macs", line), ram=_int(f, "ram", line), payload=_int(f, "payload", line),
            storage=f.get("storage", "?"), line_max=_int(f, "line_max", line),
            timeout_ms=_int(f, "timeout_ms", line), layers=f.get("layers", "?"),
            extra={k: v for k, v in f.items() if k not in known})


@dataclass(frozen=True)
class Classification:
    """The `ok classify` reply: class, integer logits, device time inside the model, payload CRC."""

    crc: int
    cls: int
    us: int
    logits: tuple[int, ...]

    @classmethod
    def parse(cls, line: str, n_classes: int) -> Classification:
        f = _fields(check_ok(line, "classify"), line)
        try:
            logits = tuple(int(v) for v in f.get("logits", "").split(","))
        except ValueError:
            raise ProtocolError(f"logits are not integers: {line[:120]}") from None
        if len(logits) != n_classes:
            raise ProtocolError(f"{len(logits)} logits, expected {n_classes}: {line[:120]}")
        return cls(crc=_int(f, "crc", line, 16), cls=_int(f, "class", line), us=_int(f, "us", line), logits=logits)


def classify_frame(image: bytes) -> bytes:
    """`CLASSIFY <n> <crc16>\\n` followed by the n raw bytes."""
    return b"CLASSIFY %d %04x\n" % (len(image), crc16(image)) + image
