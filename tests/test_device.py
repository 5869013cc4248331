"""The serial protocol end to end: src/native_device (lib/nnserial, the ESP32-C3 firmware's C) on a
pseudo-terminal, driven by `nnmodel device-eval` and by raw, malformed frames."""
from __future__ import annotations

import binascii
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, small_mlp

from nnmodel import hostc, load, reference, save
from nnmodel.cli import main
from nnmodel.datasets import load_sample
from nnmodel.device import Classification, DeviceClient, DeviceInfo, ProtocolError, classify_frame

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
serial = pytest.importorskip("serial", reason="device-eval needs pyserial (pip install 'nnmodel[device]')")

MODEL = REPO / "models" / "mnist_mlp_esp32c3.nnm"
SAMPLE = load_sample()
NNSERIAL = REPO / "lib" / "nnserial"


def build_device(model_path: Path, out: Path) -> Path:
    """The same sources as `pio run -e native_device`, compiled directly (no PlatformIO needed)."""
    program = [*(NNSERIAL / "src").glob("*.c"), REPO / "src" / "native_device" / "main.c"]
    return hostc.build(load(model_path), out, extra_flags=["-I", str(NNSERIAL / "include")], program=program).exe


@pytest.fixture(scope="session")
def device_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_device(MODEL, tmp_path_factory.mktemp("device"))


@pytest.fixture(scope="module")
def sample_logits() -> np.ndarray:
    """nnmodel.reference's logits of MODEL for the bundled sample digits."""
    return reference.run(load(MODEL), SAMPLE.images)


@pytest.fixture(scope="session")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model file, device built from it): a device that runs a different model."""
    tmp = tmp_path_factory.mktemp("other")
    path = save(small_mlp(seed=3, name="small_mlp"), tmp / "small_mlp.nnm")
    return path, build_device(path, tmp)


@contextmanager
def serve(exe: Path, *args: str) -> Iterator[str]:
    """Run the device on a new pseudo-terminal; yields the port path."""
    proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "the device printed no port"
        line = proc.stdout.readline()
        assert " on " in line, line
        yield line.rsplit(" on ", 1)[1].strip()
        assert proc.poll() is None, "the device exited"
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def port(device_exe: Path) -> Iterator[str]:
    with serve(device_exe) as p:
        yield p


def nnmodel_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnmodel", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_device_eval_matches_the_reference_on_100_digits(port: str, tmp_path: Path, sample_logits: np.ndarray,
                                                         capsys) -> None:
    table = tmp_path / "latency.csv"
    assert main(["device-eval", "--port", port, "--limit", "100", "--csv", str(table)]) == 0
    text = capsys.readouterr().out
    correct = int((sample_logits[:100].argmax(axis=1) == SAMPLE.labels[:100]).sum())
    assert f"device {port}: mnist_mlp_esp32c3 hash 0x" in text and "(matches " in text
    assert f"accuracy on device: {correct}/100 = {correct:.2f}%" in text
    assert "logits identical to nnmodel.reference: 100/100" in text
    assert "latency on device: median " in text and "round trip: median " in text
    assert "mismatches: none" in text and "retries: 0" in text
    rows = table.read_text().splitlines()
    assert rows[0].startswith("image,label,device_class") and len(rows) == 101
    assert all(row.split(",")[4] == "1" for row in rows[1:])


def test_device_eval_with_an_mnist_folder(port: str, mnist_dir: Path, capsys) -> None:
    assert main(["device-eval", "--port", port, "--data", str(mnist_dir), "--limit", "300",
                 "--model", str(MODEL)]) == 0
    assert "logits identical to nnmodel.reference: 300/300" in capsys.readouterr().out


def test_a_corrupting_device_is_reported_image_by_image(device_exe: Path, sample_logits: np.ndarray, capsys) -> None:
    with serve(device_exe, "--corrupt-every", "7") as p:
        assert main(["device-eval", "--port", p, "--limit", "50"]) == 1
    text = capsys.readouterr().out
    assert "logits identical to nnmodel.reference: 43/50" in text and "mismatches: 7" in text
    listed = [int(line.split()[2]) for line in text.splitlines() if line.startswith("mismatch: image ")]
    assert listed == [6, 13, 20, 27, 34, 41, 48]
    logits = sample_logits[6].tolist()
    bad = [logits[0] + 1] + logits[1:]
    assert f"mismatch: image 6 (label {SAMPLE.labels[6]}): device class" in text
    assert f"logits {bad} | reference class {int(np.argmax(logits))} logits {logits}" in text


def test_a_device_running_another_model(other_model: tuple[Path, Path], tmp_path: Path) -> None:
    model_path, exe = other_model
    with serve(exe) as p:
        # No --model and no models/small_mlp.nnm in the working directory: says what to pass.
        proc = nnmodel_cli("device-eval", "--port", p, "--limit", "5", cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "runs model small_mlp (hash 0x" in proc.stderr and "pass --model FILE" in proc.stderr
        # The firmware's model differs from the file given: refused, with both hashes.
        proc = nnmodel_cli("device-eval", "--port", p, "--limit", "5", "--model", str(MODEL))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "the device runs small_mlp hash 0x" in proc.stderr and "--ignore-hash" in proc.stderr
        # --ignore-hash compares anyway: every differing image is listed.
        proc = nnmodel_cli("device-eval", "--port", p, "--limit", "20", "--model", str(MODEL), "--ignore-hash")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        listed = [line for line in proc.stdout.splitlines() if line.startswith("mismatch: image ")]
        assert "DIFFERS" in proc.stdout and len(listed) == 20
        # With its own model file it matches.
        proc = nnmodel_cli("device-eval", "--port", p, "--limit", "20", "--model", str(model_path))
        assert proc.returncode == 0 and "logits identical to nnmodel.reference: 20/20" in proc.stdout, proc.stdout


@pytest.mark.parametrize("case", ["missing", "silent"])
def test_port_problems_are_one_line_errors(case: str, tmp_path: Path) -> None:
    if case == "missing":
        proc = nnmodel_cli("device-eval", "--port", str(tmp_path / "ttyNONE"))
        message = "cannot open the serial port"
    else:  # a terminal nobody answers on
        master, slave = os.openpty()
        try:
            proc = nnmodel_cli("device-eval", "--port", os.ttyname(slave), "--connect-timeout", "1")
        finally:
            os.close(master)
            os.close(slave)
        message = "no answer to PING within 1 s"
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith("nnmodel: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ raw frames against the device
class Raw:
    """Bytes in, reply lines out (log lines starting with # skipped)."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, 115200, timeout=0.05)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.ser.write(data)

    def line(self, timeout: float = 2.0) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            if b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                text = raw.decode()
                if not text.startswith("#"):
                    return text
                continue
            if time.monotonic() > deadline:
                return None
            self.buf += self.ser.read(max(1, self.ser.in_waiting))

    def ask(self, data: bytes, timeout: float = 2.0) -> str | None:
        self.send(data)
        return self.line(timeout)

    def alive(self) -> None:
        assert self.ask(b"PING still-here\n") == "ok pong still-here"
        assert self.line(0.2) is None, "exactly one reply per frame"


IMAGE = SAMPLE.images[0].tobytes()
CRC = binascii.crc_hqx(IMAGE, 0xFFFF)


@pytest.mark.parametrize("frame, reply", [
    (b"CLASSIFY 783 %04x\n" % binascii.crc_hqx(IMAGE[:783], 0xFFFF) + IMAGE[:783],
     "err length payload of 783 bytes; this model takes 784 (28x28)"),
    (b"CLASSIFY 784 %04x\n" % (CRC ^ 0x8000) + IMAGE,
     f"err checksum header says {CRC ^ 0x8000:04x}, payload has {CRC:04x}"),
    (b"CLASSIFY 784\n" + IMAGE, "err syntax expected CLASSIFY <bytes> <crc16 hex>; input dropped until a pause"),
    (b"CLASSIFY 99999 0000\n" + IMAGE, "err syntax expected CLASSIFY <bytes> <crc16 hex>; input dropped until a pause"),
    (bytes(range(256)) * 4, "err syntax non-text byte in a command line; input dropped until a pause"),
    (b"x" * 500 + b"\n", "err line_too_long command line longer than 64 bytes; input dropped until a pause"),
    (b"SEND 784\n", "err unknown_command expected PING, INFO or CLASSIFY"),
    (b"PING two tokens\n", "err syntax expected PING [token], token: 1..32 printable characters"),
], ids=["short-length", "bad-checksum", "no-checksum", "oversize-length", "binary-garbage", "oversize-line",
        "unknown-command", "bad-ping"])
def test_malformed_frames_get_one_documented_error_and_the_device_keeps_answering(
        port: str, frame: bytes, reply: str, sample_logits: np.ndarray) -> None:
    raw = Raw(port)
    raw.alive()
    assert raw.ask(frame) == reply
    raw.alive()
    got = Classification.parse(raw.ask(classify_frame(IMAGE)), 10)
    assert list(got.logits) == sample_logits[0].tolist()


def test_a_truncated_frame_times_out_and_the_next_frame_is_served(port: str) -> None:
    raw = Raw(port)
    raw.alive()
    t0 = time.monotonic()
    raw.send(b"CLASSIFY 784 %04x\n" % CRC + IMAGE[:300])
    assert raw.line(3.0) == "err timeout payload stopped after 300 of 784 bytes; frame dropped after 1000 ms"
    assert 0.9 < time.monotonic() - t0 < 2.5
    raw.send(b"INF")
    assert raw.line(3.0) == "err timeout command line without \\n; frame dropped after 1000 ms"
    assert raw.ask(classify_frame(IMAGE)).startswith(f"ok classify crc={CRC:04x} class=7 us=")


def test_pipelined_frames_are_all_answered_in_order(port: str, sample_logits: np.ndarray) -> None:
    """docs/serial-protocol.md, "Pipelining": a host may write frames ahead of the replies. 300
    CLASSIFY frames go out at once while the host starts reading only after 2 s: the device's reply
    writes block (the pseudo-terminal is full) for longer than its 1000 ms timeout. That wait is the
    device's own, not a silent host, so no frame may time out, be lost or be answered out of order."""
    count = 300
    images = [SAMPLE.images[i].tobytes() for i in range(count)]
    raw = Raw(port)
    raw.alive()
    failures: list[BaseException] = []

    def write_all() -> None:
        try:
            raw.send(b"".join(classify_frame(image) for image in images))
        except BaseException as exc:  # reported by the test below, not lost in the thread
            failures.append(exc)

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    time.sleep(2.0)
    # 235 KB pass a pseudo-terminal in well under 2 s: a writer still busy means the device stopped
    # reading, blocked on a reply write for about 2 s (else this test would not test that).
    assert writer.is_alive(), "the frames all went out at once: the device's reply writes never blocked"
    replies: list[str] = []
    while len(replies) < count:
        line = raw.line(3.0)  # far longer than one frame takes: None means the device stopped answering
        if line is None:
            break
        replies.append(line)
    writer.join(10)
    assert not writer.is_alive() and not failures, failures
    errors = [line for line in replies if not line.startswith("ok classify ")]
    assert not errors and len(replies) == count, (
        f"{count - sum(line.startswith('ok classify ') for line in replies)} of {count} frames lost; "
        f"{len(replies)} replies; errors: {errors[:3]}")
    for k, line in enumerate(replies):
        got = Classification.parse(line, 10)
        assert got.crc == binascii.crc_hqx(images[k], 0xFFFF), f"reply {k} is for another frame: {line}"
        assert list(got.logits) == sample_logits[k].tolist(), f"frame {k}: {line}"
    raw.alive()


def test_pipelined_errors_are_answered_in_their_frames_place(port: str, sample_logits: np.ndarray) -> None:
    """docs/serial-protocol.md, "Pipelining": an error reply takes the failed frame's place and the
    frames written behind it are served."""
    images = [SAMPLE.images[i].tobytes() for i in range(3)]
    crc1 = binascii.crc_hqx(images[1], 0xFFFF)
    frames = [classify_frame(images[0]),
              b"CLASSIFY 784 %04x\n" % (crc1 ^ 1) + images[1],
              b"PING between\n",
              b"CLASSIFY 10 %04x\n" % binascii.crc_hqx(bytes(10), 0xFFFF) + bytes(10),
              b"HELLO\n",
              classify_frame(images[2])]
    raw = Raw(port)
    raw.alive()
    raw.send(b"".join(frames))
    replies = [raw.line(3.0) for _ in frames]
    assert replies[1:5] == [f"err checksum header says {crc1 ^ 1:04x}, payload has {crc1:04x}",
                            "ok pong between",
                            "err length payload of 10 bytes; this model takes 784 (28x28)",
                            "err unknown_command expected PING, INFO or CLASSIFY"], replies
    for line, k in ((replies[0], 0), (replies[5], 2)):
        assert line is not None, replies
        got = Classification.parse(line, 10)
        assert (got.crc, list(got.logits)) == (binascii.crc_hqx(images[k], 0xFFFF), sample_logits[k].tolist())
    raw.alive()


def test_boot_banner_and_info_over_stdio(device_exe: Path) -> None:
    proc = subprocess.run([str(device_exe), "--stdio"], input=b"INFO\nPING x\n", capture_output=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith("# model mnist_mlp_esp32c3 hash 0x") and lines[2].startswith("# serial protocol 1")
    info = DeviceInfo.parse(lines[3])
    model = load(MODEL)
    assert (info.proto, info.model, info.rows, info.cols, info.classes) == (1, model.name, 28, 28, 10)
    assert info.macs == model.macs() and info.layers == "dense:784->128:relu,dense:128->10:none"
    assert (info.line_max, info.timeout_ms) == (64, 1000) and lines[4:] == ["ok pong x"]


# ------------------------------------------------------------------ the host side without a device
class ScriptedPort:
    """A fake port: answers PING like a board that has just reset and prints its boot log."""

    def __init__(self) -> None:
        self.pending = b""
        self.in_waiting = 0

    def write(self, data: bytes) -> int:
        for line in data.split(b"\n"):
            if line.startswith(b"PING "):
                self.pending += b"\x00\xffESP-ROM:esp32c3-api1-20210207\r\n# model x\r\nok pong " + line[5:] + b"\r\n"
            elif line == b"INFO":
                self.pending += b"ok info proto=1 model=m hash=0x0000abcd rows=2 cols=2 classes=3 macs=1 ram=2 " \
                                b"payload=3 storage=flash line_max=64 timeout_ms=1000 future=1 layers=dense:4->3:none\n"
        return len(data)

    def read(self, size: int) -> bytes:
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def reset_input_buffer(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


def test_client_skips_boot_noise_and_parses_info() -> None:
    client = DeviceClient(ScriptedPort(), "fake")
    client.sync(1.0)
    info = client.info()
    assert (info.model, info.hash, info.classes, info.layers, info.extra) == ("m", 0xABCD, 3, "dense:4->3:none",
                                                                              {"future": "1"})


@pytest.mark.parametrize("line, message", [
    ("ok classify crc=12ab class=1 us=5 logits=1,2", "2 logits, expected 3"),
    ("ok classify crc=12ab class=1 us=5 logits=1,x,3", "logits are not integers"),
    ("ok classify crc=12ab us=5 logits=1,2,3", "reply lacks class="),
    ("err checksum header says 0001, payload has 0002", "device replied: err checksum"),
])
def test_reply_parsing_rejects_bad_replies(line: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Classification.parse(line, 3)
