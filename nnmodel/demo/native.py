"""The draw-a-digit endpoints as native code: the model's generated C, lib/nnrt, lib/nnweb and the page,
built with the host compiler into a shared library and called through ctypes.

Every answer (page, model description, prediction, each 4xx) comes from lib/nnweb, the C that the
ESP32-C3 firmware (src/esp32c3_web) runs; this module only converts between Python and C.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ..codegen import compile_model, write_outputs
from ..codegen.extras import emit_web_page
from ..errors import NNModelError
from ..hostc import link_with_runtime
from ..model import Model
from ..paths import web_dir, web_page

BODY_MAX = 4096  # NNWEB_BODY_MAX: the most a server reads of a POST body


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    content_type: str | None = None  # header values as received; None when absent
    content_length: str | None = None


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    allow: str | None = None  # the Allow header of a 405


class _CRequest(ctypes.Structure):
    _fields_ = [("method", ctypes.c_char_p), ("path", ctypes.c_char_p), ("content_type", ctypes.c_char_p),
                ("content_length", ctypes.c_char_p)]


class _CResponse(ctypes.Structure):
    _fields_ = [("status", ctypes.c_uint16), ("content_type", ctypes.c_char_p), ("allow", ctypes.c_char_p),
                ("body", ctypes.c_void_p), ("body_bytes", ctypes.c_size_t)]


def _library_name() -> str:
    if os.name == "nt":
        return "nnweb_demo.dll"
    return "libnnweb_demo.dylib" if sys.platform == "darwin" else "libnnweb_demo.so"


def build_library(model: Model, workdir: Path, *, source: str = "") -> Path:
    """Generate the model (native target, weights in RAM) and its page into workdir/gen and link them
    with the runtime and lib/nnweb into a shared library; returns its path."""
    gen = Path(workdir) / "gen"
    result = compile_model(model, target="native", storage="ram", out_dir=gen, source=source)
    page = emit_web_page(model, result.layout.model_hash, web_page().read_bytes())
    write_outputs(gen, {name: text.encode() for name, text in page.items()}, model.name)
    web = web_dir()
    lib = Path(workdir) / _library_name()
    pic = [] if os.name == "nt" else ["-fPIC"]  # (every Windows DLL is position independent)
    sources = [gen / "nnmodel_web_page.c", *sorted((web / "src").glob("*.c")), Path(__file__).with_name("web_demo.c")]
    link_with_runtime(model, gen, lib, ["-O2", "-shared", *pic], sources, (web / "include",),
                      "the host C compiler failed on the demo library")
    return lib


def _text(value: str | None) -> bytes | None:
    # A NUL would end the C string early: make it a character the checks refuse.
    return None if value is None else value.replace("\0", "?").encode("latin-1", "replace")


class NativeSite:
    """lib/nnweb in a shared library built by build_library(). Thread-safe: one request at a time,
    since the generated model is a single static instance."""

    def __init__(self, library: Path) -> None:
        try:
            self._lib = ctypes.CDLL(str(library))
        except OSError as exc:
            raise NNModelError(f"{library}: cannot load the demo library ({exc})") from None
        lib, req, resp = self._lib, ctypes.POINTER(_CRequest), ctypes.POINTER(_CResponse)
        lib.nnweb_demo_open.restype = ctypes.c_void_p
        lib.nnweb_demo_open.argtypes = []
        lib.nnweb_head.restype = lib.nnweb_handle.restype = ctypes.c_uint16
        lib.nnweb_head.argtypes = [ctypes.c_void_p, req, resp]
        # the body as c_char_p: a pointer to the bytes object's own buffer, zero bytes included
        lib.nnweb_handle.argtypes = [ctypes.c_void_p, req, ctypes.c_char_p, ctypes.c_size_t, resp]
        self._web = self._lib.nnweb_demo_open()
        if not self._web:
            raise NNModelError(f"{library}: the model exceeds lib/nnweb's limits (NNWEB_MAX_COLS, NNWEB_MAX_CLASSES)")
        self._lock = threading.Lock()

    def head(self, request: Request) -> Response | None:
        """The answer decided before the body is read, or None: read Content-Length bytes, then handle()."""
        c_req, c_resp = self._c_request(request), _CResponse()
        with self._lock:
            status = self._lib.nnweb_head(self._web, ctypes.byref(c_req), ctypes.byref(c_resp))
            return self._response(c_resp) if status else None

    def handle(self, request: Request, body: bytes = b"") -> Response:
        c_req, c_resp = self._c_request(request), _CResponse()
        body = bytes(body)
        with self._lock:
            self._lib.nnweb_handle(self._web, ctypes.byref(c_req), body, len(body), ctypes.byref(c_resp))
            return self._response(c_resp)  # copied under the lock: the C reply buffer is reused

    @staticmethod
    def _c_request(request: Request) -> _CRequest:
        return _CRequest(_text(request.method), _text(request.path), _text(request.content_type),
                         _text(request.content_length))

    @staticmethod
    def _response(c_resp: _CResponse) -> Response:
        body = ctypes.string_at(c_resp.body, c_resp.body_bytes) if c_resp.body_bytes else b""
        return Response(int(c_resp.status), (c_resp.content_type or b"").decode(), body,
                        c_resp.allow.decode() if c_resp.allow else None)
