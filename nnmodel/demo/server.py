"""The local web server of `nnmodel demo`: Python's http.server moves the bytes, lib/nnweb (NativeSite)
decides every answer, so the host serves exactly what the ESP32-C3 firmware serves.

Hostile clients are bounded (issue 23): every request has a whole-request deadline (not a timeout that
restarts on each byte) and a byte budget, at most `Limits.connections` are served at once (more wait
in a listen queue of `Limits.backlog`), every Content-Length is checked before a byte of body is read,
and the log escapes control characters."""
from __future__ import annotations

import errno
import io
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from ..errors import NNModelError
from .native import BODY_MAX, NativeSite, Request, Response

HOST = "127.0.0.1"  # never reachable from other machines
# Request line, headers and body together; http.server alone allows 100 header lines of 64 KiB each.
REQUEST_MAX = 1 << 17
# As http.server's log_message (Python 3.12, 3.11.1+): C0, DEL and C1 as \xNN, and the backslash
# doubled, so that a logged "\x1b" cannot be told apart from an escaped ESC. (Written out: 3.9 lacks it.)
_LOG_ESCAPES = str.maketrans({**{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}, ord("\\"): "\\\\"})


@dataclass(frozen=True)
class Limits:
    """What one client, or many, may take of the server."""

    deadline: float = 10.0  # seconds for a whole request (request line, headers, body) from its accept
    connections: int = 64  # served at once, one thread each; further ones wait in the listen queue
    backlog: int = 1024  # the listen queue (the kernel may cap it: net.core.somaxconn)


class _Overdue(Exception):
    """The request's deadline passed while reading it (not an OSError: http.server would swallow it)."""


class _TooLarge(Exception):
    """The request took more than REQUEST_MAX bytes."""


class _DeadlineReader(io.RawIOBase):
    """The socket as rfile, with one deadline for everything read through it and a byte budget: each
    recv may only wait for the time left, however slowly the bytes trickle in."""

    def __init__(self, sock: socket.socket, deadline: float, budget: int) -> None:
        super().__init__()
        self._sock, self._deadline, self._budget = sock, deadline, budget
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = min(len(buffer), self._budget - self.received)
        if room <= 0:
            raise _TooLarge
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _Overdue
        self._sock.settimeout(left)
        try:
            n = self._sock.recv_into(buffer, room)
        except socket.timeout:
            raise _Overdue from None
        self.received += n
        return n


def _error(status: int, text: str) -> Response:
    return Response(status, "application/json", json.dumps({"error": text}).encode())


def _length_refusal(lengths: list[str]) -> Response | None:
    """A refusal for the request's Content-Length header(s), or None: absent, or decimal digits within
    BODY_MAX. The same rules as lib/nnweb's for POST /predict, applied to every request, since the
    server reads that many bytes whatever the route."""
    if not lengths:
        return None
    values = [value.strip(" \t\r\n") for value in lengths]
    if len(set(values)) > 1:
        return _error(400, "Content-Length given twice with different values")
    value = values[0]
    if not value or any(c not in "0123456789" for c in value):  # (str.isdigit takes "٥" and "²")
        return _error(400, "Content-Length is not a number")
    if len(value.lstrip("0")) > len(str(BODY_MAX)) or int(value) > BODY_MAX:  # no int() of 5000 digits
        return _error(413, f"body too large: the limit is {BODY_MAX} bytes")
    return None


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    server_version = "nnmodel-demo"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # (only its reference to the socket: the connection stays open)
        self._reader = _DeadlineReader(self.connection, time.monotonic() + self.server.limits.deadline,
                                       REQUEST_MAX)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        # What an answer needs when the request line never arrived whole.
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        try:
            super().handle_one_request()
        except _Overdue:
            self.close_connection = True
            if self._reader.received:  # a connection that sent nothing (a browser's preconnect) just closes
                self._refuse(_error(408, "request timed out: the whole request must arrive within "
                                         f"{self.server.limits.deadline:g} s"))
        except _TooLarge:
            self.close_connection = True
            self._refuse(_error(431, f"request too large: request line, headers and body may take {REQUEST_MAX} "
                                     "bytes"))

    def do_GET(self) -> None:
        self._serve()

    # Every method goes to lib/nnweb, which answers 405 with an Allow header where it does not fit.
    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def _serve(self) -> None:
        site = self.server.site
        if site is None:  # bound, still compiling (connections wait in the backlog until then)
            self.send_error(503, "the model is still being compiled")
            return
        lengths = self.headers.get_all("Content-Length") or []
        request = Request(self.command, self.path, self.headers.get("Content-Type"),
                          lengths[0] if lengths else None)
        # lib/nnweb refuses before the body is read (413, 411, 415, 404, 405) and checks POST /predict's
        # length; every route's length is checked here, and a chunked body is never read.
        response = site.head(request) or _length_refusal(lengths)
        if response is None and "Transfer-Encoding" in self.headers:
            response = _error(411, "Content-Length is required")
        if response is not None:
            self._refuse(response)
            return
        # A length of decimal digits, at most BODY_MAX. A client that sends less and closes gives a
        # short body, which nnweb_handle refuses (400); one that stalls meets the deadline (408).
        body = self.rfile.read(int(lengths[0]) if lengths else 0)
        self._send(site.handle(request, body))

    def _refuse(self, response: Response) -> None:
        """Answer without reading (the rest of) the body, then close."""
        self.close_connection = True
        self._send(response)
        self._linger()

    def _linger(self) -> None:
        """After answering without reading the body: stop sending, then read and drop what the client
        still sends (at most 64 KiB, 1 s), so that it reads the answer rather than a connection reset."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            left = 1 << 16
            while left > 0:
                chunk = self.connection.recv(min(left, 8192))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass  # the client went away: nothing left to protect

    def _send(self, response: Response) -> None:
        self.connection.settimeout(self.server.limits.deadline)  # sending the answer: its own deadline
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if response.allow:
            self.send_header("Allow", response.allow)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, an oversized header) in the demo's
        JSON form too: {"error": "one line"}, always after a status line (http.server answers a bad
        version as HTTP/0.9: the body alone)."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        text = " ".join(str(message or self.responses.get(code, ("error",))[0]).split())
        self._send(_error(code, text))

    def log_message(self, format: str, *args: object) -> None:
        self.server.log(format % args)


class DemoServer(ThreadingHTTPServer):
    """Bound to 127.0.0.1 only. `site` is set once the model is compiled; until then requests get 503."""

    daemon_threads = True  # Ctrl-C does not wait for a browser's idle keep-alive connection

    def __init__(self, port: int, log: Callable[[str], None] | None = None, limits: Limits = Limits()) -> None:
        self.site: NativeSite | None = None
        self.limits = limits
        self.request_queue_size = limits.backlog  # read by listen() in super().__init__
        self._write_log = log
        self._slots = threading.BoundedSemaphore(limits.connections)
        self._stopping = threading.Event()
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def log(self, text: str) -> None:
        """One line to the log callback, control characters escaped (a request line is the client's text)."""
        if self._write_log is not None:
            self._write_log(text.translate(_LOG_ESCAPES))

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, at most limits.connections at once: at the cap, stop accepting, so
        further connections wait in the listen queue, until a thread ends (its deadline bounds that)."""
        while not self._slots.acquire(timeout=0.1):
            if self._stopping.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread was started to release it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is one log line, not a traceback."""
        exc = sys.exc_info()[1]
        self.log(f"{client_address[0]}:{client_address[1]}: {type(exc).__name__}: {exc}")


def open_server(port: int, log: Callable[[str], None] | None = None, limits: Limits = Limits()) -> DemoServer:
    """Listen on 127.0.0.1:port (0: a free port, see .url); NNModelError when that is impossible."""
    try:
        return DemoServer(port, log, limits)
    except OSError as exc:
        where = f"{HOST}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise NNModelError(f"{where} is in use; choose another --port (0 picks a free one)") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise NNModelError(f"{where}: permission denied (ports below 1024 need privileges); "
                               "choose another --port") from None
        raise NNModelError(f"cannot listen on {where}: {exc.strerror or exc}") from None
