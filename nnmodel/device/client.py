"""Talk to a device over a serial port (pyserial): find the reply stream, INFO, CLASSIFY with retries.

pyserial is an optional dependency (`pip install 'nnmodel[device]'`); it is imported only here, so
the rest of nnmodel needs numpy alone. Every failure is an NNModelError naming the port.
"""
from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from ..codegen.image import crc16
from ..errors import NNModelError
from .protocol import TRANSIENT_ERRORS, Classification, DeviceInfo, ProtocolError, classify_frame, is_reply

PYSERIAL_HINT = "pip install 'nnmodel[device]' (pyserial==3.5)"
RETRIES = 2  # extra attempts per image after a transient failure (noise, a lost byte)
PING_INTERVAL = 0.5  # seconds between PINGs while waiting for the device to answer at all


class Port(Protocol):
    """What the client needs from a serial port (pyserial's Serial has all of it)."""

    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int) -> bytes: ...
    @property
    def in_waiting(self) -> int: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


def open_serial(port: str, baud: int) -> Port:
    try:
        import serial  # pyserial
    except ImportError:
        raise NNModelError(f"{port}: device-eval needs pyserial: {PYSERIAL_HINT}") from None
    try:
        return serial.Serial(port=port, baudrate=baud, timeout=0.05, write_timeout=5)
    except (serial.SerialException, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise NNModelError(f"{port}: cannot open the serial port: {reason}") from None


@dataclass
class DeviceClient:
    """One request at a time; lines that are not replies (`#` logs, boot noise) are skipped."""

    port: Port
    name: str  # the port's name, for messages
    timeout: float = 2.0  # seconds to wait for one reply
    n_classes: int = 0  # set by info()
    _buffer: bytearray = field(default_factory=bytearray)
    _tokens: Iterator[int] = field(default_factory=itertools.count)

    # ------------------------------------------------------------------ lines
    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except Exception as exc:  # pyserial raises SerialException / SerialTimeoutException / OSError
            raise NNModelError(f"{self.name}: write failed: {' '.join(str(exc).split())}") from None

    def read_line(self, deadline: float) -> str | None:
        """The next line (without \\r\\n), or None at the deadline."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return raw.rstrip(b"\r").decode("ascii", "replace")
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self.port.read(max(1, self.port.in_waiting))
            except Exception as exc:
                raise NNModelError(f"{self.name}: read failed: {' '.join(str(exc).split())}") from None
            self._buffer += chunk

    def read_reply(self, deadline: float) -> str | None:
        while True:
            line = self.read_line(deadline)
            if line is None or is_reply(line):
                return line

    # ------------------------------------------------------------------ commands
    def sync(self, within: float) -> None:
        """Drop whatever is on the link and wait until the device answers a fresh PING token."""
        self.port.reset_input_buffer()
        self._buffer.clear()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            token = f"nnm{os.getpid() % 10000}x{next(self._tokens)}"
            self._write(f"\nPING {token}\n".encode())
            wait = min(deadline, time.monotonic() + PING_INTERVAL)
            while True:
                line = self.read_reply(wait)
                if line is None:
                    break
                if line == f"ok pong {token}":
                    return
        raise NNModelError(f"{self.name}: no answer to PING within {within:g} s; is the nnmodel serial firmware "
                           f"running and the baud rate right?")

    def request(self, frame: bytes, what: str) -> str:
        self._write(frame)
        line = self.read_reply(time.monotonic() + self.timeout)
        if line is None:
            raise NNModelError(f"{self.name}: no reply to {what} within {self.timeout:g} s")
        return line

    def info(self) -> DeviceInfo:
        line = self.request(b"INFO\n", "INFO")
        try:
            info = DeviceInfo.parse(line)
        except ProtocolError as exc:
            raise NNModelError(f"{self.name}: INFO: {exc}") from None
        self.n_classes = info.classes
        return info

    def classify(self, image: bytes) -> tuple[Classification, float, int]:
        """(reply, round-trip seconds, retries). Transient failures are retried after a resync."""
        frame, crc = classify_frame(image), crc16(image)
        last = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                self.sync(max(self.timeout, 1.0))
            t0 = time.perf_counter()
            self._write(frame)
            line = self.read_reply(time.monotonic() + self.timeout)
            rtt = time.perf_counter() - t0
            if line is None:
                last = f"no reply within {self.timeout:g} s"
                continue
            try:
                reply = Classification.parse(line, self.n_classes)
            except ProtocolError as exc:
                if exc.code and exc.code not in TRANSIENT_ERRORS:
                    raise NNModelError(f"{self.name}: the device refused the image: {line}") from None
                last = str(exc)
                continue
            if reply.crc != crc:
                last = f"reply for another image (crc {reply.crc:04x}, sent {crc:04x})"
                continue
            return reply, rtt, attempt
        raise NNModelError(f"{self.name}: CLASSIFY failed {RETRIES + 1} times; last: {last}")


@contextmanager
def open_device(port: str, baud: int = 115200, timeout: float = 2.0,
                connect_timeout: float = 10.0) -> Iterator[DeviceClient]:
    """Open the port and find the reply stream (the board may reset and print its boot log first)."""
    serial_port = open_serial(port, baud)
    try:
        client = DeviceClient(serial_port, port, timeout)
        client.sync(connect_timeout)
        yield client
    finally:
        serial_port.close()
