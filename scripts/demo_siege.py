"""`nnmodel demo` under a bounded siege (issue 23's acceptance): a burst of simultaneous valid POSTs, slow
clients that trickle their requests for a while (and reconnect when cut), GETs with hostile
Content-Length values and a body the server must not wait for, and path-traversal forms, all at once.

Prints figures (answered count, slow connections' longest life, statuses, the server's peak RSS) and
exits 1 when a check fails: a valid request without its logits, a slow or hostile client without a 4xx
answer, a slow connection alive past its deadline, an answer with bytes other than the page, the
model description or a JSON error, an exception in the server's log, or RSS growth over the bound.

    python scripts/demo_siege.py                      # the full figure: 200 + 50 slow for 30 s, deadline 10 s
    python scripts/demo_siege.py --slow-seconds 3 --deadline 1   # the same in seconds (tests/test_demo.py)

Linux only (the server's memory is read from /proc/PID/status).
"""
from __future__ import annotations

import argparse
import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nnmodel import load, reference  # noqa: E402
from nnmodel.datasets import load_sample  # noqa: E402
from nnmodel.paths import web_page  # noqa: E402

MODEL = REPO / "models" / "mnist_mlp_esp32c3.nnm"  # nnmodel demo's default model
HOSTILE_LENGTHS = ["-1", "abc", "99999999999999999999", "9" * 5000, "4097", "0x10"]
TRAVERSALS = ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
              "/%252e%252e/etc/passwd", "//etc/passwd", "/etc/passwd", "http://127.0.0.1/etc/passwd",
              "/predict/../../etc/passwd", "/model/..%5c..%5cetc%5cpasswd", "/.%2e/.%2e/page.html", "/page.html",
              "/nnweb.c", "/?/../../etc/passwd", "/model?/../../../etc/passwd", "*", "/\\..\\..\\etc\\passwd"]


def predict_head(length: int = 1568) -> bytes:
    return (f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n"
            .encode())


def read_answer(sock: socket.socket, timeout: float) -> tuple[int, bytes] | None:
    """(status, body) of the answer, or None when none arrives within timeout seconds."""
    sock.settimeout(timeout)
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except OSError:  # a timeout, or a reset after the answer
        pass
    if not reply.startswith(b"HTTP/"):
        return None
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@dataclass
class Figures:
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[str] = field(default_factory=list)
    burst: Counter = field(default_factory=Counter)
    slow: Counter = field(default_factory=Counter)
    slow_longest: float = 0.0
    hostile: Counter = field(default_factory=Counter)
    hostile_sent: int = 0
    traversal: Counter = field(default_factory=Counter)

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)


class Server:
    """`nnmodel demo --port 0` in a child process, its log collected and its memory sampled."""

    def __init__(self, deadline: float | None, connections: int | None) -> None:
        cmd = [sys.executable, "-m", "nnmodel", "demo", "--port", "0"]
        cmd += ["--deadline", f"{deadline:g}"] if deadline is not None else []
        cmd += ["--max-connections", str(connections)] if connections is not None else []
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.port = 0
        for line in self.proc.stdout:
            if " open http://" in line:
                self.port = int(line.split(" open ", 1)[1].split()[0].rstrip("/").rsplit(":", 1)[1])
                break
        if not self.port:
            self.proc.kill()
            raise SystemExit("nnmodel demo printed no URL: " + self.proc.stderr.read())
        self.log: list[str] = []
        self.peak_rss = 0
        self._stop = threading.Event()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _drain(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.log.append(line.rstrip("\n"))

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak_rss = max(self.peak_rss, self.status_kib("VmRSS"))
            except OSError:
                return

    def stop(self) -> int:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(30)
        return self.proc.returncode


def burst(port: int, count: int, timeout: float, figures: Figures) -> None:
    """count simultaneous POST /predict of the bundled digits: each must get the reference's logits."""
    sample = load_sample()
    images = [sample.images[k % len(sample.images)] for k in range(count)]
    expected = reference.run(load(MODEL), sample.images[:min(count, len(sample.images))]).tolist()
    start = threading.Barrier(count)

    def one(k: int) -> None:
        start.wait()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
                sock.sendall(predict_head() + images[k].tobytes().hex().encode())
                got = read_answer(sock, timeout)
        except OSError as exc:
            got = None
            figures.fail(f"burst POST {k}: {exc}")
        ok = got is not None and got[0] == 200 and json.loads(got[1])["logits"] == expected[k % len(expected)]
        with figures.lock:
            figures.burst["answered" if ok else f"status {got[0]}" if got else "no answer"] += 1
        if not ok:
            figures.fail(f"burst POST {k}: {got!r:.200}")

    with ThreadPoolExecutor(count) as pool:
        list(pool.map(one, range(count)))


def slow_client(port: int, index: int, seconds: float, every: float, deadline: float, figures: Figures) -> None:
    """Trickle a request one byte every `every` s (the body for even clients, the headers for odd
    ones) for `seconds`, reconnecting whenever the server answers or closes."""
    image = load_sample().images[index % 500].tobytes().hex().encode()
    data, prefix = (predict_head() + image, len(predict_head())) if index % 2 == 0 else (predict_head(), 0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        begin = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=deadline + 30) as sock:
                sock.sendall(data[:prefix])
                for byte in data[prefix:]:
                    if time.monotonic() - begin > deadline + 2.5:
                        break  # past its deadline and still not cut: stop (a failure, below)
                    sock.send(bytes([byte]))
                    if select.select([sock], [], [], every)[0]:
                        break
                got = read_answer(sock, 2)
        except OSError as exc:
            got = None
            figures.fail(f"slow client {index}: {exc}")
        life = time.monotonic() - begin
        with figures.lock:
            figures.slow[f"status {got[0]}" if got else "no answer"] += 1
            figures.slow_longest = max(figures.slow_longest, life)
        if got is None or got[0] != 408:
            figures.fail(f"slow client {index}: {got!r:.200} after {life:.1f} s")


def hostile_get(port: int, length: str, mib: int, figures: Figures) -> None:
    """GET / with a hostile Content-Length, then up to `mib` MiB of body while watching for the answer."""
    chunk, sent = b"x" * 65536, 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
            try:
                while sent < mib << 20 and not select.select([sock], [], [], 0)[0]:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the server answered and closed: read the answer
            got = read_answer(sock, 10)
    except OSError as exc:
        got = None
        figures.fail(f"hostile Content-Length {length[:20]!r}: {exc}")
    ok = got is not None and got[0] in (400, 413) and list(json.loads(got[1])) == ["error"]
    with figures.lock:
        figures.hostile[f"status {got[0]}" if got else "no answer"] += 1
        figures.hostile_sent += sent
    if not ok:
        figures.fail(f"hostile Content-Length {length[:20]!r}: {got!r:.200}")


def traversal(port: int, target: str, allowed: tuple[bytes, ...], figures: Figures) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = read_answer(sock, 10)
    ok = got is not None and (got[1] in allowed or (got[0] == 404 and list(json.loads(got[1])) == ["error"]))
    with figures.lock:
        figures.traversal["page, model JSON or 404 JSON" if ok else "other"] += 1
    if not ok:
        figures.fail(f"traversal {target!r}: {got!r:.200}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--burst", type=int, default=200, help="simultaneous valid POSTs (default: %(default)s)")
    parser.add_argument("--slow", type=int, default=50, help="slow clients (default: %(default)s)")
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="how long they keep at it (default: 30)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between a slow client's bytes")
    parser.add_argument("--deadline", type=float, help="the server's --deadline (default: the server's own, 10 s)")
    parser.add_argument("--max-connections", type=int, help="the server's --max-connections (default: its own)")
    parser.add_argument("--hostile-mib", type=int, default=64, help="MiB each hostile GET offers (default: 64)")
    parser.add_argument("--max-growth-mib", type=float, default=100.0,
                        help="fail when the server's RSS grows more than this over its idle figure (default: 100)")
    args = parser.parse_args(argv)
    deadline = args.deadline if args.deadline is not None else 10.0

    server = Server(args.deadline, args.max_connections)
    figures = Figures()
    info = b""
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # warm up
            sock.sendall(b"GET /model HTTP/1.1\r\nHost: x\r\n\r\n")
            got = read_answer(sock, 10)
            info = got[1] if got else b""
        idle_kib = server.status_kib("VmRSS")
        allowed = (web_page().read_bytes(), info)
        began = time.monotonic()
        jobs: list[tuple[Callable[..., None], tuple]] = [
            (slow_client, (server.port, k, args.slow_seconds, args.every, deadline, figures)) for k in range(args.slow)]
        threads = [threading.Thread(target=job, args=job_args) for job, job_args in jobs]
        for thread in threads:
            thread.start()
        time.sleep(min(1.0, args.slow_seconds / 2))  # the slow clients hold their connections: now the rest
        others = [threading.Thread(target=burst, args=(server.port, args.burst, 3 * deadline + 30, figures))]
        others += [threading.Thread(target=hostile_get, args=(server.port, length, args.hostile_mib, figures))
                   for length in HOSTILE_LENGTHS]
        others += [threading.Thread(target=traversal, args=(server.port, target, allowed, figures))
                   for target in TRAVERSALS]
        for thread in others:
            thread.start()
        for thread in others + threads:
            thread.join()
        elapsed = time.monotonic() - began
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /model HTTP/1.1\r\nHost: x\r\n\r\n")
            after = read_answer(sock, 10)
        if after is None or after[0] != 200:
            figures.fail(f"GET /model after the siege: {after!r:.200}")
        hwm_kib = server.status_kib("VmHWM")
    finally:
        code = server.stop()
    bad_log = [line for line in server.log if "Traceback" in line or "Error" in line]
    growth_mib = (max(hwm_kib, server.peak_rss) - idle_kib) / 1024
    if bad_log:
        figures.fail(f"{len(bad_log)} exception lines in the server log, e.g. {bad_log[0]!r:.200}")
    if growth_mib > args.max_growth_mib:
        figures.fail(f"RSS grew {growth_mib:.1f} MiB (bound {args.max_growth_mib:g})")
    if figures.slow_longest > deadline + 2.5:
        figures.fail(f"a slow connection lived {figures.slow_longest:.1f} s (deadline {deadline:g} s)")
    if code != 0:
        figures.fail(f"nnmodel demo exited {code} on SIGTERM")

    print(f"siege: {elapsed:.1f} s; server deadline {deadline:g} s, "
          f"max connections {args.max_connections or 'default (64)'}")
    print(f"burst: {figures.burst['answered']}/{args.burst} simultaneous POST /predict answered with the "
          f"reference's logits {dict(figures.burst)}")
    print(f"slow: {args.slow} clients for {args.slow_seconds:g} s, one byte per {args.every:g} s: "
          f"{sum(figures.slow.values())} connections {dict(figures.slow)}, longest {figures.slow_longest:.2f} s")
    print(f"hostile GET Content-Length {len(HOSTILE_LENGTHS)} forms: {dict(figures.hostile)}, "
          f"{figures.hostile_sent / 1048576:.1f} MiB offered in total before the server closed")
    print(f"traversal: {len(TRAVERSALS)} forms: {dict(figures.traversal)}")
    print(f"memory: idle RSS {idle_kib / 1024:.1f} MiB, peak RSS {max(hwm_kib, server.peak_rss) / 1024:.1f} MiB "
          f"(VmHWM), growth {growth_mib:.1f} MiB")
    print(f"log: {len(server.log)} lines, {len(bad_log)} with an exception")
    for text in figures.failures[:20]:
        print(f"FAIL: {text}")
    print("result: " + ("FAILED" if figures.failures else "every check passed"))
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
