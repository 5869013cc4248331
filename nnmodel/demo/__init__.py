"""Draw-a-digit: the page (page.html, one source for the host and the ESP32-C3), its native endpoints
(lib/nnweb through ctypes) and the local web server behind `nnmodel demo`."""
from .native import BODY_MAX, NativeSite, Request, Response, build_library
from .server import DemoServer, Limits, open_server

__all__ = ["BODY_MAX", "DemoServer", "Limits", "NativeSite", "Request", "Response", "build_library", "open_server"]
