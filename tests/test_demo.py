"""Draw-a-digit without a browser: lib/nnweb through ctypes (the C the ESP32-C3 firmware runs), the
`nnmodel demo` server over real HTTP, its command line, the pre-build's web_page option, and the
ESP32-C3 firmware's own code compiled against the Arduino API's declarations.
(tests/test_demo_browser.py drives the page in Chromium.)"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, sigint_by_default, small_mlp

from nnmodel import load, reference, save
from nnmodel.codegen.layout import lay_out
from nnmodel.datasets import load_sample
from nnmodel.demo import BODY_MAX, NativeSite, Request, build_library, open_server
from nnmodel.paths import web_page
from nnmodel.prebuild import MARKER, Settings, generate

SAMPLE = load_sample()
MODELS = {name: REPO / "models" / f"{name}.nnm" for name in
          ("mnist_mlp_esp32c3", "mnist_rnn_attiny85", "mnist_cnn_attiny85")}
PREDICT_TYPE = "text/plain"


def hex_body(image: np.ndarray) -> bytes:
    return np.ascontiguousarray(image, np.uint8).tobytes().hex().encode()


def predict_request(body: bytes, content_type: str | None = PREDICT_TYPE) -> Request:
    return Request("POST", "/predict", content_type, str(len(body)))


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each shipped model's demo library, built once."""
    return {name: build_library(load(path), tmp_path_factory.mktemp(name), source=str(path))
            for name, path in MODELS.items()}


@pytest.fixture(scope="module")
def site(libraries: dict[str, Path]) -> NativeSite:
    return NativeSite(libraries["mnist_mlp_esp32c3"])


# ------------------------------------------------------------------------------ lib/nnweb, ctypes
@pytest.mark.parametrize("name", list(MODELS))
def test_logits_are_the_references_for_every_shipped_model(libraries: dict[str, Path], name: str) -> None:
    """All 500 bundled digits through POST /predict: the same integer logits as nnmodel.reference."""
    model, site = load(MODELS[name]), NativeSite(libraries[name])
    expected = reference.run(model, SAMPLE.images)
    for k, image in enumerate(SAMPLE.images):
        body = hex_body(image)
        response = site.handle(predict_request(body), body)
        assert response.status == 200 and response.content_type == "application/json", response
        reply = json.loads(response.body)
        assert reply["logits"] == expected[k].tolist(), f"digit {k}"
        assert reply["class"] == int(np.argmax(expected[k])) and reply["label"] == model.labels[reply["class"]]
        assert reply["device"] == "host" and isinstance(reply["us"], int)


def test_page_and_model_description(site: NativeSite) -> None:
    page = site.handle(Request("GET", "/"))
    assert page.status == 200 and page.content_type == "text/html; charset=utf-8"
    assert page.body == web_page().read_bytes()
    info = site.handle(Request("GET", "/model?x=1"))
    assert info.status == 200 and info.content_type == "application/json"
    described = json.loads(info.body)
    model = load(MODELS["mnist_mlp_esp32c3"])
    assert described["model"] == model.name and described["labels"] == model.labels
    assert described["input"] == {"rows": 28, "cols": 28}
    assert described["logit_scale"] == [float(model.layers[-1].acc_scale[0])] * 10
    assert described["predict"]["content_type"] == PREDICT_TYPE
    assert described["hash"] == f"0x{lay_out(model).model_hash:08x}"


def test_the_page_is_self_contained() -> None:
    """Works offline and from the board: nothing loaded from elsewhere."""
    page = web_page().read_text(encoding="utf-8")
    for needle in ("http://", "https://", "<link rel=\"stylesheet\"", "@import", "@font-face", "<script src"):
        assert needle not in page, needle
    assert 'fetch("predict"' in page and 'fetch("model")' in page and '"Content-Type": "text/plain"' in page


IMAGE = hex_body(SAMPLE.images[0])


@pytest.mark.parametrize("request_, body, status, message", [
    (Request("GET", "/nope"), b"", 404, "no such path"),
    (Request("GET", "/predict"), b"", 405, "/predict takes POST"),
    (Request("PUT", "/predict", PREDICT_TYPE, "1568"), IMAGE, 405, "/predict takes POST"),
    (Request("POST", "/", PREDICT_TYPE, "1568"), IMAGE, 405, "/ takes GET"),
    (Request("POST", "/predict", "application/octet-stream", "784"), SAMPLE.images[0].tobytes(), 415,
     "Content-Type must be text/plain"),
    (Request("POST", "/predict", None, "1568"), IMAGE, 415, "Content-Type must be text/plain"),
    (Request("POST", "/predict", PREDICT_TYPE, None), IMAGE, 411, "Content-Length is required"),
    (Request("POST", "/predict", PREDICT_TYPE, "12ab"), IMAGE, 400, "Content-Length is not a number"),
    (Request("POST", "/predict", PREDICT_TYPE, "1568\0"), IMAGE, 400, "Content-Length is not a number"),
    (Request("POST", "/predict", PREDICT_TYPE, str(BODY_MAX + 1)), b"", 413, "body too large"),
    (predict_request(IMAGE[:-2]), IMAGE[:-2], 400, "body holds 1566 hex digits; expected 1568"),
    (predict_request(IMAGE + b"00"), IMAGE + b"00", 400, "body holds 1570 hex digits"),
    (predict_request(b"zz" + IMAGE[2:]), b"zz" + IMAGE[2:], 400, "body byte 0 is not a hex digit"),
    (Request("POST", "/predict", PREDICT_TYPE, "1568"), IMAGE[:100], 400, "body of 100 bytes, but Content-Length"),
])
def test_malformed_requests_get_4xx_from_the_c(site: NativeSite, request_: Request, body: bytes, status: int,
                                               message: str) -> None:
    response = site.handle(request_, body)
    assert response.status == status and response.content_type == "application/json"
    assert list(json.loads(response.body)) == ["error"] and message in json.loads(response.body)["error"]
    assert b"\n" not in response.body
    assert response.allow == ({"/predict": "POST", "/": "GET"}.get(request_.path) if status == 405 else None)


# ------------------------------------------------------------------------------ HTTP, in-process
@pytest.fixture(scope="module")
def server(site: NativeSite) -> Iterator[str]:
    demo = open_server(0)
    demo.site = site
    thread = threading.Thread(target=demo.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield demo.url
    finally:
        demo.shutdown()
        demo.server_close()
        thread.join(5)


def http(url: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url.rstrip("/") + path, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def raw_http(url: str, data: bytes, shut_write: bool = False) -> tuple[int, dict]:
    """Send bytes as they are (no client fixes them up); (status, JSON body) of the answer."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_http_predictions_and_page(server: str) -> None:
    status, headers, page = http(server, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert page == web_page().read_bytes()
    expected = reference.run(load(MODELS["mnist_mlp_esp32c3"]), SAMPLE.images[:20])
    for k in range(20):
        body = hex_body(SAMPLE.images[k])
        status, headers, reply = http(server, "/predict", body, {"Content-Type": "text/plain;charset=UTF-8"})
        assert status == 200 and json.loads(reply)["logits"] == expected[k].tolist()
    spaced = b"\n".join(hex_body(row) for row in SAMPLE.images[3])  # e.g. `xxd -p` output
    status, _, reply = http(server, "/predict", spaced, {"Content-Type": "text/plain"})
    assert status == 200 and json.loads(reply)["logits"] == expected[3].tolist()


def test_concurrent_requests_are_serialized_correctly(server: str) -> None:
    """Many browser tabs at once: the one static model instance is never fed two images at a time."""
    expected = reference.run(load(MODELS["mnist_mlp_esp32c3"]), SAMPLE.images[:64])

    def one(k: int) -> list[int]:
        _, _, reply = http(server, "/predict", hex_body(SAMPLE.images[k]), {"Content-Type": "text/plain"})
        return json.loads(reply)["logits"]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, range(64)))
    assert got == expected.tolist()


@pytest.mark.parametrize("path, body, headers, method, status, message", [
    ("/predict", IMAGE[:-1], {"Content-Type": "text/plain"}, None, 400, "body holds 1567 hex digits"),
    ("/predict", SAMPLE.images[0].tobytes(), {"Content-Type": "application/octet-stream"}, None, 415,
     "Content-Type must be text/plain"),
    ("/predict", b"0" * (BODY_MAX + 1), {"Content-Type": "text/plain"}, None, 413, "body too large"),
    ("/predict", None, {}, "GET", 405, "/predict takes POST"),
    ("/predict", None, {}, "DELETE", 405, "/predict takes POST"),
    ("/model", IMAGE, {"Content-Type": "text/plain"}, "POST", 405, "/model takes GET"),
    ("/index.html", None, {}, "GET", 404, "no such path"),
])
def test_malformed_http_requests_get_4xx(server: str, path: str, body: bytes | None, headers: dict, method: str | None,
                                         status: int, message: str) -> None:
    got, reply_headers, reply = http(server, path, body, headers, method)
    assert got == status and reply_headers["Content-Type"] == "application/json"
    error = json.loads(reply)
    assert list(error) == ["error"] and message in error["error"] and "\n" not in error["error"]
    if status == 405:
        assert reply_headers["Allow"] in ("GET", "POST")


def test_raw_malformed_http_requests(server: str) -> None:
    """What a well-behaved client never sends: no Content-Length, a non-number, a body cut short,
    a broken request line. Each is a JSON 4xx, and the server keeps serving."""
    status, reply = raw_http(server, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\r\n" + IMAGE,
                             shut_write=True)
    assert status == 411 and "Content-Length is required" in reply["error"]
    status, reply = raw_http(server, b"POST /predict HTTP/1.1\r\nContent-Type: text/plain\r\n"
                                     b"Content-Length: lots\r\n\r\n")
    assert status == 400 and "Content-Length is not a number" in reply["error"]
    status, reply = raw_http(server, b"POST /predict HTTP/1.1\r\nContent-Type: text/plain\r\n"
                                     b"Content-Length: 1568\r\n\r\n" + IMAGE[:500], shut_write=True)
    assert status == 400 and reply["error"] == "body of 500 bytes, but Content-Length says 1568"
    status, reply = raw_http(server, b"POST /predict HTTP/1.1\r\nContent-Type: text/plain\r\n"
                                     b"Content-Length: 99999999999999999999\r\n\r\n")
    assert status == 413
    status, reply = raw_http(server, b"BREW /predict HTTP/1.1\r\n\r\n")  # http.server's own refusals: JSON too
    assert status == 501 and reply == {"error": "Unsupported method ('BREW')"}
    status, reply = raw_http(server, b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
    assert status == 431 and list(reply) == ["error"]
    status, _, _ = http(server, "/model")
    assert status == 200


# ------------------------------------------------------------------------------ nnmodel demo CLI
def start_demo(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "nnmodel", "demo", "--port", "0", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=sigint_by_default)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if " open http://" in line:
            return proc, line.split(" open ", 1)[1].split()[0]
    proc.kill()
    raise AssertionError("nnmodel demo printed no URL: " + "".join(lines) + proc.stderr.read())


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process is POSIX")
@pytest.mark.parametrize("name", ["mnist_rnn_attiny85", "mnist_cnn_attiny85"])
def test_cli_serves_a_shipped_model_and_stops_on_ctrl_c(name: str) -> None:
    proc, url = start_demo("--model", str(MODELS[name]))
    try:
        assert url.startswith("http://127.0.0.1:")
        status, _, reply = http(url, "/model")
        assert status == 200 and json.loads(reply)["model"] == name
        expected = reference.run(load(MODELS[name]), SAMPLE.images[:5])
        for k in range(5):
            status, _, reply = http(url, "/predict", hex_body(SAMPLE.images[k]), {"Content-Type": "text/plain"})
            assert status == 200 and json.loads(reply)["logits"] == expected[k].tolist()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "nnmodel demo: stopped" in out and "Traceback" not in err
    assert "POST /predict HTTP/1.1\" 200" in err  # one log line per request


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM to a child process is POSIX")
def test_cli_default_model_and_sigterm() -> None:
    proc, url = start_demo()
    try:
        assert json.loads(http(url, "/model")[2])["model"] == "mnist_mlp_esp32c3"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "nnmodel demo: stopped" in out and "Traceback" not in err


def run_demo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnmodel", "demo", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=env)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    def one_line(proc: subprocess.CompletedProcess, fragment: str) -> None:
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert fragment in lines[-1], proc.stderr

    one_line(run_demo("--model", str(tmp_path / "missing.nnm")), "missing.nnm: no such model file")
    (tmp_path / "bad.nnm").write_bytes(b"not a model")
    one_line(run_demo("--model", str(tmp_path / "bad.nnm"), "--port", "0"), "bad magic")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_line(run_demo("--port", str(port)), f"nnmodel: error: 127.0.0.1:{port} is in use; choose another --port")
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    one_line(run_demo("--port", "0", env=env), "cannot run the C compiler")
    one_line(run_demo("--port", "65536"), "argument --port: '65536' is not a port number")


# ------------------------------------------------------------------------------ pre-build option
def embedded_page(out: Path) -> bytes:
    """The page bytes of a generated nnmodel_web_page.c."""
    source = (out / "nnmodel_web_page.c").read_text()
    table = source.split("nnmodel_web_page[NNMODEL_WEB_PAGE_BYTES] = {", 1)[1].split("};", 1)[0]
    return bytes(int(v, 16) for v in table.replace("\n", "").replace(" ", "").split(",") if v)


def test_prebuild_web_page_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(small_mlp(), tmp_path / "m.nnm")
    options = {"model": "m.nnm", "web_page": "yes"}
    settings = Settings.parse(options, tmp_path, "esp32c3")
    out, again, log = tmp_path / "out", tmp_path / "again", []
    assert generate(settings, options, out, log.append)
    assert generate(settings, options, again, log.append)
    names = {"nnmodel_web_page.h", "nnmodel_web_page.c"}
    assert names <= {p.name for p in out.iterdir()}
    for name in names:  # deterministic
        assert (out / name).read_bytes() == (again / name).read_bytes()
    page = web_page().read_bytes()
    assert f"#define NNMODEL_WEB_PAGE_BYTES {len(page)}u" in (out / "nnmodel_web_page.h").read_text()
    assert embedded_page(out) == page
    assert any("draw-a-digit page" in line for line in log)
    assert not generate(settings, options, out, log.append)  # up to date

    # Editing the page regenerates (it is one of the inputs), and the new page is embedded.
    edited = tmp_path / "page.html"
    edited.write_bytes(page.replace(b"Draw a digit", b"Draw a number"))
    monkeypatch.setattr("nnmodel.paths.web_page", lambda: edited)
    assert generate(settings, options, out, log.append)
    assert embedded_page(out) == edited.read_bytes()

    # Compiles warning-free as C99, and turning the option off removes the files.
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(out / "nnmodel_web_page.c"),
                        "-o", str(tmp_path / "page.o")], check=True)
    off = {"model": "m.nnm"}
    assert generate(Settings.parse(off, tmp_path, "esp32c3"), off, out, log.append)
    assert not names & {p.name for p in out.iterdir()}
    assert (out / MARKER).exists()


def test_prebuild_web_page_rejects_a_bad_value(tmp_path: Path) -> None:
    from nnmodel import NNModelError

    with pytest.raises(NNModelError, match="custom_nnmodel_web_page = 'maybe'; expected yes or no"):
        Settings.parse({"model": "m.nnm", "web_page": "maybe"}, tmp_path, "native")


# ------------------------------------------------------------------------------ ESP32-C3 firmware
FIRMWARE = REPO / "src" / "esp32c3_web" / "main.cpp"
STUBS = Path(__file__).resolve().parent / "esp32_stubs"


@pytest.fixture(scope="module")
def esp32_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$BUILD_DIR/nnmodel of env esp32c3_web, as its pre-build writes it."""
    out = tmp_path_factory.mktemp("esp32c3_web") / "nnmodel"
    options = {"model": "models/mnist_mlp_esp32c3.nnm", "storage": "flash", "web_page": "yes"}
    generate(Settings.parse(options, REPO, "esp32c3"), options, out, lambda _: None)
    return out


def compile_firmware(compiler: list[str], generated: Path, *flags: str) -> subprocess.CompletedProcess:
    cmd = [*compiler, "-std=gnu++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", str(STUBS),
           "-I", str(generated), "-I", str(REPO / "lib" / "nnrt" / "include"),
           "-I", str(REPO / "lib" / "nnweb" / "include"),
           *flags, str(FIRMWARE)]
    return subprocess.run(cmd, capture_output=True, text=True)


COMPILERS = [pytest.param(["g++"], id="host"),
             pytest.param(["riscv64-unknown-elf-g++", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs"],
                          id="rv32imc")]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_esp32c3_web_firmware_compiles_against_the_arduino_api(compiler: list[str], esp32_generated: Path) -> None:
    """The espressif32 platform needs the PlatformIO registry; the firmware's own code is checked here
    against the arduino-esp32 declarations it uses (tests/esp32_stubs), on the host and with RV32's
    type sizes (uint32_t is unsigned long there: printf formats must hold on both)."""
    if not shutil.which(compiler[0]):
        pytest.skip(f"{compiler[0]} not installed (scripts/setup.sh test installs it)")
    ok = compile_firmware(compiler, esp32_generated, '-DNNMODEL_WIFI_SSID="net"', '-DNNMODEL_WIFI_PASSWORD="pw"')
    assert ok.returncode == 0, ok.stderr
    secrets = esp32_generated / "wifi_secrets.h"  # the gitignored file, found through the include path
    secrets.write_text((REPO / "src" / "esp32c3_web" / "wifi_secrets.example.h").read_text())
    try:
        assert compile_firmware(compiler, esp32_generated).returncode == 0
    finally:
        secrets.unlink()
    missing = compile_firmware(compiler, esp32_generated)
    assert missing.returncode != 0
    error = next(line for line in missing.stderr.splitlines() if "#error" in line)
    assert "WiFi credentials missing" in error and "wifi_secrets.h" in error and "PLATFORMIO_BUILD_FLAGS" in error
