"""The local web server of `nnmodel demo`: Python's http.server moves the bytes, lib/nnweb (NativeSite)
decides every answer, so the host serves exactly what the ESP32-C3 firmware serves."""
from __future__ import annotations

import errno
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from ..errors import NNModelError
from .native import NativeSite, Request, Response

HOST = "127.0.0.1"  # never reachable from other machines


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    server_version = "nnmodel-demo"
    timeout = 10  # seconds: a client that stalls mid-request does not keep its thread forever

    def do_GET(self) -> None:
        self._serve()

    # Every method goes to lib/nnweb, which answers 405 with an Allow header where it does not fit.
    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def _serve(self) -> None:
        site = self.server.site
        if site is None:  # bound, still compiling (connections wait in the backlog until then)
            self.send_error(503, "the model is still being compiled")
            return
        request = Request(self.command, self.path, self.headers.get("Content-Type"),
                          self.headers.get("Content-Length"))
        response = site.head(request)
        if response is not None:  # refused before reading the body (413, 411, 415, 404, 405)
            self._send(response)
            if self.command not in ("GET", "HEAD"):
                self._linger()
            return
        # nnweb_head accepted the length: decimal digits, at most NNWEB_BODY_MAX. A client that
        # sends less and closes gives a short body, which nnweb_handle refuses (400).
        body = self.rfile.read(int(request.content_length or "0"))
        self._send(site.handle(request, body))

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
        JSON form too: {"error": "one line"}."""
        self.close_connection = True
        text = " ".join(str(message or self.responses.get(code, ("error",))[0]).split())
        self._send(Response(code, "application/json", json.dumps({"error": text}).encode()))

    def log_message(self, format: str, *args: object) -> None:
        if self.server.log is not None:
            self.server.log(format % args)


class DemoServer(ThreadingHTTPServer):
    """Bound to 127.0.0.1 only. `site` is set once the model is compiled; until then requests get 503."""

    daemon_threads = True  # Ctrl-C does not wait for a browser's idle keep-alive connection

    def __init__(self, port: int, log: Callable[[str], None] | None = None) -> None:
        self.site: NativeSite | None = None
        self.log = log
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is one log line, not a traceback."""
        exc = sys.exc_info()[1]
        if self.log is not None:
            self.log(f"{client_address[0]}:{client_address[1]}: {type(exc).__name__}: {exc}")


def open_server(port: int, log: Callable[[str], None] | None = None) -> DemoServer:
    """Listen on 127.0.0.1:port (0: a free port, see .url); NNModelError when that is impossible."""
    try:
        return DemoServer(port, log)
    except OSError as exc:
        where = f"{HOST}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise NNModelError(f"{where} is in use; choose another --port (0 picks a free one)") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise NNModelError(f"{where}: permission denied (ports below 1024 need privileges); "
                               "choose another --port") from None
        raise NNModelError(f"cannot listen on {where}: {exc.strerror or exc}") from None
