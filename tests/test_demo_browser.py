"""Draw-a-digit end to end in a real browser: headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium) opens the page of a running `nnmodel demo`, draws strokes that trace known MNIST
test digits with pointer input (mouse, and touch for one digit), and reads back the prediction, the
scores and the 28x28 image the page sent. Saves build/artifacts/demo_screenshot.png.

Chromium missing is a failure, not a skip: CI installs it (scripts/setup.sh test). Set
NNMODEL_SKIP_BROWSER=1 to skip these tests on purpose.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, sigint_by_default
from digit_strokes import strokes

from nnmodel import load, reference
from nnmodel.datasets import load_sample

if os.environ.get("NNMODEL_SKIP_BROWSER") == "1":
    pytest.skip("NNMODEL_SKIP_BROWSER=1: the draw-a-digit browser test is skipped on purpose",
                allow_module_level=True)

MODEL = REPO / "models" / "mnist_mlp_esp32c3.nnm"
SCREENSHOT = REPO / "build" / "artifacts" / "demo_screenshot.png"
# One bundled test digit per class (index into load_sample()), each traced confidently right: traced
# digits are redrawn by a different pen, so a few of the 500 come out as another class (7 of the
# first 300), as a person's drawing can. TOUCH is drawn with touch input instead of the mouse.
DIGITS = [3, 2, 35, 30, 4, 15, 11, 0, 61, 7]
TOUCH = 4
SIDE = 28  # the MNIST field: the page sends SIDE x SIDE pixels
INSTALL = ("install Debian's chromium and chromium-driver and pip selenium (scripts/setup.sh test does), "
           "or set NNMODEL_SKIP_BROWSER=1 to skip this test")


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(f"selenium is not installed: {INSTALL}")
    browser = _find("/usr/bin/chromium", "chromium", "chromium-browser")
    chromedriver = _find("/usr/bin/chromedriver", "chromedriver")
    if not browser or not chromedriver:
        pytest.fail(f"chromium{'' if browser else ' (browser)'}{'' if chromedriver else ' (chromedriver)'} "
                    f"not found: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,760",
                "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(arg)
    # Service with an explicit path: Selenium Manager never looks for (or downloads) a driver.
    chrome = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `nnmodel demo` (the compiled C model) on a free port; its request log goes to a file."""
    log = tmp_path_factory.mktemp("demo") / "requests.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "nnmodel", "demo", "--model", str(MODEL), "--port", "0"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
                                    preexec_fn=sigint_by_default)
        try:
            url = None
            for line in proc.stdout:
                if " open http://" in line:
                    url = line.split(" open ", 1)[1].split()[0]
                    break
            assert url, f"nnmodel demo printed no URL: {log.read_text()}"
            yield url
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def _wait(driver, script: str, *args, timeout: float = 10.0):
    """Poll a JavaScript predicate quickly (WebDriverWait's default 0.5 s poll would dominate)."""
    end = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.02)


def draw(driver, pad, lines: list[list[tuple[float, float]]], touch: bool = False) -> None:
    """Pointer strokes on the pad; points are in the pad's 280x280 CSS px (offsets from its centre)."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    kind = interaction.POINTER_TOUCH if touch else interaction.POINTER_MOUSE
    actions = ActionBuilder(driver, mouse=PointerInput(kind, "finger" if touch else "mouse"), duration=0)
    size = pad.size
    for line in lines:
        for i, (x, y) in enumerate(line):
            actions.pointer_action.move_to(pad, round(x * size["width"] / 280 - size["width"] / 2),
                                           round(y * size["height"] / 280 - size["height"] / 2))
            if i == 0:
                actions.pointer_action.pointer_down()
        actions.pointer_action.pointer_up()
    actions.perform()


def test_traced_digits_are_classified_by_the_compiled_model(driver, server: str, capsys) -> None:
    sample, model = load_sample(), load(MODEL)
    assert (reference.run(model, sample.images[DIGITS]).argmax(axis=1) == sample.labels[DIGITS]).all()
    assert len(set(sample.labels[DIGITS].tolist())) == 10, "one digit of each class"
    driver.get(server)
    _wait(driver, "return document.body.dataset.ready === '1'")
    assert model.name in driver.find_element("id", "sub").text
    pad = driver.find_element("id", "pad")
    seen = []
    for k in DIGITS:
        lines = strokes(sample.images[k])
        driver.find_element("id", "clear").click()
        draw(driver, pad, lines, touch=k == TOUCH)
        _wait(driver, "const r = document.getElementById('result').dataset;"
                      "return r.state === 'done' && r.strokes === arguments[0]", str(len(lines)))
        assert pad.get_attribute("data-pointer") == ("touch" if k == TOUCH else "mouse")
        got = driver.execute_script(
            "const r = document.getElementById('result').dataset;"
            "return {cls: +r.class, label: r.label, logits: JSON.parse(r.logits),"
            " shown: document.getElementById('digit').textContent,"
            " pixels: document.getElementById('seen').dataset.pixels,"
            " scores: [...document.querySelectorAll('#scores tr')].map(t => +t.dataset.score),"
            " top: document.querySelector('#scores tr.top').dataset.class}")
        image = np.frombuffer(bytes.fromhex(got["pixels"]), np.uint8).reshape(SIDE, SIDE)
        label = int(sample.labels[k])
        seen.append(f"digit {k} (label {label}, {len(lines)} stroke{'s' * (len(lines) > 1)}"
                    f"{', touch' if k == TOUCH else ''}): predicted {got['cls']} at {max(got['scores']):.1%}")
        assert got["cls"] == label and got["shown"] == str(label) and got["top"] == str(label), seen[-1]
        # The C's logits are the reference's for the very image the page sent.
        assert got["logits"] == reference.run(model, image[None])[0].tolist()
        assert len(got["scores"]) == 10 and abs(sum(got["scores"]) - 1) < 1e-6
        # MNIST-like: centre of mass on pixel (14, 14) (as MNIST's own, within half a pixel), the
        # ink's longer side 20 px, anti-aliased (grey levels, not just 0 and 255).
        ys, xs = np.mgrid[0:SIDE, 0:SIDE]
        mass = image.astype(np.float64).sum()
        com = ((image * ys).sum() / mass, (image * xs).sum() / mass)
        assert max(abs(com[0] - 14), abs(com[1] - 14)) <= 0.5 + 1e-9, (k, com)
        rows, cols = np.nonzero(image.any(axis=1))[0], np.nonzero(image.any(axis=0))[0]
        assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == 20, k
        assert ((image > 0) & (image < 255)).sum() > 20, k
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))
    with capsys.disabled():
        print(f"\ndraw-a-digit: {len(DIGITS)}/{len(DIGITS)} traced digits classified right by the compiled C model")
        for line in seen:
            print("  " + line)
        print(f"draw-a-digit screenshot: {SCREENSHOT}")


def test_clear_and_undo(driver, server: str) -> None:
    sample = load_sample()
    driver.get(server)
    _wait(driver, "return document.body.dataset.ready === '1'")
    pad = driver.find_element("id", "pad")
    lines = strokes(sample.images[4])  # a 4 in two strokes
    assert len(lines) == 2
    draw(driver, pad, lines)
    _wait(driver, "const r = document.getElementById('result').dataset; return r.state === 'done' && r.strokes === '2'")
    driver.find_element("id", "undo").click()
    _wait(driver, "const r = document.getElementById('result').dataset; return r.state === 'done' && r.strokes === '1'")
    driver.find_element("id", "clear").click()
    state = driver.execute_script("return [document.getElementById('result').dataset.state,"
                                  " document.getElementById('seen').dataset.pixels,"
                                  " document.getElementById('digit').textContent]")
    assert state == ["empty", "", "–"]


def test_malformed_requests_get_4xx(driver, server: str) -> None:
    """From the page's own origin (fetch) and directly (urllib): each a JSON error, never a crash."""
    driver.get(server)
    script = """
        const done = arguments[arguments.length - 1];
        const tries = [["predict", {method: "POST", headers: {"Content-Type": "text/plain"}, body: "00".repeat(783)}],
                       ["predict", {method: "POST", headers: {"Content-Type": "application/octet-stream"}, body: new Uint8Array(784)}],
                       ["predict", {method: "POST", headers: {"Content-Type": "text/plain"}, body: "0".repeat(5000)}],
                       ["predict", {method: "GET"}],
                       ["nowhere", {method: "GET"}]];
        Promise.all(tries.map(([p, o]) => fetch(p, o).then(async r => [r.status, (await r.json()).error])))
            .then(done, e => done(String(e)));"""  # noqa: E501 (JS run as written: a split line would change the string)
    got = driver.execute_async_script(script)
    assert [s for s, _ in got] == [400, 415, 413, 405, 404], got
    assert all(isinstance(m, str) and m and "\n" not in m for _, m in got)

    def status(path: str, body: bytes | None, headers: dict) -> tuple[int, dict]:
        req = urllib.request.Request(server.rstrip("/") + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    image = load_sample().images[0].tobytes()
    cases = [("/predict", image.hex()[:-2].encode(), {"Content-Type": "text/plain"}, 400),
             ("/predict", image, {"Content-Type": "application/octet-stream"}, 415),
             ("/predict", b"0" * 4097, {"Content-Type": "text/plain"}, 413),
             ("/predict", None, {}, 405)]
    for path, body, headers, expected in cases:
        code, reply = status(path, body, headers)
        assert code == expected and list(reply) == ["error"], (path, headers, code, reply)
    assert status("/predict", image.hex().encode(), {"Content-Type": "text/plain"})[0] == 200  # still serving
